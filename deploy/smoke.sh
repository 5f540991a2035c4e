#!/usr/bin/env bash
# Starts deploy/compose.yaml for real on this host with podman and checks it, then takes it down:
# every node's HEALTHCHECK passes, the Caddy front answers over TLS (its certificate checked
# against Caddy's own CA), and through the front only a coordinator sees the three nodes in
# Redis, creates a room, and two Python SDK clients join it and receive each other's video.
# By hand, not in CI (it binds 80, 443, 3478, 5432, 6379 and 8081-8083 on the host). Guide:
# docs/operations.md, "Building without a registry".
#
# Needs root, podman (with runc), podman-compose (pip install podman-compose: any venv), the
# images of deploy/build-offline.sh (built first unless SMOKE_SKIP_BUILD=1), and the
# repository's virtual environment (bash scripts/setup.sh) for the Python SDK client.
# Environment (optional): SMOKE_KEEP=1 leaves the stack running; COMPOSE (default
# podman-compose); PODMAN_GLOBAL_OPTS as in deploy/build-offline.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROJECT=vcsmoke
COMPOSE=${COMPOSE:-podman-compose}
START=$SECONDS
step() { printf '== %s  [%ds]\n' "$*" "$((SECONDS - START))"; }
fail() {
  printf 'smoke: FAIL: %s\n' "$*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || fail "run as root (rootful podman, host network)"
command -v "${COMPOSE%% *}" >/dev/null || fail "$COMPOSE missing: pip install podman-compose"
PYTHON=$ROOT/.venv/bin/python
[[ -x $PYTHON ]] || fail "no .venv: bash scripts/setup.sh (the SDK client runs from it)"

WORK=$(mktemp -d)
# podman's settings for this run: runc (crun fails on hybrid cgroups), cgroupfs (no systemd),
# the open-files limit runc may set here (as scripts/image-check.sh passes with --ulimit)
if [[ -z ${CONTAINERS_CONF:-} ]]; then
  cat >"$WORK/containers.conf" <<'CONF'
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[containers]
default_ulimits = ["nofile=1024:20000", "nproc=1024:1024"]
CONF
  export CONTAINERS_CONF=$WORK/containers.conf
fi
# the settings compose.yaml reads (deploy/.env, if any, is not used): this host, Caddy's CA
cat deploy/offline.env - >"$WORK/env" <<'ENV'
VIDCONSULT_DOMAIN=localhost
TLS_ISSUER=internal
TURN_HOST=localhost
TURN_EXTERNAL_IP=127.0.0.1
ENV
compose() { $COMPOSE --in-pod false -p "$PROJECT" --env-file "$WORK/env" -f deploy/compose.yaml "$@"; }
ctr() { echo "${PROJECT}_$1_1"; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    for s in node1 node2 node3 proxy postgres redis coturn; do
      echo "-- last log lines of $s:" >&2
      podman logs --tail 15 "$(ctr "$s")" 2>&1 | cut -c1-300 >&2 || true
    done
  fi
  if [[ ${SMOKE_KEEP:-0} != 1 ]]; then
    compose down -v >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  printf '== smoke %s in %ds\n' "$([[ $rc -eq 0 ]] && echo passed || echo FAILED)" \
    "$((SECONDS - START))"
}
trap cleanup EXIT

# podman before 4.6 cannot wait for "healthy" (compose's depends_on condition is skipped) and,
# without systemd, runs no healthcheck timer: the checks are run here, on demand
wait_healthy() {
  local deadline=$((SECONDS + $1)) s
  shift
  for s in "$@"; do
    until podman healthcheck run "$(ctr "$s")" >/dev/null 2>&1; do
      ((SECONDS < deadline)) || fail "$s not healthy in time"
      [[ $(podman inspect --format '{{.State.Running}}' "$(ctr "$s")") == true ]] ||
        fail "$s stopped"
      sleep 1
    done
    echo "$s healthy"
  done
}

if [[ ${SMOKE_SKIP_BUILD:-0} != 1 ]]; then
  step "images (deploy/build-offline.sh)"
  bash deploy/build-offline.sh
fi
step "secrets (deploy/make-secrets.sh: kept if they exist)"
sh deploy/make-secrets.sh >/dev/null

step "PostgreSQL and Redis first"
compose down -v >/dev/null 2>&1 || true # a previous run's stack and volumes
compose up -d postgres redis >/dev/null 2>&1 || fail "compose up postgres redis"
wait_healthy 90 postgres redis

step "the rest: volumes-init, coturn, node1-3, the proxy"
compose up -d >/dev/null 2>&1 || fail "compose up"
wait_healthy 120 node1 node2 node3
podman ps --filter "name=^${PROJECT}_" --format '{{.Names}}  {{.Image}}  {{.Status}}'
[[ $(podman inspect --format '{{.State.Running}}' "$(ctr coturn)") == true ]] || fail "coturn"

step "the TLS front (https://localhost, Caddy's own CA)"
deadline=$((SECONDS + 60))
until podman exec "$(ctr proxy)" cat /data/caddy/pki/authorities/local/root.crt \
  >"$WORK/caddy-root.crt" 2>/dev/null &&
  curl -fsS --cacert "$WORK/caddy-root.crt" https://localhost/healthz >"$WORK/health" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "https://localhost/healthz does not answer over verified TLS"
  sleep 1
done
echo "https://localhost/healthz: $(cat "$WORK/health") (certificate verified)"

step "through the front: nodes, a room, two SDK clients"
TOKEN=$(podman exec "$(ctr node1)" vidconsult token --identity smoke-coord --role coordinator)
SSL_CERT_FILE=$WORK/caddy-root.crt PYTHONPATH=$ROOT "$PYTHON" deploy/smoke_client.py \
  https://localhost "$TOKEN" --nodes node1,node2,node3 \
  --mint "podman exec $(ctr node2) vidconsult token" || fail "the SDK clients"

step "which node each client's socket reached (a node relays to the room's node over Redis)"
for s in node1 node2 node3; do
  podman logs "$(ctr "$s")" 2>&1 | grep -E "signaling.server: connected .*identity=(dr|pt)-smoke" |
    sed -E "s/^.*(identity=[^ ]+ .*)$/$s: \1/" || true
done
