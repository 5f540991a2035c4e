#!/usr/bin/env bash
# The container image builds and its server answers: builds the Dockerfile on a base made here
# from Debian packages (mmdebstrap, cached), runs it on loopback with a volume, and checks
# /healthz, a room created over REST, the socket.io client, the image's HEALTHCHECK, a non-root
# server process, and the state kept in the volume across a second container.
#
# Needs root (rootful podman on native overlayfs, host network, mmdebstrap in root mode), python3
# and the Debian packages podman runc mmdebstrap; the rootless helpers (uidmap, fuse-overlayfs,
# slirp4netns) are not used. Every failure exits non-zero, with CI=true or not: nothing is skipped.
#
# Environment (all optional):
#   VIDCONSULT_CI_CACHE        cache of base tarballs (default /var/cache/vidconsult-ci)
#   VIDCONSULT_CI_APT_SOURCES  what the base is made from: a sources file or a mirror URI
#                              (default: this machine's Debian sources, else mmdebstrap's own)
#   VIDCONSULT_CI_BASE_MAX_AGE_DAYS  remake a cached base older than this (default 7)
#   VIDCONSULT_CI_CA_BUNDLE    CA bundle the build trusts for pip and npm (default: PIP_CERT,
#                              else SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt)
#   VIDCONSULT_CI_IMAGE        tag of the image built (default localhost/vidconsult:ci)
#   PODMAN_GLOBAL_OPTS         (default "--runtime runc --cgroup-manager=cgroupfs": crun fails
#                              on hybrid cgroups)
# Proxies (http_proxy, https_proxy, no_proxy) reach mmdebstrap through the environment and the
# build through podman's own pass-through. Inside the build pip and npm use their public
# registries (this machine's pip configuration, local indexes and constraints, stays outside).
set -euo pipefail
cd "$(dirname "$0")/.."

START=$SECONDS
step() { printf '== %s  [%ds]\n' "$*" "$((SECONDS - START))"; }
fail() {
  printf 'image-check: FAIL: %s\n' "$*" >&2
  exit 1
}

# SUITE, BASE_PACKAGES, make_debian_base (the base made with mmdebstrap, cached)
source scripts/debian-base.sh
IMAGE=${VIDCONSULT_CI_IMAGE:-localhost/vidconsult:ci}
read -r -a PODMAN_OPTS <<<"${PODMAN_GLOBAL_OPTS:---runtime runc --cgroup-manager=cgroupfs}"
ULIMITS=(--ulimit nofile=1024:20000 --ulimit nproc=1024:1024)
RUN_ID="vidconsult-ci-$$"
CTR1="$RUN_ID-1"
CTR2="$RUN_ID-2"
CTR=$CTR1 # the one running
VOLUME="$RUN_ID-data"

pm() { podman "${PODMAN_OPTS[@]}" "$@"; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]] && pm container exists "$CTR" 2>/dev/null; then
    echo "-- last log lines of $CTR:" >&2
    pm logs --tail 40 "$CTR" >&2 || true
  fi
  pm rm -f -t 5 "$CTR1" "$CTR2" >/dev/null 2>&1 || true
  pm volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  printf '== image-check %s in %ds\n' "$([[ $rc -eq 0 ]] && echo passed || echo FAILED)" \
    "$((SECONDS - START))"
}
trap cleanup EXIT

# one HTTP request from this machine, as a browser or a script would make it:
# prints "STATUS BODY"; only the status line decides
http() {
  python3 - "$@" <<'EOF'
import sys, urllib.error, urllib.request
method, url = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else ""
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(url, data=body, method=method)
if token:
    req.add_header("Authorization", f"Bearer {token}")
if body is not None:
    req.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        status, data = resp.status, resp.read()
except urllib.error.HTTPError as exc:
    status, data = exc.code, exc.read()
except OSError as exc:
    status, data = 0, str(exc).encode()
print(status, data[:2000].decode("utf-8", "replace"))
EOF
}

# poll until the server answers /healthz or its container stops; bounded
wait_healthy() {
  local ctr=$1 url=$2 deadline=$((SECONDS + 90)) answer
  while ((SECONDS < deadline)); do
    if [[ $(pm inspect --format '{{.State.Running}}' "$ctr") != true ]]; then
      pm logs --tail 40 "$ctr" >&2 || true
      fail "container $ctr stopped before answering /healthz"
    fi
    answer=$(http GET "$url/healthz")
    [[ ${answer%% *} == 200 ]] && return 0
    sleep 0.5
  done
  fail "no 200 from $url/healthz within 90 s (last: ${answer:-none})"
}

step "tools"
[[ $(id -u) -eq 0 ]] || fail "run as root (mmdebstrap and rootful podman)"
for tool in podman runc mmdebstrap python3 flock; do
  command -v "$tool" >/dev/null || fail "$tool missing: apt-get install podman runc mmdebstrap"
done
podman --version

step "base image: ${BASE_PACKAGES[*]} from Debian $SUITE"
make_debian_base

step "build $IMAGE on $BASE_IMAGE"
CA_BUNDLE=${VIDCONSULT_CI_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
[[ -f $CA_BUNDLE ]] || fail "no CA bundle at $CA_BUNDLE (set VIDCONSULT_CI_CA_BUNDLE)"
CA_DIR=$(dirname "$(realpath "$CA_BUNDLE")")
CA_IN_BUILD="/run/host-ca/$(basename "$(realpath "$CA_BUNDLE")")"
BUILD_ARGS=(
  --build-arg "BASE_IMAGE=$BASE_IMAGE"
  # this machine's trust (a TLS-intercepting egress has its own CA), read-only, build only
  --volume "$CA_DIR:/run/host-ca:ro"
  --build-arg "PIP_CERT=$CA_IN_BUILD"
  --build-arg "NODE_EXTRA_CA_CERTS=$CA_IN_BUILD"
)
previous=$(pm image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
# docker format: the OCI format drops HEALTHCHECK; two jobs: the npm and pip stages at once
pm build --quiet --format docker --jobs 2 --network host "${ULIMITS[@]}" "${BUILD_ARGS[@]}" \
  --tag "$IMAGE" --file Dockerfile . >/dev/null || fail "podman build failed"
# the previous build's image, now untagged (its cached stages stay for the next build)
current=$(pm image inspect --format '{{.Id}}' "$IMAGE")
if [[ -n $previous && $previous != "$current" ]]; then
  pm rmi "$previous" >/dev/null 2>&1 || true
fi
pm images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' "$IMAGE"

step "run on loopback with a volume"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
run_server() { # name: the server on the host's network (as for media), bound to loopback only
  # no healthcheck timer (podman asks systemd for one); the check runs its command below
  pm run --detach --name "$1" --network host "${ULIMITS[@]}" --no-healthcheck \
    --volume "$VOLUME:/data" \
    --env VIDCONSULT_HOST=127.0.0.1 --env VIDCONSULT_PORT="$PORT" \
    "$IMAGE" >/dev/null
}
pm volume create "$VOLUME" >/dev/null
run_server "$CTR" || fail "podman run failed"
wait_healthy "$CTR" "$URL"
echo "$URL/healthz answers 200"

step "coordinator token (podman exec)"
TOKEN=$(pm exec "$CTR" vidconsult token --identity ci --role coordinator) ||
  fail "vidconsult token failed in the container"
[[ $TOKEN == *.*.* ]] || fail "not a JWT: $TOKEN"

step "create a room over REST"
answer=$(http POST "$URL/api/v1/rooms" "$TOKEN" '{"name": "image-check room"}')
[[ ${answer%% *} == 201 ]] || fail "POST /api/v1/rooms: $answer"
ROOM=$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["name"] == "image-check room", r; print(r["id"])' "${answer#* }") ||
  fail "unexpected room: $answer"
echo "room $ROOM"
answer=$(http GET "$URL/api/v1/rooms")
[[ ${answer%% *} == 401 ]] || fail "GET /api/v1/rooms without a token: $answer"

step "the browser's files from the installed package"
for path in /static/vendor/socket.io.esm.min.js "/room/$ROOM"; do
  answer=$(http GET "$URL$path")
  [[ ${answer%% *} == 200 ]] || fail "GET $path: ${answer:0:200}"
  echo "$path 200"
done

step "the image's HEALTHCHECK command"
mapfile -t health < <(pm image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE" |
  python3 -c 'import json, sys; t = json.load(sys.stdin) or ["none"]; print(*t, sep="\n")')
[[ ${health[0]} == CMD ]] || fail "no exec-form HEALTHCHECK in the image: ${health[*]}"
pm exec "$CTR" "${health[@]:1}" || fail "the HEALTHCHECK command fails in the container"
echo "passes"

step "the server runs as non-root"
pid=$(pm inspect --format '{{.State.Pid}}' "$CTR")
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
for uid in $uids; do [[ $uid -ne 0 ]] || fail "server process $pid has uid 0 ($uids)"; done
echo "server process uids: $uids"

step "state in the volume"
data=$(pm volume inspect --format '{{.Mountpoint}}' "$VOLUME")
ls -ln "$data"
[[ -s $data/secret.key ]] || fail "no secret.key in the volume"
[[ $(stat -c '%a %u' "$data/secret.key") == "600 ${uids%% *}" ]] ||
  fail "secret.key is $(stat -c '%a %u' "$data/secret.key"), not 600 owned by the server"
[[ -s $data/vidconsult.db ]] || fail "no database (vidconsult.db) in the volume"
echo "vidconsult.db and secret.key (0600) in the volume"

step "a second container on the same volume keeps the room and the secret"
pm rm -f -t 10 "$CTR1" >/dev/null
CTR=$CTR2
run_server "$CTR" || fail "podman run (second) failed"
wait_healthy "$CTR" "$URL"
answer=$(http GET "$URL/api/v1/rooms/$ROOM" "$TOKEN")
[[ ${answer%% *} == 200 ]] || fail "GET /api/v1/rooms/$ROOM after a restart: ${answer:0:300}"
echo "room $ROOM still there; the first token still valid"

step "stop"
pm stop -t 10 "$CTR" >/dev/null
[[ $(pm inspect --format '{{.State.ExitCode}}' "$CTR") -eq 0 ]] ||
  fail "the server exited $(pm inspect --format '{{.State.ExitCode}}' "$CTR") on SIGTERM"
echo "stopped cleanly"
