# vidconsult: one process serving REST, signaling and media on embedded defaults.
# The install steps are the ones CI exercises (scripts/setup.sh without the test extras).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vidconsult ./vidconsult
COPY signaling ./signaling
COPY media ./media
COPY web ./web
# editable, as in CI: the browser files and web/node_modules are served from /app/web
RUN rm -rf web/node_modules \
 && python -m pip install --no-cache-dir -e . \
 && npm ci --prefix web --no-audit --no-fund --omit=dev \
 && mkdir -p /data && chown 1000:1000 /data

# media (WebRTC over UDP) needs the host's network or a published UDP range; see
# docs/operations.md. State (database, secret, recordings) lives in the volume.
ENV VIDCONSULT_HOST=0.0.0.0 \
    VIDCONSULT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 1000:1000
CMD ["vidconsult", "serve"]
