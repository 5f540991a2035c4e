#!/usr/bin/env bash
# Builds every image deploy/compose.yaml runs without a container registry (only a Debian
# mirror, PyPI and npm reachable): a Debian base made with mmdebstrap (scripts/debian-base.sh,
# cached), vidconsult's image from the repository's Dockerfile on it (tagged vidconsult:local,
# the name compose.yaml gives the nodes), and PostgreSQL, Redis, Caddy and coturn from Debian's
# packages (deploy/offline/Containerfile), tagged localhost/vidconsult-offline/NAME. Then:
#   source deploy/offline.env    # POSTGRES_IMAGE=... and the others, for compose.yaml
# Needs root, podman, runc, mmdebstrap. Guide: docs/operations.md, "Building without a registry".
#
# Environment (optional): PODMAN_GLOBAL_OPTS (default "--runtime runc --cgroup-manager=cgroupfs"),
# VIDCONSULT_CI_CA_BUNDLE (CA bundle the build trusts for pip and npm), and those of
# scripts/debian-base.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  printf 'build-offline: %s\n' "$*" >&2
  exit 1
}
read -r -a PODMAN_OPTS <<<"${PODMAN_GLOBAL_OPTS:---runtime runc --cgroup-manager=cgroupfs}"
pm() { podman "${PODMAN_OPTS[@]}" "$@"; }
[[ $(id -u) -eq 0 ]] || fail "run as root (mmdebstrap and rootful podman)"
for tool in podman runc mmdebstrap flock; do
  command -v "$tool" >/dev/null || fail "$tool missing: apt-get install podman runc mmdebstrap"
done

# shellcheck source=../scripts/debian-base.sh
source scripts/debian-base.sh
echo "== base image"
make_debian_base

CA_BUNDLE=${VIDCONSULT_CI_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
[[ -f $CA_BUNDLE ]] || fail "no CA bundle at $CA_BUNDLE (set VIDCONSULT_CI_CA_BUNDLE)"
CA_DIR=$(dirname "$(realpath "$CA_BUNDLE")")
CA_IN_BUILD="/run/host-ca/$(basename "$(realpath "$CA_BUNDLE")")"
BUILD=(build --format docker --network host --build-arg "BASE_IMAGE=$BASE_IMAGE"
  --ulimit nofile=1024:20000)

echo "== vidconsult:local (Dockerfile on $BASE_IMAGE)"
pm "${BUILD[@]}" --quiet --volume "$CA_DIR:/run/host-ca:ro" \
  --build-arg "PIP_CERT=$CA_IN_BUILD" --build-arg "NODE_EXTRA_CA_CERTS=$CA_IN_BUILD" \
  --tag localhost/vidconsult:local --file Dockerfile . >/dev/null || fail "vidconsult build failed"

for name in postgres redis caddy coturn; do
  echo "== localhost/vidconsult-offline/$name (Debian's package)"
  pm "${BUILD[@]}" --quiet --target "$name" --tag "localhost/vidconsult-offline/$name:bookworm" \
    --file deploy/offline/Containerfile deploy/offline >/dev/null || fail "$name build failed"
done
pm images --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
  grep -E '^localhost/(vidconsult:local|vidconsult-offline/)'
