//! Crash safety of the built binary (issue 2, "How it is checked"): `idgate serve` takes
//! concurrent session creates, is killed with SIGKILL in the middle of the load, is started
//! again on the same data, and every session whose create was answered `200` is there.
//! A `200` is an acknowledgement to the integrator; losing an acknowledged session would mean a
//! response was sent before its transaction was durable.
//!
//! Runs on SQLite in a temporary data directory, and on PostgreSQL (a fresh database on the
//! server of `IDGATE_TEST_DATABASE_URL`) when that variable is set.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Node, fresh_postgres_database, postgres_url};

const WRITERS: usize = 16;
/// Kill once this many creates were acknowledged (or after `LOAD_LIMIT`, whichever is first).
const ACKED_BEFORE_KILL: usize = 300;
const LOAD_LIMIT: Duration = Duration::from_secs(20);

/// One HTTP/1.1 request on its own connection; the status and body, or the transport error.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
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
    unanswered: usize,
}

/// Loads `serve` with `WRITERS` concurrent creators, SIGKILLs it mid-load, restarts it on the
/// same data and looks up every acknowledged session.
fn crash_and_recover(data_dir: &Path, database_url: Option<&str>) -> Outcome {
    let server = Node::start(data_dir, database_url, &[]);
    let key = server.key.clone().expect("first start prints a key");
    let addr = server.addr;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (acked, unanswered, stop, key) =
                (acked.clone(), unanswered.clone(), stop.clone(), key.clone());
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
                        Ok((status, body)) => panic!("create answered {status}: {body}"),
                        // The server died under this request: no acknowledgement was given.
                        Err(_) => {
                            unanswered.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL && started.elapsed() < LOAD_LIMIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        !acked.is_empty(),
        "no create was acknowledged before the kill"
    );

    let server = Node::start(data_dir, database_url, &[]);
    assert_eq!(
        server.key, None,
        "a restart finds the installation, prints no new key"
    );
    let mut missing = Vec::new();
    for id in &acked {
        let (status, body) = http(
            server.addr,
            "GET",
            &format!("/v1/sessions/{id}"),
            &key,
            None,
        )
        .expect("GET after restart");
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
    };
    eprintln!(
        "acked {}, present after restart {}, unanswered at the kill {}",
        outcome.acked, outcome.present, outcome.unanswered
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged sessions lost after SIGKILL: {outcome:?}, first: {:?}",
        missing.len(),
        missing.first()
    );
    outcome
}

#[test]
fn every_acknowledged_create_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let outcome = crash_and_recover(dir.path(), None);
    assert_eq!(outcome.present, outcome.acked);
}

#[test]
fn every_acknowledged_create_survives_sigkill_on_postgres() {
    let Some(base) = postgres_url() else {
        return;
    };
    let url = fresh_postgres_database(&base, "idgate_crash");
    let dir = tempfile::tempdir().expect("temporary data directory");
    let outcome = crash_and_recover(dir.path(), Some(&url));
    assert_eq!(outcome.present, outcome.acked);
}
