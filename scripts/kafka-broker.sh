#!/usr/bin/env bash
# A real Kafka-compatible broker for the tests: noida-db (PyPI, persistent, transactions and fencing as Kafka
# has them), installed into .build/venv-kafka, started on a free port in a temporary directory.
#   scripts/kafka-broker.sh start   → prints the bootstrap address (host:port) once the broker answers
#   scripts/kafka-broker.sh stop    → stops it and removes its directory
# Needs python3-venv (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/venv-kafka
state=.build/kafka-broker
case "${1:-}" in
start)
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  if [ ! -x "$venv/bin/noida-db" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "noida-db==0.2.3" >&2
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  dir=$(mktemp -d /tmp/ims-kafka.XXXXXX)
  mkdir -p "$state"
  echo "$dir" > "$state/dir"
  "$venv/bin/noida-db" start --only kafka --data-dir "$dir" --kafka-port "$port" >"$dir/broker.log" 2>&1 &
  echo $! > "$state/pid"
  for _ in $(seq 1 100); do
    if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "127.0.0.1:$port"; exit 0; fi
    sleep 0.1
  done
  echo "the Kafka broker did not start: $(cat "$dir/broker.log")" >&2
  exit 1
  ;;
stop)
  # The entry script starts the server as a child: both are found by the broker's own directory.
  if [ -f "$state/dir" ]; then
    dir=$(cat "$state/dir")
    pkill -INT -f -- "--data-dir $dir" 2>/dev/null || true
    for _ in $(seq 1 50); do pgrep -f -- "--data-dir $dir" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f -- "--data-dir $dir" 2>/dev/null || true
    rm -rf "$dir"
  fi
  rm -rf "$state"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
