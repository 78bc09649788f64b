#!/usr/bin/env bash
# The README's test command: builds IMS and runs every test suite, including
# the end-to-end tests that start the real `ims` binary on a loopback port.
# Needs the Swift toolchain; installs promtool, openssl and curl with apt-get when missing; the API conformance step installs schemathesis from PyPI into
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
swift build --build-tests
export IMS_BINARY="$(swift build --show-bin-path)/ims"
test -x "$IMS_BINARY" || { echo "missing $IMS_BINARY"; exit 1; }
swift test --skip-build
# The OpenAPI document, validated, and schemathesis against the live binary.
./scripts/api-conformance.sh
# The dashboard in headless Chromium (selenium), against `ims demo`; screenshots to docs/screenshots/.
./scripts/browser-tests.sh
# Coverage-guided fuzzing (libFuzzer) of the decoders and the engine, bounded in time; any trap fails the run.
./scripts/fuzz.sh "${IMS_FUZZ_SECONDS:-30}"
