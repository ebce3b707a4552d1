#!/usr/bin/env bash
# Entrypoint of the aistack-test/postgres fixture image, shaped like the
# official postgres image's: on an empty PGDATA it runs initdb with
# POSTGRES_USER (superuser, default postgres) and POSTGRES_PASSWORD, creates
# POSTGRES_DB (default: the user's name), runs /docker-entrypoint-initdb.d/*.sql
# and *.sh, then starts the server listening on every address (password
# authentication over TCP, trust on the local socket).
set -Eeuo pipefail

# "docker run IMAGE -c key=value" means "postgres -c key=value".
if [ "${1:0:1}" = - ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

want_help() {
  local arg
  for arg; do
    case "$arg" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
  done
  return 1
}

if [ "$1" = postgres ] && ! want_help "$@" && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: POSTGRES_PASSWORD is empty; set it (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi
  initdb_args=(-D "$PGDATA" --username="$POSTGRES_USER" --encoding=UTF8 --locale=C.UTF-8
               --auth-local=trust --auth-host="$auth")
  pwfile=
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb_args+=(--pwfile="$pwfile")
  fi
  initdb "${initdb_args[@]}" >/dev/null
  [ -z "$pwfile" ] || rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

  # A private server on the socket only: nothing can connect before init ends.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --no-password)
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; bash "$f" ;;
      *.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
