//! Every write that changes what a session's public status shows announces `Change::Session`
//! with its commit (docs/verify.md "Status stream"): the session's status streams are woken by
//! these announcements, so a write that forgot one would leave the hosted page stale until the
//! streams' heartbeat re-read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use std::time::Duration;

use common::{Backend, HOUR_MS, backends, org, session_at, t};
use idgate_core::{AttemptPhase, ClientProgress, FailureCode, SessionId, Tenant};
use idgate_store::{Change, StepOutcome, StepRecord, Store, Subscription};

async fn each(test: impl AsyncFn(&Backend)) {
    for b in backends().await {
        eprintln!("--- backend: {}", b.name);
        test(&b).await;
    }
}

/// What the test listens with: the subscription, and the store and tenant of its sentinels.
struct Listener<'a> {
    changes: Subscription,
    store: &'a Store,
    tenant: Tenant,
}

impl Listener<'_> {
    /// Forgets every announcement made so far. Announcements arrive in commit order (a broadcast
    /// on SQLite, `NOTIFY` delivered in commit order on PostgreSQL), so once a sentinel session's
    /// cancellation, committed now, has been heard, nothing older can still arrive.
    async fn settle(&mut self) {
        let sentinel = session_at(self.store, &self.tenant, t(0)).await;
        self.store
            .cancel_session(&self.tenant, &sentinel.id, t(1))
            .await
            .unwrap();
        assert!(
            self.heard(&sentinel.id).await,
            "the sentinel's cancellation was not announced"
        );
    }

    /// Waits up to five seconds for `Change::Session(id)`; whether it came.
    async fn heard(&mut self, id: &SessionId) -> bool {
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.changes.recv().await != Change::Session(id.clone()) {}
        })
        .await
        .is_ok()
    }

    /// Asserts that the write just made announced the session.
    async fn expect(&mut self, id: &SessionId, backend: &str, write: &str) {
        assert!(
            self.heard(id).await,
            "{backend}: `{write}` did not announce the session's change"
        );
    }
}

async fn listener(b: &Backend) -> Listener<'_> {
    Listener {
        changes: b.store.subscribe().await.unwrap(),
        store: &b.store,
        tenant: org(&b.store).await,
    }
}

/// The browser's flow on the mobile API: handoff, hello, progress, a document verdict that uses
/// a try, one that advances the phase, the liveness pass, and consent.
#[tokio::test]
async fn each_step_of_the_mobile_flow_announces_the_session() {
    each(async |b| {
        let mut l = listener(b).await;
        let s = &b.store;
        let session = session_at(s, &l.tenant, t(0)).await;
        let id = &session.id;

        l.settle().await;
        let (_, attempt) = s
            .hand_off(id, "token-hash", t(300_000), t(1))
            .await
            .unwrap();
        l.expect(id, b.name, "hand_off").await;

        l.settle().await;
        let mobile = s
            .bind_attempt(&attempt.id, "device-hash", "1.0", "vault", t(2))
            .await
            .unwrap();
        l.expect(id, b.name, "bind_attempt (hello)").await;

        l.settle().await;
        s.set_progress(&attempt.id, ClientProgress::NfcReading, t(3))
            .await
            .unwrap();
        l.expect(id, b.name, "set_progress").await;

        l.settle().await;
        s.record_step(
            &attempt.id,
            mobile.vault_version,
            StepOutcome::Failed(FailureCode::DocumentDataInvalid),
            StepRecord::default(),
            |_| None,
            t(4),
        )
        .await
        .unwrap();
        l.expect(id, b.name, "record_step (a failed try)").await;

        for (from, at) in [(AttemptPhase::Document, 5), (AttemptPhase::Liveness, 6)] {
            let version = s
                .attempt_by_token("token-hash")
                .await
                .unwrap()
                .vault_version;
            l.settle().await;
            s.record_step(
                &attempt.id,
                version,
                StepOutcome::Passed { from },
                StepRecord::default(),
                |_| None,
                t(at),
            )
            .await
            .unwrap();
            l.expect(id, b.name, &format!("record_step (passed {from:?})"))
                .await;
        }

        let version = s
            .attempt_by_token("token-hash")
            .await
            .unwrap()
            .vault_version;
        l.settle().await;
        s.consent(&attempt.id, version, &[], |_| "sealed".to_owned(), t(7))
            .await
            .unwrap();
        l.expect(id, b.name, "consent").await;
    })
    .await;
}

/// The third failed try fails the session; a new handoff closes the older attempt.
#[tokio::test]
async fn the_last_try_and_a_replacing_handoff_announce_the_session() {
    each(async |b| {
        let mut l = listener(b).await;
        let s = &b.store;
        let session = session_at(s, &l.tenant, t(0)).await;
        let id = &session.id;
        let (_, first) = s.hand_off(id, "first", t(300_000), t(1)).await.unwrap();
        s.bind_attempt(&first.id, "device", "1.0", "vault", t(2))
            .await
            .unwrap();

        l.settle().await;
        s.hand_off(id, "second", t(300_000), t(3)).await.unwrap();
        l.expect(id, b.name, "hand_off replacing an attempt").await;

        let (_, attempt) = s.start_attempt(id, t(4)).await.unwrap();
        for round in 0..3 {
            l.settle().await;
            s.record_attempt_failure(&attempt.id, FailureCode::DocumentDataInvalid, t(5 + round))
                .await
                .unwrap();
            l.expect(
                id,
                b.name,
                &format!("record_attempt_failure #{}", round + 1),
            )
            .await;
        }
    })
    .await;
}

/// Cancels by the integrator and by the person, and expiry by the sweeper and by a read.
#[tokio::test]
async fn cancels_and_expiries_announce_the_session() {
    each(async |b| {
        let mut l = listener(b).await;
        let s = &b.store;

        let by_integrator = session_at(s, &l.tenant, t(0)).await;
        l.settle().await;
        s.cancel_session(&l.tenant, &by_integrator.id, t(1))
            .await
            .unwrap();
        l.expect(&by_integrator.id, b.name, "cancel_session").await;

        let by_person = session_at(s, &l.tenant, t(0)).await;
        l.settle().await;
        s.cancel_by_end_user(&by_person.id, by_person.cancel_token.expose(), t(1))
            .await
            .unwrap();
        l.expect(&by_person.id, b.name, "cancel_by_end_user").await;

        let swept = session_at(s, &l.tenant, t(0)).await;
        l.settle().await;
        assert!(s.expire_overdue(t(2 * HOUR_MS), 500).await.unwrap() >= 1);
        l.expect(&swept.id, b.name, "expire_overdue (the sweeper)")
            .await;

        let read = session_at(s, &l.tenant, t(3 * HOUR_MS)).await;
        let (_, attempt) = s.start_attempt(&read.id, t(3 * HOUR_MS)).await.unwrap();
        l.settle().await;
        let status = s.public_status(&read.id, t(5 * HOUR_MS)).await.unwrap();
        assert_eq!(status.session.status, idgate_core::SessionStatus::Expired);
        assert_eq!(
            status.attempt.map(|a| a.id),
            Some(attempt.id),
            "the newest attempt is shown"
        );
        l.expect(
            &read.id,
            b.name,
            "public_status expiring an overdue session",
        )
        .await;
    })
    .await;
}
