//! The operator's path through the built binary: `org create` and `keys create` on a data
//! directory, `serve --listen 127.0.0.1:0` on the same directory, a request with that key, keys
//! created while the server runs, and graceful shutdown on SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

fn idgate(data_dir: &Path, args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("IDGATE_DATABASE_URL")
        .output()
        .expect("run idgate");
    assert!(
        output.status.success(),
        "idgate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A running `idgate serve`, killed on drop if the test did not stop it.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    banner: Vec<String>,
}

impl Server {
    fn start(data_dir: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("IDGATE_DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn idgate serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let addr = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("serve prints its address");
            banner.push(line.clone());
            if let Some(addr) = line.strip_prefix("idgate listening on ") {
                break addr.trim().parse().expect("a socket address");
            }
        };
        // The rest of the banner follows immediately.
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
            banner.push(line);
        }
        Self {
            child,
            addr,
            lines,
            banner,
        }
    }

    fn printed_key(&self) -> Option<String> {
        self.banner
            .iter()
            .find_map(|l| l.split("store it now): ").nth(1).map(str::to_owned))
    }

    /// `GET path` with a bearer key; returns the status code and body.
    fn get(&self, path: &str, key: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n", self.addr).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "graceful exit, got {status}");
        // The reader thread may still be forwarding the last lines: read until it hangs up
        // (at the pipe's end), not only what already arrived.
        let mut tail = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            tail.push(line);
        }
        tail
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keys_created_with_the_cli_authenticate_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let org = idgate(dir.path(), &["org", "create", "--name", "Acme", "--json"]);
    let org_id = org["id"].as_str().expect("org id").to_owned();
    assert!(org_id.starts_with("org_"));
    let key = idgate(dir.path(), &["keys", "create", "--org", &org_id, "--json"]);
    let secret = key["key"].as_str().expect("key").to_owned();
    assert!(secret.starts_with("kk_live_"), "{secret}");
    assert!(key["id"].as_str().expect("key id").starts_with("key_"));

    let server = Server::start(dir.path());
    assert_eq!(
        server.printed_key(),
        None,
        "an installation with an organization gets no bootstrap key"
    );
    let (status, body) = server.get("/v1/sessions", &secret);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"pagination\""), "{body}");
    assert_eq!(
        server
            .get("/v1/sessions", &format!("kk_live_{}", "a".repeat(40)))
            .0,
        401
    );

    // Keys created while the server runs work at once: same database, same secrets.
    let test_key = idgate(
        dir.path(),
        &[
            "keys",
            "create",
            "--org",
            &org_id,
            "--scopes",
            "sessions:read",
            "--test",
            "--json",
        ],
    );
    let test_secret = test_key["key"].as_str().unwrap().to_owned();
    assert!(test_secret.starts_with("kk_test_"));
    assert_eq!(server.get("/v1/sessions", &test_secret).0, 200);

    let tail = server.stop();
    assert!(
        tail.iter().any(|l| l.contains("idgate stopped")),
        "{tail:?}"
    );
}

#[test]
fn first_start_creates_the_default_organization_and_prints_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let key = server.printed_key().expect("first start prints a key");
    assert!(
        server.banner.iter().any(|l| l.contains("/docs")),
        "{:?}",
        server.banner
    );
    assert_eq!(
        server.get("/v1/api-keys", &key).0,
        200,
        "the bootstrap key can manage keys"
    );
    server.stop();
    for name in ["api_key_hash.key", "document_id.key", "key_encryption.key"] {
        assert!(dir.path().join(name).exists(), "{name}");
    }

    let again = Server::start(dir.path());
    assert_eq!(again.printed_key(), None, "the key is shown once");
    assert_eq!(
        again.get("/v1/sessions", &key).0,
        200,
        "secrets persisted across restarts"
    );
    again.stop();
}

#[test]
fn keys_create_for_an_unknown_organization_fails() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "keys",
            "create",
            "--org",
            &format!("org_{}", "a".repeat(64)),
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("IDGATE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no organization"));
}
