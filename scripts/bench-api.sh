#!/usr/bin/env bash
# Load test of the integrator API: a release build of `idgate serve` on SQLite, driven by wrk
# with 64 connections per endpoint. Prints requests/s and p50/p99 latency per endpoint, then the
# cost of a list page with 10k and with 1M sessions stored (keyset pagination: it should not
# grow with the table).
#
# Usage: scripts/bench-api.sh [duration, default 10s]
#   BENCH_LIST_SIZES="10000 1000000"  session counts for the list-page runs ("" skips them)
#   BENCH_THREADS=2                    wrk threads
#   CARGO_TARGET_DIR                   where the release build goes (default: target)
#   BENCH_BIN=path                     use this idgate binary instead of building one
# The large tables are seeded directly with SQL through sqlite3 (copies of a session created
# over the API), which takes seconds where a million API calls would take minutes.
# A benchmark, not a test: figures depend on the machine; nothing here asserts a number.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10s}"
CONNECTIONS=64
THREADS="${BENCH_THREADS:-2}"
LIST_SIZES="${BENCH_LIST_SIZES-10000 1000000}"

need() {
    command -v "$1" >/dev/null && return
    echo "installing $2 (Debian package)" >&2
    apt-get install -y -qq "$2" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null; }
}
need wrk wrk
need curl curl
need sqlite3 sqlite3

if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$BENCH_BIN"
else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
    cargo build --quiet --release -p idgate
    BIN="$CARGO_TARGET_DIR/release/idgate"
fi

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
DB="$WORK/data/idgate.db"

create() {
    curl -sf -X POST -H "Authorization: Bearer $KEY" "$BASE/v1/sessions"
}
id_of() { grep -o '"id":"vs_[A-Za-z0-9]*"' | head -n 1 | cut -d'"' -f4; }

# Some data so list pages are full and reads hit real rows.
for _ in $(seq 1 200); do create >/dev/null; done
SESSION_ID="$(create | id_of)"
# The template of the seeded rows: a minimal share contract keeps a million rows small.
SEED_ID="$(curl -sf -X POST -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"share_fields":{}}' "$BASE/v1/sessions" | id_of)"
[ -n "$SESSION_ID" ] && [ -n "$SEED_ID" ] || { echo "could not create a session"; exit 1; }

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"metadata":{"bench":"1"}}'
LUA

run() {
    local name="$1"; shift
    local out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency "$@")"
    local rps p50 p99 non2xx errors
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
    p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
    non2xx="$(echo "$out" | awk '/Non-2xx/ {print $NF}')"
    errors="$(echo "$out" | awk '/Socket errors/ {print $0}' | sed 's/^ *Socket errors: //')"
    printf '%-40s %10s req/s   p50 %8s   p99 %8s   non-2xx %s%s\n' \
        "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "${errors:+   socket errors: $errors}"
}

echo "idgate $(git rev-parse --short HEAD 2>/dev/null || echo '?') on SQLite, $CONNECTIONS connections, $THREADS wrk threads, $DURATION each, $(nproc) cores"
run "GET /healthz" "$BASE/healthz"
run "GET /v1/sessions/{id}" -H "Authorization: Bearer $KEY" "$BASE/v1/sessions/$SESSION_ID"
run "GET /v1/sessions?limit=100" -H "Authorization: Bearer $KEY" "$BASE/v1/sessions?limit=100"
run "POST /v1/sessions" -s "$WORK/post.lua" "$BASE/v1/sessions"

sql() { sqlite3 -cmd '.timeout 30000' "$DB" "$@"; }

# Back to the sessions created before the POST run, so the sizes below are what they say.
sql "DELETE FROM sessions WHERE created_at > (SELECT created_at FROM sessions WHERE id = '$SEED_ID');"

# Grows the table to $1 sessions of the benchmark organization with copies of $SEED_ID,
# older than every API-created session and not expiring during the run.
grow_to() {
    local target="$1" have missing
    have="$(sql 'SELECT count(*) FROM sessions;')"
    missing=$((target - have))
    [ "$missing" -gt 0 ] || return 0
    sql >/dev/null <<SQL
BEGIN IMMEDIATE;
WITH RECURSIVE n(i) AS (SELECT $have UNION ALL SELECT i + 1 FROM n WHERE i < $target - 1)
INSERT INTO sessions (id, org_id, environment, status, failure_code, nfc_tries_used,
    liveness_tries_used, contract_version, share_fields, redirect_url, webhook_endpoint_id,
    metadata, cancel_token, expires_at, completed_at, created_at, updated_at)
SELECT printf('vs_bench%059d', n.i), s.org_id, s.environment, s.status, s.failure_code,
    s.nfc_tries_used, s.liveness_tries_used, s.contract_version, s.share_fields, s.redirect_url,
    s.webhook_endpoint_id, s.metadata, s.cancel_token,
    s.expires_at + 86400000, NULL, s.created_at - 86400000 - n.i, s.updated_at
FROM n, sessions AS s WHERE s.id = '$SEED_ID';
COMMIT;
SQL
}

for size in $LIST_SIZES; do
    started=$(date +%s)
    grow_to "$size"
    stored="$(sql 'SELECT count(*) FROM sessions;')"
    # A cursor in the middle of the table: the page after it is read by keyset, not by offset.
    middle="$(sql "SELECT id FROM sessions ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $((stored / 2));")"
    echo "-- $stored sessions stored (seeded in $(( $(date +%s) - started ))s)"
    run "GET /v1/sessions?limit=100 (first page)" -H "Authorization: Bearer $KEY" \
        "$BASE/v1/sessions?limit=100"
    run "GET /v1/sessions?limit=100 (middle page)" -H "Authorization: Bearer $KEY" \
        "$BASE/v1/sessions?limit=100&starting_after=$middle"
done
