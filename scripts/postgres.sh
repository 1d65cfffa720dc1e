# Shared by scripts/test and bench/run: finds or installs PostgreSQL 15+ from Debian's
# packages and starts a throwaway cluster, as the `postgres` user (initdb refuses to run
# as root), on a free port, removed when the calling script exits.
#
# After `start_throwaway_postgres [extra postgres options]`: BINDIR, PGTMP, PORT and
# POSTGRES_URL are set.

log() { printf '\n==> %s\n' "$*" >&2; }

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
  local port
  for port in $(seq 55432 55532); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  return 1
}

# Installs Debian packages when missing (needs root).
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: $* missing and installing it needs root (apt-get install $*)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

start_throwaway_postgres() {
  BINDIR=$(pg_bindir || true)
  if [ -z "$BINDIR" ]; then
    log "PostgreSQL is not installed; installing it from Debian's packages"
    apt_install postgresql
    BINDIR=$(pg_bindir)
  fi
  PG_MAJOR=$("$BINDIR/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
  if [ "$PG_MAJOR" -lt 15 ]; then
    echo "$0: PostgreSQL $PG_MAJOR found; Kinbridge needs 15 or later" >&2
    exit 1
  fi
  PGTMP=$(mktemp -d -t kinbridge-pg.XXXXXX)
  trap stop_throwaway_postgres EXIT
  [ "$(id -u)" -eq 0 ] && chown postgres "$PGTMP"
  PORT=$(free_port)
  log "starting a throwaway PostgreSQL $PG_MAJOR cluster on 127.0.0.1:$PORT"
  as_pg_owner "$BINDIR/initdb" -D "$PGTMP/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  as_pg_owner "$BINDIR/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 60 \
    -o "-p $PORT -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=300 $*" \
    start >/dev/null || { cat "$PGTMP/server.log" >&2; exit 1; }
  POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
}

stop_throwaway_postgres() {
  if [ -f "$PGTMP/data/postmaster.pid" ]; then
    as_pg_owner "$BINDIR/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGTMP"
}
