#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::IpAddr;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The destinations the brief names, each refused in production and allowed by the switch.
const INTERNAL: &[(&str, BlockReason)] = &[
    ("127.0.0.1", BlockReason::Loopback),
    ("127.255.0.7", BlockReason::Loopback),
    ("::1", BlockReason::Loopback),
    ("10.0.0.1", BlockReason::Private),
    ("10.255.255.255", BlockReason::Private),
    ("172.16.0.1", BlockReason::Private),
    ("172.31.255.254", BlockReason::Private),
    ("192.168.1.1", BlockReason::Private),
    ("100.64.0.1", BlockReason::SharedAddressSpace),
    ("100.127.255.254", BlockReason::SharedAddressSpace),
    ("169.254.169.254", BlockReason::LinkLocal),
    ("169.254.0.1", BlockReason::LinkLocal),
    ("fe80::1", BlockReason::LinkLocal),
    ("fd00::1", BlockReason::UniqueLocal),
    ("fc00::1", BlockReason::UniqueLocal),
    ("fd12:3456:789a::1", BlockReason::UniqueLocal),
    ("fec0::1", BlockReason::Private),
    ("::ffff:127.0.0.1", BlockReason::Loopback),
    ("::ffff:10.0.0.1", BlockReason::Private),
    ("::ffff:169.254.169.254", BlockReason::LinkLocal),
    ("::127.0.0.1", BlockReason::Loopback),
    ("64:ff9b::a9fe:a9fe", BlockReason::LinkLocal),
    ("64:ff9b::7f00:1", BlockReason::Loopback),
    ("2002:7f00:1::", BlockReason::Loopback),
    ("2002:c0a8:101::1", BlockReason::Private),
    ("64:ff9b:1::1", BlockReason::Reserved),
    ("192.0.2.1", BlockReason::Documentation),
    ("198.51.100.7", BlockReason::Documentation),
    ("203.0.113.9", BlockReason::Documentation),
    ("2001:db8::1", BlockReason::Documentation),
    ("198.18.0.1", BlockReason::Benchmarking),
    ("2001:2::1", BlockReason::Benchmarking),
    ("2001::1", BlockReason::Reserved),
    ("0.1.2.3", BlockReason::Reserved),
    ("192.0.0.8", BlockReason::Reserved),
    ("240.0.0.1", BlockReason::Reserved),
    ("100::1", BlockReason::Reserved),
    ("4000::1", BlockReason::Reserved),
];

const NONSENSE: &[(&str, BlockReason)] = &[
    ("0.0.0.0", BlockReason::Unspecified),
    ("::", BlockReason::Unspecified),
    ("::ffff:0.0.0.0", BlockReason::Unspecified),
    ("255.255.255.255", BlockReason::Broadcast),
    ("224.0.0.1", BlockReason::Multicast),
    ("239.255.255.250", BlockReason::Multicast),
    ("ff02::1", BlockReason::Multicast),
    ("::ffff:224.0.0.1", BlockReason::Multicast),
];

const PUBLIC: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
];

#[test]
fn internal_addresses_are_classified_by_their_range() {
    for (text, reason) in INTERNAL.iter().chain(NONSENSE) {
        assert_eq!(classify(ip(text)), Some(*reason), "{text}");
    }
}

#[test]
fn public_addresses_are_not_classified() {
    for text in PUBLIC {
        assert_eq!(classify(ip(text)), None, "{text}");
    }
}

#[test]
fn internal_addresses_are_refused_without_the_switch() {
    for (text, reason) in INTERNAL {
        assert_eq!(
            SsrfPolicy::STRICT.check_ip(ip(text)),
            Err(SsrfError::Blocked(*reason)),
            "{text}"
        );
    }
}

#[test]
fn internal_addresses_are_allowed_with_the_switch() {
    for (text, _) in INTERNAL {
        assert_eq!(SsrfPolicy::PERMISSIVE.check_ip(ip(text)), Ok(()), "{text}");
    }
}

#[test]
fn unspecified_multicast_and_broadcast_are_refused_even_with_the_switch() {
    for (text, reason) in NONSENSE {
        assert_eq!(
            SsrfPolicy::PERMISSIVE.check_ip(ip(text)),
            Err(SsrfError::Blocked(*reason)),
            "{text}"
        );
    }
}

#[test]
fn url_must_be_https_unless_the_switch_allows_http() {
    assert!(
        SsrfPolicy::STRICT
            .check_url("https://hooks.example.com/idgate")
            .is_ok()
    );
    assert_eq!(
        SsrfPolicy::STRICT.check_url("http://hooks.example.com/"),
        Err(SsrfError::SchemeNotAllowed("http".into()))
    );
    let dev = SsrfPolicy {
        allow_http: true,
        allow_private: false,
    };
    assert!(dev.check_url("http://hooks.example.com/").is_ok());
    assert_eq!(
        dev.check_url("ftp://hooks.example.com/"),
        Err(SsrfError::SchemeNotAllowed("ftp".into()))
    );
    assert_eq!(
        dev.check_url("file:///etc/passwd"),
        Err(SsrfError::SchemeNotAllowed("file".into()))
    );
}

#[test]
fn url_with_credentials_is_refused() {
    assert_eq!(
        SsrfPolicy::STRICT.check_url("https://user:pw@example.com/"),
        Err(SsrfError::CredentialsInUrl)
    );
    assert_eq!(
        SsrfPolicy::STRICT.check_url("https://user@example.com/"),
        Err(SsrfError::CredentialsInUrl)
    );
}

#[test]
fn url_with_an_explicit_port_is_allowed() {
    let url = SsrfPolicy::STRICT
        .check_url("https://example.com:8443/hook?x=1")
        .unwrap();
    assert_eq!(url.port(), Some(8443));
}

#[test]
fn url_with_a_literal_internal_address_is_refused_in_any_spelling() {
    for url in [
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://10.1/",
    ] {
        assert!(
            matches!(
                SsrfPolicy::STRICT.check_url(url),
                Err(SsrfError::Blocked(_))
            ),
            "{url} accepted"
        );
        assert!(
            SsrfPolicy::PERMISSIVE.check_url(url).is_ok(),
            "{url} refused with the switch"
        );
    }
}

#[test]
fn url_naming_localhost_is_refused_without_the_switch() {
    for url in [
        "https://localhost/",
        "https://LOCALHOST./",
        "https://api.localhost:8443/",
    ] {
        assert_eq!(
            SsrfPolicy::STRICT.check_url(url),
            Err(SsrfError::Blocked(BlockReason::Loopback)),
            "{url}"
        );
    }
    assert!(
        SsrfPolicy::PERMISSIVE
            .check_url("http://localhost:8080/")
            .is_ok()
    );
}

#[test]
fn url_that_is_not_a_url_is_refused() {
    assert_eq!(
        SsrfPolicy::STRICT.check_url("not a url"),
        Err(SsrfError::InvalidUrl)
    );
    assert_eq!(
        SsrfPolicy::STRICT.check_url(&"https://a.example/".repeat(200)),
        Err(SsrfError::UrlTooLong)
    );
}

#[tokio::test]
async fn resolver_refuses_a_name_that_resolves_to_loopback() {
    let err = GuardedResolver::new(SsrfPolicy::STRICT)
        .lookup("localhost")
        .await
        .unwrap_err();
    assert_eq!(err, SsrfError::Blocked(BlockReason::Loopback));
}

#[tokio::test]
async fn resolver_allows_a_name_that_resolves_to_loopback_with_the_switch() {
    let addrs = GuardedResolver::new(SsrfPolicy::PERMISSIVE)
        .lookup("localhost")
        .await
        .unwrap();
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
}

#[test]
fn resolver_keeps_only_the_allowed_addresses_of_a_mixed_answer() {
    let addrs = ["127.0.0.1:0", "93.184.215.14:0", "[fd00::1]:0"].map(|a| a.parse().unwrap());
    let kept = GuardedResolver::new(SsrfPolicy::STRICT)
        .filter(addrs)
        .unwrap();
    assert_eq!(kept, vec!["93.184.215.14:0".parse().unwrap()]);
}

#[tokio::test]
async fn client_refuses_to_connect_to_a_name_resolving_to_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = SsrfPolicy {
        allow_http: true,
        allow_private: false,
    };
    let client = build_client(policy, "idgate-test").unwrap();
    let err = client
        .post(format!("http://localhost:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        blocked_reason(&err),
        Some(&SsrfError::Blocked(BlockReason::Loopback)),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_does_not_follow_redirects() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        let answer = "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    let client = build_client(SsrfPolicy::PERMISSIVE, "idgate-test").unwrap();
    let response = client
        .post(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 307);
}

/// Saving (idgate-core's endpoint validation) and sending (this guard) read a URL with the same
/// parser, so with the operator switch on (nothing refused for its address) they accept and
/// refuse exactly the same URLs. Before, `https://LOCALHOST./` was malformed when saved but
/// `localhost` when sent, and `https://0x7f.1/` a DNS name when saved but 127.0.0.1 when sent.
#[test]
fn saving_and_sending_accept_the_same_urls() {
    for url in [
        "https://hooks.example.com/idgate",
        "https://hooks.example.com./idgate",
        "https://LOCALHOST./",
        "https://0x7f.1/",
        "https://2130706433/",
        "https://999.1.1.1/",
        "https://a..example/",
        "https://example.com\\@127.0.0.1/",
        "https://127.0.0.1\\.example.com/",
        "https://%31%32%37.0.0.1/",
        "https:/example.com/",
        "https://example.com:0/",
        "https://[::ffff:7f00:1]/",
        "https://a.example/#fragment",
        "http://hooks.example.com/",
    ] {
        let saved = idgate_core::webhook::validate_webhook_url(url, true).is_ok();
        let sent = SsrfPolicy::PERMISSIVE.check_url(url).is_ok();
        assert_eq!(saved, sent, "{url}: saved {saved}, sent {sent}");
    }
}
