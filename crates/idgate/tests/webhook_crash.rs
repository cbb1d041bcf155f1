//! Webhook delivery guarantees of the built binary (issue 4, webhooks.md "Delivery guarantees"):
//!
//! - at-least-once across a crash: 1,000 events wait for an encryption key, the key is uploaded
//!   so all become due at once, `idgate serve` is SIGKILLed while sends are in flight and started
//!   again on the same data; every event reaches the receiver, and only sends that were in
//!   flight at the kill may arrive twice. Runs on SQLite, and on a fresh PostgreSQL database
//!   when `IDGATE_TEST_DATABASE_URL` is set.
//! - no duplicate sends between nodes: two `idgate serve` processes share one PostgreSQL
//!   database (and one data directory, so the same server secrets) and deliver 500 events
//!   released at once; each arrives exactly once.
//!
//! The receiver runs in the test on loopback, which is why the server runs with
//! `--allow-private-webhooks`. It checks the Standard Webhooks signature of every delivery and
//! decrypts a sample with the receiver crate.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use idgate_webhook::{Receiver, WebhookSecret};
use support::{Api, CANCELLED, Node, Sink};

/// Events produced (and deliveries released at once) in the crash test.
const CRASH_EVENTS: usize = 1_000;
/// The node is killed once this many deliveries arrived: well into the run, sends in flight.
const KILL_AFTER: usize = 250;
/// Events released at once in the two-node test.
const TWO_NODE_EVENTS: usize = 500;

/// Worker settings for a short run: the shortest lease the server accepts (25 s), so a killed
/// node's claims are free again within seconds rather than the default minute, and a short
/// fallback poll so a second node finds work quickly.
fn worker_env() -> Vec<(&'static str, String)> {
    vec![
        ("IDGATE_WEBHOOK_LEASE_SECS", "25".to_owned()),
        ("IDGATE_WEBHOOK_POLL_INTERVAL_MS", "50".to_owned()),
        ("IDGATE_WEBHOOK_CONCURRENCY", "64".to_owned()),
        ("IDGATE_WEBHOOK_PER_ENDPOINT_CONCURRENCY", "16".to_owned()),
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
    for (n, arrival) in sink.arrivals().iter().enumerate() {
        let (headers, body) = arrival.request.as_ref().expect("the sink keeps requests");
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
    for arrival in sink.arrivals() {
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
    let sink = Sink::start(Duration::from_millis(20), true).await;
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

    let (private, public_pem) = support::receiver_key();
    let released = Instant::now();
    api.add_key(&endpoint, &public_pem).await;
    assert!(
        sink.wait_for_count(KILL_AFTER, Duration::from_secs(60))
            .await,
        "only {} of {CRASH_EVENTS} deliveries arrived within 60 s of uploading the key",
        sink.count()
    );
    node.kill();
    let killed = Instant::now();
    let at_kill = sink.count();
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
    let url = support::fresh_postgres_database(&base, "idgate_whcrash");
    let dir = tempfile::tempdir().expect("temporary data directory");
    crash_mid_send_and_recover(dir.path(), Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_database_deliver_each_event_exactly_once() {
    let Some(base) = support::postgres_url() else {
        return;
    };
    let url = support::fresh_postgres_database(&base, "idgate_whtwo");
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
    let sink = Sink::start(Duration::from_millis(2), true).await;
    let (endpoint, secret) = api.create_endpoint(&sink.url).await;
    api.cancelled_sessions(TWO_NODE_EVENTS, 16, |_| {}).await;
    let events = api_second.cancelled_event_ids().await;
    assert_eq!(events.len(), TWO_NODE_EVENTS);
    assert_eq!(sink.count(), 0, "nothing is sent without a key");

    let (private, public_pem) = support::receiver_key();
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
}
