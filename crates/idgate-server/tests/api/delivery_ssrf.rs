//! The SSRF guard at send time (webhooks.md "Security"): without the operator switch, a stored
//! endpoint URL aimed at loopback, private, link-local (cloud metadata) or unique-local space is
//! refused before any connection, and the attempt records why.

use std::time::{Duration, Instant};

use crate::delivery_support::{attempt_error_kinds, cancelled_session, endpoint, fast_retries};
use crate::support::{TestAppBuilder, on_each_backend_with};

#[tokio::test]
async fn internal_destinations_are_refused_at_send_time_without_the_operator_switch() {
    let builder = TestAppBuilder::default()
        .allow_private_webhooks(false)
        .delivery(fast_retries());
    on_each_backend_with(builder, async |app| {
        // Stored directly: the management API refuses these URLs up front, but a URL accepted
        // under a laxer configuration, or a name that resolves inward, must still be stopped.
        let cases = [
            ("https://127.0.0.1/hook", "refused:loopback"),
            ("https://[::1]/hook", "refused:loopback"),
            ("https://10.1.2.3/hook", "refused:private"),
            ("https://172.16.0.1/hook", "refused:private"),
            ("https://192.168.1.1/hook", "refused:private"),
            (
                "https://169.254.169.254/latest/meta-data",
                "refused:link_local",
            ),
            ("https://[fd00::1]/hook", "refused:unique_local"),
            ("https://[::ffff:127.0.0.1]/hook", "refused:loopback"),
            ("https://localhost/hook", "refused:loopback"),
        ];
        let mut endpoints = Vec::new();
        for (url, kind) in cases {
            endpoints.push((endpoint(&app, url, r#"["*"]"#, true).await, url, kind));
        }
        cancelled_session(&app, serde_json::Value::Null).await;
        for (ep, url, kind) in &endpoints {
            let deadline = Instant::now() + Duration::from_secs(10);
            let kinds = loop {
                let kinds = attempt_error_kinds(&app, &ep.id).await;
                if !kinds.is_empty() {
                    break kinds;
                }
                assert!(Instant::now() < deadline, "{url} was never attempted");
                tokio::time::sleep(Duration::from_millis(25)).await;
            };
            assert_eq!(kinds[0].as_deref(), Some(*kind), "{url}");
        }
    })
    .await;
}
