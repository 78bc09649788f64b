#!/usr/bin/env bash
# The README's test command: builds IMS and runs every test suite, including
# the end-to-end tests that start the real `ims` binary on a loopback port.
# Needs the Swift toolchain; installs promtool, openssl, curl and librdkafka-dev with apt-get when missing, and
# starts a Kafka-compatible broker (noida-db, from PyPI into .build/venv-kafka) for the Kafka tests and a PostgreSQL server
# (Debian postgresql, installed when missing; scripts/postgres.sh) for the history tests; the API conformance step installs schemathesis from PyPI into
# .build/venv-api (and python3-venv with apt-get if it is missing); the browser step installs chromium and
# chromium-driver with apt-get and selenium from PyPI into .build/venv-browser. The full-disk test mounts a
# tmpfs, so the tests run as root (as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
# promtool (Debian's prometheus package) lints the /metrics scrapes of the end-to-end metrics tests.
if ! command -v promtool >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# openssl makes the certificate of the TLS test, and its s_client speaks WSS to the server; curl speaks HTTPS.
if ! command -v openssl >/dev/null || ! command -v curl >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl curl ca-certificates >/dev/null
fi
# The code is formatted to .swift-format (swift-format ships with the toolchain): any deviation fails the
# run, naming the file and line. `swift format --in-place --recursive Sources Tests Package.swift` fixes it.
swift format lint --strict --recursive Sources Tests Package.swift
# deploy/: the Helm chart rendered and validated against the Kubernetes schemas, the compose file against the
# Compose specification (no helm or Docker engine here; kubernetes-validate and check-jsonschema from PyPI).
./scripts/deploy-lint.sh
# librdkafka (Debian librdkafka-dev) for the Kafka trait the tests build with (the default build needs none).
if ! command -v pkg-config >/dev/null || ! pkg-config --exists rdkafka; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends librdkafka-dev pkg-config >/dev/null
fi
# A real Kafka-compatible broker (noida-db from PyPI) for the Kafka tests, stopped when the run ends.
IMS_KAFKA_BROKERS="$(./scripts/kafka-broker.sh start)"
export IMS_KAFKA_BROKERS
trap './scripts/kafka-broker.sh stop' EXIT
# A real PostgreSQL (Debian's postgresql, installed when missing) for the history store's tests.
IMS_POSTGRES_URL="$(./scripts/postgres.sh start)"
export IMS_POSTGRES_URL
trap './scripts/kafka-broker.sh stop; ./scripts/postgres.sh stop' EXIT
swift build --build-tests --traits Kafka
export IMS_BINARY="$(swift build --traits Kafka --show-bin-path)/ims"
test -x "$IMS_BINARY" || { echo "missing $IMS_BINARY"; exit 1; }
swift test --skip-build --traits Kafka
# The OpenAPI document, validated, and schemathesis against the live binary.
./scripts/api-conformance.sh
# The FIX acceptor against QuickFIX and raw simplefix sessions (tests/fix), on the live binary.
./scripts/fix-tests.sh
# The dashboard in headless Chromium (selenium), against `ims demo`; screenshots to docs/screenshots/.
./scripts/browser-tests.sh
# Coverage-guided fuzzing (libFuzzer) of the decoders and the engine, bounded in time; any trap fails the run.
./scripts/fuzz.sh "${IMS_FUZZ_SECONDS:-30}"
