//! The OpenAPI document tells the whole truth: Schemathesis (`st`, PyPI `schemathesis`) reads
//! `/openapi.json` of a running server and checks, with every check it has, that each response
//! is one the document lists (status, content type, headers, schema), that requests valid by the
//! document are accepted and invalid ones refused, that authentication is enforced, and that the
//! stateful links hold. Zero failures is the bar; the run is bounded (`--max-examples`, a fixed
//! seed) so the suite stays fast and a failure reproduces.
//!
//! Skipped, with a message, where `st` is missing; under `CI=true` that fails and names it
//! (`.ci/run` installs it). To search harder locally, set `IDGATE_SCHEMATHESIS_EXAMPLES` (test
//! cases per operation) and `IDGATE_SCHEMATHESIS_SEED`.

use std::process::Command;
use std::time::Duration;

use idgate_server::testing::Backend;

use crate::support::TestAppBuilder;

/// Test cases per operation and phase: enough to reach every documented status, few enough
/// for a run of well under a minute.
const MAX_EXAMPLES: &str = "20";
const SEED: &str = "20261206";

/// Per-operation settings, each with its reason.
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/schemathesis.toml");

fn schemathesis() -> Option<&'static str> {
    let found = Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return Some("st");
    }
    idgate_testkit::missing(
        idgate_testkit::Prereq::Schemathesis,
        "`st --version` did not run",
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_difference_between_the_document_and_the_server() {
    let Some(st) = schemathesis() else {
        return;
    };
    let app = TestAppBuilder::default().spawn(Backend::Sqlite).await;
    // Schemathesis keeps a cache and reports in its working directory: a temporary one.
    let workdir = tempfile::tempdir().expect("working directory");
    let args = vec![
        "--config-file".to_owned(),
        CONFIG.to_owned(),
        "run".to_owned(),
        app.url("/openapi.json"),
        "--header".to_owned(),
        format!("Authorization: Bearer {}", app.key),
        "--checks".to_owned(),
        "all".to_owned(),
        "--max-examples".to_owned(),
        std::env::var("IDGATE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned()),
        "--seed".to_owned(),
        std::env::var("IDGATE_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.to_owned()),
        "--workers".to_owned(),
        "1".to_owned(),
        "--request-timeout".to_owned(),
        "10".to_owned(),
        "--generation-database".to_owned(),
        "none".to_owned(),
        "--no-color".to_owned(),
    ];
    let dir = workdir.path().to_owned();
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::task::spawn_blocking(move || Command::new(st).args(&args).current_dir(dir).output()),
    )
    .await
    .expect("schemathesis finishes within 10 minutes")
    .expect("schemathesis task")
    .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
    app.shutdown().await;
}
