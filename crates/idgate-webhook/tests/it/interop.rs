//! Interoperability with independent implementations, both directions: the Python
//! `standardwebhooks` and `jwcrypto` libraries (scripts/webhook-interop/interop.py).
//! Skipped, with a message, where python3 or the libraries are missing.

use std::io::Write as _;
use std::process::{Command, Stdio};

use idgate_webhook::{Event, Receiver, WebhookSecret, delivery};

use crate::support::{event_id, now, pair, succeeded_event};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/webhook-interop/interop.py"
);

fn python_available() -> bool {
    let ok =
        idgate_testkit::command_succeeds("python3", &["-c", "import standardwebhooks, jwcrypto"]);
    if !ok {
        idgate_testkit::missing(
            idgate_testkit::Prereq::PythonReceiver,
            "python3 with `standardwebhooks` and `jwcrypto` not found",
        );
    }
    ok
}

fn run(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "interop.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn python_verifies_and_decrypts_what_rust_sends() {
    if !python_available() {
        return;
    }
    let secret = WebhookSecret::generate().unwrap();
    let event = succeeded_event(&event_id(20));
    let body = delivery::seal(&event, &pair().recipient).unwrap();
    let headers = delivery::headers(
        std::slice::from_ref(&secret),
        event.id.as_str(),
        now(),
        &body,
        "idgate/test",
    )
    .unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().into()))
        .collect();
    let request = serde_json::json!({"headers": headers, "body": body});
    let plaintext = run(
        &[
            "open",
            "--secret",
            &secret.expose_whsec(),
            "--private-key",
            pair().private_pem_path.to_str().unwrap(),
        ],
        request.to_string().as_bytes(),
    );
    assert_eq!(Event::from_json(&plaintext).unwrap(), event);
}

#[test]
fn rust_verifies_and_decrypts_what_python_sends() {
    if !python_available() {
        return;
    }
    let secret = WebhookSecret::generate().unwrap();
    let event = succeeded_event(&event_id(21));
    let out = run(
        &[
            "seal",
            "--secret",
            &secret.expose_whsec(),
            "--public-key",
            pair().public_pem_path.to_str().unwrap(),
            "--msg-id",
            event.id.as_str(),
        ],
        &event.to_json().unwrap(),
    );
    let sealed: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let headers: Vec<(String, String)> = sealed["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let body = sealed["body"].as_str().unwrap();
    let header = idgate_webhook::jwe::header(body).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(pair().recipient.thumbprint()),
        "jwcrypto and we agree on RFC 7638"
    );
    let receiver = Receiver::new(secret, pair().private.clone());
    assert_eq!(
        receiver.open(headers.as_slice(), body.as_bytes()).unwrap(),
        event
    );
}

#[test]
fn python_refuses_a_delivery_signed_with_another_secret() {
    if !python_available() {
        return;
    }
    let body = delivery::seal(&succeeded_event(&event_id(22)), &pair().recipient).unwrap();
    let headers = delivery::headers(
        &[WebhookSecret::generate().unwrap()],
        &event_id(22),
        now(),
        &body,
        "idgate/test",
    )
    .unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().into()))
        .collect();
    let request = serde_json::json!({"headers": headers, "body": body});
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args([
            "open",
            "--secret",
            &WebhookSecret::generate().unwrap().expose_whsec(),
        ])
        .args(["--private-key", pair().private_pem_path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "a wrong secret must fail in the reference library too"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("No matching signature"));
}

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/webhook-interop");

fn node_available() -> bool {
    let modules = ["standardwebhooks", "jose"].iter().all(|m| {
        std::path::Path::new(JS_DIR)
            .join("node_modules")
            .join(m)
            .is_dir()
    });
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(modules && node) {
        idgate_testkit::missing(
            idgate_testkit::Prereq::NodeReceiver,
            "node with `standardwebhooks` and `jose` not found",
        );
    }
    modules && node
}

#[test]
fn javascript_verifies_and_decrypts_what_rust_sends() {
    if !node_available() {
        return;
    }
    let secret = WebhookSecret::generate().unwrap();
    let event = succeeded_event(&event_id(23));
    let body = delivery::seal(&event, &pair().recipient).unwrap();
    let headers = delivery::headers(
        std::slice::from_ref(&secret),
        event.id.as_str(),
        now(),
        &body,
        "idgate/test",
    )
    .unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().into()))
        .collect();
    let request = serde_json::json!({"headers": headers, "body": body});
    let mut child = Command::new("node")
        .arg(format!("{JS_DIR}/open.mjs"))
        .args([
            secret.expose_whsec().as_str(),
            pair().private_pem_path.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "open.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(Event::from_json(&out.stdout).unwrap(), event);
}
