//! Crash safety of the built binary: a create is acknowledged only after its transaction
//! committed. `idgate serve` takes concurrent session creates and is killed with SIGKILL while
//! requests are in flight (the test checks that some were: written, never answered); started
//! again on the same data, every session whose create was answered `200` is there. Losing one
//! would mean a response was sent before its transaction was durable.
//!
//! Runs on SQLite in a temporary data directory and on PostgreSQL (a fresh database on the
//! server of `IDGATE_TEST_DATABASE_URL`). On PostgreSQL the database server itself is also
//! killed mid-load (`pg_ctl stop -m immediate`, no checkpoint, like a power cut), on a private
//! cluster of its own so the other tests keep theirs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{FreshDatabase, Node, postgres_url};

const WRITERS: usize = 16;
/// Kill once this many creates were acknowledged (or after `LOAD_LIMIT`, whichever is first).
const ACKED_BEFORE_KILL: usize = 300;
const LOAD_LIMIT: Duration = Duration::from_secs(20);

/// How one request failed.
#[derive(Debug)]
enum Failure {
    /// No connection, or the request could not be written: the server never saw it.
    NotSent,
    /// The request was written and no complete answer came back: the server died under it.
    Unanswered,
}

/// One HTTP/1.1 request on its own connection; the status and body, or how it failed.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
) -> Result<(u16, String), Failure> {
    let mut stream = TcpStream::connect(addr).map_err(|_| Failure::NotSent)?;
    let body = body.unwrap_or("");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .and_then(|()| {
            write!(
                stream,
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        })
        .map_err(|_| Failure::NotSent)?;
    read_response(&mut stream).map_err(|_| Failure::Unanswered)
}

fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "incomplete response")
    })?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status line"))?;
    Ok((status, body.to_owned()))
}

/// Counts of one crash run.
#[derive(Debug)]
struct Outcome {
    acked: usize,
    present: usize,
    /// Creates written to the server and never answered: in flight at the crash.
    unanswered: usize,
    /// Creates refused with a 5xx while the database was down (PostgreSQL kill only).
    refused: usize,
}

/// What is killed mid-load.
enum Crash<'a> {
    /// `idgate serve`, with SIGKILL.
    Server,
    /// The PostgreSQL server under a running `idgate serve`, with an immediate shutdown; it is
    /// started again and the same `serve` must recover.
    Database(&'a support::PrivatePostgres),
}

/// Loads `serve` with `WRITERS` concurrent creators, crashes what `crash` names mid-load,
/// recovers and looks up every acknowledged session.
fn crash_and_recover(data_dir: &Path, database_url: Option<&str>, crash: Crash<'_>) -> Outcome {
    let server = Node::start(data_dir, database_url, &[]);
    let key = server.key.clone().expect("first start prints a key");
    let addr = server.addr;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    // Set while the database is down: a 5xx is then a refusal, not a bug.
    let database_down = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (acked, unanswered, refused, database_down, stop, key) = (
                acked.clone(),
                unanswered.clone(),
                refused.clone(),
                database_down.clone(),
                stop.clone(),
                key.clone(),
            );
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let body = format!(r#"{{"metadata":{{"writer":"{writer}","n":"{n}"}}}}"#);
                    match http(addr, "POST", "/v1/sessions", &key, Some(&body)) {
                        Ok((200, body)) => {
                            let value: Value = serde_json::from_str(&body).expect("JSON");
                            let id = value["data"]["id"].as_str().expect("id").to_owned();
                            acked.lock().unwrap().push(id);
                        }
                        Ok((status, _))
                            if status >= 500 && database_down.load(Ordering::Relaxed) =>
                        {
                            refused.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Ok((status, body)) => panic!("create answered {status}: {body}"),
                        // The server died under this request: no acknowledgement was given.
                        Err(Failure::Unanswered) => {
                            unanswered.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(Failure::NotSent) => return,
                    }
                }
            })
        })
        .collect();
    let acked_count = || acked.lock().unwrap().len();
    let wait_for_acks = |n: usize| {
        let started = Instant::now();
        while acked_count() < n && started.elapsed() < LOAD_LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for_acks(ACKED_BEFORE_KILL);
    let server = match crash {
        Crash::Server => {
            server.kill();
            stop.store(true, Ordering::Relaxed);
            None
        }
        Crash::Database(postgres) => {
            database_down.store(true, Ordering::Relaxed);
            postgres.kill_immediately();
            // Writes go on against the dead database for a moment, then it comes back and
            // the same `serve` must take acknowledged writes again.
            std::thread::sleep(Duration::from_millis(500));
            postgres.start();
            let before = acked_count();
            wait_for_acks(before + ACKED_BEFORE_KILL / 3);
            assert!(
                acked_count() > before,
                "serve took no write in {LOAD_LIMIT:?} after the database came back"
            );
            stop.store(true, Ordering::Relaxed);
            Some(server)
        }
    };
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        !acked.is_empty(),
        "no create was acknowledged before the crash"
    );

    let server = server.unwrap_or_else(|| {
        let server = Node::start(data_dir, database_url, &[]);
        assert_eq!(
            server.key, None,
            "a restart finds the installation, prints no new key"
        );
        server
    });
    let mut missing = Vec::new();
    for id in &acked {
        let (status, body) = http(
            server.addr,
            "GET",
            &format!("/v1/sessions/{id}"),
            &key,
            None,
        )
        .unwrap_or_else(|e| panic!("GET {id} after the crash: {e:?}"));
        match status {
            200 => assert!(body.contains(id.as_str()), "{body}"),
            404 => missing.push(id.clone()),
            other => panic!("GET {id} answered {other}: {body}"),
        }
    }
    let outcome = Outcome {
        acked: acked.len(),
        present: acked.len() - missing.len(),
        unanswered: unanswered.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
    };
    eprintln!("after the crash: {outcome:?}");
    assert!(
        missing.is_empty(),
        "{} acknowledged sessions lost in the crash: {outcome:?}, first: {:?}",
        missing.len(),
        missing.first()
    );
    outcome
}

#[test]
fn every_acknowledged_create_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let outcome = crash_and_recover(dir.path(), None, Crash::Server);
    assert_eq!(outcome.present, outcome.acked);
    assert!(
        outcome.unanswered > 0,
        "the kill landed between requests, not under one: {outcome:?}"
    );
}

#[test]
fn every_acknowledged_create_survives_sigkill_on_postgres() {
    let Some(base) = postgres_url() else {
        return;
    };
    let database = FreshDatabase::create(&base, "idgate_crash");
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().expect("temporary data directory");
    let outcome = crash_and_recover(dir.path(), Some(&url), Crash::Server);
    assert_eq!(outcome.present, outcome.acked);
    assert!(
        outcome.unanswered > 0,
        "the kill landed between requests, not under one: {outcome:?}"
    );
}

#[test]
fn every_acknowledged_create_survives_an_immediate_postgres_shutdown() {
    let Some(postgres) = support::PrivatePostgres::start_new() else {
        return;
    };
    let database = FreshDatabase::create(&postgres.url(), "idgate_dbcrash");
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().expect("temporary data directory");
    let outcome = crash_and_recover(dir.path(), Some(&url), Crash::Database(&postgres));
    assert_eq!(outcome.present, outcome.acked);
    assert!(
        outcome.refused + outcome.unanswered > 0,
        "no write met the dead database: {outcome:?}"
    );
}
