#!/bin/sh
# The postgres image's entrypoint contract, as deploy/compose.yaml uses it, for the image made
# from Debian's postgresql-15 (deploy/offline/Containerfile): on an empty data directory, make
# the cluster with POSTGRES_USER as its superuser (password from POSTGRES_PASSWORD_FILE,
# required on the network: scram-sha-256) and the database POSTGRES_DB; then run the server as
# the postgres user with the command's options ("postgres -c name=value ...").
set -eu
bin=/usr/lib/postgresql/15/bin
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

[ "${1:-postgres}" = postgres ] && [ $# -gt 0 ] && shift
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD_FILE:-}" ] || { echo "POSTGRES_PASSWORD_FILE is required" >&2; exit 1; }
  pwfile=$(mktemp)
  head -n 1 "$POSTGRES_PASSWORD_FILE" | tr -d '\n' > "$pwfile" # read as root, like the image
  chown postgres "$pwfile"
  as_postgres "$bin/initdb" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\"" |
      as_postgres "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "docker-entrypoint.sh: made the cluster in $PGDATA, database $db, owner $user"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" "$@"
