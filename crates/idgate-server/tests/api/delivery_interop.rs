//! Interoperability of a real delivery: the Python `standardwebhooks` and `jwcrypto` libraries
//! (scripts/webhook-interop/interop.py) verify and decrypt what the running server sent.
//! Skipped, with a message, where python3 or the libraries are missing.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::delivery_support::{Sink, cancelled_session, endpoint, fast_retries, keys};
use crate::support::{TestAppBuilder, on_each_backend_with};

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

#[tokio::test]
async fn python_verifies_and_decrypts_a_delivery_sent_by_the_server() {
    if !python_available() {
        return;
    }
    on_each_backend_with(TestAppBuilder::default().allow_private_webhooks(true).delivery(fast_retries()), async |app| {
        let sink = Sink::start().await;
        let ep = endpoint(&app, &sink.url, r#"["*"]"#, true).await;
        let session = cancelled_session(&app, serde_json::Value::Null).await;
        let got = sink.wait_for(1, Duration::from_secs(10)).await;

        let pem_path = keys().private_pem_path;
        let headers: serde_json::Map<String, serde_json::Value> = got[0]
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().into()))
            .collect();
        let request = serde_json::json!({"headers": headers, "body": String::from_utf8(got[0].body.clone()).unwrap()});
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .args(["open", "--secret", &ep.secret.expose_whsec(), "--private-key", pem_path.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "interop.py open failed: {}", String::from_utf8_lossy(&out.stderr));
        let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(event["type"], "verification.session.cancelled");
        assert_eq!(event["metadata"]["verification_session_id"], session.as_str());
        assert_eq!(event["metadata"]["environment"], "live");
        assert_eq!(event["id"], got[0].headers["webhook-id"].to_str().unwrap());
    })
    .await;
}
