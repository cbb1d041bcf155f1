//! The accept loop and HTTP/1.1 connections, driven with hyper directly (instead of
//! `axum::serve`) so the server controls each connection's life:
//!
//! - at most `max_connections` connections are open; past that, a new connection gets a canned
//!   `503 OVERLOADED` and is closed at once rather than left in the backlog;
//! - a request head must arrive within `header_read_timeout` (from the accept, or from the first
//!   byte of a later request); then the client gets `408 REQUEST_TIMEOUT` and the connection is
//!   closed (RFC 9110 §15.5.9, RFC 9112 §9.5 on closing);
//! - a keep-alive connection idle for `keep_alive_timeout` is closed quietly, and so is one whose
//!   client stops reading its response for that long;
//! - each request carries when its bytes reached the server ([`RequestArrival`]: when the
//!   socket was found readable, not when its task got round to reading it), so load shedding
//!   counts the time a request waited for its connection's turn to run as queueing;
//! - graceful shutdown stops accepting, lets in-flight requests finish (up to
//!   [`ConnectionLimits::drain_timeout`]) and closes idle connections.
//!
//! The head and idle deadlines are enforced by [`DeadlineIo`], a wrapper of the socket that
//! knows from [`ConnectionService`] whether a request is being handled. hyper's own
//! `header_read_timeout` is off: it closes without answering and cannot tell an idle
//! keep-alive connection from a stalled head.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use idgate_core::{Error as DomainError, ErrorCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::error::{PendingError, error_body};
use crate::limits::ConnectionLimits;
use crate::telemetry::{
    HTTP_CONNECTIONS_OPEN, HTTP_CONNECTIONS_REFUSED, HTTP_TIMEOUTS, TimeoutKind,
};

/// Refused connections being closed at once; past this many, they are dropped without the
/// short wait that lets the client read its `503`.
const REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused connection is kept half-closed, discarding what the client sends, so
/// the kernel ends it with FIN after the `503` instead of a reset that can destroy the answer
/// before the client reads it.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Pause after an accept error that is not about one connection (typically `EMFILE`): the
/// error repeats until descriptors free up, and retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Answers written straight to the socket, outside any request.
struct CannedResponses {
    /// `408 REQUEST_TIMEOUT`, to a client whose request head stalled.
    request_timeout: Bytes,
    /// `503 OVERLOADED`, to a connection over `max_connections`.
    overloaded: Bytes,
}

impl CannedResponses {
    fn new(docs_base: &str) -> Self {
        Self {
            request_timeout: canned(
                "408 Request Timeout",
                "",
                ErrorCode::RequestTimeout,
                docs_base,
            ),
            overloaded: canned(
                "503 Service Unavailable",
                "retry-after: 1\r\n",
                ErrorCode::Overloaded,
                docs_base,
            ),
        }
    }
}

/// A complete HTTP/1.1 response carrying the API's error envelope, closing the connection.
fn canned(status_line: &str, extra_headers: &str, code: ErrorCode, docs_base: &str) -> Bytes {
    let body = error_body(
        &PendingError {
            error: DomainError::new(code),
            pagination_limit: None,
            cause: None,
        },
        docs_base,
    );
    let mut response = format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    Bytes::from(response)
}

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    docs_base: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let canned = Arc::new(CannedResponses::new(docs_base));
    let connection_slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.keep_alive(true).header_read_timeout(None);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    if !is_per_connection_error(&error) {
                        tracing::error!(%error, "cannot accept connections");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = connection_slots.clone().try_acquire_owned() else {
            metrics::counter!(HTTP_CONNECTIONS_REFUSED).increment(1);
            refuse(stream, &canned.overloaded, &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let phase = Arc::new(Phase::new(Instant::now()));
        let io = DeadlineIo::new(stream, phase.clone(), limits, canned.clone());
        let service = ConnectionService {
            router: router.clone(),
            phase,
        };
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            let open = OpenConnection::count();
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(open);
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout()) => {
            tracing::warn!("connections still open after the drain timeout are closed");
        }
    }
    Ok(())
}

/// Accept errors that concern only the connection being accepted (it was reset before we got
/// to it); anything else is about the listener or the process.
fn is_per_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Writes the `503` without waiting (a refused client must not cost the server anything it
/// could block on) and closes, after a short linger if one of the few linger slots is free.
fn refuse(stream: TcpStream, answer: &Bytes, refusals: &Arc<Semaphore>) {
    let _ = stream.try_write(answer);
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut discard = [0u8; 1024];
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            while let Ok(1..) = stream.read(&mut discard).await {}
        })
        .await;
        drop(permit);
    });
}

/// Keeps [`HTTP_CONNECTIONS_OPEN`] equal to the connections alive.
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!(HTTP_CONNECTIONS_OPEN).increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(HTTP_CONNECTIONS_OPEN).decrement(1.0);
    }
}

/// Where a connection is in its request cycle; decides which deadline applies to reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the first byte of a request, since `since`. A new connection starts here
    /// with `first` set: a client that connects and sends nothing is a stalled request head.
    Waiting { since: Instant, first: bool },
    /// Part of a request head has arrived; the head deadline runs from `since`.
    Head { since: Instant },
    /// A request is being handled or its response written: no read deadline (the body
    /// deadline and the handler timeout are the request's own).
    Busy,
}

/// The stage shared by a connection's socket wrapper and its service, and the waker of a read
/// that is waiting without a deadline (while busy): when the request is done, that read must
/// be polled again to arm the idle deadline, or an idle connection would never be timed out.
#[derive(Debug)]
struct Phase(Mutex<PhaseState>);

#[derive(Debug)]
struct PhaseState {
    stage: Stage,
    parked_read: Option<Waker>,
    /// When the bytes of the latest read arrived ([`DeadlineIo`] tells).
    data_arrived: Instant,
    /// When the first bytes of the request head being received arrived.
    head_arrived: Option<Instant>,
}

impl Phase {
    fn new(accepted: Instant) -> Self {
        Self(Mutex::new(PhaseState {
            stage: Stage::Waiting {
                since: accepted,
                first: true,
            },
            parked_read: None,
            data_arrived: accepted,
            head_arrived: None,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PhaseState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn busy(&self) {
        self.lock().stage = Stage::Busy;
    }

    /// The request is done: wait for the next one, waking a read parked while busy.
    fn done(&self) {
        let parked = {
            let mut state = self.lock();
            state.stage = Stage::Waiting {
                since: Instant::now(),
                first: false,
            };
            state.parked_read.take()
        };
        if let Some(waker) = parked {
            waker.wake();
        }
    }

    /// Bytes that arrived at `arrived` were read: a waiting connection now has a request head
    /// in progress. On a new connection the head deadline still counts from the accept.
    fn received(&self, arrived: Instant) {
        let mut state = self.lock();
        state.data_arrived = arrived;
        if let Stage::Waiting { since, first } = state.stage {
            let since = if first { since } else { Instant::now() };
            state.stage = Stage::Head { since };
            state.head_arrived = Some(arrived);
        }
    }

    /// When the request whose head was just parsed arrived: when the first bytes of its head
    /// did, or, for a request that was already buffered behind the previous one (pipelined),
    /// when the latest bytes did.
    fn request_arrived(&self) -> Instant {
        let mut state = self.lock();
        state.head_arrived.take().unwrap_or(state.data_arrived)
    }

    /// When the latest bytes read on this connection arrived.
    fn data_arrived(&self) -> Instant {
        self.lock().data_arrived
    }

    /// The read deadline of the current stage and what expiring means; while busy there is
    /// none, and `waker` is kept to be woken by [`Phase::done`].
    fn deadline(&self, limits: &ConnectionLimits, waker: &Waker) -> Option<(Instant, Expiry)> {
        let mut state = self.lock();
        match state.stage {
            Stage::Waiting { since, first: true } => {
                Some((since + limits.header_read_timeout, Expiry::NothingSent))
            }
            Stage::Waiting {
                since,
                first: false,
            } => Some((since + limits.keep_alive_timeout, Expiry::Idle)),
            Stage::Head { since } => Some((since + limits.header_read_timeout, Expiry::Head)),
            Stage::Busy => {
                state.parked_read = Some(waker.clone());
                None
            }
        }
    }
}

/// The waker the socket's reads register: it notes when the socket became readable before
/// waking the connection's task. Under load a woken task waits its turn behind every other
/// runnable one, so the moment of the wake, not the moment of the read, is when the bytes reached
/// the server; the time in between is queueing the request limits must count
/// ([`crate::limits::shed_load`]).
#[derive(Debug, Default)]
struct ArrivalClock {
    woken_at: Mutex<Option<Instant>>,
    task: Mutex<Option<Waker>>,
}

impl ArrivalClock {
    /// Wakes `waker` on the next readiness of the socket.
    fn watch(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if !task.as_ref().is_some_and(|known| known.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }

    /// When the socket was last found readable, forgetting it.
    fn take_woken(&self) -> Option<Instant> {
        self.woken_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl std::task::Wake for ArrivalClock {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// What to do when a read deadline expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A new connection sent nothing: close without an answer (there is no request to answer).
    NothingSent,
    /// An idle keep-alive connection: close quietly.
    Idle,
    /// A stalled request head: answer `408` and close.
    Head,
}

/// The socket of one connection, enforcing the head and idle deadlines on reads. hyper reads
/// whenever it waits for a request, so a deadline checked (and its timer registered) in
/// `poll_read` fires exactly while the connection is waiting on the client.
struct DeadlineIo {
    stream: TcpStream,
    phase: Arc<Phase>,
    limits: ConnectionLimits,
    canned: Arc<CannedResponses>,
    timer: Pin<Box<Sleep>>,
    /// A write is waiting for the client to read: a canned answer now would interleave with it.
    write_blocked: bool,
    /// Since when writes have been waiting for the client to read, and the deadline timer for it:
    /// a client that stops reading a large response (a slow read) is as idle as one that stops
    /// sending, and is closed after `keep_alive_timeout`.
    write_stalled_since: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
    /// Notes when the socket became readable; `clock_waker` is it as the waker reads register.
    clock: Arc<ArrivalClock>,
    clock_waker: Waker,
    /// The accept, until the first read returns bytes: bytes found waiting then have been
    /// there since the accept at most.
    unread_since: Option<Instant>,
}

impl DeadlineIo {
    fn new(
        stream: TcpStream,
        phase: Arc<Phase>,
        limits: ConnectionLimits,
        canned: Arc<CannedResponses>,
    ) -> Self {
        let clock = Arc::new(ArrivalClock::default());
        let accepted = Instant::now();
        Self {
            stream,
            phase,
            limits,
            canned,
            clock_waker: Waker::from(clock.clone()),
            clock,
            unread_since: Some(accepted),
            timer: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
            write_blocked: false,
            write_stalled_since: None,
            write_timer: Box::pin(tokio::time::sleep(limits.keep_alive_timeout)),
        }
    }

    /// Records the outcome of a write and enforces the slow-read deadline on a pending one.
    fn after_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.write_blocked = false;
            self.write_stalled_since = None;
            return result;
        }
        self.write_blocked = true;
        let since = *self.write_stalled_since.get_or_insert_with(Instant::now);
        let deadline = since + self.limits.keep_alive_timeout;
        if self.write_timer.deadline() != deadline {
            self.write_timer.as_mut().reset(deadline);
        }
        if self.write_timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        metrics::counter!(HTTP_TIMEOUTS, "kind" => TimeoutKind::Idle.as_str()).increment(1);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read the response within the keep-alive timeout",
        )))
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let filled = buf.filled().len();
        // The readiness this read consumes, if the task was woken for it; bytes read without a
        // wake were waiting already (since the accept, or arrived just now).
        let woken = this.clock.take_woken();
        this.clock.watch(cx.waker());
        let mut clocked = Context::from_waker(&this.clock_waker);
        match Pin::new(&mut this.stream).poll_read(&mut clocked, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > filled {
                    let arrived = woken
                        .or(this.unread_since.take())
                        .unwrap_or_else(Instant::now);
                    this.phase.received(arrived);
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => {}
        }
        let Some((deadline, expiry)) = this.phase.deadline(&this.limits, cx.waker()) else {
            return Poll::Pending;
        };
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        match expiry {
            Expiry::NothingSent | Expiry::Idle => {
                let kind = if expiry == Expiry::Idle {
                    TimeoutKind::Idle
                } else {
                    TimeoutKind::Header
                };
                metrics::counter!(HTTP_TIMEOUTS, "kind" => kind.as_str()).increment(1);
                // End of stream between requests: hyper closes the connection quietly.
                Poll::Ready(Ok(()))
            }
            Expiry::Head => {
                metrics::counter!(HTTP_TIMEOUTS, "kind" => TimeoutKind::Header.as_str())
                    .increment(1);
                if !this.write_blocked {
                    // Best effort and without waiting: the answer is 300 bytes into an idle
                    // socket's empty send buffer.
                    let _ = this.stream.try_write(&this.canned.request_timeout);
                }
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not received within the header read timeout",
                )))
            }
        }
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router as a hyper service that marks the connection busy while a request is handled
/// and its response written.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    phase: Arc<Phase>,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let arrived = self.phase.request_arrived();
        request.extensions_mut().insert(RequestArrival {
            head: arrived,
            phase: self.phase.clone(),
        });
        self.phase.busy();
        let busy = BusyUntilDropped(self.phase.clone());
        let router = self.router.clone();
        Box::pin(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|body| ResponseBody { body, _busy: busy }))
        })
    }
}

/// When a request reached the server, as [`crate::limits::shed_load`] counts its time in the
/// queue: from the arrival of its head, or of the latest bytes of its body when the body was
/// received since ([`crate::limits::buffer_body`] receives it first), so the time a client takes
/// to upload is not taken for queueing.
#[derive(Debug, Clone)]
pub(crate) struct RequestArrival {
    head: Instant,
    phase: Arc<Phase>,
}

impl RequestArrival {
    /// When the request was complete: its head's arrival or, later, its body's last bytes'.
    pub(crate) fn complete(&self) -> Instant {
        self.head.max(self.phase.data_arrived())
    }
}

/// Returns the connection to waiting (and starts its idle deadline) when the response is done:
/// hyper drops the response body once it has been written, or when the connection fails.
struct BusyUntilDropped(Arc<Phase>);

impl Drop for BusyUntilDropped {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// A response body that keeps its connection marked busy until it is dropped.
struct ResponseBody {
    body: Body,
    _busy: BusyUntilDropped,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
