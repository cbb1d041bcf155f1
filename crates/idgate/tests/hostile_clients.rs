//! The built `idgate serve` against hostile clients (issue 17): hundreds of connections that
//! stall their request head or trickle their body are answered `408` and closed at the
//! configured deadlines while a normal client is served; idle keep-alive connections are closed;
//! connections past `max_connections` get `503` at once. Deadlines are shortened through the
//! `IDGATE_*` configuration so the tests take seconds; the bounds checked are wide on purpose
//! (this is a behaviour test on a shared machine, not a benchmark).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The short deadline the tests configure for the limit under test.
const DEADLINE: Duration = Duration::from_millis(3000);
/// How late after its deadline a connection may still be closed: generous, since the machine
/// running the tests may be busy.
const SLACK: Duration = Duration::from_secs(8);

fn ms(duration: Duration) -> String {
    duration.as_millis().to_string()
}

fn start(env: &[(&str, String)]) -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().expect("data directory");
    let node = Node::start(dir.path(), None, env);
    (dir, node)
}

/// What a connection received until the server closed it, and when it was closed.
struct Closed {
    received: String,
    after: Duration,
}

/// Reads until the server closes the connection (end of stream or reset), at most `limit`.
async fn read_until_closed(stream: &mut TcpStream, opened: Instant, limit: Duration) -> Closed {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let outcome = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the server kept the connection open for more than {limit:?}"
    );
    Closed {
        received: String::from_utf8_lossy(&received).into_owned(),
        after: opened.elapsed(),
    }
}

/// One keep-alive request and its response, read up to the end of its declared body (or what
/// arrived before the server closed the connection).
async fn request(stream: &mut TcpStream, path: &str) -> String {
    let head = format!("GET {path} HTTP/1.1\r\nhost: idgate\r\n\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) if n > 0 => n,
            _ => return String::from_utf8_lossy(&received).into_owned(),
        };
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|value| value.trim().parse::<usize>().ok())
                .expect("content-length");
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

async fn healthz_is_served(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    request(&mut stream, "/healthz")
        .await
        .starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn stalled_request_heads_get_408_and_are_closed_at_the_header_deadline() {
    let (_dir, node) = start(&[("IDGATE_HEADER_READ_TIMEOUT_MS", ms(DEADLINE))]);
    let addr = node.addr;
    let mut stalled = JoinSet::new();
    for _ in 0..300 {
        stalled.spawn(async move {
            let opened = Instant::now();
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: idgate\r\nx-stall: ")
                .await
                .expect("half a head");
            read_until_closed(&mut stream, opened, DEADLINE + SLACK).await
        });
    }
    // A normal client is served while all of them are still waiting on their deadline.
    let started = Instant::now();
    assert!(healthz_is_served(addr).await);
    assert!(
        started.elapsed() < DEADLINE,
        "a normal request waited behind stalled ones"
    );
    while let Some(closed) = stalled.join_next().await {
        let closed = closed.expect("stalled client");
        assert!(closed.after >= DEADLINE, "closed early: {:?}", closed.after);
        assert!(
            closed.received.starts_with("HTTP/1.1 408"),
            "got {:?}",
            closed.received
        );
        assert!(closed.received.contains("\"code\":\"REQUEST_TIMEOUT\""));
    }
}

#[tokio::test]
async fn trickled_bodies_get_408_and_are_closed_at_the_body_deadline() {
    let (_dir, node) = start(&[("IDGATE_REQUEST_BODY_TIMEOUT_MS", ms(DEADLINE))]);
    let addr = node.addr;
    let mut trickling = JoinSet::new();
    for _ in 0..50 {
        trickling.spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connect");
            let (mut reader, mut writer) = stream.into_split();
            writer
                .write_all(
                    b"POST /v1/sessions HTTP/1.1\r\nhost: idgate\r\ncontent-type: application/json\r\ncontent-length: 60000\r\n\r\n",
                )
                .await
                .expect("head");
            let head_sent = Instant::now();
            let trickle = tokio::spawn(async move {
                loop {
                    if writer.write_all(b" ").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let mut received = Vec::new();
            let outcome = tokio::time::timeout(
                DEADLINE + SLACK,
                reader.read_to_end(&mut received),
            )
            .await;
            trickle.abort();
            assert!(outcome.is_ok(), "the trickling connection was kept open");
            (String::from_utf8_lossy(&received).into_owned(), head_sent.elapsed())
        });
    }
    let started = Instant::now();
    assert!(healthz_is_served(addr).await);
    assert!(
        started.elapsed() < DEADLINE,
        "a normal request waited behind trickling ones"
    );
    while let Some(result) = trickling.join_next().await {
        let (received, after) = result.expect("trickling client");
        assert!(after >= DEADLINE, "closed early: {after:?}");
        assert!(received.starts_with("HTTP/1.1 408"), "got {received:?}");
        assert!(received.contains("\"code\":\"REQUEST_TIMEOUT\""));
        assert!(received.to_ascii_lowercase().contains("connection: close"));
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_keep_alive_timeout() {
    let (_dir, node) = start(&[("IDGATE_KEEP_ALIVE_TIMEOUT_MS", ms(DEADLINE))]);
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    assert!(
        request(&mut stream, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let idle_from = Instant::now();
    let closed = read_until_closed(&mut stream, idle_from, DEADLINE + SLACK).await;
    assert!(closed.after >= DEADLINE, "closed early: {:?}", closed.after);
    assert_eq!(
        closed.received, "",
        "an idle connection is closed without an answer"
    );
}

#[tokio::test]
async fn connections_over_the_bound_get_503_overloaded_and_are_closed() {
    let (_dir, node) = start(&[("IDGATE_MAX_CONNECTIONS", "20".to_owned())]);
    // Twenty keep-alive connections, each known to be accepted: it has been answered.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(node.addr).await.expect("connect");
        assert!(
            request(&mut stream, "/healthz")
                .await
                .starts_with("HTTP/1.1 200")
        );
        held.push(stream);
    }
    for _ in 0..10 {
        let opened = Instant::now();
        let mut extra = TcpStream::connect(node.addr).await.expect("connect");
        let _ = extra
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: idgate\r\n\r\n")
            .await;
        let closed = read_until_closed(&mut extra, opened, SLACK).await;
        assert!(
            closed.received.starts_with("HTTP/1.1 503"),
            "got {:?}",
            closed.received
        );
        assert!(closed.received.contains("retry-after: 1"));
        assert!(closed.received.contains("\"code\":\"OVERLOADED\""));
    }
    // Closing a held connection frees its place for a new client.
    drop(held.pop());
    let served = async {
        loop {
            if healthz_is_served(node.addr).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(tokio::time::timeout(SLACK, served).await.is_ok());
}

#[tokio::test]
async fn a_client_that_stops_reading_its_responses_is_closed_after_the_keep_alive_timeout() {
    let (_dir, node) = start(&[("IDGATE_KEEP_ALIVE_TIMEOUT_MS", ms(DEADLINE))]);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(node.addr).await.expect("connect");
    // Ten pipelined requests for the 1.5 MB Swagger UI bundle: more than the kernel's socket
    // buffers hold (4 MiB at most for the server's send buffer), so writing them blocks on a
    // client that does not read.
    const REQUESTS: usize = 10;
    let request = "GET /docs/swagger-ui-bundle.js HTTP/1.1\r\nhost: idgate\r\n\r\n";
    stream
        .write_all(request.repeat(REQUESTS).as_bytes())
        .await
        .expect("requests");
    tokio::time::sleep(DEADLINE + Duration::from_secs(2)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(SLACK, async {
        let mut chunk = [0u8; 65536];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was kept open");
    let text = String::from_utf8_lossy(&received);
    let (head, _) = text
        .split_once("\r\n\r\n")
        .expect("a response head arrived");
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|value| value.trim().parse().ok())
        .expect("content-length");
    assert!(
        received.len() < REQUESTS * length,
        "all {REQUESTS} responses were written to a client that did not read"
    );
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_is_still_answered() {
    let (_dir, node) = start(&[]);
    let key = node.key.clone().expect("first start prints a key");
    let body = br#"{"share_fields":{"age_over_18":{"required":true,"reason":"Age check."}}}"#;
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nhost: idgate\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(&body[..10])
        .await
        .expect("part of the body");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &node.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(terminated.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(&body[10..])
        .await
        .expect("rest of the body");
    let closed = read_until_closed(&mut stream, Instant::now(), SLACK).await;
    assert!(
        closed.received.starts_with("HTTP/1.1 200"),
        "got {:?}",
        closed.received
    );
    // The draining server no longer accepts connections.
    assert!(TcpStream::connect(node.addr).await.is_err());
}

/// Reads one response from `stream`, keeping what follows it in `pending`: its head and body
/// (framed by `content-length`, as every response here is).
async fn next_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> (String, String) {
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|value| value.trim().parse().ok())
                .expect("content-length");
            while pending.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "the connection closed inside a response");
                pending.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&pending[end + 4..end + 4 + length]).into_owned();
            pending.drain(..end + 4 + length);
            return (head, body);
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed before a response");
        pending.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_request_that_waited_in_the_server_longer_than_the_queue_timeout_gets_503_overloaded() {
    const QUEUE_TIMEOUT: Duration = Duration::from_millis(500);
    let (_dir, node) = start(&[("IDGATE_REQUEST_QUEUE_TIMEOUT_MS", ms(QUEUE_TIMEOUT))]);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(node.addr).await.expect("connect");
    // Pipelined in one write, so the server reads every request at once: ten requests for the
    // 1.5 MB Swagger UI bundle (more than the socket buffers hold while the client does not
    // read) and one for the OpenAPI document, which the server gets to only once the bundles
    // are written, i.e. after the client starts reading. By then it has waited in the server
    // four times the queue timeout: answering it would be answering late. No slot is ever
    // taken by anyone else: only its age can get it shed.
    const BUNDLES: usize = 10;
    let bundle = "GET /docs/swagger-ui-bundle.js HTTP/1.1\r\nhost: idgate\r\n\r\n";
    let last = "GET /openapi.json HTTP/1.1\r\nhost: idgate\r\n\r\n";
    stream
        .write_all((bundle.repeat(BUNDLES) + last).as_bytes())
        .await
        .expect("requests");
    tokio::time::sleep(QUEUE_TIMEOUT * 4).await;
    let mut pending = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..=BUNDLES {
        let answer = tokio::time::timeout(SLACK, next_response(&mut stream, &mut pending))
            .await
            .expect("an answer to each request");
        answers.push(answer);
    }
    let (first, _) = &answers[0];
    assert!(first.starts_with("HTTP/1.1 200"), "got {first:?}");
    let (head, body) = &answers[BUNDLES];
    assert!(head.starts_with("HTTP/1.1 503"), "got {head:?}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"));
    assert!(body.contains("\"code\":\"OVERLOADED\""), "got {body}");
}
