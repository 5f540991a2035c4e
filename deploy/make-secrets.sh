#!/bin/sh
# Makes the secret files of deploy/compose.yaml in deploy/secrets/ (mode 0600), once: an
# existing file is kept. The database password appears twice (PostgreSQL's, and inside the
# nodes' database URL), so both are made together here.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
for name in vidconsult_secret vidconsult_turn_secret vidconsult_cluster_secret; do
  [ -s "secrets/$name" ] || rand > "secrets/$name"
done
if [ ! -s secrets/postgres_password ]; then
  password=$(rand)
  printf '%s\n' "$password" > secrets/postgres_password
  printf 'postgresql://vidconsult:%s@127.0.0.1:5432/vidconsult\n' "$password" \
    > secrets/vidconsult_database_url
fi
ls -l secrets
