//! What the end-user flow needs besides the store: the document policy, the face engine with its
//! settings, and the operator's trust store as `emrtd` uses it (docs/verify.md).
//!
//! The trust store lives in the database so that every node shares it (`idgate trust import`);
//! each node rebuilds its in-memory copy from the rows at most every [`TRUST_REFRESH`], so an
//! import reaches running servers within that time without a restart. Test-mode sessions trust
//! the test-passport factory's fixed CSCAs as well, never live ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use emrtd::pki::TrustStore;
use idgate_core::api_key::Environment;
use idgate_face::{ChallengePolicy, FaceConfig, FaceEngine};
use idgate_store::{AnchorSource, Store};
use idgate_verify::document::DocumentPolicy;
use idgate_verify::trust::{AnchorInput, AnchorOrigin};
use tokio::sync::Mutex;

/// How old the in-memory trust store may get before the next document check reloads it.
pub const TRUST_REFRESH: Duration = Duration::from_secs(30);

/// The verification services of one process, shared by every request.
pub struct Verification {
    pub policy: DocumentPolicy,
    pub face: FaceConfig,
    pub engine: Arc<dyn FaceEngine>,
    trust: Mutex<Option<(Instant, Arc<TrustStores>)>>,
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Verification {
    pub fn new(policy: DocumentPolicy, face: FaceConfig, engine: Arc<dyn FaceEngine>) -> Self {
        Self {
            policy,
            face,
            engine,
            trust: Mutex::new(None),
        }
    }

    /// The challenge policy for a session of `environment`: test mode draws head turns only,
    /// because the shipped test faces are photographs that can turn but not blink
    /// (`idgate_face::testkit::turn_policy`); live sessions use the operator's policy.
    pub fn challenge_policy(&self, environment: Environment) -> ChallengePolicy {
        match environment {
            Environment::Test => idgate_face::testkit::turn_policy(),
            Environment::Live => self.face.challenge.clone(),
        }
    }

    /// The trust store for a session of `environment` (see the module docs).
    pub async fn trust(
        &self,
        store: &Store,
        environment: Environment,
    ) -> Result<Arc<TrustStore>, idgate_store::StoreError> {
        let mut cached = self.trust.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|(loaded_at, _)| loaded_at.elapsed() < TRUST_REFRESH);
        if !fresh {
            *cached = Some((Instant::now(), load_trust(store).await?));
        }
        let stores = cached
            .as_ref()
            .map(|(_, stores)| stores.clone())
            .ok_or(idgate_store::StoreError::Corrupt("trust store cache"))?;
        Ok(match environment {
            Environment::Live => stores.live.clone(),
            Environment::Test => stores.test.clone(),
        })
    }
}

/// The operator's trust store, and the same with the test-mode anchors added.
#[derive(Clone)]
struct TrustStores {
    live: Arc<TrustStore>,
    test: Arc<TrustStore>,
}

async fn load_trust(store: &Store) -> Result<Arc<TrustStores>, idgate_store::StoreError> {
    let material = store.trust_material().await?;
    let mut anchors: Vec<AnchorInput> = material
        .anchors
        .into_iter()
        .map(|(source, der)| AnchorInput {
            origin: match source {
                AnchorSource::Certificate => AnchorOrigin::Direct,
                AnchorSource::MasterList => AnchorOrigin::MasterList,
            },
            der,
        })
        .collect();
    let live = idgate_verify::trust::trust_store(&anchors, &material.crls);
    if live.rows_not_loaded > 0 {
        tracing::warn!(
            rows = live.rows_not_loaded,
            "trust store rows that no longer load were skipped"
        );
    }
    anchors.extend(
        idgate_verify::trust::test_mode_anchors()
            .into_iter()
            .map(|der| AnchorInput {
                origin: AnchorOrigin::Direct,
                der,
            }),
    );
    let test = idgate_verify::trust::trust_store(&anchors, &material.crls);
    Ok(Arc::new(TrustStores {
        live: Arc::new(live.store),
        test: Arc::new(test.store),
    }))
}
