//! API behaviour over real HTTP, each test once per storage backend (SQLite always, PostgreSQL
//! when `IDGATE_TEST_DATABASE_URL` is set). One binary, so the suite links once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod api_keys;
mod conformance;
mod delivery_interop;
mod delivery_ssrf;
mod delivery_support;
mod delivery_worker;
mod envelope;
mod events;
mod hosted_page;
mod isolation;
mod malformed;
mod ops;
mod schemathesis;
mod sessions_create;
mod sessions_lifecycle;
mod sessions_list;
mod simulation;
mod status_stream;
mod support;
mod verify_flow;
mod webhook_endpoints;
mod webhook_keys;
