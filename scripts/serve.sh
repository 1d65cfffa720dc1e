# Sourced by scripts that drive a running Kinbridge (scripts/fuzz, scripts/clients):
# builds it, starts `kinbridge serve --demo` on a free port over a throwaway SQLite file
# (or the empty database in $1), waits until it is ready, and stops it on exit.
#
# After start_kinbridge: $kinbridge (the binary), $work (a temporary directory, removed
# on exit), $port, $graphql_url, and the server's log in $work/server.log.
# token ORG ROLES mints a token for the demo organisation with that code.

target=${CARGO_TARGET_DIR:-target}
log() { printf '\n==> %s\n' "$*" >&2; }

start_kinbridge() {
  log "building kinbridge"
  cargo build --quiet
  kinbridge="$target/debug/kinbridge"
  work=$(mktemp -d)
  server=""
  trap stop_kinbridge EXIT
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export DATABASE_URL="${1:-sqlite://$work/kinbridge.db?mode=rwc}" KINBRIDGE_DEV_KEY_FILE="$work/dev.key"
  log "starting kinbridge serve --demo on port $port"
  "$kinbridge" serve --demo --listen "127.0.0.1:$port" --log warn >"$work/server.log" 2>&1 &
  server=$!
  local ready="http://127.0.0.1:$port/health/ready"
  for _ in $(seq 1 100); do
    "$kinbridge" healthcheck --log error --url "$ready" 2>/dev/null && break
    sleep 0.1
  done
  "$kinbridge" healthcheck --log error --url "$ready" || { cat "$work/server.log" >&2; exit 1; }
  graphql_url="http://127.0.0.1:$port/graphql"
}

stop_kinbridge() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}

token() { "$kinbridge" token --log error --org "$1" --role "$2" --ttl 2h; }

# Fails when the server logged a panic.
no_panic() {
  if grep -q "panicked" "$work/server.log"; then
    echo "the server panicked:" >&2
    grep -A5 "panicked" "$work/server.log" >&2
    return 1
  fi
}
