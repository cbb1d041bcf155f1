//! What every handler can reach: the store, the server secrets, the rate limiter, the clock and
//! the URLs this node is known by. Passed as axum state (no process-global state), so several
//! apps can run in one process, as the tests do.

use std::sync::Arc;

use idgate_core::Clock;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::DocsBase;
use crate::rate_limit::KeyRateLimiter;
use crate::secrets::ServerSecrets;

/// The store shared by all requests and background tasks.
pub type SharedStore = Arc<idgate_store::Store>;

/// Application state: one shared allocation, so the clones axum makes for every extractor of
/// every request cost one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl AppState {
    pub fn new(services: AppServices) -> Self {
        Self(Arc::new(services))
    }

    /// For setup before the app serves (a test replacing the clock); copies if shared.
    pub fn services_mut(&mut self) -> &mut AppServices {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct AppServices {
    pub store: SharedStore,
    pub secrets: Arc<ServerSecrets>,
    pub limiter: Arc<KeyRateLimiter>,
    pub clock: Arc<dyn Clock>,
    /// Base of `verification_url` (no trailing slash).
    pub public_url: Arc<str>,
    /// `http://<bound address>`, a wildcard address as loopback (no trailing slash): where this
    /// node reaches its own API, which the test-mode simulation plays against
    /// ([`crate::simulation`]). Not `public_url`, which may name a proxy the node cannot reach.
    pub self_url: Arc<str>,
    pub docs_base: DocsBase,
    pub metrics: PrometheusHandle,
    /// The operator's `allow_private_webhooks` switch, checked when an endpoint URL is accepted
    /// and again when a delivery is sent.
    pub allow_private_webhooks: bool,
    /// The end-user flow's policy, face engine and trust store.
    pub verification: Arc<crate::verification::Verification>,
    /// The test-mode simulations this node runs, and the test faces they share.
    pub simulations: Arc<crate::simulation::Simulations>,
    /// The session status streams open on this node, woken by the store's announcements.
    pub status_hub: crate::status_hub::StatusHub,
}

impl axum::extract::FromRef<AppState> for DocsBase {
    fn from_ref(state: &AppState) -> Self {
        state.docs_base.clone()
    }
}
