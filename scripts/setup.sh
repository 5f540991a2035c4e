#!/usr/bin/env bash
# Installs vidconsult into the project's virtual environment (.venv: never the machine's
# Python), editable with the test extras, and the browser client's npm packages.
# Needs Debian's python3-venv, nodejs and npm (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VIDCONSULT_VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtual environment $VENV with $($PYTHON --version 2>&1)"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "setup: '$PYTHON -m venv' failed; on Debian or Ubuntu: apt-get install python3-venv" >&2
    exit 1
  fi
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || {
  echo "setup: vidconsult needs Python 3.11 or newer (set PYTHON=python3.11)" >&2
  exit 1
}
echo "setup: installing vidconsult and its test tools into $VENV"
"$VENV/bin/python" -m pip install -q -e '.[test]'
if ! command -v npm >/dev/null; then
  echo "setup: npm is missing; on Debian or Ubuntu: apt-get install nodejs npm" >&2
  exit 1
fi
echo "setup: installing the browser client's packages into web/node_modules"
npm ci --prefix web --no-audit --no-fund --loglevel=error
echo "setup: done. Run the server with: .venv/bin/vidconsult serve --demo"
