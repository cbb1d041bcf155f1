//! The status streams of one node (`GET /v1/verify/session/{id}/events`, docs/verify.md
//! "Status stream"): who is streaming which session, waking them when the store announces a
//! change of that session, and the bounds on how many may be open.
//!
//! Why one hub per node: a stream must learn of a change the moment it commits, without each
//! stream polling the database or holding a store subscription of its own (on PostgreSQL each
//! subscription's announcements come through the node's one `LISTEN` connection anyway, and a
//! broadcast receiver per stream would make every stream wake for every session). So the hub
//! holds the node's ONE subscription ([`StatusHub::run`]) and wakes only the streams of the
//! session a `Change::Session` names; `Change::Resync` (announcements may have been missed)
//! wakes them all. A woken stream re-reads the public status and sends it only if it differs
//! from what it sent last; it also re-reads at every heartbeat, the fallback for a change whose
//! announcement never reached this node (another process writing the SQLite file).
//!
//! This module owns the registry, the bounds, the wake-ups and the stream's loop; the route, its
//! answers before the stream starts and the rendering of the status are `routes/verify.rs`'s.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::Stream;
use idgate_core::{Error as DomainError, ErrorCode, SessionId};
use idgate_store::{Change, StoreError, Subscription};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::EVENT_STREAMS_OPEN;

/// How long a client should wait before reconnecting a dropped stream (the `retry:` field):
/// long enough that a node restart does not turn every open page into an immediate reconnect
/// storm, short enough that a person does not notice.
pub const RECONNECT_HINT: Duration = Duration::from_secs(3);

/// `Retry-After` of a refused stream: open streams end only when their page closes, so a slot
/// rarely frees up within a second; the page polls `…/status` meanwhile.
pub const REFUSED_RETRY_AFTER_SECS: u64 = 10;

/// The bounds and heartbeat of the streams ([`crate::Config::stream_settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// Between two heartbeat comments, each followed by a re-read of the status.
    pub heartbeat: Duration,
    /// Streams one session may have open on this node.
    pub max_per_session: usize,
    /// Streams this node keeps open at once.
    pub max_streams: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        crate::Config::default().stream_settings()
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The session has `max_per_session` streams open on this node.
    SessionFull,
    /// This node has `max_streams` streams open.
    NodeFull,
}

impl Refusal {
    /// `429 TOO_MANY_STREAMS` with `Retry-After`, saying which bound was reached.
    pub fn to_api_error(self, settings: StreamSettings) -> ApiError {
        let message = match self {
            Self::SessionFull => format!(
                "This session already has {} open status streams on this server.",
                settings.max_per_session
            ),
            Self::NodeFull => format!(
                "This server already has {} open status streams.",
                settings.max_streams
            ),
        };
        ApiError::from(DomainError::with_message(
            ErrorCode::TooManyStreams,
            message,
        ))
        .with_retry_after(REFUSED_RETRY_AFTER_SECS)
    }
}

/// The registry of open streams; cheap to clone (one shared allocation).
#[derive(Debug, Clone)]
pub struct StatusHub(Arc<Hub>);

#[derive(Debug)]
struct Hub {
    settings: StreamSettings,
    open: Mutex<Open>,
    /// `true` once the server shuts down: every stream ends.
    closing: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Open {
    /// The streams of each session: how many, and the signal that wakes them.
    sessions: HashMap<SessionId, Watched>,
    total: usize,
}

#[derive(Debug)]
struct Watched {
    streams: usize,
    /// Marked changed on every announcement of the session; each stream holds a receiver, so a
    /// wake-up that arrives while the stream is busy reading is kept, not lost.
    wake: watch::Sender<()>,
}

impl StatusHub {
    pub fn new(settings: StreamSettings) -> Self {
        Self(Arc::new(Hub {
            settings,
            open: Mutex::default(),
            closing: watch::channel(false).0,
        }))
    }

    pub fn settings(&self) -> StreamSettings {
        self.0.settings
    }

    /// Streams open on this node now.
    pub fn open_streams(&self) -> usize {
        self.0.lock().total
    }

    /// Takes a slot for a stream of `session`, within the bounds. The slot is registered before
    /// the caller reads the status, so a change committed after that read always wakes it.
    pub fn open(&self, session: &SessionId) -> Result<StreamSlot, Refusal> {
        let settings = self.0.settings;
        let mut open = self.0.lock();
        if open.total >= settings.max_streams {
            return Err(Refusal::NodeFull);
        }
        let watched = open
            .sessions
            .entry(session.clone())
            .or_insert_with(|| Watched {
                streams: 0,
                wake: watch::channel(()).0,
            });
        if watched.streams >= settings.max_per_session {
            return Err(Refusal::SessionFull);
        }
        watched.streams += 1;
        let wake = watched.wake.subscribe();
        open.total += 1;
        metrics::gauge!(EVENT_STREAMS_OPEN).increment(1.0);
        Ok(StreamSlot {
            hub: self.0.clone(),
            session: session.clone(),
            wake,
            closing: self.0.closing.subscribe(),
        })
    }

    /// Wakes the streams a change concerns.
    pub fn wake(&self, change: &Change) {
        let open = self.0.lock();
        match change {
            Change::Session(id) => {
                if let Some(watched) = open.sessions.get(id) {
                    watched.wake.send_replace(());
                }
            }
            Change::Resync => {
                for watched in open.sessions.values() {
                    watched.wake.send_replace(());
                }
            }
            Change::Deliveries => {}
        }
    }

    /// Ends every stream (graceful shutdown): a stream open when the server stops would keep
    /// its connection, and the drain, waiting until the drain timeout. Clients reconnect to
    /// another node after [`RECONNECT_HINT`]; a stream opened after this sends the current
    /// status and ends at once.
    pub fn close(&self) {
        self.0.closing.send_replace(true);
    }

    /// Relays the node's one store subscription to the streams until `stop`.
    pub async fn run(self, mut changes: Subscription, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                change = changes.recv() => self.wake(&change),
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One open stream's place in the hub; dropping it (the client went away, the stream ended)
/// frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    hub: Arc<Hub>,
    session: SessionId,
    wake: watch::Receiver<()>,
    closing: watch::Receiver<bool>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.hub.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(watched) = open.sessions.get_mut(&self.session) {
            watched.streams = watched.streams.saturating_sub(1);
            if watched.streams == 0 {
                open.sessions.remove(&self.session);
            }
        }
        metrics::gauge!(EVENT_STREAMS_OPEN).decrement(1.0);
    }
}

/// A rendered public status: the JSON sent as an event's `data`, its version (the event's
/// `id`), and whether it is terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedStatus {
    pub json: String,
    pub version: String,
    pub terminal: bool,
}

impl RenderedStatus {
    /// The `status` event carrying it.
    pub fn event(&self) -> Event {
        Event::default()
            .event("status")
            .id(&self.version)
            .data(&self.json)
    }
}

/// Renders the session's current public status (the route's renderer).
pub type Render = fn(&idgate_store::PublicStatus) -> Result<RenderedStatus, serde_json::Error>;

/// The stream after its first answer: heartbeats, and the status each time it changes, until
/// the status is terminal, the session is gone, or the server shuts down.
pub struct StatusStream {
    state: AppState,
    session: SessionId,
    slot: StreamSlot,
    render: Render,
    /// The version the client has (sent last, or its `Last-Event-ID`).
    last: Option<String>,
    /// What to send before anything else (the retry hint, and the status if the client lacks it).
    first: Option<Event>,
    heartbeat: Interval,
    /// The status should be read again before waiting.
    stale: bool,
    ended: bool,
}

impl StatusStream {
    /// `first` is sent at once; `last` is the version the client has after it; `ended` when
    /// `first` carries a terminal status.
    pub fn new(
        state: AppState,
        session: SessionId,
        slot: StreamSlot,
        render: Render,
        first: Event,
        last: Option<String>,
        ended: bool,
    ) -> Self {
        let period = slot.hub.settings.heartbeat;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            state,
            session,
            slot,
            render,
            last,
            first: Some(first),
            heartbeat,
            stale: false,
            ended,
        }
    }

    /// The events, as the SSE body wants them.
    pub fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut stream| async move {
            let event = stream.next().await?;
            Some((Ok(event), stream))
        })
    }

    async fn next(&mut self) -> Option<Event> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            if self.ended || *self.slot.closing.borrow() {
                return None;
            }
            if std::mem::take(&mut self.stale) {
                match self.read().await {
                    Read::Changed(status) => {
                        self.ended = status.terminal;
                        let event = status.event();
                        self.last = Some(status.version);
                        return Some(event);
                    }
                    Read::Same => {}
                    Read::Gone => return None,
                }
            }
            tokio::select! {
                biased;
                _ = self.slot.closing.wait_for(|closing| *closing) => return None,
                () = woken(&mut self.slot.wake) => self.stale = true,
                _ = self.heartbeat.tick() => {
                    self.stale = true;
                    return Some(Event::default().comment(""));
                }
            }
        }
    }

    async fn read(&self) -> Read {
        let read = self
            .state
            .store
            .public_status(&self.session, self.state.clock.now())
            .await;
        let status = match read {
            Ok(status) => status,
            // Erased (a terminal session's stream has ended already, but a resumed one may race).
            Err(StoreError::NotFound) => return Read::Gone,
            Err(error) => {
                // The database may be back by the next wake-up or heartbeat; ending the stream
                // would instead make the browser reconnect into the same failure.
                tracing::warn!(session_id = %self.session, %error, "status stream could not re-read the status");
                return Read::Same;
            }
        };
        match (self.render)(&status) {
            Ok(rendered) if self.last.as_deref() != Some(rendered.version.as_str()) => {
                Read::Changed(rendered)
            }
            Ok(_) => Read::Same,
            Err(error) => {
                tracing::error!(%error, "status could not be rendered");
                Read::Gone
            }
        }
    }
}

/// Waits for a wake-up of the stream's session. The sender lives as long as the session has a
/// slot, so it cannot go away under this stream; were it to, the heartbeat re-read remains.
async fn woken(wake: &mut watch::Receiver<()>) {
    if wake.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

enum Read {
    Changed(RenderedStatus),
    Same,
    Gone,
}

#[cfg(test)]
#[path = "status_hub_test.rs"]
mod tests;
