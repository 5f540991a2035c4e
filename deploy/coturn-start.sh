#!/bin/sh
# coturn's entrypoint in deploy/compose.yaml. The shared secret (the nodes make TURN passwords
# with it) goes into a configuration file of mode 0600 that turnserver reads (-c), never onto
# its command line: ps and /proc/PID/cmdline show a command line to every user of the machine.
# The file is the base configuration (turnserver.conf) plus the realm, the external address and
# the secret, written under TURN_RUN_DIR (a tmpfs in compose.yaml: never on disk). Arguments
# are handed on to turnserver (none may carry a secret).
#   TURN_SECRET_FILE  the secret (default /run/secrets/vidconsult_turn_secret); empty: refused
#   TURN_CONFIG       the base configuration (default /etc/coturn/turnserver.conf)
#   TURN_RUN_DIR      where the full configuration is written (default /tmp)
#   TURN_HOST, TURN_EXTERNAL_IP  the realm and the address clients reach (compose.yaml)
set -eu
secret_file=${TURN_SECRET_FILE:-/run/secrets/vidconsult_turn_secret}
secret=$(cat "$secret_file")
if [ -z "$secret" ]; then
  # turnserver would take "" and refuse everyone
  echo "coturn-start: the TURN secret in $secret_file is empty" >&2
  exit 1
fi
umask 077
conf=$(mktemp "${TURN_RUN_DIR:-/tmp}/turnserver-XXXXXX")
{
  cat "${TURN_CONFIG:-/etc/coturn/turnserver.conf}"
  # printf is the shell's own: the secret is in no process's arguments
  printf 'realm=%s\n' "${TURN_HOST:?set TURN_HOST}"
  printf 'external-ip=%s\n' "${TURN_EXTERNAL_IP:?set TURN_EXTERNAL_IP}"
  printf 'static-auth-secret=%s\n' "$secret"
} >"$conf"
unset secret
exec turnserver -c "$conf" "$@"
