//! A webhook receiver on loopback (feature `http`): records every request it gets and answers
//! from a script, so delivery tests see exactly what the server sent and control what it hears
//! back. The same receiver serves the in-process API tests, the tests of the built binary (crash
//! tests, two nodes) and the delivery benchmark.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `webhook-id` header (the event id), empty when absent.
    pub id: String,
    /// Empty after [`Sink::forget_requests`].
    pub headers: HeaderMap,
    /// Empty after [`Sink::forget_requests`].
    pub body: Vec<u8>,
    kept: bool,
}

impl Received {
    /// Headers and body, unless the sink was told to [`forget`](Sink::forget_requests) them.
    pub fn request(&self) -> Option<(&HeaderMap, &[u8])> {
        self.kept.then_some((&self.headers, self.body.as_slice()))
    }
}

struct Inner {
    received: Vec<Received>,
    /// Answers to give, in order (status, `Retry-After`); then `fallback`.
    script: VecDeque<(u16, Option<String>)>,
    fallback: u16,
    /// How long to hold each answer back once the request is recorded.
    delay: Duration,
    keep_requests: bool,
    /// While set and `false`, each request is recorded on arrival and answered only once it
    /// flips to `true` (see [`Sink::hold`]).
    hold: Option<tokio::sync::watch::Receiver<bool>>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Requests received (duplicates included); counted after they are recorded.
    count: AtomicUsize,
    /// Requests received and not answered yet.
    in_flight: AtomicUsize,
    body_len: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A loopback webhook receiver at `url` (`http://127.0.0.1:<port>/hook`). By default it keeps
/// every request and answers `200` at once.
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    shared: Arc<Shared>,
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    shared.body_len.store(body.len(), Ordering::Relaxed);
    let (status, retry_after, hold, delay) = {
        let mut inner = shared.lock();
        let received = if inner.keep_requests {
            Received {
                id,
                headers,
                body: body.to_vec(),
                kept: true,
            }
        } else {
            Received {
                id,
                headers: HeaderMap::new(),
                body: Vec::new(),
                kept: false,
            }
        };
        inner.received.push(received);
        let fallback = inner.fallback;
        let (status, retry_after) = inner.script.pop_front().unwrap_or((fallback, None));
        (status, retry_after, inner.hold.clone(), inner.delay)
    };
    shared.in_flight.fetch_add(1, Ordering::AcqRel);
    shared.count.fetch_add(1, Ordering::Release);
    if let Some(mut hold) = hold {
        let _ = hold.wait_for(|released| *released).await;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    let status = StatusCode::from_u16(status).expect("a scripted status in 100..=999");
    let mut out = HeaderMap::new();
    if let Some(retry_after) = retry_after {
        out.insert(
            "retry-after",
            HeaderValue::from_str(&retry_after).expect("a scripted Retry-After"),
        );
    }
    (status, out, "received").into_response()
}

impl Sink {
    /// Starts on a free loopback port (inside a tokio runtime).
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A receiver on a given address (to bring a "down" receiver up on its old port).
    pub async fn start_on(addr: SocketAddr) -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                received: Vec::new(),
                script: VecDeque::new(),
                fallback: 200,
                delay: Duration::ZERO,
                keep_requests: true,
                hold: None,
            }),
            count: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            body_len: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared.clone());
        let addr = crate::http::serve_on(addr, router).await;
        Self {
            url: format!("http://{addr}/hook"),
            shared,
        }
    }

    /// Answers `status` (with an optional `Retry-After`) to the next unscripted request.
    pub fn then(&self, status: u16, retry_after: Option<&str>) -> &Self {
        self.shared
            .lock()
            .script
            .push_back((status, retry_after.map(str::to_owned)));
        self
    }

    /// Answers `status` to every unscripted request.
    pub fn always(&self, status: u16) -> &Self {
        self.shared.lock().fallback = status;
        self
    }

    /// Holds each answer back for `delay` after recording the request, so sends stay in flight.
    pub fn answer_after(&self, delay: Duration) -> &Self {
        self.shared.lock().delay = delay;
        self
    }

    /// Keeps only the `webhook-id` of each request (load tests: bounded memory).
    pub fn forget_requests(&self) -> &Self {
        self.shared.lock().keep_requests = false;
        self
    }

    /// From now on requests are recorded when they arrive but answered only after the returned
    /// sender sends `true`: a delivery stays on the wire for as long as the test wants.
    pub fn hold(&self) -> tokio::sync::watch::Sender<bool> {
        let (release, hold) = tokio::sync::watch::channel(false);
        self.shared.lock().hold = Some(hold);
        release
    }

    /// Every request so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Requests received so far (duplicates included).
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::Acquire)
    }

    /// Requests received whose answer is still held back.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Size of the last body received.
    pub fn body_len(&self) -> usize {
        self.shared.body_len.load(Ordering::Relaxed)
    }

    /// Distinct `webhook-id`s received so far.
    pub fn distinct_ids(&self) -> std::collections::HashSet<String> {
        self.shared
            .lock()
            .received
            .iter()
            .map(|r| r.id.clone())
            .collect()
    }

    /// Waits until at least `n` requests arrived and returns them all; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        assert!(
            self.wait_for_count(n, within).await,
            "only {} of {n} deliveries arrived within {within:?}",
            self.count()
        );
        self.received()
    }

    /// Waits until [`Sink::count`] reaches `n`; `false` after `within`.
    pub async fn wait_for_count(&self, n: usize, within: Duration) -> bool {
        self.wait_until(within, || self.count() >= n).await
    }

    /// Waits until [`Sink::count`] reaches `n` while a request is held open, so a kill right
    /// after lands mid-send; `false` after `within`.
    pub async fn wait_for_count_mid_send(&self, n: usize, within: Duration) -> bool {
        self.wait_until(within, || self.count() >= n && self.in_flight() > 0)
            .await
    }

    /// Polls `done` every millisecond (cheap atomic reads); `false` after `within`.
    async fn wait_until(&self, within: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + within;
        while !done() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(client: &reqwest::Client, sink: &Sink, id: &str) -> reqwest::Response {
        client
            .post(&sink.url)
            .header("webhook-id", id)
            .body("payload")
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_sink_records_requests_and_answers_from_its_script() {
        let sink = Sink::start().await;
        sink.then(503, Some("7")).always(410);
        let client = crate::http::client();
        let first = post(&client, &sink, "evt_1").await;
        assert_eq!(first.status(), 503);
        assert_eq!(first.headers()["retry-after"], "7");
        assert_eq!(post(&client, &sink, "evt_2").await.status(), 410);
        let got = sink.wait_for(2, Duration::from_secs(5)).await;
        assert_eq!(got[0].id, "evt_1");
        assert_eq!(got[1].request().unwrap().1, b"payload");
        assert_eq!(sink.body_len(), 7);
    }

    #[tokio::test]
    async fn a_forgetful_sink_keeps_only_ids() {
        let sink = Sink::start().await;
        sink.forget_requests();
        post(&crate::http::client(), &sink, "evt_1").await;
        let got = sink.received();
        assert_eq!(got[0].id, "evt_1");
        assert!(got[0].request().is_none());
    }

    #[tokio::test]
    async fn a_held_request_is_in_flight_until_released() {
        let sink = Sink::start().await;
        let release = sink.hold();
        let client = crate::http::client();
        let url = sink.url.clone();
        let answer = tokio::spawn(async move { client.post(url).send().await.unwrap().status() });
        assert!(
            sink.wait_for_count_mid_send(1, Duration::from_secs(5))
                .await
        );
        release.send(true).unwrap();
        assert_eq!(answer.await.unwrap(), 200);
        assert_eq!(sink.in_flight(), 0);
    }
}
