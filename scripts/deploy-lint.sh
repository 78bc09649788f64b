#!/usr/bin/env bash
# Lints deploy/ where no Docker engine or helm binary runs (these machines):
#  - the Helm chart is rendered by scripts/helm-render.py (the subset of Helm's templates the chart uses; it
#    refuses any other construct) with its defaults and with every optional value set, and each manifest is
#    validated strictly (unknown fields refused) against the Kubernetes 1.31 schemas with kubernetes-validate;
#  - the compose file is validated against the Compose specification with check-jsonschema's vendored schema.
# Python tools go into .build/venv-deploy. Needs python3-venv (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/venv-deploy
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/check-jsonschema" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "kubernetes-validate==1.37.0" "check-jsonschema==0.39.0" "pyyaml==6.0.3"
fi
out=$(mktemp -d /tmp/ims-deploy-lint.XXXXXX)
trap 'rm -rf "$out"' EXIT

"$venv/bin/python" - <<'PY'
import sys, yaml
chart = yaml.safe_load(open("deploy/helm/ims/Chart.yaml"))
for key in ("apiVersion", "name", "version", "appVersion"):
    if not chart.get(key):
        sys.exit(f"deploy/helm/ims/Chart.yaml: {key} is required")
if chart["apiVersion"] != "v2":
    sys.exit("deploy/helm/ims/Chart.yaml: apiVersion must be v2")
PY

render() {
  local dir="$out/$1"; shift
  "$venv/bin/python" scripts/helm-render.py deploy/helm/ims "$dir" "$@" >/dev/null
  "$venv/bin/kubernetes-validate" --strict --quiet -k 1.31.0 "$dir"/*.yaml
  echo "deploy-lint: helm chart ($*) renders and validates: $(ls "$dir" | wc -l) templates"
}
render defaults
render everything --set kafka.feedTopics=trades,prices --set kafka.deadLetterTopic=ims.refused \
  --set persistence.storageClassName=fast --set kafka.publishPrefix=
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
echo "deploy-lint: compose file validates against the Compose specification"
