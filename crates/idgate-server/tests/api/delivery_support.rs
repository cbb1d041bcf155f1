//! Fixtures of the delivery tests: the workspace's loopback receiver that records every request
//! and answers from a script (`idgate_testkit::receiver`), the receiver key pair as the store
//! keeps it, and endpoints written straight into the store (with the signing secret sealed by the
//! server's own key-encryption key).

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use idgate_core::{EncryptionKeyId, EndpointId, Environment};
use idgate_server::delivery::DeliverySettings;
use idgate_server::testing::TestApp;
use idgate_store::{Pool, Store};
use idgate_webhook::keys::RecipientKey;
use idgate_webhook::{Receiver, WebhookSecret};
use rsa::RsaPrivateKey;

pub use crate::support::Method;
pub use idgate_testkit::receiver::{Received, Sink};

/// The receiver's key pair (one per test binary, `idgate_testkit::keys`) and its public half as
/// the JWK the store keeps.
pub struct Keys {
    pub private: RsaPrivateKey,
    pub jwk: String,
    /// The private key as a PKCS #8 PEM file, for the independent receivers.
    pub private_pem_path: &'static Path,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = idgate_testkit::keys::receiver_key();
        let jwk = RecipientKey::parse(key.public_pem.as_bytes())
            .unwrap()
            .to_jwk()
            .to_string();
        Keys {
            private: key.private.clone(),
            jwk,
            private_pem_path: &key.private_pem_path,
        }
    })
}

/// Runs a statement with text binds (integers are bound as text-free literals in the SQL).
pub async fn exec(store: &Store, q: &str, binds: &[&str]) {
    macro_rules! run {
        ($pool:expr) => {{
            let mut query = sqlx::query(sqlx::AssertSqlSafe(q.to_owned()));
            for b in binds {
                query = query.bind(*b);
            }
            query.execute($pool).await.expect("statement");
        }};
    }
    match store.pool() {
        Pool::Sqlite(s) => run!(s),
        Pool::Postgres(s) => run!(s),
    }
}

/// The rows of a `SELECT` with one text bind (`$1`), on whichever backend the app runs.
async fn select<R>(app: &TestApp, q: &'static str, bind: &str) -> Vec<R>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    match app.state.store.pool() {
        Pool::Sqlite(s) => sqlx::query_as(q).bind(bind).fetch_all(s).await.unwrap(),
        Pool::Postgres(s) => sqlx::query_as(q).bind(bind).fetch_all(s).await.unwrap(),
    }
}

/// `(status, attempt_count)` of every delivery of an endpoint, oldest first.
pub async fn delivery_states(app: &TestApp, endpoint: &EndpointId) -> Vec<(String, i64)> {
    let q = "SELECT status, attempt_count FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY created_at, id";
    select(app, q, endpoint.as_str()).await
}

/// How many deliveries of an endpoint are leased to a worker (claimed, sent or not).
pub async fn leased_count(app: &TestApp, endpoint: &EndpointId) -> i64 {
    let q = "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND lease_owner IS NOT NULL";
    let (n,): (i64,) = select(app, q, endpoint.as_str()).await.pop().unwrap();
    n
}

/// One delivery row as the worker left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub status: String,
    pub attempt_count: i64,
    /// Epoch ms by the server's (injected) clock; `None` once final.
    pub next_attempt_at: Option<i64>,
    pub lease_owner: Option<String>,
}

/// Every delivery row of an endpoint, oldest first.
pub async fn delivery_rows(app: &TestApp, endpoint: &EndpointId) -> Vec<DeliveryRow> {
    let q = "SELECT status, attempt_count, next_attempt_at, lease_owner FROM webhook_deliveries \
             WHERE endpoint_id = $1 ORDER BY created_at, id";
    let rows: Vec<(String, i64, Option<i64>, Option<String>)> =
        select(app, q, endpoint.as_str()).await;
    rows.into_iter()
        .map(
            |(status, attempt_count, next_attempt_at, lease_owner)| DeliveryRow {
                status,
                attempt_count,
                next_attempt_at,
                lease_owner,
            },
        )
        .collect()
}

/// When each attempt of an endpoint's deliveries started, by the server's (injected) clock, in
/// epoch ms, oldest first.
pub async fn attempt_starts(app: &TestApp, endpoint: &EndpointId) -> Vec<i64> {
    let q = "SELECT a.started_at FROM webhook_delivery_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.endpoint_id = $1 ORDER BY a.started_at";
    let rows: Vec<(i64,)> = select(app, q, endpoint.as_str()).await;
    rows.into_iter().map(|r| r.0).collect()
}

/// Error kinds of every attempt of an endpoint's deliveries.
pub async fn attempt_error_kinds(app: &TestApp, endpoint: &EndpointId) -> Vec<Option<String>> {
    let q = "SELECT a.error_kind FROM webhook_delivery_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.endpoint_id = $1 ORDER BY a.started_at";
    let rows: Vec<(Option<String>,)> = select(app, q, endpoint.as_str()).await;
    rows.into_iter().map(|r| r.0).collect()
}

/// An endpoint of the test organization (live), its secret and whether it has the test key.
pub struct Endpoint {
    pub id: EndpointId,
    pub secret: WebhookSecret,
}

impl Endpoint {
    pub fn receiver(&self) -> Receiver {
        Receiver::new(self.secret.clone(), keys().private.clone())
    }
}

pub async fn endpoint(app: &TestApp, url: &str, types: &str, with_key: bool) -> Endpoint {
    endpoint_in(app, Environment::Live, url, types, with_key).await
}

/// An endpoint of the test organization in `environment` (test-mode sessions notify test-mode
/// endpoints only).
pub async fn endpoint_in(
    app: &TestApp,
    environment: Environment,
    url: &str,
    types: &str,
    with_key: bool,
) -> Endpoint {
    let id = EndpointId::generate();
    let secret = WebhookSecret::generate().unwrap();
    let sealed = app.state.secrets.seal_signing_secret(&id, &secret);
    exec(
        &app.state.store,
        "INSERT INTO webhook_endpoints (id, org_id, environment, url, description, enabled, subscribed_event_types, \
         secret_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, '', TRUE, $5, $6, 0, 0)",
        &[id.as_str(), app.org.as_str(), environment.as_str(), url, types, &sealed],
    )
    .await;
    let endpoint = Endpoint { id, secret };
    if with_key {
        add_key(app, &endpoint).await;
    }
    endpoint
}

/// Uploads the test key as the endpoint's active key and unblocks waiting deliveries.
pub async fn add_key(app: &TestApp, endpoint: &Endpoint) {
    exec(
        &app.state.store,
        "INSERT INTO webhook_keys (id, endpoint_id, org_id, kid, jwk, bits, active, created_at, updated_at) \
         VALUES ($1, $2, $3, NULL, $4, 2048, TRUE, 0, 0)",
        &[EncryptionKeyId::generate().as_str(), endpoint.id.as_str(), app.org.as_str(), &keys().jwk],
    )
    .await;
    app.state
        .store
        .unblock_endpoint(&endpoint.id, app.state.clock.now())
        .await
        .unwrap();
}

/// Creates a session (optionally naming endpoints) and cancels it: one cancelled event.
pub async fn cancelled_session(app: &TestApp, target: serde_json::Value) -> String {
    let body = if target.is_null() {
        serde_json::json!({})
    } else {
        serde_json::json!({"webhook_endpoint_id": target})
    };
    let created = crate::support::create_session(app, Some(body)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let res = app
        .request(Method::POST, &format!("/v1/sessions/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    id
}

/// Fast retries for tests: a 200 ms first ceiling, 1 s cap, 100 ms poll.
pub fn fast_retries() -> DeliverySettings {
    DeliverySettings {
        poll_interval: Duration::from_millis(100),
        retry: idgate_webhook::backoff::RetrySchedule {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(1),
            floor: Duration::from_millis(50),
            ..Default::default()
        },
        ..DeliverySettings::default()
    }
}
