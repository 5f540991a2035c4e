#!/usr/bin/env bash
# The test suite, in the project's virtual environment: every test runs (browser and Redis ones
# too); with CI=true a missing chromium or redis-server is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VIDCONSULT_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "test: no virtual environment at $VENV; run 'bash scripts/setup.sh' first" >&2
  exit 2
fi
# the tests start `vidconsult` and other console scripts of the environment
export PATH="$PWD/$VENV/bin:$PATH"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
