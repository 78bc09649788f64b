#!/usr/bin/env bash
# Validates the OpenAPI document of the real binary and runs schemathesis (from PyPI) against a live
# `ims demo` (embedded data and the simulator, projected into PostgreSQL): no 5xx, every status code, content type and response
# body as documented. It signs in with the demo's `desk` key (every staff role), and checks first that a
# call without it is refused. Called by scripts/test.sh after the Swift tests; needs IMS_BINARY.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMS_BINARY:?set IMS_BINARY to the ims binary}"
VENV=.build/venv-api
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q "schemathesis==4.32.5" "openapi-spec-validator==0.9.0"
fi
PORT=$(( 30000 + RANDOM % 20000 ))
# The history routes answer from a real store: the demo projected into a new database of the test command's
# PostgreSQL (IMS_POSTGRES_URL; scripts/postgres.sh).
: "${IMS_POSTGRES_URL:?set IMS_POSTGRES_URL (scripts/test.sh starts PostgreSQL)}"
DB="conformance_$$_$RANDOM"
psql "$IMS_POSTGRES_URL" -qc "CREATE DATABASE $DB" >/dev/null
"$IMS_BINARY" demo --port "$PORT" --rate 200 --history "${IMS_POSTGRES_URL%/*}/$DB" --history-snapshot-seconds 1 \
  > .build/api-conformance-server.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.1
done
KEY=$(sed -n 's/^  desk  *\(ims_[0-9a-f_]*\).*/\1/p' .build/api-conformance-server.log | head -1)
[ -n "$KEY" ] || { echo "the demo printed no desk key" >&2; cat .build/api-conformance-server.log >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/positions")" = 401 ] || { echo "a call without a key was not refused" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$PORT/openapi.json" -o .build/openapi.json
"$VENV/bin/openapi-spec-validator" .build/openapi.json
curl -fsS "http://127.0.0.1:$PORT/docs" | grep -q "/openapi.json"
"$VENV/bin/st" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --header "Authorization: Bearer $KEY" \
  --max-examples 40 --generation-deterministic
