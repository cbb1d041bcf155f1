#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 for the test suite on 127.0.0.1 and prints the line to export:
#
#   eval "$(scripts/start-postgres.sh)"      # sets IDGATE_TEST_DATABASE_URL
#   scripts/start-postgres.sh [DATA_DIR] [PORT]
#
# Installs Debian's postgresql package when the server binaries are missing, creates the cluster
# (trust authentication, superuser `postgres`, listening on 127.0.0.1 only) and waits until it
# accepts connections. Idempotent: when a server already answers on the port, it only prints.
# Progress goes to stderr; stdout carries only the export line.
set -euo pipefail

PORT="${2:-${IDGATE_PG_PORT:-54329}}"
DATA_DIR="${1:-${IDGATE_PG_DIR:-${TMPDIR:-/tmp}/idgate-pg-${PORT}}}"
BIN=/usr/lib/postgresql/15/bin
URL="postgres://postgres@127.0.0.1:${PORT}/postgres"

log() { echo "start-postgres: $*" >&2; }

if [ ! -x "$BIN/initdb" ]; then
    log "installing postgresql (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    log "already running on 127.0.0.1:${PORT}"
    echo "export IDGATE_TEST_DATABASE_URL=${URL}"
    exit 0
fi

# initdb and the server refuse to run as root: run them as the postgres system user then.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

mkdir -p "$DATA_DIR"
if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$DATA_DIR"
fi
chmod 700 "$DATA_DIR"

if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
    log "initdb in ${DATA_DIR}"
    as_pg "'$BIN/initdb' -D '$DATA_DIR' -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8" >&2
fi

log "starting on 127.0.0.1:${PORT}"
# fsync stays on: the tests exercise durable commits. Sockets live in the data dir, not /run.
as_pg "'$BIN/pg_ctl' -D '$DATA_DIR' -l '$DATA_DIR/server.log' -w -t 60 \
    -o \"-p $PORT -k '$DATA_DIR' -c listen_addresses=127.0.0.1 -c max_connections=300\" start" >&2

for _ in $(seq 1 60); do
    if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
        log "ready"
        echo "export IDGATE_TEST_DATABASE_URL=${URL}"
        exit 0
    fi
    sleep 0.5
done
log "PostgreSQL did not become ready; see $DATA_DIR/server.log"
tail -n 20 "$DATA_DIR/server.log" >&2 || true
exit 1
