//! The hosted page's "simulate a passport" buttons for test-mode sessions (docs/verify.md "Test
//! passports and the simulator"): the server plays the phone itself, with a factory passport and
//! the test faces, to success or to a chosen failure, so an integrator sees real webhooks without
//! a phone.
//!
//! Nothing is short-cut: [`start`] hands off a new attempt through the function the handoff route
//! calls ([`crate::routes::verify::issue_handoff`]), then a background task plays the outcome
//! against this node's own HTTP API ([`AppServices::self_url`]) with `idgate_phone`'s simulation,
//! the one `idgate simulate` runs. Every check, store write, event and webhook on the way is the
//! real one; the failures come from their real causes (a tampered data group, a photo held up to
//! the camera, …), never from asking for a verdict.
//!
//! At most one simulation runs per session on a node. A run that fails is logged with the
//! session id, the outcome and the error (codes and step names; the factory holder is fictitious
//! and no file's bytes are logged), and ends like a phone that gives up: its attempt stays open
//! until the next handoff closes it or the session expires. A run also ends so at its deadline
//! and when the node shuts down.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use idgate_core::api_key::Environment;
use idgate_core::{
    Error as DomainError, ErrorCode, Session, SessionId, SessionStatus, TransitionError,
};
use idgate_face::testkit::TestFaces;
use idgate_phone::client::{self, ClientError, Handoff, MobileClient, Reply};
use idgate_phone::device::{self, DeviceError};
use idgate_phone::simulation::{Handoffs, Reporter, Simulation, Step};
use idgate_verify::document::CloneDetection;
use tokio::sync::{OnceCell, watch};

use crate::error::ApiError;
use crate::routes::verify::{HandoffOut, issue_handoff};
use crate::state::{AppServices, AppState};
use crate::telemetry::SIMULATIONS;

pub use idgate_phone::Outcome;

/// Longest a simulation may run. Each call is bounded by the client's own timeout; this bounds
/// the whole walk (about twenty calls, three face checks), so no run outlives its purpose.
const DEADLINE: Duration = Duration::from_secs(600);

/// The simulations of this node: which sessions have one running, the test faces they share
/// (loaded from `photos` when a simulation first needs them), and the node's signal to stop them.
pub struct Simulations {
    photos: PathBuf,
    faces: OnceCell<Arc<TestFaces>>,
    running: Mutex<HashSet<SessionId>>,
    /// `true` once the node shuts down ([`Simulations::stop`]).
    stopping: watch::Sender<bool>,
}

impl Simulations {
    /// Simulations whose test faces are the photos in `photos` (`test_faces_dir`).
    pub fn new(photos: PathBuf) -> Self {
        Self {
            photos,
            faces: OnceCell::new(),
            running: Mutex::new(HashSet::new()),
            stopping: watch::channel(false).0,
        }
    }

    /// Ends the running simulations at their next step, as a phone switched off would: the node
    /// is shutting down ([`crate::App::run`]). A run blocks the runtime's shutdown until it
    /// returns (it is a blocking task), so it must not wait for its next call to fail.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Where the test photos are looked for.
    pub fn photos_dir(&self) -> &Path {
        &self.photos
    }

    /// A simulation of `session` runs on this node (the page can say so instead of offering the
    /// buttons).
    pub fn is_running(&self, session: &SessionId) -> bool {
        self.lock().contains(session)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<SessionId>> {
        // The set stays consistent whatever a panicking holder was doing: insert and remove only.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `session` as running; `None` when it already is.
    fn claim(self: &Arc<Self>, session: &SessionId) -> Option<Running> {
        self.lock().insert(session.clone()).then(|| Running {
            simulations: Arc::clone(self),
            session: session.clone(),
        })
    }

    /// The test faces, decoded once (on a blocking thread: tenths of a second of CPU). A failure
    /// is not kept, so photos fetched after the start are found by the next simulation.
    async fn faces(&self) -> Result<Arc<TestFaces>, DeviceError> {
        self.faces
            .get_or_try_init(|| async {
                let photos = self.photos.clone();
                tokio::task::spawn_blocking(move || device::load_faces(&photos))
                    .await
                    .map_err(|e| DeviceError::UnusablePhotos {
                        dir: self.photos.clone(),
                        reason: e.to_string(),
                    })?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }
}

/// A session's claim on its one running simulation; released when dropped, however the run
/// ends (a panic included).
struct Running {
    simulations: Arc<Simulations>,
    session: SessionId,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.simulations.lock().remove(&self.session);
    }
}

/// Why a simulation did not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// A live-mode session: its server trusts no factory passport, and its webhooks are real.
    #[error("simulations are for test-mode sessions; this session is live")]
    LiveSession,
    /// The session has ended.
    #[error("the session has ended ({0:?})")]
    Ended(SessionStatus),
    /// A simulation of the session is already running on this node.
    #[error("a simulation of this session is already running")]
    AlreadyRunning,
    /// The outcome needs `clone_detection = required`, and this server's policy accepts a chip
    /// without active or chip authentication.
    #[error("`{outcome}` needs clone_detection = required; this server's is `{policy}`")]
    NeedsRequiredCloneDetection {
        outcome: Outcome,
        policy: &'static str,
    },
    /// The outcome reaches the face step and the test photos are not usable.
    #[error("`{outcome}` reaches the face step, which needs the test photos: {source}")]
    NoTestPhotos {
        outcome: Outcome,
        #[source]
        source: DeviceError,
    },
    /// The handoff was refused (the session ended meanwhile; the store's answer).
    #[error("the handoff was refused: {}", .0.code().as_str())]
    Handoff(ApiError),
    /// This node's own address is not a usable base URL (a bug, not an input).
    #[error("the server's own URL is unusable: {0}")]
    SelfUrl(#[source] ClientError),
}

impl From<SimulationError> for ApiError {
    /// The answer of the page's route: a precise catalog code; the photos' location and the
    /// client's error go to the log only ([`ApiError::with_cause`]).
    fn from(error: SimulationError) -> Self {
        match error {
            SimulationError::LiveSession => ErrorCode::TestModeOnly.into(),
            SimulationError::Ended(status) => TransitionError::Terminal(status).to_error().into(),
            SimulationError::AlreadyRunning => ErrorCode::SimulationInProgress.into(),
            SimulationError::NeedsRequiredCloneDetection { outcome, policy } => {
                ApiError::from(DomainError::with_message(
                    ErrorCode::SimulationUnavailable,
                    format!(
                        "`{outcome}` fails only where clone_detection = required; this server's \
                         is `{policy}`."
                    ),
                ))
            }
            SimulationError::NoTestPhotos {
                outcome,
                ref source,
            } => {
                let message = format!(
                    "`{outcome}` needs the test photos, which this server does not have: run \
                     scripts/fetch-face-models.sh where it runs, or set `test_faces_dir`."
                );
                ApiError::from(DomainError::with_message(
                    ErrorCode::SimulationUnavailable,
                    message,
                ))
                .with_cause(source)
            }
            SimulationError::Handoff(error) => error,
            SimulationError::SelfUrl(ref source) => ApiError::internal(source),
        }
    }
}

fn policy_name(policy: CloneDetection) -> &'static str {
    match policy {
        CloneDetection::Required => "required",
        CloneDetection::WhenSupported => "when_supported",
        CloneDetection::Off => "off",
    }
}

/// Starts a simulation of `outcome` on `session`: refuses a live-mode or ended session, a second
/// simulation while one runs, and an outcome this server cannot produce (the test photos for the
/// face outcomes, `clone_detection = required` for the anti-cloning failure); hands off a new
/// attempt as the handoff route does, then plays the outcome in the background and returns. The
/// session's status, its events and its webhook show the progress.
///
/// # Errors
/// [`SimulationError`], each before an attempt was issued.
pub async fn start(
    state: &AppState,
    session: &Session,
    outcome: Outcome,
) -> Result<(), SimulationError> {
    if session.environment != Environment::Test {
        return Err(SimulationError::LiveSession);
    }
    if session.status.is_terminal() {
        return Err(SimulationError::Ended(session.status));
    }
    let policy = state.verification.policy.clone_detection;
    if outcome == Outcome::DocumentAntiCloningAttestationFailed
        && policy != CloneDetection::Required
    {
        return Err(SimulationError::NeedsRequiredCloneDetection {
            outcome,
            policy: policy_name(policy),
        });
    }
    let running = state
        .simulations
        .claim(&session.id)
        .ok_or(SimulationError::AlreadyRunning)?;
    let faces = if outcome.needs_faces() {
        let faces = state.simulations.faces().await;
        Some(faces.map_err(|source| SimulationError::NoTestPhotos { outcome, source })?)
    } else {
        None
    };
    let base = reqwest::Url::parse(&state.self_url)
        .map_err(|e| SimulationError::SelfUrl(ClientError::Url(e.to_string())))?;
    let client = MobileClient::new(&base).map_err(SimulationError::SelfUrl)?;
    let first = issue_handoff(state, &session.id, state.clock.now())
        .await
        .map_err(SimulationError::Handoff)?;
    metrics::counter!(SIMULATIONS, "outcome" => outcome.as_str()).increment(1);
    tracing::info!(session_id = %session.id, %outcome, "simulation started");

    let run = Run {
        state: state.clone(),
        session_id: session.id.clone(),
        cancel_token: session.cancel_token.expose().to_owned(),
        outcome,
        first,
        faces,
        client,
    };
    // The phone's own work — building the passport, the chip's signatures, encoding the bursts —
    // is CPU-bound and synchronous, so the walk runs on a blocking thread, driving its I/O
    // through this runtime, rather than on a worker that serves requests.
    let runtime = tokio::runtime::Handle::current();
    let mut stopping = state.simulations.stopping.subscribe();
    tokio::task::spawn_blocking(move || {
        let _running = running;
        runtime.block_on(async move {
            let (session_id, outcome) = (run.session_id.clone(), run.outcome);
            tokio::select! {
                biased;
                // The sender lives as long as the state the run holds: an error cannot come first.
                _ = stopping.wait_for(|stop| *stop) => tracing::info!(
                    %session_id,
                    %outcome,
                    "simulation stopped: the node is shutting down"
                ),
                () = run.play() => {}
            }
        });
    });
    Ok(())
}

/// What the background task needs.
struct Run {
    state: AppState,
    session_id: SessionId,
    cancel_token: String,
    outcome: Outcome,
    first: HandoffOut,
    faces: Option<Arc<TestFaces>>,
    client: MobileClient,
}

impl Run {
    /// Plays the outcome, then logs how it ended.
    async fn play(self) {
        let (session_id, outcome) = (self.session_id.clone(), self.outcome);
        match tokio::time::timeout(DEADLINE, self.walk()).await {
            Ok(Ok(status)) => {
                tracing::info!(%session_id, %outcome, status = %status, "simulation finished");
            }
            Ok(Err(error)) => {
                tracing::warn!(%session_id, %outcome, %error, "simulation did not reach its outcome");
            }
            Err(_) => tracing::warn!(
                %session_id,
                %outcome,
                deadline_secs = DEADLINE.as_secs(),
                "simulation stopped at its deadline"
            ),
        }
    }

    /// The walk through the API; the session's final status.
    async fn walk(self) -> Result<String, idgate_phone::SimulationError> {
        let portrait = match &self.faces {
            Some(faces) => faces.portrait_jpeg().clone(),
            None => device::placeholder_portrait(),
        };
        let passport = self.outcome.passport(&portrait)?;
        let log = LogReporter {
            session_id: self.session_id.clone(),
            outcome: self.outcome,
        };
        let simulation = Simulation {
            client: self.client,
            handoffs: ServerHandoffs {
                state: self.state,
                session_id: self.session_id.clone(),
                first: Mutex::new(Some(self.first)),
            },
            report: log,
            session_id: self.session_id.to_string(),
            device_id: device::device_id("idgate-server-simulation"),
            passport,
            faces: self.faces,
        };
        let played = simulation
            .play(self.outcome, Some(&self.cancel_token))
            .await;
        let status = simulation.final_status().await;
        played?;
        Ok(status?.status)
    }
}

/// The attempts of a server-side simulation: the one [`start`] issued, then one per further
/// document try, each through [`issue_handoff`] as the route would.
struct ServerHandoffs {
    state: AppState,
    session_id: SessionId,
    first: Mutex<Option<HandoffOut>>,
}

impl Handoffs for ServerHandoffs {
    fn handoff(&self) -> impl Future<Output = Result<Reply<Handoff>, ClientError>> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        async move {
            let started = Instant::now();
            let issued = match first {
                Some(handoff) => Ok(handoff),
                None => issue_handoff(&self.state, &self.session_id, self.state.clock.now()).await,
            };
            let elapsed = started.elapsed();
            Ok(match issued {
                Ok(out) => Reply {
                    status: 200,
                    elapsed,
                    result: Ok(Handoff {
                        attempt_id: out.attempt_id,
                        token: out.token,
                        token_expires_at: Some(out.token_expires_at.to_rfc3339()),
                        deep_link: Some(out.deep_link),
                    }),
                },
                Err(error) => Reply {
                    status: error.code().status(),
                    elapsed,
                    result: Err(client::ApiError {
                        code: error.code().as_str().to_owned(),
                        message: error.message().to_owned(),
                        hint: Some(error.hint().to_owned()),
                    }),
                },
            })
        }
    }
}

/// The steps of a server-side simulation, at debug level: names, statuses, verdicts and codes.
struct LogReporter {
    session_id: SessionId,
    outcome: Outcome,
}

impl Reporter for LogReporter {
    fn note(&self, text: &str) {
        tracing::debug!(session_id = %self.session_id, outcome = %self.outcome, note = text, "simulation");
    }

    fn step(&self, step: Step<'_>) {
        tracing::debug!(
            session_id = %self.session_id,
            outcome = %self.outcome,
            step = step.name,
            status = step.status,
            elapsed_ms = u64::try_from(step.elapsed.as_millis()).unwrap_or(u64::MAX),
            verdict = step.verdict.as_deref(),
            failure_code = step.failure_code.as_deref(),
            error = step.error,
            "simulation step"
        );
    }

    fn local(&self, name: &str, elapsed: Duration, note: &str) {
        tracing::debug!(
            session_id = %self.session_id,
            outcome = %self.outcome,
            step = name,
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            note,
            "simulation step on the phone"
        );
    }
}

/// The outcomes the hosted page offers for a test-mode session on this node, each with whether
/// this server can produce it (the test photos for the face outcomes, `clone_detection =
/// required` for the anti-cloning failure), so a button can say why not. A hint: [`start`]
/// decides.
pub fn outcomes(state: &AppServices) -> Vec<(Outcome, bool)> {
    let required = state.verification.policy.clone_detection == CloneDetection::Required;
    let photos = state.simulations.faces.initialized() || state.simulations.photos_dir().is_dir();
    Outcome::ALL
        .into_iter()
        .map(|outcome| {
            let playable = match outcome {
                Outcome::DocumentAntiCloningAttestationFailed => required,
                outcome if outcome.needs_faces() => photos,
                _ => true,
            };
            (outcome, playable)
        })
        .collect()
}
