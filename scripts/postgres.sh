#!/usr/bin/env bash
# A real PostgreSQL server for the tests of the history store (Debian's postgresql, installed with apt-get
# when missing), run as an unprivileged user in a temporary directory, on a free port of 127.0.0.1.
#   scripts/postgres.sh start     → prints the connection URL (postgres://ims@127.0.0.1:PORT/ims) once it answers
#   scripts/postgres.sh restart [S] → stops the server (immediate: as a crash would), waits S seconds (default 0)
#                                    and starts it again on its port
#   scripts/postgres.sh stop      → stops it and removes its directory
set -euo pipefail
cd "$(dirname "$0")/.."
state=.build/postgres
user=ims-postgres
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
start_server() {
  local dir=$1 port=$2 bin
  bin=$(bindir)
  su "$user" -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 30 \
    -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=50\" start" >&2
}
case "${1:-}" in
start)
  if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  bin=$(bindir)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  dir=$(mktemp -d /tmp/ims-postgres.XXXXXX)
  chown "$user" "$dir"
  su "$user" -s /bin/sh -c "'$bin/initdb' -D '$dir/data' -U ims --auth=trust -E UTF8 --locale=C.UTF-8" >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  start_server "$dir" "$port"
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U ims ims
  mkdir -p "$state"
  echo "$dir" > "$state/dir"
  echo "$port" > "$state/port"
  echo "postgres://ims@127.0.0.1:$port/ims"
  ;;
restart)
  dir=$(cat "$state/dir"); port=$(cat "$state/port"); bin=$(bindir)
  su "$user" -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -m immediate -w stop" >&2 || true
  sleep "${2:-0}"
  start_server "$dir" "$port"
  ;;
stop)
  if [ -f "$state/dir" ]; then
    dir=$(cat "$state/dir")
    su "$user" -s /bin/sh -c "'$(bindir)/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  rm -rf "$state"
  ;;
*)
  echo "usage: $0 start|restart|stop" >&2
  exit 2
  ;;
esac
