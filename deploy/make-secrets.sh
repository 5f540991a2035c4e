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
# the files are bind-mounted as they are (compose's secrets without swarm): the nodes run as
# uid 10001 (the Dockerfile's user), and so does coturn (compose.yaml), so they own theirs;
# PostgreSQL's entrypoint reads its password as root. Rootless podman or docker map uids:
# there, run "podman unshare chown 10001:10001 deploy/secrets/vidconsult_*" instead.
if [ "$(id -u)" = 0 ]; then
  chown 10001:10001 secrets/vidconsult_*
else
  echo "make-secrets.sh: not root; give secrets/vidconsult_* to uid 10001 (see the comment)" >&2
fi
ls -ln secrets
