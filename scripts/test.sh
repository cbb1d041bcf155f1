#!/usr/bin/env bash
# The project's test command (README, `.ci/run`): the whole workspace under cargo-nextest.
#
# Why nextest and not `cargo test`: every test runs in its own process, so the tests that start
# servers, set environment variables or install a global metrics recorder cannot disturb each
# other, and slow tests run beside the rest. nextest is not part of rustup's toolchain; on a fresh
# machine this script installs it once from crates.io (`cargo install --locked cargo-nextest`, a few
# minutes) and says so. Extra arguments go to `cargo nextest run` (e.g. `--no-run`, a filter).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "scripts/test.sh: cargo-nextest is not installed; installing it from crates.io once" >&2
    cargo install --locked cargo-nextest
fi
exec cargo nextest run --workspace "$@"
