//! Webhook delivery guarantees of the built binary (issue 4,
//! docs/docs/webhooks.md "Delivery guarantees"):
//!
//! - at-least-once across a crash: 1,000 events wait for an encryption key, the key is uploaded
//!   so all become due at once, `idgate serve` is SIGKILLed while the receiver holds requests
//!   open (checked) and started again on the same data; every event reaches the receiver, and
//!   only sends that were in flight at the kill arrive twice: at most the per-endpoint
//!   concurrency. Runs on SQLite and on a fresh PostgreSQL database.
//! - no event lost when the kill lands in the state changes themselves: sessions are cancelled
//!   concurrently (each cancel writes the state change and its event in one transaction) and
//!   the server is SIGKILLed with cancels in flight; after the restart every acknowledged cancel
//!   has its event, and every event is delivered.
//! - no duplicate sends between nodes: two `idgate serve` processes share one PostgreSQL
//!   database (and one data directory, so the same server secrets) and deliver 500 events
//!   released at once; each arrives exactly once, and both nodes send a share.
//!
//! The receiver runs in the test on loopback, which is why the server runs with
//! `--allow-private-webhooks`. It checks the Standard Webhooks signature of every delivery and
//! decrypts a sample with the receiver crate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idgate_webhook::{Receiver, WebhookSecret};
use support::{Api, CANCELLED, Node, Sink};

/// Events produced (and deliveries released at once) in the crash test.
const CRASH_EVENTS: usize = 1_000;
/// The node is killed once this many deliveries arrived: well into the run, sends in flight.
const KILL_AFTER: usize = 250;
/// Events released at once in the two-node test.
const TWO_NODE_EVENTS: usize = 500;

/// `IDGATE_WEBHOOK_PER_ENDPOINT_CONCURRENCY` of [`worker_env`]: sends in flight to the one
/// endpoint at most, so at most this many can repeat after a kill.
const PER_ENDPOINT_CONCURRENCY: usize = 16;

/// Worker settings for a short run: the shortest lease the server accepts (25 s), so a killed
/// node's claims are free again within seconds rather than the default minute, and a short
/// fallback poll so a second node finds work quickly.
fn worker_env() -> Vec<(&'static str, String)> {
    vec![
        ("IDGATE_WEBHOOK_LEASE_SECS", "25".to_owned()),
        ("IDGATE_WEBHOOK_POLL_INTERVAL_MS", "50".to_owned()),
        ("IDGATE_WEBHOOK_CONCURRENCY", "64".to_owned()),
        (
            "IDGATE_WEBHOOK_PER_ENDPOINT_CONCURRENCY",
            PER_ENDPOINT_CONCURRENCY.to_string(),
        ),
        ("IDGATE_WEBHOOK_RETRY_BASE_MS", "200".to_owned()),
    ]
}

/// Checks the signature of every delivery (against the endpoint's secret) and decrypts every
/// tenth one fully (RSA private-key operations are the slow part). Returns how many were
/// decrypted.
fn verify_deliveries(sink: &Sink, secret: &str, private: &rsa::RsaPrivateKey) -> usize {
    let secret = WebhookSecret::parse(secret).expect("whsec_ secret");
    let receiver = Receiver::new(secret.clone(), private.clone());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut decrypted = 0;
    for (n, arrival) in sink.received().iter().enumerate() {
        let (headers, body) = arrival.request().expect("the sink keeps requests");
        let verified = idgate_webhook::signature::verify(
            headers,
            body,
            &secret,
            now,
            idgate_webhook::signature::DEFAULT_TOLERANCE,
        )
        .unwrap_or_else(|e| panic!("delivery {} fails signature verification: {e}", arrival.id));
        assert_eq!(verified.msg_id, arrival.id);
        if n % 10 == 0 {
            let event = receiver
                .open(headers, body)
                .unwrap_or_else(|e| panic!("delivery {} does not open: {e}", arrival.id));
            assert_eq!(event.id.as_str(), arrival.id);
            assert_eq!(event.event_type().as_str(), CANCELLED);
            decrypted += 1;
        }
    }
    decrypted
}

/// How often each `webhook-id` arrived.
fn arrivals_per_id(sink: &Sink) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for arrival in sink.received() {
        *counts.entry(arrival.id).or_insert(0) += 1;
    }
    counts
}

/// Produces [`CRASH_EVENTS`] events while the endpoint has no key, releases them, SIGKILLs the
/// server mid-send, restarts it on the same data and checks that every event arrives.
async fn crash_mid_send_and_recover(data_dir: &Path, database_url: Option<&str>) {
    let env = worker_env();
    let node = Node::start(data_dir, database_url, &env);
    let key = node.key.clone().expect("first start prints a key");
    let api = Api::new(node.addr, &key);
    // Answers after 20 ms, so there are always sends in flight.
    let sink = Sink::start().await;
    sink.answer_after(Duration::from_millis(20));
    let (endpoint, secret) = api.create_endpoint(&sink.url).await;

    let seeding = Instant::now();
    api.cancelled_sessions(CRASH_EVENTS, 16, |_| {}).await;
    let events = api.cancelled_event_ids().await;
    assert_eq!(
        events.len(),
        CRASH_EVENTS,
        "one event per cancelled session"
    );
    assert_eq!(
        api.count_deliveries("blocked_no_key").await,
        CRASH_EVENTS,
        "without a key every delivery waits"
    );
    assert_eq!(sink.count(), 0, "nothing is sent without a key");
    eprintln!(
        "{CRASH_EVENTS} events waiting for a key after {:.1}s",
        seeding.elapsed().as_secs_f64()
    );

    let receiver_key = support::receiver_key();
    let (private, public_pem) = (
        receiver_key.private.clone(),
        receiver_key.public_pem.clone(),
    );
    let released = Instant::now();
    api.add_key(&endpoint, &public_pem).await;
    assert!(
        sink.wait_for_count_mid_send(KILL_AFTER, Duration::from_secs(60))
            .await,
        "only {} of {CRASH_EVENTS} deliveries arrived within 60 s of uploading the key",
        sink.count()
    );
    let in_flight_at_kill = sink.in_flight();
    node.kill();
    let killed = Instant::now();
    let at_kill = sink.count();
    assert!(in_flight_at_kill > 0, "the kill did not land mid-send");
    assert!(
        at_kill < CRASH_EVENTS,
        "every event was delivered before the kill"
    );
    eprintln!(
        "killed after {:.2}s with {at_kill} deliveries received",
        killed.duration_since(released).as_secs_f64()
    );

    let node = Node::start(data_dir, database_url, &env);
    assert_eq!(node.key, None, "a restart finds the installation");
    let restarted = Instant::now();
    let api = Api::new(node.addr, &key);
    let deadline = restarted + Duration::from_secs(90);
    loop {
        let missing = events.difference(&sink.distinct_ids()).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {CRASH_EVENTS} events never arrived (90 s after the restart)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = restarted.elapsed();
    let since_kill = killed.elapsed();
    // Every attempt recorded: nothing left to send (so no further duplicate can come).
    api.wait_until_none_pending(Duration::from_secs(30)).await;
    assert_eq!(
        api.count_deliveries("succeeded").await,
        CRASH_EVENTS,
        "every delivery ends succeeded"
    );

    let received: HashSet<String> = sink.distinct_ids();
    assert!(
        received.is_subset(&events),
        "the receiver got ids that are not events of this run"
    );
    let decrypted = verify_deliveries(&sink, &secret, &private);
    let duplicates = sink.count() - received.len();
    assert!(
        duplicates <= PER_ENDPOINT_CONCURRENCY,
        "{duplicates} events arrived twice; only the {PER_ENDPOINT_CONCURRENCY} sends that can \
         be in flight may repeat (in flight at the kill: {in_flight_at_kill})"
    );
    eprintln!(
        "events {CRASH_EVENTS}, received {} ({} distinct), duplicates {duplicates}, \
         all arrived {:.2}s after the restart ({:.2}s after the kill), signatures checked {}, \
         decrypted {decrypted}",
        sink.count(),
        received.len(),
        recovered.as_secs_f64(),
        since_kill.as_secs_f64(),
        sink.count(),
    );
}

/// Cancels sessions with 16 requests in flight while deliveries flow, SIGKILLs the server once
/// [`KILL_AFTER`] cancels were acknowledged, restarts it and checks the outbox promise: every
/// acknowledged cancel has its event, and every event (acknowledged or not) reaches the receiver.
async fn crash_mid_state_change_and_recover(data_dir: &Path, database_url: Option<&str>) {
    let env = worker_env();
    let node = Node::start(data_dir, database_url, &env);
    let key = node.key.clone().expect("first start prints a key");
    let api = Api::new(node.addr, &key);
    let sink = Sink::start().await;
    sink.forget_requests();
    let (endpoint, _secret) = api.create_endpoint(&sink.url).await;
    let public_pem = support::receiver_key().public_pem.clone();
    api.add_key(&endpoint, &public_pem).await;

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (api, acked, in_flight) = (api.clone(), acked.clone(), in_flight.clone());
        writers.spawn(async move {
            loop {
                in_flight.fetch_add(1, Ordering::SeqCst);
                let done = api.try_create_and_cancel().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                match done {
                    Some(id) => acked.lock().unwrap().insert(id),
                    None => return,
                };
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < KILL_AFTER || in_flight.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "cancels too slow to reach {KILL_AFTER}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    node.kill();
    while let Some(joined) = writers.join_next().await {
        joined.expect("writer task");
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    let node = Node::start(data_dir, database_url, &env);
    let api = Api::new(node.addr, &key);
    let events = api.cancelled_events_by_session().await;
    let without_event: Vec<_> = acked
        .iter()
        .filter(|id| !events.contains_key(*id))
        .collect();
    assert!(
        without_event.is_empty(),
        "{} of {} acknowledged cancels have no event after the kill, e.g. {:?}",
        without_event.len(),
        acked.len(),
        without_event.first()
    );
    let event_ids: HashSet<String> = events.values().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let undelivered = event_ids.difference(&sink.distinct_ids()).count();
        if undelivered == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{undelivered} of {} events never arrived (90 s after the restart)",
            event_ids.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "acknowledged cancels {}, events after the restart {} (committed but unanswered {}), \
         all delivered",
        acked.len(),
        event_ids.len(),
        event_ids.len() - acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_event_is_lost_when_sigkill_lands_mid_state_change_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    crash_mid_state_change_and_recover(dir.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_event_is_lost_when_sigkill_lands_mid_state_change_on_postgres() {
    let Some(base) = support::postgres_url() else {
        return;
    };
    let database = support::FreshDatabase::create(&base, "idgate_whstate");
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().expect("temporary data directory");
    crash_mid_state_change_and_recover(dir.path(), Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_arrives_after_sigkill_mid_send_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    crash_mid_send_and_recover(dir.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_arrives_after_sigkill_mid_send_on_postgres() {
    let Some(base) = support::postgres_url() else {
        return;
    };
    let database = support::FreshDatabase::create(&base, "idgate_whcrash");
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().expect("temporary data directory");
    crash_mid_send_and_recover(dir.path(), Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_database_deliver_each_event_exactly_once() {
    let Some(base) = support::postgres_url() else {
        return;
    };
    let database = support::FreshDatabase::create(&base, "idgate_whtwo");
    let url = database.url().to_owned();
    // One data directory: both nodes load the same three server secrets, so the API key and
    // the sealed signing secret work on either.
    let dir = tempfile::tempdir().expect("temporary data directory");
    let env = worker_env();
    let first = Node::start(dir.path(), Some(&url), &env);
    let key = first.key.clone().expect("first start prints a key");
    let second = Node::start(dir.path(), Some(&url), &env);
    assert_eq!(second.key, None, "the second node joins the installation");
    let api = Api::new(first.addr, &key);
    let api_second = Api::new(second.addr, &key);
    let sink = Sink::start().await;
    sink.answer_after(Duration::from_millis(2));
    let (endpoint, secret) = api.create_endpoint(&sink.url).await;
    api.cancelled_sessions(TWO_NODE_EVENTS, 16, |_| {}).await;
    let events = api_second.cancelled_event_ids().await;
    assert_eq!(events.len(), TWO_NODE_EVENTS);
    assert_eq!(sink.count(), 0, "nothing is sent without a key");

    let receiver_key = support::receiver_key();
    let (private, public_pem) = (
        receiver_key.private.clone(),
        receiver_key.public_pem.clone(),
    );
    api.add_key(&endpoint, &public_pem).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.distinct_ids().len() < TWO_NODE_EVENTS {
        assert!(
            Instant::now() < deadline,
            "only {} of {TWO_NODE_EVENTS} events arrived within 60 s",
            sink.distinct_ids().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Once nothing is pending, no node can send anything more.
    api.wait_until_none_pending(Duration::from_secs(30)).await;

    let counts = arrivals_per_id(&sink);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} events were delivered more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(counts.len(), TWO_NODE_EVENTS);
    assert!(counts.keys().all(|id| events.contains(id)));
    assert_eq!(
        sink.count(),
        TWO_NODE_EVENTS,
        "exactly one request per event"
    );
    verify_deliveries(&sink, &secret, &private);

    let shares = [
        first.succeeded_deliveries().await,
        second.succeeded_deliveries().await,
    ];
    eprintln!(
        "two nodes: {TWO_NODE_EVENTS} events, {} requests, {} distinct, per node {shares:?}",
        sink.count(),
        counts.len()
    );
    assert_eq!(
        shares.iter().sum::<u64>(),
        TWO_NODE_EVENTS as u64,
        "the nodes' success counters add up to the events"
    );
    assert!(
        shares.iter().all(|&share| share > 0),
        "one node sent everything: {shares:?}"
    );
}
