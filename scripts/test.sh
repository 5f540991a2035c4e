#!/usr/bin/env bash
# The test suite: every test runs (browser and Redis ones too); with CI=true a missing
# chromium or redis-server is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m pytest -q -p no:cacheprovider "$@"
