#!/usr/bin/env bash
# The project's test command (README, `.ci/run`): the whole workspace under cargo-nextest.
#
# Why nextest and not `cargo test`: every test runs in its own process, so the tests that start
# servers, set environment variables or install a global metrics recorder cannot disturb each
# other, and slow tests run beside the rest. nextest is not part of rustup's toolchain; on a fresh
# machine this script installs it once from crates.io (`cargo install --locked cargo-nextest`, a few
# minutes) and says so. Extra arguments go to `cargo nextest run` (e.g. `--no-run`, a filter).
#
# Tests that need something outside the toolchain (PostgreSQL, ../shared/testdata, face models, …)
# skip when it is missing — or fail, naming it, under CI=true (crates/idgate-testkit). Each skip is
# recorded in $IDGATE_SKIP_LOG, and the run ends with a count of skipped tests per prerequisite, so
# a skip is never mistaken for a pass.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "scripts/test.sh: cargo-nextest is not installed; installing it from crates.io once" >&2
    cargo install --locked cargo-nextest
fi

skip_log="$(mktemp "${TMPDIR:-/tmp}/idgate-skips.XXXXXX")"
trap 'rm -f "$skip_log"' EXIT
export IDGATE_SKIP_LOG="$skip_log"

# PC/SC support links the system's libpcsclite, which a plain toolchain lacks: build it where the
# library is installed (Debian: libpcsclite-dev; .ci/run installs it), so the PC/SC tests run
# there and are a counted skip (a failure under CI=true) elsewhere.
features=()
if pkg-config --exists libpcsclite 2>/dev/null; then
    features=(--features idgate/pcsc)
fi

status=0
cargo nextest run --workspace "${features[@]}" "$@" || status=$?

if [ -s "$skip_log" ]; then
    echo
    echo "Skipped for a missing prerequisite (tests per prerequisite; CI=true turns these into failures):"
    sort -u "$skip_log" | cut -f1 | sort | uniq -c | sort -rn | sed 's/^/  /'
fi
exit "$status"
