//! Test support shared by every crate of the workspace (a dev-dependency only).
//!
//! Some tests need what a checkout or a machine may lack: a PostgreSQL server, the real-world
//! passport files beside the checkout, the face-model weights. Such a test used to return early and
//! be reported as passing, so a CI run that lost a prerequisite proved less than it claimed without
//! anyone noticing. Now every such test asks [`require`] (or one of its helpers):
//!
//! - under CI (`CI=true`, as `.ci/run` sets it) a missing prerequisite **fails** the test, and the
//!   message names what is missing and how to provide it;
//! - elsewhere the test is skipped **visibly**: a `SKIP` line on stderr, and one record per test
//!   in the file named by `IDGATE_SKIP_LOG`, which `scripts/test.sh` counts by prerequisite at the
//!   end of the run (nextest hides the output of passing tests, so the summary is what people see).
//!
//! It also holds the one copy of the fixtures the crates' tests share, each behind a feature so
//! a crate's tests build only what they use:
//!
//! - `postgres`: [`postgres::FreshDatabase`], an empty database per test, dropped when the test
//!   ends; [`postgres::PrivatePostgres`], a cluster of one test's own, to kill;
//! - `http`: [`http::serve`] a router on a free loopback port, [`http::client`],
//!   [`receiver::Sink`], a webhook receiver that records every request and answers from a script,
//!   and [`sse::SseReader`], a client of Server-Sent Events streams;
//! - `keys`: [`keys::receiver_key`], a receiver's RSA key pair generated at test time;
//! - `browser`: [`browser::Browser`], headless Chromium over the DevTools protocol, for the
//!   hosted verification page (navigation, JavaScript, screenshots, axe-core, problems).
//!
//! The application itself is started by each crate's own glue (idgate-server's `testing`
//! module in-process, the `idgate` crate's tests as a process): this crate depends on no idgate
//! crate, so each of them can use it without a dependency cycle.

// A dev-only crate whose job is to fail tests: panicking is its interface.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test support: a failure here is the test failing"
)]

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "keys")]
pub mod keys;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod prereq;
#[cfg(feature = "http")]
pub mod receiver;
#[cfg(feature = "http")]
pub mod sse;

pub use prereq::Prereq;

/// The environment variable naming the file that collects skip records (`scripts/test.sh`).
pub const SKIP_LOG_ENV: &str = "IDGATE_SKIP_LOG";

/// Whether this run is under CI, where a missing prerequisite is an error.
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Reports that `prereq` is missing (`detail` says what exactly): panics under CI, otherwise
/// records the skip. The caller then returns from the test (or runs its reduced form, as the
/// storage tests do on SQLite alone).
#[track_caller]
pub fn missing(prereq: Prereq, detail: impl fmt::Display) {
    let message = format!("{} missing: {detail}; {}", prereq.name(), prereq.how());
    if strict() {
        panic!("prerequisite missing under CI=true: {message}");
    }
    eprintln!("SKIP {message}");
    record(prereq);
}

/// Appends `prereq<TAB>test name` to the skip log, if one is set. Each test runs in its own
/// process under nextest and a line is one short `O_APPEND` write, so concurrent tests don't
/// interleave.
fn record(prereq: Prereq) {
    let Some(log) = std::env::var_os(SKIP_LOG_ENV) else {
        return;
    };
    let test = std::thread::current()
        .name()
        .map_or_else(|| format!("pid {}", std::process::id()), str::to_owned);
    let line = format!("{}\t{test}\n", prereq.name());
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// The PostgreSQL server named by `IDGATE_TEST_DATABASE_URL`, or `None` after [`missing`]
/// (storage and API tests then run on SQLite alone, which CI does not accept).
#[track_caller]
pub fn postgres_url() -> Option<String> {
    match std::env::var(prereq::DATABASE_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing(
                Prereq::Postgres,
                format!("{} is not set", prereq::DATABASE_URL_ENV),
            );
            None
        }
    }
}

/// The workspace's root directory (two levels above every crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/testdata/<relative>` beside the checkout (`IDGATE_TESTDATA_DIR` overrides the
/// directory, for worktrees that live elsewhere), or `None` after [`missing`].
#[track_caller]
pub fn shared_testdata(relative: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("IDGATE_TESTDATA_DIR").map_or_else(
        || workspace_root().join("../shared/testdata"),
        PathBuf::from,
    );
    let path = dir.join(relative);
    if path.exists() {
        Some(path)
    } else {
        missing(
            Prereq::SharedTestdata,
            format!("{} not found", path.display()),
        );
        None
    }
}

/// Reads `../shared/testdata/<relative>`, or `None` after [`missing`].
#[track_caller]
pub fn read_shared_testdata(relative: &str) -> Option<Vec<u8>> {
    let path = shared_testdata(relative)?;
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The seed pages of the API (`../shared/seeds`), or `None` after [`missing`].
#[track_caller]
pub fn seeds_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("../shared/seeds");
    if dir.is_dir() {
        Some(dir)
    } else {
        missing(Prereq::Seeds, format!("{} not found", dir.display()));
        None
    }
}

/// Whether `program` runs with `args` and exits successfully (probing an optional tool).
pub fn command_succeeds(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test runs in its own process under nextest, so setting the environment is safe here.
    #[allow(unsafe_code, reason = "set_var is unsafe since edition 2024")]
    fn set_env(key: &str, value: &std::ffi::OsStr) {
        // SAFETY: no other thread of this test process reads the environment concurrently.
        unsafe { std::env::set_var(key, value) }
    }

    #[test]
    #[should_panic(expected = "prerequisite missing under CI=true: postgresql missing")]
    fn a_missing_prerequisite_fails_under_ci() {
        set_env("CI", "true".as_ref());
        missing(Prereq::Postgres, "IDGATE_TEST_DATABASE_URL is not set");
    }

    #[test]
    fn a_missing_prerequisite_is_recorded_outside_ci() {
        let dir = std::env::temp_dir().join(format!("idgate-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips");
        set_env("CI", "false".as_ref());
        set_env(SKIP_LOG_ENV, log.as_os_str());
        missing(Prereq::FaceModels, "weights not found");
        let recorded = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            recorded,
            "face-models\ttests::a_missing_prerequisite_is_recorded_outside_ci\n"
        );
    }
}
