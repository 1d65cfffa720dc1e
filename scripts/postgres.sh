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
  local tls=""
  if [ "${PG_TLS:-}" = 1 ]; then
    make_test_certificates "$PGTMP/tls"
    tls="-c ssl=on -c ssl_cert_file=$PGTMP/tls/server.crt -c ssl_key_file=$PGTMP/tls/server.key"
  fi
  as_pg_owner "$BINDIR/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 60 \
    -o "-p $PORT -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=300 $tls $*" \
    start >/dev/null || { cat "$PGTMP/server.log" >&2; exit 1; }
  POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
}

# With PG_TLS=1 the cluster also accepts TLS, with a certificate for 127.0.0.1 and
# localhost signed by a CA made for this run (POSTGRES_CA); POSTGRES_OTHER_CA is a CA that
# signed nothing, for the tests that a wrong CA is refused.
make_test_certificates() {
  local dir=$1
  command -v openssl >/dev/null || { log "installing openssl"; apt_install openssl; }
  mkdir -p "$dir"
  (
    cd "$dir"
    for ca in ca other-ca; do
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=Kinbridge test $ca" -keyout "$ca.key" -out "$ca.crt" 2>/dev/null
    done
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
      -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
      -out server.crt 2>/dev/null
    chmod 600 server.key
  )
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
  chmod 755 "$dir"
  chmod 644 "$dir/ca.crt" "$dir/other-ca.crt"
  POSTGRES_CA="$dir/ca.crt"
  POSTGRES_OTHER_CA="$dir/other-ca.crt"
}

stop_throwaway_postgres() {
  if [ -f "$PGTMP/data/postmaster.pid" ]; then
    as_pg_owner "$BINDIR/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGTMP"
}
