//! Absolute `http(s)` URLs that integrators hand us: session redirect URLs (api.md "Sessions")
//! and webhook endpoint URLs (webhooks.md "Security"). Both are stored and later followed by a
//! browser or by our own client, so both get the same syntactic checks here; each caller then
//! applies its own policy (which schemes, fragments, loopback hosts).
//!
//! This is a deliberately strict subset of RFC 3986: printable ASCII only (other characters must
//! be percent-encoded), no user info, a DNS name or IP literal as host, an optional numeric port.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// The parts of a valid URL that policies look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: Scheme,
    /// Lower-cased; IPv6 literals keep their brackets.
    pub host: String,
    pub has_fragment: bool,
}

/// Why a URL was refused; [`UrlProblem::reason`] completes "Invalid `<field>`: …".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlProblem {
    Empty,
    TooLong { max: usize },
    NotPrintableAscii,
    NotHttp,
    Credentials,
    MalformedHost,
    InvalidPort,
}

impl UrlProblem {
    pub fn reason(self) -> String {
        match self {
            Self::Empty => "must not be empty".into(),
            Self::TooLong { max } => format!("must be at most {max} characters"),
            Self::NotPrintableAscii => {
                "must be printable ASCII without spaces (percent-encode other characters)".into()
            }
            Self::NotHttp => "must be an absolute https:// URL".into(),
            Self::Credentials => "must not contain credentials (user:password@)".into(),
            Self::MalformedHost => "has a malformed host".into(),
            Self::InvalidPort => "has an invalid port".into(),
        }
    }
}

impl HttpUrl {
    /// Parses `url` of at most `max_len` bytes.
    pub fn parse(url: &str, max_len: usize) -> Result<Self, UrlProblem> {
        if url.is_empty() {
            return Err(UrlProblem::Empty);
        }
        if url.len() > max_len {
            return Err(UrlProblem::TooLong { max: max_len });
        }
        if !url.is_ascii() || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlProblem::NotPrintableAscii);
        }
        let lower = url.to_ascii_lowercase();
        let (scheme, rest) = if let Some(rest) = lower.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = lower.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(UrlProblem::NotHttp);
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest.get(..authority_end).unwrap_or_default();
        if authority.contains('@') {
            return Err(UrlProblem::Credentials);
        }
        let (host, port) = split_host_port(authority).ok_or(UrlProblem::MalformedHost)?;
        if let Some(port) = port
            && (port.is_empty()
                || port.len() > 5
                || !port.bytes().all(|b| b.is_ascii_digit())
                || port.parse::<u32>().map_or(true, |p| p == 0 || p > 65_535))
        {
            return Err(UrlProblem::InvalidPort);
        }
        if !valid_host(host) {
            return Err(UrlProblem::MalformedHost);
        }
        Ok(Self {
            scheme,
            host: host.to_owned(),
            has_fragment: rest.contains('#'),
        })
    }

    /// `localhost`, `*.localhost` (RFC 6761 §6.3) or a loopback IP literal.
    pub fn is_loopback(&self) -> bool {
        let host = self.host.as_str();
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return inner.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
        }
        host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }
}

fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = authority.get(..=close)?;
        let after = authority.get(close + 1..)?;
        match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => Some((host, Some(port))),
            None => Some((authority, None)),
        }
    }
}

/// An IPv6 literal in brackets, or dot-separated labels of letters, digits, `-` and `_` (seen in
/// real service names) of at most 63 characters each, 253 in all (RFC 1035 §2.3.4).
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<HttpUrl, UrlProblem> {
        HttpUrl::parse(url, 2048)
    }

    #[test]
    fn scheme_host_and_fragment_are_reported() {
        let url = parse("HTTPS://Example.COM:8443/a?b#c").unwrap();
        assert_eq!(url.scheme, Scheme::Https);
        assert_eq!(url.host, "example.com");
        assert!(url.has_fragment);
        assert_eq!(parse("http://[::1]/").unwrap().host, "[::1]");
    }

    #[test]
    fn each_problem_is_named() {
        for (url, problem) in [
            ("", UrlProblem::Empty),
            ("https://a.example/\u{e9}", UrlProblem::NotPrintableAscii),
            ("https://a b.example/", UrlProblem::NotPrintableAscii),
            ("ftp://a.example/", UrlProblem::NotHttp),
            ("//a.example/", UrlProblem::NotHttp),
            ("https://u:p@a.example/", UrlProblem::Credentials),
            ("https://-a.example/", UrlProblem::MalformedHost),
            ("https://a..example/", UrlProblem::MalformedHost),
            ("https://[::1/", UrlProblem::MalformedHost),
            ("https://[::1]x/", UrlProblem::MalformedHost),
            ("https://a.example:0/", UrlProblem::InvalidPort),
            ("https://a.example:65536/", UrlProblem::InvalidPort),
            ("https://a.example:/", UrlProblem::InvalidPort),
        ] {
            assert_eq!(parse(url), Err(problem), "{url}");
        }
        assert_eq!(
            HttpUrl::parse("https://a.example/x", 10),
            Err(UrlProblem::TooLong { max: 10 })
        );
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for url in [
            "http://localhost:3000/",
            "http://app.localhost/",
            "http://127.0.0.1/",
            "http://127.1.2.3/",
            "http://[::1]/",
        ] {
            assert!(parse(url).unwrap().is_loopback(), "{url}");
        }
        for url in [
            "http://localhost.example/",
            "http://10.0.0.1/",
            "http://[::2]/",
        ] {
            assert!(!parse(url).unwrap().is_loopback(), "{url}");
        }
    }
}
