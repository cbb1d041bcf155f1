#!/usr/bin/env bash
# Load test of the integrator API: a release build of `idgate serve` on SQLite, driven by wrk
# with 64 connections per endpoint. Prints requests/s and p50/p99 latency per endpoint.
# Usage: scripts/bench-api.sh [duration, default 10s]
# A benchmark, not a test: figures depend on the machine; nothing here asserts a number.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10s}"
CONNECTIONS=64
THREADS="${BENCH_THREADS:-2}"

if ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
if ! command -v curl >/dev/null; then
    apt-get install -y curl >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -p idgate
BIN="$CARGO_TARGET_DIR/release/idgate"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Rate limits out of the way: this measures the server, not the limiter.
IDGATE_RATE_LIMIT_PER_SECOND=100000000 IDGATE_RATE_LIMIT_BURST=100000000 RUST_LOG=warn \
    "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q "store it now" "$WORK/stdout" 2>/dev/null && break
    sleep 0.1
done
ADDR="$(sed -n 's/^idgate listening on //p' "$WORK/stdout")"
KEY="$(sed -n 's/.*store it now): //p' "$WORK/stdout")"
[ -n "$ADDR" ] && [ -n "$KEY" ] || { echo "server did not start"; cat "$WORK/stdout" "$WORK/stderr"; exit 1; }
BASE="http://$ADDR"

# Some data so list pages are full and reads hit real rows.
for _ in $(seq 1 200); do
    curl -sf -X POST -H "Authorization: Bearer $KEY" "$BASE/v1/sessions" >/dev/null
done
SESSION_ID="$(curl -sf -X POST -H "Authorization: Bearer $KEY" "$BASE/v1/sessions" | sed -n 's/^{"data":{"id":"\([^"]*\)".*/\1/p')"

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"metadata":{"bench":"1"}}'
LUA

run() {
    local name="$1"; shift
    local out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")"
    local rps p50 p99 non2xx
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
    p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
    non2xx="$(echo "$out" | awk '/Non-2xx/ {print $NF}')"
    printf '%-28s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "idgate $(git rev-parse --short HEAD 2>/dev/null || echo '?') on SQLite, $CONNECTIONS connections, $THREADS wrk threads, $DURATION each, $(nproc) cores"
run "GET /healthz" "$BASE/healthz"
run "GET /v1/sessions/{id}" -H "Authorization: Bearer $KEY" "$BASE/v1/sessions/$SESSION_ID"
run "GET /v1/sessions?limit=100" -H "Authorization: Bearer $KEY" "$BASE/v1/sessions?limit=100"
run "POST /v1/sessions" -s "$WORK/post.lua" "$BASE/v1/sessions"
