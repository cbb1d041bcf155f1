//! The operator's trust store (CSCA certificates and CRLs) on both backends: import is idempotent
//! by fingerprint, lists keep import order, removal by id or fingerprint, unknown → not found.
//! The store does not parse DER; these rows carry arbitrary bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use common::{backends, t};
use idgate_store::{
    AnchorSource, NewTrustAnchor, NewTrustCrl, RemovedTrustEntry, StoreError, TrustImport,
};

fn anchor(n: u8, kind: AnchorSource, verified: bool) -> NewTrustAnchor {
    NewTrustAnchor {
        fingerprint: format!("{n:02x}").repeat(32),
        subject: format!("CN=CSCA {n},C=DE"),
        country: Some("DE".into()),
        issuer_country: Some("DE".into()),
        not_before: t(0),
        not_after: t(1_000_000),
        der: vec![0x30, n, n],
        source: "list.ml".into(),
        source_kind: kind,
        master_list_signer: (kind == AnchorSource::MasterList).then(|| "CN=ML Signer".into()),
        verified,
    }
}

fn crl(n: u8) -> NewTrustCrl {
    NewTrustCrl {
        fingerprint: format!("{n:02x}").repeat(32),
        issuer: format!("CN=CSCA {n},C=DE"),
        this_update: t(0),
        next_update: Some(t(1000)),
        der: vec![0x30, 0xc0, n],
        source: "csca.crl".into(),
    }
}

#[tokio::test]
async fn importing_the_same_certificates_twice_adds_them_once() {
    for b in backends().await {
        let batch = [
            anchor(1, AnchorSource::Certificate, true),
            anchor(2, AnchorSource::MasterList, true),
        ];
        let mut calls = Vec::new();
        let first = b
            .store
            .import_trust_anchors(&batch, t(10), &mut |n| calls.push(n))
            .await
            .expect("import");
        assert_eq!(
            first,
            TrustImport {
                added: 2,
                upgraded: 0,
                already_present: 0
            },
            "{}",
            b.name
        );
        assert_eq!(calls.last(), Some(&2), "{}", b.name);
        let again = [batch[1].clone(), anchor(3, AnchorSource::MasterList, false)];
        let second = b
            .store
            .import_trust_anchors(&again, t(20), &mut |_| {})
            .await
            .expect("import again");
        assert_eq!(
            second,
            TrustImport {
                added: 1,
                upgraded: 0,
                already_present: 1
            },
            "{}",
            b.name
        );
        assert_eq!(b.store.list_trust_anchors().await.unwrap().len(), 3);
    }
}

#[tokio::test]
async fn an_import_raises_the_trust_of_a_stored_certificate_and_never_lowers_it() {
    for b in backends().await {
        let store = &b.store;
        store
            .import_trust_anchors(
                &[
                    anchor(1, AnchorSource::MasterList, false),
                    anchor(2, AnchorSource::MasterList, false),
                ],
                t(0),
                &mut |_| {},
            )
            .await
            .unwrap();
        let raised = store
            .import_trust_anchors(
                &[
                    anchor(1, AnchorSource::Certificate, true),
                    anchor(2, AnchorSource::MasterList, true),
                ],
                t(1),
                &mut |_| {},
            )
            .await
            .unwrap();
        assert_eq!((raised.added, raised.upgraded), (0, 2), "{}", b.name);
        let lowered = store
            .import_trust_anchors(
                &[
                    anchor(1, AnchorSource::MasterList, false),
                    anchor(2, AnchorSource::MasterList, false),
                ],
                t(2),
                &mut |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            (lowered.upgraded, lowered.already_present),
            (0, 2),
            "{}",
            b.name
        );
        let mut list = store.list_trust_anchors().await.unwrap();
        // Imported at the same time: the list orders them by their random ids.
        list.sort_by(|a, b| a.subject.cmp(&b.subject));
        let state: Vec<_> = list.iter().map(|a| (a.source_kind, a.verified)).collect();
        assert_eq!(
            state,
            [
                (AnchorSource::Certificate, true),
                (AnchorSource::MasterList, true)
            ],
            "{}",
            b.name
        );
        assert_eq!(
            list[0].imported_at,
            t(0),
            "an upgrade keeps the import time"
        );
    }
}

#[tokio::test]
async fn trust_anchors_are_listed_oldest_import_first_with_what_was_imported() {
    for b in backends().await {
        let store = &b.store;
        store
            .import_trust_anchors(
                &[anchor(7, AnchorSource::MasterList, false)],
                t(5),
                &mut |_| {},
            )
            .await
            .unwrap();
        store
            .import_trust_anchors(
                &[anchor(1, AnchorSource::Certificate, true)],
                t(9),
                &mut |_| {},
            )
            .await
            .unwrap();
        let list = store.list_trust_anchors().await.unwrap();
        let subjects: Vec<_> = list.iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(subjects, ["CN=CSCA 7,C=DE", "CN=CSCA 1,C=DE"], "{}", b.name);
        let first = &list[0];
        assert_eq!(first.fingerprint, "07".repeat(32));
        assert_eq!(first.source_kind, AnchorSource::MasterList);
        assert_eq!(first.master_list_signer.as_deref(), Some("CN=ML Signer"));
        assert!(!first.verified);
        assert_eq!(first.imported_at, t(5));
        assert_eq!(first.not_after, t(1_000_000));
        let material = store.trust_material().await.unwrap();
        assert_eq!(
            material.anchors,
            [
                (AnchorSource::MasterList, vec![0x30, 7, 7]),
                (AnchorSource::Certificate, vec![0x30, 1, 1])
            ],
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_trust_anchor_is_removed_by_id_or_by_fingerprint() {
    for b in backends().await {
        let store = &b.store;
        let batch = [
            anchor(1, AnchorSource::Certificate, true),
            anchor(2, AnchorSource::MasterList, true),
        ];
        store
            .import_trust_anchors(&batch, t(0), &mut |_| {})
            .await
            .unwrap();
        let list = store.list_trust_anchors().await.unwrap();
        let id_of = |fingerprint: String| {
            list.iter()
                .find(|a| a.fingerprint == fingerprint)
                .map(|a| a.id.clone())
                .unwrap()
        };
        let (first, second) = (id_of("01".repeat(32)), id_of("02".repeat(32)));
        let removed = store.remove_trust_entry(first.as_str()).await.unwrap();
        assert_eq!(removed, RemovedTrustEntry::Anchor(first), "{}", b.name);
        let by_fingerprint = store
            .remove_trust_entry(&"02".repeat(32).to_uppercase())
            .await
            .unwrap();
        assert_eq!(by_fingerprint, RemovedTrustEntry::Anchor(second));
        assert!(store.list_trust_anchors().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn removing_an_unknown_trust_entry_is_not_found() {
    for b in backends().await {
        b.store
            .import_trust_anchors(
                &[anchor(1, AnchorSource::Certificate, true)],
                t(0),
                &mut |_| {},
            )
            .await
            .unwrap();
        let err = b
            .store
            .remove_trust_entry("csca_doesnotexist")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{}: {err:?}", b.name);
        assert_eq!(b.store.list_trust_anchors().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn crls_are_imported_once_listed_and_removed() {
    for b in backends().await {
        let store = &b.store;
        let first = store.import_trust_crls(&[crl(1)], t(0)).await.unwrap();
        let again = store
            .import_trust_crls(&[crl(1), crl(2)], t(1))
            .await
            .unwrap();
        assert_eq!((first.added, first.already_present), (1, 0), "{}", b.name);
        assert_eq!((again.added, again.already_present), (1, 1), "{}", b.name);
        let list = store.list_trust_crls().await.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].next_update, Some(t(1000)));
        assert_eq!(
            store.trust_material().await.unwrap().crls,
            [vec![0x30, 0xc0, 1], vec![0x30, 0xc0, 2]]
        );
        let removed = store.remove_trust_entry(list[1].id.as_str()).await.unwrap();
        assert_eq!(removed, RemovedTrustEntry::Crl(list[1].id.clone()));
        assert_eq!(store.list_trust_crls().await.unwrap().len(), 1);
    }
}
