//! A running `idgate serve` with an organization and a `kk_test_` key made with the CLI, and
//! test-mode sessions on it: the fixture of the tests that play a mobile client against the
//! built binary (`simulate_cli.rs`, `kiosk_cli.rs`). The test photos of
//! `scripts/fetch-face-models.sh` are their prerequisite ([`photos`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::{Api, BIN, Node};

/// The photos directory, or `None` after recording the missing prerequisite.
pub fn photos() -> Option<PathBuf> {
    let models = std::env::var_os("IDGATE_FACE_MODELS").map_or_else(
        || idgate_testkit::workspace_root().join(".face-models"),
        PathBuf::from,
    );
    let photos = models.join("photos");
    if photos.join("obama.jpg").is_file() {
        Some(photos)
    } else {
        idgate_testkit::missing(
            idgate_testkit::Prereq::FaceModels,
            format!("no test photos in {}", photos.display()),
        );
        None
    }
}

/// `idgate ARGS --json --data-dir DIR`, parsed.
pub fn cli(data_dir: &Path, args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .args(args)
        .args(["--json", "--data-dir"])
        .arg(data_dir)
        .env_remove("IDGATE_DATABASE_URL")
        .env_remove("IDGATE_CONFIG")
        .output()
        .expect("run idgate");
    assert!(
        output.status.success(),
        "idgate {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// A server on a fresh data directory and a test-mode key of its organization.
pub struct Fixture {
    pub node: Node,
    pub api: Api,
    pub key: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Fixture::start`] with extra `IDGATE_*` settings for the server.
    pub fn start_with(env: &[(&str, String)]) -> Self {
        Self::launch(|dir| Node::start(dir, None, env))
    }

    /// [`Fixture::start`] with the server logging at debug level to the file `log`.
    #[allow(
        dead_code,
        reason = "used by some of the test binaries that include this module"
    )]
    pub fn start_logging(env: &[(&str, String)], log: &Path) -> Self {
        Self::launch(|dir| Node::start_logging(dir, env, log))
    }

    /// The data directory (secrets and the SQLite database).
    #[allow(
        dead_code,
        reason = "used by some of the test binaries that include this module"
    )]
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    fn launch(start: impl FnOnce(&Path) -> Node) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let org = cli(dir.path(), &["org", "create", "--name", "Simulated"]);
        let org_id = org["id"].as_str().unwrap();
        let key = cli(dir.path(), &["keys", "create", "--org", org_id, "--test"]);
        let key = key["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("kk_test_"));
        let node = start(dir.path());
        let api = Api::new(node.addr, &key);
        Self {
            node,
            api,
            key,
            _dir: dir,
        }
    }

    /// A new session: its id and verification URL.
    pub async fn session(&self) -> (String, String) {
        let (status, body) = self
            .api
            .call(reqwest::Method::POST, "/v1/sessions", Some(json!({})))
            .await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        (
            data["id"].as_str().unwrap().to_owned(),
            data["verification_url"].as_str().unwrap().to_owned(),
        )
    }

    /// The session as the integrator sees it.
    pub async fn stored(&self, id: &str) -> Value {
        let (status, body) = self
            .api
            .call(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }
}
