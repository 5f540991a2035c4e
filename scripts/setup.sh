#!/usr/bin/env bash
# Installs vidconsult (editable, with test extras) and the browser client's npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test]'
npm ci --prefix web --no-audit --no-fund --loglevel=error
