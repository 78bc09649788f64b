#!/usr/bin/env bash
# The FIX acceptor against real FIX clients (issue 31): QuickFIX (PyPI quickfix-ssl, with its FIX 4.4 data
# dictionary) and raw messages built with simplefix, driving `ims serve` with API keys and five sessions on
# loopback ports (tests/fix/conftest.py), and two nodes over a Kafka broker for the failover (IMS_KAFKA_BROKERS,
# or a broker started here). Python tools go into .build/venv-fix. Needs IMS_BINARY (built with --traits Kafka).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMS_BINARY:?set IMS_BINARY to the ims binary}"
VENV=.build/venv-fix
if [ ! -x "$VENV/bin/pytest" ]; then
  python3 -m venv "$VENV" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q "quickfix-ssl==1.15.1.post4" "simplefix==1.0.17" "pytest==8.3.4"
fi
export IMS_BINARY="$(cd "$(dirname "$IMS_BINARY")" && pwd)/$(basename "$IMS_BINARY")"
# The failover test needs a Kafka-compatible broker: the test command's, or one of our own.
if [ -z "${IMS_KAFKA_BROKERS:-}" ]; then
  IMS_KAFKA_BROKERS="$(./scripts/kafka-broker.sh start)"
  export IMS_KAFKA_BROKERS
  trap "$PWD/scripts/kafka-broker.sh stop" EXIT
fi
# Bounded: a hung server or client fails the run instead of holding it.
cd tests/fix
timeout 600 "../../$VENV/bin/pytest" -q -p no:cacheprovider "$@"
