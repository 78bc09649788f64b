#!/usr/bin/env python3
"""Renders deploy/helm/ims the way `helm template` would, for the lint (no helm binary on these machines).

It understands only what the chart uses, and refuses anything else, so a template that grows a construct
it does not know fails the lint instead of being rendered wrongly:
  {{ .Values.a.b }}, {{ .Release.Name }}, {{ .Release.Namespace }}, {{ .Chart.Name }}, {{ .Chart.Version }},
  {{ .Chart.AppVersion }}, the pipes `| quote` and `toYaml X | nindent N`, {{ if X }} … {{ else }} … {{ end }},
  and the whitespace trimming of {{- and -}}.

usage: helm-render.py CHART_DIR OUT_DIR [--set key.path=value …]
"""
import os
import re
import sys

import yaml

TOKEN = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def lookup(path, scope):
    if not path.startswith("."):
        raise SystemExit(f"unsupported value {path!r}")
    node = scope
    for part in path[1:].split("."):
        if not isinstance(node, dict) or part not in node:
            raise SystemExit(f"{path} is not set")
        node = node[part]
    return node


def evaluate(expression, scope):
    parts = [p.strip() for p in expression.split("|")]
    head = parts[0].split()
    if head[0] == "toYaml" and len(head) == 2:
        value = yaml.safe_dump(lookup(head[1], scope), default_flow_style=False, sort_keys=False).rstrip("\n")
    elif len(head) == 1:
        value = lookup(head[0], scope)
    else:
        raise SystemExit(f"unsupported expression {expression!r}")
    for pipe in parts[1:]:
        words = pipe.split()
        if words == ["quote"]:
            value = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif len(words) == 2 and words[0] == "nindent":
            pad = " " * int(words[1])
            value = "\n" + "\n".join(pad + line if line else line for line in str(value).split("\n"))
        else:
            raise SystemExit(f"unsupported pipe {pipe!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text, scope):
    # Tokens with their trimming applied to the text around them.
    pieces, pos = [], 0
    for m in TOKEN.finditer(text):
        before = text[pos:m.start()]
        if m.group(1):
            before = before.rstrip(" \t\n")
        pieces.append(("text", before))
        pieces.append(("tag", m.group(2)))
        pos = m.end()
        if m.group(3):
            while pos < len(text) and text[pos] in " \t\n":
                pos += 1
    pieces.append(("text", text[pos:]))
    out, stack = [], []  # stack of (emitting_before, condition_taken)
    emitting = True
    for kind, value in pieces:
        if kind == "text":
            if emitting:
                out.append(value)
            continue
        words = value.split(None, 1)
        if words[0] == "if":
            taken = bool(lookup(words[1], scope)) if emitting else False
            stack.append((emitting, taken))
            emitting = emitting and taken
        elif words[0] == "else":
            outer, taken = stack[-1]
            emitting = outer and not taken
        elif words[0] == "end":
            emitting, _ = stack.pop()
        elif value.startswith("/*"):
            continue
        elif emitting:
            out.append(evaluate(value, scope))
    if stack:
        raise SystemExit("an if without its end")
    return "".join(out)


def main():
    chart, out_dir = sys.argv[1], sys.argv[2]
    values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
    meta = yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))
    for setting in sys.argv[3:]:
        if setting == "--set":
            continue
        path, value = setting.split("=", 1)
        node = values
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = yaml.safe_load(value)
    scope = {
        "Values": values,
        "Release": {"Name": "desk", "Namespace": "ims"},
        "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion", "")},
    }
    os.makedirs(out_dir, exist_ok=True)
    templates = os.path.join(chart, "templates")
    for name in sorted(os.listdir(templates)):
        if not name.endswith(".yaml"):
            continue
        rendered = render(open(os.path.join(templates, name)).read(), scope)
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(rendered)
        # Every document must parse.
        for doc in yaml.safe_load_all(rendered):
            if doc is not None and not isinstance(doc, dict):
                raise SystemExit(f"{name}: a document that is not a mapping")
        print(f"rendered {name}")


main()
