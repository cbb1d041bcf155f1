//! The trust store of a document check: the operator's stored anchors, and the test-mode
//! anchors that make factory passports built in another process verify.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::passive::{self, Verdict};
use emrtd::testkit::{self, Algo, TestPassport};
use idgate_verify::trust::{
    AnchorInput, AnchorOrigin, test_mode_anchors, test_mode_trust_store, trust_store,
};
use sha2::{Digest as _, Sha256};

#[test]
fn factory_passports_of_every_family_verify_against_the_test_mode_anchors() {
    assert_eq!(test_mode_anchors().len(), Algo::ALL.len());
    for algo in Algo::ALL {
        let p = TestPassport::builder().algorithm(algo).build().unwrap();
        let report = passive::verify(
            &p.sod,
            &p.data_groups(),
            test_mode_trust_store(),
            time::OffsetDateTime::now_utc(),
        );
        assert_eq!(
            report.verdict(),
            Verdict::Authentic,
            "{algo:?}: {:?}",
            report.failure()
        );
    }
}

#[test]
fn the_test_mode_anchors_are_the_same_bytes_in_every_build() {
    let first = test_mode_anchors();
    for (algo, der) in Algo::ALL.iter().zip(&first) {
        assert_eq!(&testkit::fixed_csca_der(*algo).unwrap(), der, "{algo:?}");
    }
    // Pinned: a change here means a simulator and a server built from different revisions no
    // longer agree on the test CSCAs, and that every process issues them differently.
    let fingerprint = |der: &[u8]| hex::encode(Sha256::digest(der));
    let pinned: Vec<String> = first.iter().map(|d| fingerprint(d)).collect();
    assert_eq!(pinned, PINNED.map(str::to_owned));
}

/// SHA-256 of each family's test CSCA, in [`Algo::ALL`] order.
const PINNED: [&str; 9] = [
    "38e12da7ade48661ab8ef20dba528e4837b74255ea34daaf0481954fa05d7979",
    "eccf54332deec7e54b552696ce98b42e78aaf7de86ece3e96428440b71ff2c51",
    "2b43375597e7f49dc88e95c8473d1c27360de6fc42b3697371338f6b5c1d8af1",
    "07de16cd83f7dcf006dcd784657bc1a6f1b1efc4528000b8f942ef9464795e55",
    "0b129908340e7230c904a0e4bdde21a40cf34a686e6a7ea3eba4cf22441df40e",
    "33bf4b2c5793e8f0405ba605fbbe31a90e988125dc1d1cce66e9abf656661b13",
    "80cbf9b0c78e0f5cc4355b239c4e8f27d85667c7e06a13f9fcab79a75b71524f",
    "f53c5084e38877389aeeff8abf7b30df31d140161587c99c06de25d3b594a48d",
    "34dfea0a235163299de1950429c58935fda76dd83217deefb5bcccffaf683386",
];

#[test]
fn stored_anchors_and_crls_rebuild_the_store_and_unloadable_rows_are_counted() {
    let direct = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let listed = TestPassport::builder()
        .algorithm(Algo::RsaPkcs1v15)
        .build()
        .unwrap();
    let anchors = [
        AnchorInput {
            origin: AnchorOrigin::MasterList,
            der: listed.csca_der.clone(),
        },
        AnchorInput {
            origin: AnchorOrigin::Direct,
            der: direct.csca_der.clone(),
        },
        AnchorInput {
            origin: AnchorOrigin::Direct,
            der: vec![0x30, 0x03, 0x02, 0x01, 0x00],
        },
    ];
    let loaded = trust_store(&anchors, &[vec![0x30, 0x00]]);
    assert_eq!(loaded.store.len(), 2);
    assert_eq!(loaded.rows_not_loaded, 2);
    for p in [&direct, &listed] {
        let report = passive::verify(&p.sod, &p.data_groups(), &loaded.store, p.signed_at);
        assert_eq!(report.verdict(), Verdict::Authentic);
    }
}
