//! API keys: format, generation, keyed hashing and scopes
//! (docs/api.md "Authentication and tenancy").
//!
//! A key is `kk_live_` or `kk_test_` plus 40 characters of `[A-Za-z0-9]` (about 238 bits). Only
//! HMAC-SHA256 of the full key under a server secret is stored, so a leaked database does not
//! yield usable keys, and lookup by that hash makes comparison constant-time by construction.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::id::{ApiKeyId, OrgId, random_alphanumeric};
use crate::mac::hmac_sha256_hex;
use crate::secret::Secret;
use crate::time::Timestamp;

/// Random characters after the `kk_live_`/`kk_test_` prefix.
pub const API_KEY_RANDOM_LEN: usize = 40;
/// Characters of the key kept in clear for display (`kk_live_AbCd`), enough to recognise a key.
pub const API_KEY_DISPLAY_PREFIX_LEN: usize = 12;

/// Live objects are real verifications; test objects are driven by the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            Self::Live => "kk_live_",
            Self::Test => "kk_test_",
        }
    }
}

/// The API keys one caller may list, change and delete. A test-mode key sees only test-mode
/// objects, its organization's test keys included (docs/api.md "Test mode"), so a leaked test key
/// cannot disable or rescope production keys; a live key manages every key of its organization,
/// since it is the one that issues and revokes test keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAudience {
    pub org_id: OrgId,
    environments: &'static [Environment],
}

impl KeyAudience {
    /// The keys a key of `environment` in `org_id` may manage.
    pub fn of(org_id: OrgId, environment: Environment) -> Self {
        let environments: &'static [Environment] = match environment {
            Environment::Live => &[Environment::Live, Environment::Test],
            Environment::Test => &[Environment::Test],
        };
        Self {
            org_id,
            environments,
        }
    }

    /// The environments whose keys are visible (one or both, never none).
    pub fn environments(&self) -> &'static [Environment] {
        self.environments
    }

    pub fn sees(&self, environment: Environment) -> bool {
        self.environments.contains(&environment)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "sessions:read")]
    SessionsRead,
    #[serde(rename = "sessions:write")]
    SessionsWrite,
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "keys:manage")]
    KeysManage,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Self::SessionsRead,
        Self::SessionsWrite,
        Self::WebhooksRead,
        Self::WebhooksWrite,
        Self::KeysManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionsRead => "sessions:read",
            Self::SessionsWrite => "sessions:write",
            Self::WebhooksRead => "webhooks:read",
            Self::WebhooksWrite => "webhooks:write",
            Self::KeysManage => "keys:manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of scopes, serialised as a sorted array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Every scope: what the operator's first key gets.
    pub fn all() -> Self {
        Self(Scope::ALL.into_iter().collect())
    }

    /// `None` if empty: a key that can do nothing is a mistake.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Option<Self> {
        let set: BTreeSet<Scope> = scopes.into_iter().collect();
        (!set.is_empty()).then_some(Self(set))
    }

    /// From scope names; errors name the `scopes` parameter.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, Error> {
        let invalid = || {
            Error::invalid_param(
                "scopes",
                "must be a non-empty array of sessions:read, sessions:write, webhooks:read, webhooks:write, keys:manage",
            )
        };
        let mut set = BTreeSet::new();
        for name in names {
            set.insert(Scope::parse(name.as_ref()).ok_or_else(invalid)?);
        }
        Self::new(set).ok_or_else(invalid)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl TryFrom<Vec<String>> for Scopes {
    type Error = String;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&v).map_err(|e| e.message.into_owned())
    }
}

impl From<Scopes> for Vec<String> {
    fn from(s: Scopes) -> Self {
        s.0.iter().map(|scope| scope.as_str().to_owned()).collect()
    }
}

/// The plaintext of a key, shown once at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySecret(Secret<String>);

impl ApiKeySecret {
    pub fn generate(environment: Environment) -> Self {
        let mut s = String::from(environment.key_prefix());
        s.push_str(&random_alphanumeric(API_KEY_RANDOM_LEN));
        Self(Secret::new(s))
    }

    /// Accepts exactly `kk_(live|test)_[A-Za-z0-9]{40}`; anything else cannot be a key and needs
    /// no database lookup.
    pub fn parse(s: &str) -> Option<Self> {
        Self::environment_of(s)?;
        Some(Self(Secret::new(s.to_owned())))
    }

    fn environment_of(s: &str) -> Option<Environment> {
        [Environment::Live, Environment::Test]
            .into_iter()
            .find(|env| {
                s.strip_prefix(env.key_prefix()).is_some_and(|rest| {
                    rest.len() == API_KEY_RANDOM_LEN
                        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
                })
            })
    }

    pub fn environment(&self) -> Environment {
        Self::environment_of(self.0.expose()).unwrap_or(Environment::Live)
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The keyed hash under which the key is stored and looked up.
    pub fn hash(&self, server_secret: &[u8]) -> ApiKeyHash {
        ApiKeyHash(hmac_sha256_hex(server_secret, self.0.expose().as_bytes()))
    }

    /// The first characters, safe to show in listings.
    pub fn display_prefix(&self) -> String {
        self.0
            .expose()
            .chars()
            .take(API_KEY_DISPLAY_PREFIX_LEN)
            .collect()
    }
}

/// Lower-case hex HMAC-SHA256 of a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from storage.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
}

/// A stored API key (never its plaintext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub name: String,
    pub environment: Environment,
    pub scopes: Scopes,
    pub enabled: bool,
    /// `kk_live_AbCd`: lets a person tell keys apart without the secret.
    pub key_prefix: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl ApiKey {
    /// A new key for `org`; returns the record and the plaintext to show once.
    pub fn generate(
        org_id: &OrgId,
        name: &str,
        environment: Environment,
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<(Self, ApiKeySecret), Error> {
        let name = validate_key_name(name)?;
        let secret = ApiKeySecret::generate(environment);
        let key = Self {
            id: ApiKeyId::generate(),
            org_id: org_id.clone(),
            name,
            environment,
            scopes,
            enabled: true,
            key_prefix: secret.display_prefix(),
            created_at: now,
            updated_at: now,
            last_used_at: None,
        };
        Ok((key, secret))
    }

    /// Whether this key may perform an operation needing `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.enabled && self.scopes.contains(scope)
    }
}

/// Trimmed, 1..=100 characters, no control characters.
pub fn validate_key_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid_param(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(name.to_owned())
}

/// `PATCH /v1/api-keys/{id}`: each present field replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeyPatch {
    pub name: Option<String>,
    pub scopes: Option<Scopes>,
    pub enabled: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_key_manages_only_test_keys_and_a_live_key_both() {
        let org = OrgId::generate();
        let test = KeyAudience::of(org.clone(), Environment::Test);
        assert!(test.sees(Environment::Test));
        assert!(!test.sees(Environment::Live));
        let live = KeyAudience::of(org, Environment::Live);
        assert!(live.sees(Environment::Live) && live.sees(Environment::Test));
    }

    #[test]
    fn generated_keys_have_the_documented_format() {
        let live = ApiKeySecret::generate(Environment::Live);
        assert!(live.expose().starts_with("kk_live_"));
        assert_eq!(live.expose().len(), 8 + 40);
        assert!(ApiKeySecret::parse(live.expose()).is_some());
        let test = ApiKeySecret::generate(Environment::Test);
        assert!(test.expose().starts_with("kk_test_"));
        assert_eq!(test.environment(), Environment::Test);
        assert_eq!(live.environment(), Environment::Live);
    }

    #[test]
    fn parse_rejects_anything_not_shaped_like_a_key() {
        let ok = format!("kk_live_{}", "a".repeat(40));
        assert!(ApiKeySecret::parse(&ok).is_some());
        for bad in [
            format!("kk_live_{}", "a".repeat(39)),
            format!("kk_live_{}", "a".repeat(41)),
            format!("kk_prod_{}", "a".repeat(40)),
            format!("kk_live_{}-", "a".repeat(39)),
            String::new(),
        ] {
            assert!(ApiKeySecret::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hash_is_keyed_and_deterministic() {
        let key = ApiKeySecret::generate(Environment::Live);
        assert_eq!(key.hash(b"s1"), key.hash(b"s1"));
        assert_ne!(key.hash(b"s1"), key.hash(b"s2"));
        assert_eq!(key.hash(b"s1").as_str().len(), 64);
        assert!(!key.hash(b"s1").as_str().contains(key.expose()));
    }

    #[test]
    fn secret_never_prints() {
        let key = ApiKeySecret::generate(Environment::Live);
        assert!(!format!("{key:?}").contains(key.expose()));
    }

    #[test]
    fn scopes_parse_and_serialize_as_strings() {
        let s = Scopes::parse(&["sessions:write", "sessions:read", "sessions:read"]).unwrap();
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!(["sessions:read", "sessions:write"])
        );
        assert!(s.contains(Scope::SessionsRead));
        assert!(!s.contains(Scope::KeysManage));
        assert!(Scopes::parse::<&str>(&[]).is_err());
        let e = Scopes::parse(&["sessions:delete"]).unwrap_err();
        assert!(e.message.starts_with("Invalid `scopes`"));
        assert_eq!(Scopes::all().iter().count(), 5);
    }

    #[test]
    fn disabled_keys_allow_nothing() {
        let org = OrgId::generate();
        let (mut key, _) = ApiKey::generate(
            &org,
            "ci",
            Environment::Live,
            Scopes::all(),
            Timestamp::from_unix_ms(0).unwrap(),
        )
        .unwrap();
        assert!(key.allows(Scope::SessionsRead));
        key.enabled = false;
        assert!(!key.allows(Scope::SessionsRead));
    }

    #[test]
    fn key_names_are_validated() {
        assert_eq!(validate_key_name("  ci  ").unwrap(), "ci");
        assert!(validate_key_name("   ").is_err());
        assert!(validate_key_name(&"n".repeat(101)).is_err());
        assert!(validate_key_name("a\u{7}b").is_err());
    }

    #[test]
    fn display_prefix_is_short() {
        let key = ApiKeySecret::generate(Environment::Live);
        assert_eq!(key.display_prefix().len(), 12);
        assert!(key.expose().starts_with(&key.display_prefix()));
    }
}
