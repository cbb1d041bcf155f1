//! The trust store a document check runs against (docs/verify.md "Trust policy"): the
//! operator's anchors as the store keeps them, or, for test-mode sessions, the CSCAs of the
//! test-passport factory.
//!
//! The policy itself was applied when the material was imported (`idgate trust import`): a
//! master list's CSCAs were kept only when its signature verified to a directly imported CSCA,
//! or when the operator opted in with `--trust-unverified`, which is recorded on each row. What
//! the database holds is therefore the set of anchors, and this module only rebuilds `emrtd`'s
//! [`TrustStore`] from it. No master list is re-read here, so no trust can flow through a CSCA
//! that arrived by one.

use std::sync::OnceLock;

use emrtd::pki::TrustStore;
use emrtd::testkit::{self, Algo};

/// How a stored CSCA entered the operator's trust store (the server maps idgate-store's
/// `AnchorSource` onto this, keeping this crate free of a store dependency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnchorOrigin {
    /// A certificate file the operator imported directly.
    Direct,
    /// An entry of a master list (verified, or accepted with `--trust-unverified`).
    MasterList,
}

/// One stored CSCA certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorInput {
    pub origin: AnchorOrigin,
    pub der: Vec<u8>,
}

/// The rebuilt trust store and how many stored rows no longer load (corrupt DER, or a CRL whose
/// CSCA was removed), which the caller reports to the operator.
#[derive(Debug)]
pub struct LoadedTrust {
    pub store: TrustStore,
    pub rows_not_loaded: usize,
}

/// Builds the trust store from the stored anchors and CRLs: direct CSCAs first, then master-list
/// CSCAs, then the CRLs, each of which `emrtd` verifies again against a loaded CSCA (ICAO
/// 9303-12 §7.1.4: a CRL no CSCA vouches for would let anyone revoke a document signer).
pub fn trust_store(anchors: &[AnchorInput], crls: &[Vec<u8>]) -> LoadedTrust {
    let mut store = TrustStore::new();
    let mut rows_not_loaded = 0;
    for origin in [AnchorOrigin::Direct, AnchorOrigin::MasterList] {
        rows_not_loaded += anchors
            .iter()
            .filter(|a| a.origin == origin)
            .filter(|a| store.add_certificate_der(&a.der).is_err())
            .count();
    }
    rows_not_loaded += crls
        .iter()
        .filter(|der| store.add_crl_der(der).is_err())
        .count();
    LoadedTrust {
        store,
        rows_not_loaded,
    }
}

/// The test-mode anchors: one CSCA certificate of emrtd's test-passport factory per signature
/// family ([`Algo::ALL`]), as [`testkit::fixed_csca_der`] issues them for the default holder
/// (issuing state `NLD`), the family's default hash and fixed keys. They are the same bytes in
/// every process, so a `kk_test_` session trusts passports the simulator builds elsewhere.
///
/// They are public test keys: only test-mode sessions may use them. Built once per process.
pub fn test_mode_anchors() -> Vec<Vec<u8>> {
    test_mode().0.clone()
}

/// The trust store of [`test_mode_anchors`], built once per process.
pub fn test_mode_trust_store() -> &'static TrustStore {
    &test_mode().1
}

fn test_mode() -> &'static (Vec<Vec<u8>>, TrustStore) {
    static TEST_MODE: OnceLock<(Vec<Vec<u8>>, TrustStore)> = OnceLock::new();
    TEST_MODE.get_or_init(|| {
        // A family whose fixed key material fails to load is left out; the passports of that
        // family then fail passive authentication with `csca_not_found`, which names the cause.
        let anchors: Vec<Vec<u8>> = Algo::ALL
            .iter()
            .filter_map(|algo| testkit::fixed_csca_der(*algo).ok())
            .collect();
        let mut store = TrustStore::new();
        for der in &anchors {
            let _ = store.add_certificate_der(der);
        }
        (anchors, store)
    })
}
