/// `/docs`: a readable page for `/openapi.json`, self-contained (no network, no build step).
enum DocsPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>IMS API</title>
        <style>
          body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
          header { background: #14202e; color: #fff; padding: 18px 28px; }
          header h1 { margin: 0; font-size: 20px; } header p { margin: 6px 0 0; color: #b9c4d0; max-width: 900px; }
          main { padding: 18px 28px; max-width: 1100px; }
          h2 { margin: 26px 0 8px; font-size: 16px; text-transform: uppercase; letter-spacing: .05em; color: #5a6675; }
          details { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; margin: 6px 0; }
          summary { cursor: pointer; padding: 9px 12px; }
          .m { display: inline-block; min-width: 48px; font: 600 12px ui-monospace, monospace; padding: 2px 6px; border-radius: 4px; color: #fff; text-align: center; }
          .get { background: #2f6fde; } .post { background: #1f9d55; }
          code, pre { font: 13px ui-monospace, monospace; } .path { font: 600 14px ui-monospace, monospace; margin: 0 8px; }
          .body { padding: 4px 16px 12px; border-top: 1px solid #eef1f4; }
          table { border-collapse: collapse; width: 100%; margin: 6px 0; } td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
          pre { background: #f3f5f8; padding: 8px; border-radius: 4px; overflow: auto; }
        </style>
        </head>
        <body>
        <header><h1>IMS API</h1><p id="about"></p></header>
        <main id="main">Loading /openapi.json…</main>
        <script type="module">
        const doc = await (await fetch("/openapi.json")).json();
        const esc = s => String(s ?? "").replace(/[&<>]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c]));
        const schemaText = s => {
          if (!s) return "";
          if (s.$ref) return s.$ref.split("/").pop();
          if (s.type === "array") return schemaText(s.items) + "[]";
          if (s.enum) return s.enum.join(" | ");
          return s.format ? `${s.type} (${s.format})` : s.type;
        };
        const expand = (s, depth = 0) => {
          if (!s || depth > 6) return "…";
          if (s.$ref) return expand(doc.components.schemas[s.$ref.split("/").pop()], depth + 1);
          if (s.type === "array") return [expand(s.items, depth + 1)];
          if (s.type === "object" && s.properties) {
            const o = {};
            for (const [k, v] of Object.entries(s.properties)) o[k + ((s.required || []).includes(k) ? "" : "?")] = expand(v, depth + 1);
            return o;
          }
          return schemaText(s);
        };
        document.getElementById("about").textContent = doc.info.description;
        const byTag = {};
        for (const [path, item] of Object.entries(doc.paths))
          for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ??= []).push({path, method, op});
        let html = "";
        for (const [tag, ops] of Object.entries(byTag)) {
          html += `<h2>${esc(tag)}</h2>`;
          for (const {path, method, op} of ops) {
            html += `<details><summary><span class="m ${method}">${method.toUpperCase()}</span><span class="path">${esc(path)}</span>${esc(op.summary)}</summary><div class="body">`;
            if (op.parameters?.length) {
              html += "<table><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr>";
              for (const p of op.parameters) html += `<tr><td><code>${esc(p.name)}</code></td><td>${p.in}</td><td>${esc(schemaText(p.schema))}</td><td>${esc(p.description)}</td></tr>`;
              html += "</table>";
            }
            if (op.requestBody) html += `<p>Body: ${Object.keys(op.requestBody.content).map(c => `<code>${esc(c)}</code>`).join(", ")}</p>`;
            for (const [status, r] of Object.entries(op.responses)) {
              const schema = r.content?.["application/json"]?.schema;
              html += `<p><b>${status}</b> ${esc(r.description)}</p>`;
              if (schema) html += `<pre>${esc(JSON.stringify(expand(schema), null, 2))}</pre>`;
            }
            html += "</div></details>";
          }
        }
        document.getElementById("main").innerHTML = html;
        </script>
        </body>
        </html>
        """#
}
