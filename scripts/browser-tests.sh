#!/usr/bin/env bash
# The dashboard in a real browser (issue 16): Debian's chromium and chromium-driver (installed with apt-get
# when missing), selenium from PyPI in .build/venv-browser, driving `ims demo` on a loopback port.
# Screenshots go to docs/screenshots/. Needs IMS_BINARY.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMS_BINARY:?set IMS_BINARY to the ims binary}"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
VENV=.build/venv-browser
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q "selenium==4.38.0"
fi
# Bounded: a hung browser or server fails the run instead of holding it.
timeout 600 "$VENV/bin/python" tests/browser/test_dashboard.py
