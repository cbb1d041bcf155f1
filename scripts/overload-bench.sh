#!/usr/bin/env bash
# The server driven past its capacity (issue 17): for a cheap authenticated read
# (GET /v1/sessions/{id}) and a write (POST /v1/sessions), its capacity first, then open-loop
# load at multiples of it on up to 8192 client connections, once with the connection limits of
# docs/connection-limits.md (max_connections 512, so the client opens more connections than the
# bound) and once with them switched off. Prints accepted requests' p50/p99/max, shed and refused
# requests, requests without an answer, and the server's memory.
#
# Usage: scripts/overload-bench.sh
#   BENCH_SECONDS=10        seconds of load per run
#   BENCH_LOADS="1 2 4"     offered load, as multiples of the measured capacity
#   BENCH_CONNECTIONS=8192  most client connections open at once
#   BENCH_MAX_CONNECTIONS=512  the server's max_connections in the "limits" runs
#   BENCH_ROUTES="get post" BENCH_MODES="limits unbounded" BENCH_TIMEOUT_S=30
#   BENCH_BIN=path          drive this idgate build instead (e.g. one from before a change)
#   BENCH_CAPACITY_GET=n BENCH_CAPACITY_POST=n  take these capacities (requests/s) instead of
#                           measuring them, so two builds are offered the same load
#   CARGO_TARGET_DIR        where the release build goes (default: target)
# A benchmark, not a test: figures depend on the machine; nothing here asserts a number.
# The crate-level documentation of crates/idgate/benches/overload.rs explains the method.
set -euo pipefail
cd "$(dirname "$0")/.."
# One descriptor per client connection, plus the server's own when it inherits the limit.
ulimit -n "$(ulimit -Hn)"
exec cargo bench --quiet -p idgate --bench overload
