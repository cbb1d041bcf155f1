//! The documentation in `docs/` stays in step with the code: the error table of `docs/api.md`
//! is the error catalog of `idgate-core`, and every page and section the code cites exists (and
//! nothing cites notes that are not in the repository). Both checks are small Python scripts so
//! a writer can run them alone; this test makes them part of the suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Runs `python3 scripts/<script> <args>` from the workspace root and fails with its output.
fn check(script: &str, args: &[&str]) {
    if !idgate_testkit::command_succeeds("python3", &["--version"]) {
        idgate_testkit::missing(idgate_testkit::Prereq::Python, "python3 not found");
        return;
    }
    let out = Command::new("python3")
        .arg(format!("scripts/{script}"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "scripts/{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_error_table_of_the_api_docs_is_the_error_catalog() {
    check("error-table.py", &["--check"]);
}

#[test]
fn the_code_cites_only_docs_pages_and_sections_that_exist() {
    check("check-doc-citations.py", &[]);
}
