#!/usr/bin/env bash
# Alternates two release binaries on the engine, ingest, decisions and read benches in one sitting, as
# docs/benchmarks.md asks of every change to a hot path: `scripts/bench-compare.sh BASE HEAD [ROUNDS]`.
# Each server run gets a fresh data directory and `--insecure-no-auth`; the bench client is HEAD's. Prints
# one line per run: binary, bench, and the bench's last JSON line (for decisions, its figures and the server's
# CPU per decision).
set -euo pipefail
base=${1:?base binary}; head=${2:?head binary}; rounds=${3:-2}
work=$(mktemp -d /tmp/ims-bench-compare.XXXXXX)
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
port=18400

serve() {  # binary name → starts a server on a fresh directory, waits until ready
  local bin=$1 dir=$work/$2
  rm -rf "$dir"; mkdir -p "$dir"
  "$bin" serve --insecure-no-auth --port $port --data-dir "$dir/data" >"$dir/serve.log" 2>&1 &
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && return 0; sleep 0.1; done
  echo "server $bin did not start" >&2; cat "$dir/serve.log" >&2; return 1
}
stop() { pkill -INT -f "$work/$1/data" || true; while pgrep -f "$work/$1/data" >/dev/null; do sleep 0.1; done; }

for r in $(seq 1 "$rounds"); do
  for pair in "base:$base" "head:$head"; do
    name=${pair%%:*}; bin=${pair#*:}
    echo "$name engine $("$bin" bench engine --events 1000000 --data-dir "$work/engine-$name-$r" 2>/dev/null | tail -1)"
    rm -rf "$work/engine-$name-$r"
    serve "$bin" "ingest-$name-$r"
    echo "$name ingest $("$head" bench ingest --url "http://127.0.0.1:$port" --events 1000000 2>/dev/null | tail -1)"
    stop "ingest-$name-$r"
    serve "$bin" "decisions-$name-$r"
    # The decisions line and what they cost the server (the bench prints its stages after them).
    "$head" bench decisions --url "http://127.0.0.1:$port" --events 20000 --rate 2000 --channel http 2>/dev/null \
      | grep -E '"kind":"(decisions|serverCPU)"' | sed "s/^/$name decisions /"
    stop "decisions-$name-$r"
    serve "$bin" "read-$name-$r"
    echo "$name read $("$head" bench read --url "http://127.0.0.1:$port" --events 1000000 2>/dev/null | tail -1)"
    stop "read-$name-$r"
  done
done
