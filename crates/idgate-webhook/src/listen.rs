//! A development receiver (feature `listen`), what `idgate webhooks listen` runs: an axum
//! router that opens every `POST` with a [`Receiver`], writes each event as one JSON line to
//! an output, and answers 204, or 401/400 with the reason written to a diagnostics stream.
//!
//! Integrators can mount [`router`] in their own axum application as a starting point.
//! Deliveries are at-least-once: a repeated `webhook-id` is still printed (so tests see
//! exactly what arrived) and flagged on the diagnostics stream.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};

use crate::receiver::Receiver;

/// Ids remembered for the redelivery note; beyond this the set is cleared (it is a hint only).
const MAX_REMEMBERED_IDS: usize = 100_000;

/// Where the listener writes: events (one JSON line each) and diagnostics (one line each).
pub type Sink = Box<dyn Write + Send>;

struct Shared {
    receiver: Receiver,
    events: Mutex<Sink>,
    diagnostics: Mutex<Sink>,
    seen: Mutex<HashSet<String>>,
}

/// The receiving router: `POST` on any path.
pub fn router(receiver: Receiver, events: Sink, diagnostics: Sink) -> axum::Router {
    let shared = Arc::new(Shared {
        receiver,
        events: Mutex::new(events),
        diagnostics: Mutex::new(diagnostics),
        seen: Mutex::new(HashSet::new()),
    });
    axum::Router::new()
        .route("/", axum::routing::post(handle))
        .route("/{*path}", axum::routing::post(handle))
        .layer(DefaultBodyLimit::max(crate::jwe::MAX_TOKEN_LEN))
        .with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers
        .get(crate::signature::HEADER_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(no webhook-id)")
        .chars()
        .take(80)
        .collect::<String>();
    match shared.receiver.open(&headers, &body) {
        Ok(event) => {
            let redelivery = {
                let mut seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.len() >= MAX_REMEMBERED_IDS {
                    seen.clear();
                }
                !seen.insert(event.id.as_str().to_owned())
            };
            if redelivery {
                diagnose(&shared, &format!("note: redelivery of {id}"));
            }
            let line = match serde_json::to_string(&event) {
                Ok(line) => line,
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR,
            };
            let mut events = shared.events.lock().unwrap_or_else(|p| p.into_inner());
            if writeln!(events, "{line}")
                .and_then(|()| events.flush())
                .is_err()
            {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            StatusCode::NO_CONTENT
        }
        Err(err) => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            diagnose(
                &shared,
                &format!("rejected {id} with {}: {err}", status.as_u16()),
            );
            status
        }
    }
}

fn diagnose(shared: &Shared, line: &str) {
    let mut out = shared.diagnostics.lock().unwrap_or_else(|p| p.into_inner());
    // Diagnostics are best effort; a closed stderr must not fail the delivery.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[cfg(test)]
#[path = "listen_test.rs"]
mod tests;
