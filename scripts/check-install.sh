#!/usr/bin/env bash
# The front door, checked as a new user meets it: `pip install .` (no extras, not editable)
# into a NEW virtual environment, then every module of vidconsult, signaling, media and web is
# imported from that install (not from this source tree), and `vidconsult serve` must answer
# /healthz with 200 and serve the room page with its socket.io client. A dependency that the
# code imports but pyproject.toml forgets fails here. CI runs it; it needs the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)

echo "== clean install: pip install . into a new virtual environment"
"$PYTHON" -m venv "$work/venv"
# a copy of the tree as git has it: nothing from this checkout's .venv or caches leaks in;
# the npm-installed socket.io client is the one build input git does not hold
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work" --one-top-level=src
if [ -d web/node_modules/socket.io-client/dist ]; then
  mkdir -p "$work/src/web/node_modules/socket.io-client"
  cp -r web/node_modules/socket.io-client/dist "$work/src/web/node_modules/socket.io-client/"
fi
if ! "$work/venv/bin/python" -m pip install -q "$work/src" >"$work/pip.log" 2>&1; then
  cat "$work/pip.log"; exit 1
fi
# pip's warnings about extra index folders of this machine's pip configuration are noise
grep -v 'is ignored: it is neither' "$work/pip.log" || true

echo "== every module imports from the installed copy"
cd "$work"  # away from the source tree, so that nothing is imported from it
"$work/venv/bin/python" - <<'PY'
import importlib
import pkgutil
import sys

failed = []
count = 0
for top in ("vidconsult", "signaling", "media", "web"):
    package = importlib.import_module(top)
    if "site-packages" not in (package.__file__ or ""):
        sys.exit(f"{top} was imported from {package.__file__}, not from the installed copy")
    for info in pkgutil.walk_packages(package.__path__, prefix=top + "."):
        if info.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        try:
            importlib.import_module(info.name)
            count += 1
        except Exception as exc:  # every failure is listed, then the step fails
            failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
if failed:
    print("modules that do not import from a clean install:", *failed, sep="\n  ")
    sys.exit(1)
print(f"imported {count} modules")
PY

echo "== vidconsult serve answers"
"$work/venv/bin/vidconsult" serve --port 0 --data-dir "$work/data" --scheduler-interval 0 \
  >"$work/serve.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 150); do
  url=$(sed -n 's/^vidconsult listening on \(http[^ ]*\).*/\1/p' "$work/serve.log" | head -n 1)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$url" ]; then
  echo "vidconsult serve did not start:"; cat "$work/serve.log"; exit 1
fi
check() {  # check PATH EXPECTED_STATUS
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url$1")
  if [ "$code" != "$2" ]; then
    echo "GET $1: HTTP $code, expected $2"; cat "$work/serve.log"; exit 1
  fi
  echo "GET $1: $code"
}
check /healthz 200
check /room/demo 200
check /static/vendor/socket.io.esm.min.js 200
check /api/v1/openapi.json 200
echo "== clean install checked in $(( $(date +%s) - start )) s"
