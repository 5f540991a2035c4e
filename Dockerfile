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
 && DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
      apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --omit=dev --no-audit --no-fund --loglevel=error \
 && test -s web/node_modules/socket.io-client/dist/socket.io.esm.min.js \
 && test -s web/node_modules/chart.js/dist/chart.umd.min.js \
 && test -s web/node_modules/pdfjs-dist/build/pdf.min.mjs \
 && test -s web/node_modules/dwv/dist/dwv.min.js

# --- the dependencies, in the virtual environment; rebuilt only when pyproject.toml changes ---
FROM ${BASE_IMAGE} AS deps
# the same for pip
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/vidconsult
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; print(*tomllib.load(open('/tmp/pyproject.toml', 'rb'))\
['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
 && /opt/vidconsult/bin/pip install -q -r /tmp/requirements.txt

# --- the application as a wheel (not editable), with the socket.io client as package data -----
FROM deps AS build
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vidconsult ./vidconsult
COPY signaling ./signaling
COPY media ./media
COPY web ./web
COPY --from=client /src/web/node_modules/socket.io-client/dist/socket.io.esm.min.js \
     web/node_modules/socket.io-client/dist/
COPY --from=client /src/web/node_modules/chart.js/dist/chart.umd.min.js \
     web/node_modules/chart.js/dist/
# the case panel's viewers: pdf.js and dwv with its dependencies (the files web/vendor.py serves)
COPY --from=client /src/web/node_modules/pdfjs-dist/build/pdf.min.mjs \
     /src/web/node_modules/pdfjs-dist/build/pdf.worker.min.mjs web/node_modules/pdfjs-dist/build/
COPY --from=client /src/web/node_modules/pdfjs-dist/standard_fonts \
     web/node_modules/pdfjs-dist/standard_fonts
COPY --from=client /src/web/node_modules/dwv/dist/dwv.min.js web/node_modules/dwv/dist/
COPY --from=client /src/web/node_modules/dwv/dist/assets/workers web/node_modules/dwv/dist/assets/workers
COPY --from=client /src/web/node_modules/konva/konva.min.js web/node_modules/konva/
COPY --from=client /src/web/node_modules/jszip/dist/jszip.min.js web/node_modules/jszip/dist/
COPY --from=client /src/web/node_modules/magic-wand-tool/dist/magic-wand.min.js \
     web/node_modules/magic-wand-tool/dist/
RUN /opt/vidconsult/bin/pip wheel -q --no-deps --wheel-dir /wheels .

# --- the runtime image: the venv, a non-root user, state in a volume ---------------------------
FROM ${BASE_IMAGE}
RUN groupadd --gid 10001 vidconsult \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --no-log-init \
      --shell /usr/sbin/nologin vidconsult \
 && mkdir -p /data \
 && chown vidconsult:vidconsult /data \
 && chmod 0700 /data
COPY --from=deps /opt/vidconsult /opt/vidconsult
COPY --from=build /wheels /tmp/wheels
# offline: the dependencies are all there, as pip check confirms
RUN /opt/vidconsult/bin/pip install -q --no-index --no-deps --no-cache-dir \
      --disable-pip-version-check /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && /opt/vidconsult/bin/pip check --disable-pip-version-check \
 && /opt/vidconsult/bin/python -c "import web.pages as p; assert p.SOCKET_IO_CLIENT.is_file()" \
 && /opt/vidconsult/bin/python -c "import web.vendor as v; assert not v.missing(), v.missing()"

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
