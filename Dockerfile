# vidconsult: one process serving REST, signaling and media on embedded defaults.
#
# BASE_IMAGE is any Debian bookworm image with python3 (3.11) and its venv module: the public
# python image by default (python in /usr/local/bin), or a base made locally from Debian packages
# (python3, python3-venv, ca-certificates, tzdata; python in /usr/bin), as CI builds it offline
# from a container registry: see scripts/image-check.sh and docs/operations.md.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- the browser's socket.io client, from npm (this stage only: node is not in the image) -----
FROM ${BASE_IMAGE} AS client
# a CA bundle for npm when the build's network needs one (a TLS-intercepting proxy); unset: none
ARG NODE_EXTRA_CA_CERTS
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
      >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --omit=dev --no-audit --no-fund --loglevel=error \
 && test -s web/node_modules/socket.io-client/dist/socket.io.min.js

# --- the application, installed (not editable) into a virtual environment ---------------------
FROM ${BASE_IMAGE} AS build
# a CA bundle for pip when the build's network needs one (a TLS-intercepting proxy); unset: none
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/vidconsult
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vidconsult ./vidconsult
COPY signaling ./signaling
COPY media ./media
COPY web ./web
# the one npm file the server serves; package-data in pyproject.toml carries it into the wheel
COPY --from=client /src/web/node_modules/socket.io-client/dist/socket.io.min.js \
     web/node_modules/socket.io-client/dist/
RUN /opt/vidconsult/bin/pip install . \
 && /opt/vidconsult/bin/python -c "import web.pages as p; assert p.SOCKET_IO_CLIENT.is_file()"

# --- the runtime image: the venv, a non-root user, state in a volume ---------------------------
FROM ${BASE_IMAGE}
RUN groupadd --gid 10001 vidconsult \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --no-log-init \
      --shell /usr/sbin/nologin vidconsult \
 && mkdir -p /data \
 && chown vidconsult:vidconsult /data \
 && chmod 0700 /data
COPY --from=build /opt/vidconsult /opt/vidconsult

# Media: WebRTC over UDP on ephemeral ports that aioice binds per connection (any port the
# kernel gives; there is no range setting), announced as the container's own addresses. Run
# with the host's network (--network host) so that browsers can reach them; publishing 8080
# alone serves the pages, the API and signaling but no media. See docs/operations.md.
ENV PATH=/opt/vidconsult/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VIDCONSULT_HOST=0.0.0.0 \
    VIDCONSULT_PORT=8080 \
    VIDCONSULT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080/tcp
USER vidconsult:vidconsult
WORKDIR /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VIDCONSULT_PORT', '8080'), timeout=4)"]
CMD ["vidconsult", "serve"]
