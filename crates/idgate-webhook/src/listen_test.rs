#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts as _;

use super::*;
use crate::delivery;
use crate::event::{Environment, EventId, Metadata, NoData, SessionId};
use crate::keys::RecipientKey;
use crate::secret::WebhookSecret;
use crate::ssrf::{SsrfPolicy, build_client};
use crate::test_support::private_key;
use crate::{Event, EventData};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn event() -> Event {
    Event {
        id: EventId::parse(&format!("evt_{}", "e".repeat(64))).unwrap(),
        created_at: time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
        data: EventData::SessionCancelled(NoData {}),
        metadata: Metadata {
            verification_session_id: SessionId::parse(&format!("vs_{}", "s".repeat(64))).unwrap(),
            verification_attempt_id: None,
            contract_version: 1,
            environment: Environment::Test,
        },
    }
}

struct Running {
    url: String,
    events: Buf,
    diagnostics: Buf,
}

async fn start(secret: WebhookSecret) -> Running {
    let (events, diagnostics) = (Buf::default(), Buf::default());
    let app = router(
        Receiver::new(secret, private_key().clone()),
        Box::new(events.clone()),
        Box::new(diagnostics.clone()),
    );
    let addr = idgate_testkit::http::serve(app).await;
    let url = format!("http://{addr}/webhooks/idgate");
    Running {
        url,
        events,
        diagnostics,
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "signs as a sender would, at this moment"
)]
async fn post(url: &str, secret: &WebhookSecret, body: String) -> Option<u16> {
    let id = event().id.to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let headers =
        delivery::headers(std::slice::from_ref(secret), &id, now, &body, "idgate/test").unwrap();
    let client = build_client(SsrfPolicy::PERMISSIVE, "idgate/test").unwrap();
    delivery::send(&client, &SsrfPolicy::PERMISSIVE, url, headers, body)
        .await
        .status
}

fn recipient() -> RecipientKey {
    let public = RsaPublicKey::from(private_key());
    RecipientKey::from_components(&public.n_bytes(), &public.e_bytes(), None).unwrap()
}

#[tokio::test]
async fn listen_prints_each_event_as_one_json_line_and_answers_204() {
    let secret = WebhookSecret::generate().unwrap();
    let running = start(secret.clone()).await;
    let body = delivery::seal(&event(), &recipient()).unwrap();
    assert_eq!(post(&running.url, &secret, body).await, Some(204));
    let printed = running.events.text();
    assert_eq!(printed.lines().count(), 1);
    assert_eq!(
        Event::from_json(printed.trim_end().as_bytes()).unwrap(),
        event()
    );
}

#[tokio::test]
async fn listen_answers_401_to_a_wrong_signature_and_says_why_on_diagnostics() {
    let running = start(WebhookSecret::generate().unwrap()).await;
    let body = delivery::seal(&event(), &recipient()).unwrap();
    assert_eq!(
        post(&running.url, &WebhookSecret::generate().unwrap(), body).await,
        Some(401)
    );
    assert_eq!(running.events.text(), "");
    assert!(
        running
            .diagnostics
            .text()
            .contains("no `v1` signature matches"),
        "{}",
        running.diagnostics.text()
    );
}

#[tokio::test]
async fn listen_answers_400_to_a_signed_body_it_cannot_decrypt() {
    let secret = WebhookSecret::generate().unwrap();
    let running = start(secret.clone()).await;
    assert_eq!(
        post(&running.url, &secret, "not.a.jwe.at.all".into()).await,
        Some(400)
    );
    assert_eq!(running.events.text(), "");
    assert!(
        running.diagnostics.text().contains("rejected evt_"),
        "{}",
        running.diagnostics.text()
    );
}

#[tokio::test]
async fn listen_prints_a_redelivery_again_and_flags_it() {
    let secret = WebhookSecret::generate().unwrap();
    let running = start(secret.clone()).await;
    let body = delivery::seal(&event(), &recipient()).unwrap();
    assert_eq!(post(&running.url, &secret, body.clone()).await, Some(204));
    assert_eq!(post(&running.url, &secret, body).await, Some(204));
    assert_eq!(running.events.text().lines().count(), 2);
    assert!(running.diagnostics.text().contains("redelivery"));
}
