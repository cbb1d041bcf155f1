//! The DevTools-protocol connection: one websocket to the browser, with every page reached as a
//! flattened session on it (`Target.attachToTarget` with `flatten: true`, so a command carries its
//! `sessionId` and no per-page socket is needed).
//!
//! A command is a JSON message `{id, method, params, sessionId?}` answered by `{id, result}` or
//! `{id, error}`; everything else the browser sends is an event `{method, params, sessionId?}`
//! (<https://chromedevtools.github.io/devtools-protocol/>). The reader task answers the waiting
//! command and hands each event to its session's sink *synchronously, in arrival order*, so when
//! a command's answer is seen every event the browser sent before it has been recorded: that is
//! what lets `Page::problems` be exact after one round trip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::BrowserError;

/// How long a command may wait for its answer: generous, since a debug build on a shared
/// two-core machine renders slowly, but bounded so a wedged browser fails the test.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Receives the events of one session, in order, on the reader task (so it must not block).
pub(crate) type EventSink = Box<dyn Fn(&str, &Value) + Send + Sync>;

type Pending = HashMap<u64, oneshot::Sender<Result<Value, BrowserError>>>;

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    sinks: Mutex<HashMap<String, Arc<EventSink>>>,
    /// Set once the socket is gone, with the reason; later commands fail with it at once.
    closed: Mutex<Option<String>>,
}

/// A connection to the browser's DevTools endpoint. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    outgoing: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
    next_id: Arc<AtomicU64>,
}

impl Connection {
    /// Connects to `ws_url` (`ws://127.0.0.1:<port>/devtools/browser/<id>`) and starts the reader
    /// and writer tasks on the current runtime.
    pub(crate) async fn connect(ws_url: &str) -> Result<Self, BrowserError> {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .map_err(|e| BrowserError::Protocol(format!("connecting to {ws_url}: {e}")))?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        let shared = Arc::new(Shared::default());
        let reader = Arc::clone(&shared);
        tokio::spawn(async move {
            let reason = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => reader.dispatch(text.as_str()),
                    Some(Ok(Message::Close(_))) | None => {
                        break "the browser closed the connection".to_owned();
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("devtools socket: {e}"),
                }
            };
            reader.close(reason);
        });
        Ok(Self {
            outgoing,
            shared,
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// Sends `method` (to `session`, or to the browser itself) and waits for its result.
    pub(crate) async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, BrowserError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let closed = lock(&self.shared.closed);
            if let Some(reason) = closed.as_ref() {
                return Err(BrowserError::Closed(reason.clone()));
            }
            lock(&self.shared.pending).insert(id, tx);
        }
        self.send_raw(id, session, method, params);
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer.map_err(|e| match e {
                BrowserError::Protocol(m) => BrowserError::Protocol(format!("{method}: {m}")),
                other => other,
            }),
            Ok(Err(_)) => Err(BrowserError::Closed("the connection ended".to_owned())),
            Err(_) => {
                lock(&self.shared.pending).remove(&id);
                Err(BrowserError::Timeout(format!(
                    "{method} unanswered after {COMMAND_TIMEOUT:?}"
                )))
            }
        }
    }

    /// Sends `method` without waiting for the answer (for `Drop`, which cannot await).
    pub(crate) fn send(&self, session: Option<&str>, method: &str, params: Value) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.send_raw(id, session, method, params);
    }

    fn send_raw(&self, id: u64, session: Option<&str>, method: &str, params: Value) {
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let (Some(session), Some(object)) = (session, message.as_object_mut()) {
            object.insert("sessionId".to_owned(), Value::from(session));
        }
        // A send after the writer ended is answered by `close` failing the pending command.
        let _ = self
            .outgoing
            .send(Message::Text(message.to_string().into()));
    }

    /// Routes the events of `session` to `sink` from now on.
    pub(crate) fn subscribe(&self, session: &str, sink: EventSink) {
        lock(&self.shared.sinks).insert(session.to_owned(), Arc::new(sink));
    }

    /// Stops routing the events of `session`.
    pub(crate) fn unsubscribe(&self, session: &str) {
        lock(&self.shared.sinks).remove(session);
    }
}

impl Shared {
    fn dispatch(&self, text: &str) {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if let Some(id) = message.get("id").and_then(Value::as_u64) {
            let Some(waiter) = lock(&self.pending).remove(&id) else {
                return;
            };
            let answer = match message.get("error") {
                Some(error) => Err(BrowserError::Protocol(
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| error.to_string(), str::to_owned),
                )),
                None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = waiter.send(answer);
        } else if let Some(method) = message.get("method").and_then(Value::as_str) {
            let session = message
                .get("sessionId")
                .and_then(Value::as_str)
                .unwrap_or("");
            let sink = lock(&self.sinks).get(session).cloned();
            if let Some(sink) = sink {
                sink(method, message.get("params").unwrap_or(&Value::Null));
            }
        }
    }

    fn close(&self, reason: String) {
        *lock(&self.closed) = Some(reason.clone());
        for (_, waiter) in lock(&self.pending).drain() {
            let _ = waiter.send(Err(BrowserError::Closed(reason.clone())));
        }
    }
}

/// Locks `mutex`, ignoring poisoning: every value kept behind these locks is valid after any
/// panic (a map of waiters, a list of records).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
