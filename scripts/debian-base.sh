# Sourced (bash): make_debian_base makes, or takes from its cache, a Debian bookworm image with
# python3, its venv module, CA certificates and tzdata, made with mmdebstrap from Debian's
# packages and imported into podman, for hosts that reach a Debian mirror but no container
# registry. It sets BASE_IMAGE to the image's name. Used by scripts/image-check.sh and
# deploy/build-offline.sh; needs root, mmdebstrap, podman, flock, and a function pm (podman
# with the host's options) and fail (message, exit) from the caller.
#
# Environment (all optional):
#   VIDCONSULT_CI_CACHE        cache of base tarballs (default /var/cache/vidconsult-ci)
#   VIDCONSULT_CI_APT_SOURCES  what the base is made from: a sources file or a mirror URI
#                              (default: this machine's Debian sources, else mmdebstrap's own)
#   VIDCONSULT_CI_BASE_MAX_AGE_DAYS  remake a cached base older than this (default 7)

SUITE=bookworm
# python3 + its venv module to install into, CA certificates for pip, tzdata for zoneinfo (the
# centre's time zone); nodejs and npm are installed only in the Dockerfile's throw-away stage
BASE_PACKAGES=(python3 python3-venv ca-certificates tzdata)

make_debian_base() {
  local cache_dir=${VIDCONSULT_CI_CACHE:-/var/cache/vidconsult-ci}
  local max_age_days=${VIDCONSULT_CI_BASE_MAX_AGE_DAYS:-7}
  local sources key base_tar
  if [[ -n ${VIDCONSULT_CI_APT_SOURCES:-} ]]; then
    sources=$VIDCONSULT_CI_APT_SOURCES
  elif [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sources=/etc/apt/sources.list.d/debian.sources
  else
    sources="" # mmdebstrap's default mirrors
  fi
  # a proxy set only in apt's configuration reaches mmdebstrap through the environment
  if [[ -z ${http_proxy:-} ]]; then
    eval "$(apt-config shell APT_HTTP_PROXY Acquire::http::Proxy)"
    [[ -n ${APT_HTTP_PROXY:-} ]] && export http_proxy=$APT_HTTP_PROXY
  fi
  key=$( {
    echo "$SUITE ${BASE_PACKAGES[*]}"
    if [[ -f $sources ]]; then cat "$sources"; else echo "$sources"; fi
  } | sha256sum | cut -c1-12)
  base_tar="$cache_dir/base-$SUITE-$key.tar"
  BASE_IMAGE="localhost/vidconsult-ci-base:$SUITE-$key"
  mkdir -p "$cache_dir"
  (
    flock 9 # one maker of the base at a time on this machine
    if [[ -f $base_tar ]] && [[ -z $(find "$base_tar" -mtime +"$max_age_days") ]]; then
      echo "cached: $base_tar"
    else
      echo "making $base_tar from ${sources:-the default mirrors of mmdebstrap}"
      pm rmi -f "$BASE_IMAGE" >/dev/null 2>&1 || true
      rm -f "$base_tar.tmp"
      mmdebstrap --quiet --variant=minbase --format=tar \
        --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
        "$SUITE" "$base_tar.tmp" ${sources:+"$sources"} ||
        fail "mmdebstrap could not make the base"
      mv "$base_tar.tmp" "$base_tar"
    fi
    if ! pm image exists "$BASE_IMAGE"; then
      pm import --quiet "$base_tar" "$BASE_IMAGE" >/dev/null || fail "podman import failed"
      echo "imported as $BASE_IMAGE"
    fi
  ) 9>"$cache_dir/.lock"
}
