//! Test backends: every behaviour test runs against a fresh SQLite file and, when
//! `IDGATE_TEST_DATABASE_URL` is set, a fresh PostgreSQL database (`idgate_testkit::postgres`,
//! dropped when the test ends), so both implementations are held to the same behaviour. Each test
//! gets its own database, so tests run in parallel under nextest.
//!
//! Each test file uses part of these helpers, hence the `dead_code` allowance.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]
#![allow(dead_code)]

use std::str::FromStr;

use idgate_core::{
    ApiKey, ApiKeySecret, CreateSessionRequest, Environment, OrgId, Organization, Scopes, Session,
    SessionSpec, Tenant, Timestamp,
};
use idgate_store::{Pool, Store};
use idgate_testkit::postgres::FreshDatabase;

pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    /// How [`Backend::another_node`] reaches the same database.
    location: Location,
    /// Keeps the SQLite file alive for the test.
    _dir: Option<tempfile::TempDir>,
    /// Keeps the PostgreSQL database for the test; dropped with it.
    _database: Option<FreshDatabase>,
}

enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

impl Backend {
    /// A second store on the same database, as another server node (PostgreSQL) or another
    /// process on the same file (SQLite) would open it: it shares no in-process state.
    pub async fn another_node(&self) -> Store {
        match &self.location {
            Location::Sqlite(path) => Store::open_sqlite(path).await.expect("open sqlite again"),
            Location::Postgres(options) => Store::connect_postgres((**options).clone())
                .await
                .expect("connect pg store again"),
        }
    }
}

/// A fresh SQLite store and, if configured, a fresh PostgreSQL store.
pub async fn backends() -> Vec<Backend> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("idgate.db");
    let sqlite = Store::open_sqlite(&path).await.expect("open sqlite");
    out.push(Backend {
        name: "sqlite",
        store: sqlite,
        location: Location::Sqlite(path),
        _dir: Some(dir),
        _database: None,
    });
    if let Some(url) = idgate_testkit::postgres_url() {
        let database = FreshDatabase::create(&url, "idgate_store");
        let options = pg_options(database.url());
        out.push(Backend {
            name: "postgres",
            store: Store::connect_postgres(options.clone())
                .await
                .expect("connect pg store"),
            location: Location::Postgres(Box::new(options)),
            _dir: None,
            _database: Some(database),
        });
    }
    out
}

/// Connection options for the database at `url`.
pub fn pg_options(url: &str) -> sqlx::postgres::PgConnectOptions {
    sqlx::postgres::PgConnectOptions::from_str(url).expect("a postgres:// URL")
}

pub fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_750_000_000_000 + ms).expect("in range")
}

pub const HOUR_MS: i64 = 3_600_000;

pub async fn org(store: &Store) -> Tenant {
    let org = Organization::new("Acme", t(0)).expect("org");
    store.create_organization(&org).await.expect("create org");
    Tenant {
        org_id: org.id,
        environment: Environment::Live,
    }
}

pub fn spec() -> SessionSpec {
    CreateSessionRequest::default()
        .validate()
        .expect("defaults")
}

pub fn spec_from(v: serde_json::Value) -> SessionSpec {
    serde_json::from_value::<CreateSessionRequest>(v)
        .expect("body")
        .validate()
        .expect("valid")
}

/// Creates a session at `now` (default one-hour expiry).
pub async fn session_at(store: &Store, tenant: &Tenant, now: Timestamp) -> Session {
    let s = Session::create(tenant, spec(), now);
    store
        .create_session(&s, None)
        .await
        .expect("create session");
    s
}

pub async fn api_key(
    store: &Store,
    org: &OrgId,
    name: &str,
    now: Timestamp,
) -> (ApiKey, ApiKeySecret) {
    let (key, secret) =
        ApiKey::generate(org, name, Environment::Live, Scopes::all(), now).expect("key");
    store
        .create_api_key(&key, &secret.hash(b"server-secret"))
        .await
        .expect("create key");
    (key, secret)
}

/// Inserts a webhook endpoint row directly (the endpoint API belongs to the webhook issue).
pub async fn insert_endpoint(store: &Store, org: &OrgId) -> idgate_core::EndpointId {
    let id = idgate_core::EndpointId::generate();
    let q = "INSERT INTO webhook_endpoints (id, org_id, environment, url, description, enabled, \
             subscribed_event_types, secret_sealed, created_at, updated_at) \
             VALUES ($1, $2, 'live', 'https://hooks.example/x', '', TRUE, '[\"*\"]', 'sealed', 0, 0)";
    match store.pool() {
        Pool::Sqlite(s) => {
            sqlx::query(q)
                .bind(id.as_str())
                .bind(org.as_str())
                .execute(s)
                .await
                .expect("insert endpoint");
        }
        Pool::Postgres(s) => {
            sqlx::query(q)
                .bind(id.as_str())
                .bind(org.as_str())
                .execute(s)
                .await
                .expect("insert endpoint");
        }
    }
    id
}
