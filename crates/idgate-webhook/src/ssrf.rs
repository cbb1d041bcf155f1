//! The SSRF guard for delivery (docs/webhooks.md "SSRF guard"): which URLs may be registered and
//! which addresses may be connected to, plus the HTTP client that enforces it at connect time.
//!
//! Owns three checks that together close the usual holes:
//! - the URL: `https` only, no credentials, literal IP hosts classified up front (the resolver
//!   is never consulted for them);
//! - every address a name resolves to, inside the client's own DNS resolver, so the address
//!   checked is the address connected to (no DNS-rebinding window between check and connect);
//! - the client: no redirects, no proxies from the environment, bounded timeouts.
//!
//! Ranges follow the IANA special-purpose registries (RFC 6890 and updates): IPv4 in
//! [`classify_v4`], IPv6 in [`classify_v6`], where an IPv6 address that embeds an IPv4 one
//! (mapped, compatible, 6to4, NAT64) is judged by the IPv4 address it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Connect timeout (docs/webhooks.md "SSRF guard": 5 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout (docs/webhooks.md "SSRF guard": 15 s).
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest endpoint URL accepted: the domain's limit, the same when saving and sending.
pub const MAX_URL_LEN: usize = idgate_core::webhook::MAX_WEBHOOK_URL_LEN;

/// Why an address is not a public unicast destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockReason {
    Unspecified,
    Loopback,
    /// RFC 1918 (and deprecated IPv6 site-local fec0::/10).
    Private,
    /// RFC 6598 carrier-grade NAT, 100.64.0.0/10.
    SharedAddressSpace,
    /// 169.254.0.0/16 (home of the cloud metadata service 169.254.169.254) and fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    Multicast,
    Broadcast,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// Everything else that is not ordinary global unicast (0/8, 192.0.0/24, 240/4, 2001::/23,
    /// Teredo, local-use NAT64, discard-only, unassigned IPv6 space).
    Reserved,
}

impl BlockReason {
    /// Destinations no operator switch can make sensible for an HTTP POST.
    pub fn always_refused(self) -> bool {
        matches!(self, Self::Unspecified | Self::Multicast | Self::Broadcast)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedAddressSpace => "shared_address_space",
            Self::LinkLocal => "link_local",
            Self::UniqueLocal => "unique_local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URL or destination was refused, or the client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("URL is not valid")]
    InvalidUrl,
    #[error("URL is longer than {MAX_URL_LEN} characters")]
    UrlTooLong,
    #[error("URL scheme `{0}` is not allowed (https only)")]
    SchemeNotAllowed(String),
    #[error("URL must not contain a user name or password")]
    CredentialsInUrl,
    #[error("URL has no host")]
    NoHost,
    #[error("destination address is {0}, which is not allowed")]
    Blocked(BlockReason),
    #[error("host name did not resolve: {0}")]
    Resolve(String),
    #[error("HTTP client could not be built: {0}")]
    Client(String),
}

/// The operator's switches. Both are off in production; tests and local development turn
/// them on to deliver to `http://127.0.0.1:…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SsrfPolicy {
    /// Permit loopback, private, link-local, unique-local, CGNAT, documentation, benchmarking
    /// and reserved destinations (never unspecified, multicast or broadcast).
    pub allow_private: bool,
    /// Permit plain `http` URLs.
    pub allow_http: bool,
}

impl SsrfPolicy {
    /// Production: https to public addresses only.
    pub const STRICT: Self = Self {
        allow_private: false,
        allow_http: false,
    };
    /// Local development and tests: anything but nonsense destinations.
    pub const PERMISSIVE: Self = Self {
        allow_private: true,
        allow_http: true,
    };

    /// Whether a connection to `ip` is allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfError> {
        match classify(ip) {
            None => Ok(()),
            Some(reason) if self.allow_private && !reason.always_refused() => Ok(()),
            Some(reason) => Err(SsrfError::Blocked(reason)),
        }
    }

    /// Checks an endpoint URL before each send. It is parsed by the same function that
    /// accepted it when the endpoint was saved (`idgate_core::webhook::parse_webhook_url`), so
    /// the two cannot read it differently; the host judged here is the host the client
    /// connects to. Literal IP hosts are classified here; names are checked by
    /// [`GuardedResolver`] when connecting.
    pub fn check_url(&self, text: &str) -> Result<url::Url, SsrfError> {
        use idgate_core::url::UrlProblem;
        use idgate_core::webhook::{WebhookUrlError, parse_webhook_url};
        let parsed = parse_webhook_url(text, self.allow_http).map_err(|e| match e {
            WebhookUrlError::Malformed(UrlProblem::TooLong { .. }) => SsrfError::UrlTooLong,
            WebhookUrlError::Malformed(UrlProblem::Credentials) => SsrfError::CredentialsInUrl,
            WebhookUrlError::Malformed(UrlProblem::NotHttp) => {
                scheme_of(text).map_or(SsrfError::InvalidUrl, |s| {
                    SsrfError::SchemeNotAllowed(
                        s.chars().take(16).collect::<String>().to_ascii_lowercase(),
                    )
                })
            }
            WebhookUrlError::Insecure => SsrfError::SchemeNotAllowed("http".to_owned()),
            WebhookUrlError::Malformed(_) | WebhookUrlError::Fragment => SsrfError::InvalidUrl,
        })?;
        match parsed.host() {
            None => return Err(SsrfError::NoHost),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            // RFC 6761 §6.3: `localhost` names are loopback without asking DNS.
            Some(url::Host::Domain(_)) if !self.allow_private && parsed.is_loopback() => {
                return Err(SsrfError::Blocked(BlockReason::Loopback));
            }
            Some(url::Host::Domain(_)) => {}
        }
        Ok(parsed.into_url())
    }
}

/// The scheme of a URL that is not `http(s)`, for naming it in the refusal (RFC 3986 §3.1:
/// a letter, then letters, digits, `+`, `-`, `.`).
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// `None` for ordinary global unicast, else why the address is special.
pub fn classify(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// IANA IPv4 Special-Purpose Address Registry (RFC 6890 §2.2.2 and updates).
pub fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    let [a, b, c, _] = ip.octets();
    use BlockReason::*;
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => Unspecified,
        _ if ip.is_broadcast() => Broadcast,
        (0, _, _) => Reserved,
        (10, _, _) => Private,
        (100, 64..=127, _) => SharedAddressSpace,
        (127, _, _) => Loopback,
        (169, 254, _) => LinkLocal,
        (172, 16..=31, _) => Private,
        (192, 0, 0) => Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Documentation,
        (192, 88, 99) => Reserved,
        (192, 168, _) => Private,
        (198, 18..=19, _) => Benchmarking,
        (224..=239, _, _) => Multicast,
        (240..=255, _, _) => Reserved,
        _ => return None,
    })
}

/// IANA IPv6 Special-Purpose Address Registry (RFC 6890 §2.2.3 and updates). Only 2000::/3
/// is global unicast; inside it, the protocol-assignment and documentation blocks are refused.
pub fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    use BlockReason::*;
    let [s0, s1, s2, s3, s4, s5, s6, s7] = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));

    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): the socket reaches the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // ::a.b.c.d, the deprecated IPv4-compatible form (RFC 4291 §2.5.5.1).
    if [s0, s1, s2, s3, s4, s5] == [0; 6] {
        return classify_v4(embedded_v4(s6, s7));
    }
    // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052): translated to the embedded IPv4.
    if [s0, s1, s2, s3, s4, s5] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded_v4(s6, s7));
    }
    // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): translation inside someone's network.
    if [s0, s1, s2] == [0x64, 0xff9b, 1] {
        return Some(Reserved);
    }
    // 2002::/16, 6to4 (RFC 3056): the relay delivers to the embedded IPv4 address.
    if s0 == 0x2002 {
        return classify_v4(embedded_v4(s1, s2));
    }
    Some(match s0 {
        0xff00..=0xffff => Multicast,
        0xfe80..=0xfebf => LinkLocal,
        0xfec0..=0xfeff => Private,
        0xfc00..=0xfdff => UniqueLocal,
        0x0100 if [s1, s2, s3] == [0, 0, 0] => Reserved, // 100::/64 discard-only
        0x2001 if s1 == 0x0db8 => Documentation,
        0x2001 if s1 == 0x0002 && s2 == 0 => Benchmarking,
        0x2001 if s1 < 0x0200 => Reserved, // 2001::/23 IETF protocol assignments (Teredo, ORCHID)
        0x3fff if s1 < 0x1000 => Documentation, // 3fff::/20 (RFC 9637)
        0x2000..=0x3fff => return None,
        _ => Reserved,
    })
}

/// A DNS resolver for the delivery client that drops every address the policy refuses, so
/// the connection can only go to an address that was checked.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    policy: SsrfPolicy,
}

impl GuardedResolver {
    pub fn new(policy: SsrfPolicy) -> Self {
        Self { policy }
    }

    /// Resolves `host` with the system resolver and keeps the allowed addresses. Fails when
    /// none is left, naming the reason of the first refused one.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, SsrfError> {
        let resolved = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| SsrfError::Resolve(e.kind().to_string()))?;
        self.filter(resolved)
    }

    /// The filtering step on its own.
    pub fn filter(
        &self,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, SsrfError> {
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|addr| match self.policy.check_ip(addr.ip()) {
                Ok(()) => true,
                Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(SsrfError::Resolve("no addresses".to_owned())),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = *self;
        Box::pin(async move {
            let addrs = resolver.lookup(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The delivery HTTP client: TLS by rustls on the *ring* provider (no C toolchain needed),
/// the guarded resolver, no redirects (a 3xx is an answer, not an instruction), no proxy
/// from the environment (the proxy would resolve the name, not us), 5 s connect and 15 s
/// total timeouts.
pub fn build_client(policy: SsrfPolicy, user_agent: &str) -> Result<reqwest::Client, SsrfError> {
    // reqwest built with `rustls-no-provider` needs a process default; installing it twice is
    // harmless (the second call reports the first one is already there).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(!policy.allow_http)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .user_agent(user_agent)
        .build()
        .map_err(|e| SsrfError::Client(e.to_string()))
}

/// The SSRF refusal behind a failed request, if that is why it failed (for recording the
/// attempt's error kind).
pub fn blocked_reason<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e SsrfError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(ssrf) = e.downcast_ref::<SsrfError>() {
            return Some(ssrf);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
#[path = "ssrf_test.rs"]
mod tests;
