#!/usr/bin/env bash
# The README's test command: builds IMS and runs every test suite, including
# the end-to-end tests that start the real `ims` binary on a loopback port.
# Needs only the Swift toolchain (the default build uses no system library).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
export IMS_BINARY="$(swift build --show-bin-path)/ims"
test -x "$IMS_BINARY" || { echo "missing $IMS_BINARY"; exit 1; }
swift test --skip-build
