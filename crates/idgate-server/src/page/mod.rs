//! `/verify/{id}`: the hosted verification page, what the person sees (docs/verify.md "Hosted
//! page").
//!
//! The page is rendered here, in full, on every request: the share request, the QR code and the
//! app link of a fresh handoff, the current status and the cancel form all work without
//! JavaScript. One external script (`assets/verify.js`) adds what needs it: live status over the
//! session's event stream, the redirect when the session ends, the selfie step through the
//! device's camera and the consent step, for a person who finishes on this device.
//!
//! The page speaks to the person, not to an integrator: a bad link or an ended session is a page
//! in the person's language with the right status code, never the API's JSON envelope. Every
//! response carries a strict Content-Security-Policy (no inline script or style), `no-store` (the
//! page embeds the attempt's bearer token) and `no-referrer` (its URL carries the cancel token).

mod i18n;
mod qr;
mod view;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use idgate_core::{AttemptPhase, AttemptStatus, ErrorCode, SessionId};
use idgate_store::{PublicStatus, StoreError};
use serde::Deserialize;

use i18n::{Locale, Messages};

use crate::error::ApiError;
use crate::routes::verify::{issue_handoff, rate_limit};
use crate::simulation::{self, Outcome};
use crate::state::AppState;
use view::{Assets, Problem};

/// The Content-Security-Policy of every page response: only this origin's script and style, no
/// inline code of either, no plugins, no framing; the camera preview plays a `MediaStream`
/// (`media-src blob: mediastream:`), the QR code is inline SVG markup (no image request).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/verify/{id}", get(show))
        .route("/verify/{id}/cancel", post(cancel))
        .route("/verify/{id}/simulate", post(simulate))
        .route("/verify/assets/{name}", get(asset))
}

/// The form fields the page posts back (URL-encoded).
#[derive(Debug, Deserialize)]
struct CancelForm {
    cancel_token: String,
}

/// The test-mode form: which outcome the server's simulated phone plays.
#[derive(Debug, Deserialize)]
struct SimulateForm {
    cancel_token: String,
    outcome: String,
}

/// The page of a session: the flow while it is open, how it ended once it has.
async fn show(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let t = messages(&headers);
    let id = match page_session_id(&state, t, &raw_id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let now = state.clock.now();
    let status = match state.store.public_status(&id, now).await {
        Ok(status) => status,
        Err(StoreError::NotFound) => return problem(t, Problem::NotFound),
        Err(error) => return internal(t, &error),
    };
    if status.session.status.is_terminal() {
        return page(t, view::ended(t, &status.session));
    }
    let token = query_cancel_token(query.as_deref());
    if !token.is_some_and(|token| status.session.cancel_token_matches(&token)) {
        return problem(t, Problem::Forbidden);
    }
    // A simulation hands off its own attempt; a handoff for this view would close it.
    let handoff = if needs_handoff(&status) && !state.simulations.is_running(&id) {
        match issue_handoff(&state, &id, now).await {
            Ok(handoff) => Some(handoff),
            Err(error) if error.code() == ErrorCode::RateLimited => {
                return problem(t, Problem::Busy);
            }
            // The session ended (an expiry, a cancel) between the read and the handoff: the page
            // of the ended session says how.
            Err(error) if error.code().status() == 410 => {
                return Redirect::to(&format!("./{id}")).into_response();
            }
            Err(error) => return internal(t, &error.message()),
        }
    } else {
        None
    };
    match view::open(&state, t, &status, handoff.as_ref()) {
        Ok(body) => page(t, body),
        Err(error) => internal(t, &error),
    }
}

/// A fresh handoff is issued when no phone holds the session: no attempt yet, the newest one
/// closed, or still waiting for its first call. Reloading the page therefore replaces an unused
/// QR code (its token is not kept anywhere the server could show again), but never takes the
/// session away from a phone that has started.
fn needs_handoff(status: &PublicStatus) -> bool {
    status.attempt.as_ref().is_none_or(|attempt| {
        attempt.status != AttemptStatus::InProgress || attempt.phase == AttemptPhase::Handoff
    })
}

/// The person cancels with the form's cancel token; the page then shows how the session ended.
async fn cancel(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = messages(&headers);
    let (id, form) = match page_form::<CancelForm>(&state, t, &raw_id, &body) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    match state
        .store
        .cancel_by_end_user(&id, &form.cancel_token, state.clock.now())
        .await
    {
        Ok(_) => {
            metrics::counter!(crate::telemetry::SESSIONS_CANCELLED).increment(1);
        }
        // Ended meanwhile (or cancelled twice): the page says how it ended.
        Err(StoreError::AlreadyEnded | StoreError::Transition(_)) => {}
        Err(StoreError::CancelTokenMismatch) => return problem(t, Problem::Forbidden),
        Err(StoreError::NotFound) => return problem(t, Problem::NotFound),
        Err(error) => return internal(t, &error),
    }
    // 303: the browser follows with a GET of the page, which shows the ended session.
    Redirect::to(&format!("../{id}")).into_response()
}

/// Test mode: the server plays a factory passport with the chosen outcome through its own API
/// (`crate::simulation`), then the page follows it like any phone.
async fn simulate(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = messages(&headers);
    let (id, form) = match page_form::<SimulateForm>(&state, t, &raw_id, &body) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    let session = match state
        .store
        .session_by_id_applying_expiry(&id, state.clock.now())
        .await
    {
        Ok(session) => session,
        Err(StoreError::NotFound) => return problem(t, Problem::NotFound),
        Err(error) => return internal(t, &error),
    };
    if !session.cancel_token_matches(&form.cancel_token) {
        return problem(t, Problem::Forbidden);
    }
    let started = match Outcome::parse(&form.outcome) {
        Some(outcome) => simulation::start(&state, &session, outcome)
            .await
            .map_err(ApiError::from),
        None => Err(ApiError::invalid_request(format!(
            "Unknown outcome `{}`.",
            form.outcome.chars().take(64).collect::<String>()
        ))),
    };
    match started {
        // 303 back to the page, which follows the simulated phone like a real one.
        Ok(()) => {
            Redirect::to(&format!("../{id}?cancel_token={}", form.cancel_token)).into_response()
        }
        Err(error) => problem(
            t,
            Problem::Simulation {
                status: StatusCode::from_u16(error.code().status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                message: error.message().to_owned(),
            },
        ),
    }
}

/// The page's script and style, served from this origin so the CSP needs no other source.
async fn asset(Path(name): Path<String>) -> Response {
    match Assets::get().by_name(&name) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                // The page links each asset with its digest (`?v=`), so a new release is fetched
                // at once; five minutes bounds a stale copy of an unversioned link.
                (header::CACHE_CONTROL, "public, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The session a page request names, within the session's rate limit; else the page to show.
fn page_session_id(
    state: &AppState,
    t: &Messages,
    raw_id: &str,
) -> Result<SessionId, Box<Response>> {
    let id = SessionId::parse(raw_id).map_err(|_| Box::new(problem(t, Problem::NotFound)))?;
    rate_limit(state, id.as_str()).map_err(|_| Box::new(problem(t, Problem::Busy)))?;
    Ok(id)
}

/// The session and the URL-encoded form of a page's POST; a form that does not parse carries no
/// valid cancel token, so it is refused as one.
fn page_form<F: serde::de::DeserializeOwned>(
    state: &AppState,
    t: &Messages,
    raw_id: &str,
    body: &[u8],
) -> Result<(SessionId, F), Box<Response>> {
    let id = page_session_id(state, t, raw_id)?;
    let form =
        serde_urlencoded::from_bytes(body).map_err(|_| Box::new(problem(t, Problem::Forbidden)))?;
    Ok((id, form))
}

fn messages(headers: &HeaderMap) -> &'static Messages {
    let header = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Locale::negotiate(header).messages()
}

/// The `cancel_token` of the page's query string (`?cancel_token=…`, as `verification_url`
/// carries it), percent-decoded like any query value.
fn query_cancel_token(query: Option<&str>) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query?)
        .ok()?
        .into_iter()
        .find_map(|(name, value)| (name == "cancel_token").then_some(value))
}

/// A rendered page with the headers every page carries.
fn page(t: &Messages, (status, html): (StatusCode, String)) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(t.locale().tag()),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-language"));
    response
}

fn problem(t: &Messages, problem: Problem) -> Response {
    page(t, view::problem(t, problem))
}

/// A failure of ours: logged with its cause, shown to the person as a plain apology.
fn internal(t: &Messages, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "hosted page failed");
    problem(t, Problem::Error)
}

#[cfg(test)]
mod tests {
    use super::query_cancel_token;

    #[test]
    fn the_cancel_token_is_read_from_the_query_percent_decoded() {
        assert_eq!(
            query_cancel_token(Some("cancel_token=abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            query_cancel_token(Some("x=1&cancel_token=a%42c")).as_deref(),
            Some("aBc")
        );
        assert_eq!(query_cancel_token(Some("cancel_tokens=abc")), None);
        assert_eq!(query_cancel_token(Some("%zz")), None);
        assert_eq!(query_cancel_token(None), None);
    }
}
