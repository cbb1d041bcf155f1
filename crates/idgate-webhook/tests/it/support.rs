//! Shared fixtures: a receiver key pair generated at test time (never committed), written as
//! PEM files for the tools that want files (`idgate_testkit::keys`), and a representative event.

use std::path::PathBuf;
use std::sync::OnceLock;

use idgate_testkit::keys::ReceiverKey;
use idgate_webhook::event::{
    AgeGate, Claim, Claims, Environment, EventId, Metadata, SessionId, SessionSucceeded, SexMarker,
};
use idgate_webhook::keys::RecipientKey;
use idgate_webhook::{Event, EventData};
use rsa::RsaPrivateKey;

/// The workspace's receiver key pair (`idgate_testkit::keys`) with its public half parsed as
/// this crate's [`RecipientKey`].
pub struct KeyPair {
    pub private: RsaPrivateKey,
    pub recipient: RecipientKey,
    pub private_pem_path: PathBuf,
    pub public_pem_path: PathBuf,
    _key: ReceiverKey,
}

pub fn generate_pair() -> KeyPair {
    let key = ReceiverKey::generate();
    KeyPair {
        private: key.private.clone(),
        recipient: RecipientKey::parse(key.public_pem.as_bytes()).unwrap(),
        private_pem_path: key.private_pem_path.clone(),
        public_pem_path: key.public_pem_path.clone(),
        _key: key,
    }
}

/// One key pair per test binary: generation is the slow step.
pub fn pair() -> &'static KeyPair {
    static PAIR: OnceLock<KeyPair> = OnceLock::new();
    PAIR.get_or_init(generate_pair)
}

pub fn event_id(n: u8) -> String {
    format!("evt_{}", char::from(b'A' + n % 26).to_string().repeat(64))
}

pub fn succeeded_event(id: &str) -> Event {
    Event {
        id: EventId::parse(id).unwrap(),
        created_at: time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
        data: EventData::SessionSucceeded(Box::new(SessionSucceeded {
            claims: Claims {
                family_name: Claim::Shared("ERIKA".into()),
                given_names: Claim::Withheld,
                sex_marker: Claim::Shared(SexMarker::F),
                kayle_document_id: Claim::Shared("0f".repeat(32)),
                age_over: Some(AgeGate {
                    years: 18,
                    over: Claim::Shared(true),
                }),
                ..Claims::default()
            },
            selected_field_keys: vec![
                "family_name".into(),
                "sex_marker".into(),
                "age_over_18".into(),
            ],
        })),
        metadata: Metadata {
            verification_session_id: SessionId::parse(&format!("vs_{}", "s".repeat(64))).unwrap(),
            verification_attempt_id: None,
            contract_version: 1,
            environment: Environment::Test,
        },
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
