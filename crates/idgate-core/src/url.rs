//! Absolute `http(s)` URLs that integrators hand us: session redirect URLs (docs/api.md "Create")
//! and webhook endpoint URLs (docs/webhooks.md "SSRF guard"). Both are stored and later followed by
//! a browser or by our own client, so both get the same syntactic checks here; each caller then
//! applies its own policy (which schemes, fragments, loopback hosts).
//!
//! This is a deliberately strict subset of RFC 3986: printable ASCII only (other characters must
//! be percent-encoded), no user info, a DNS name or IP literal as host, an optional numeric port.
//!
//! One parser decides what a URL means: the WHATWG URL Standard's, from the `url` crate, which is
//! also the parser the delivery client (reqwest) connects with. The strict checks above only
//! refuse; the scheme and host that policies judge are the ones `url` reports. A second,
//! hand-written reading of the host would disagree with the client exactly where it matters:
//! `https://0x7f.1/` and `https://2130706433/` are DNS names to a label check but 127.0.0.1 to
//! the client. The webhook sender's SSRF guard judges the parsed host of this same function.

use std::net::Ipv6Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// The parts of a valid URL that policies look at, and the parsed URL itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: Scheme,
    /// As the URL Standard serializes it: lower-cased, IPv4 in dotted decimal whatever its
    /// spelling (`0x7f.1` is `127.0.0.1`), IPv6 literals in brackets.
    pub host: String,
    pub has_fragment: bool,
    url: url::Url,
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
        // The meaning comes from the URL Standard's parser (see the module docs); names such as
        // `999.1.1.1` that it reads as a malformed IPv4 address are refused here.
        let parsed = url::Url::parse(url).map_err(|_| UrlProblem::MalformedHost)?;
        let host = match parsed.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(UrlProblem::MalformedHost),
        };
        Ok(Self {
            scheme,
            host,
            has_fragment: parsed.fragment().is_some(),
            url: parsed,
        })
    }

    /// The host as the URL Standard parsed it: the name or address a client connects to.
    pub fn host(&self) -> Option<url::Host<&str>> {
        self.url.host()
    }

    /// The parsed URL, for the HTTP client.
    pub fn as_url(&self) -> &url::Url {
        &self.url
    }

    pub fn into_url(self) -> url::Url {
        self.url
    }

    /// `localhost`, `*.localhost` (RFC 6761 §6.3, with or without the root's trailing dot) or a
    /// loopback IP address in any spelling the URL Standard accepts.
    pub fn is_loopback(&self) -> bool {
        match self.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                name == "localhost" || name.ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
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
/// real service names) of at most 63 characters each, 253 in all (RFC 1035 §2.3.4), optionally
/// ending in the root's dot (`example.com.`, the absolute form RFC 1034 §3.1 allows).
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    let host = host.strip_suffix('.').unwrap_or(host);
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

    /// These spellings passed the label check as DNS names, while the delivery client's parser
    /// (the URL Standard's) connects to 127.0.0.1: the host judged must be the host reached.
    #[test]
    fn numeric_hosts_are_judged_as_the_address_the_client_connects_to() {
        for url in [
            "https://0x7f.1/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://127.1/",
        ] {
            let parsed = parse(url).unwrap();
            assert_eq!(parsed.host, "127.0.0.1", "{url}");
            assert!(parsed.is_loopback(), "{url}");
        }
    }

    #[test]
    fn an_absolute_name_with_the_root_dot_is_the_same_host() {
        let parsed = parse("https://LOCALHOST./hook").unwrap();
        assert!(parsed.is_loopback());
        assert_eq!(
            parse("https://hooks.example.com./").unwrap().host,
            "hooks.example.com."
        );
    }

    #[test]
    fn a_name_the_url_standard_reads_as_a_bad_ipv4_address_is_malformed() {
        assert_eq!(parse("https://999.1.1.1/"), Err(UrlProblem::MalformedHost));
    }
}
