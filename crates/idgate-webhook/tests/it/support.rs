//! Shared fixtures: a receiver key pair generated at test time (never committed), written as
//! PEM files for the tools that want files, and a representative event.

use std::path::PathBuf;
use std::sync::OnceLock;

use idgate_webhook::event::{
    AgeGate, Claim, Claims, Environment, EventId, Metadata, SessionId, SessionSucceeded, SexMarker,
};
use idgate_webhook::keys::RecipientKey;
use idgate_webhook::{Event, EventData};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

pub struct KeyPair {
    pub private: RsaPrivateKey,
    pub recipient: RecipientKey,
    pub private_pem_path: PathBuf,
    pub public_pem_path: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn generate_pair() -> KeyPair {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let private = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let private_pem_path = dir.path().join("receiver-key.pem");
    let public_pem_path = dir.path().join("receiver-key.pub.pem");
    std::fs::write(&private_pem_path, private_pem.as_bytes()).unwrap();
    std::fs::write(&public_pem_path, public_pem.as_bytes()).unwrap();
    let recipient = RecipientKey::parse(public_pem.as_bytes()).unwrap();
    KeyPair {
        private,
        recipient,
        private_pem_path,
        public_pem_path,
        _dir: dir,
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
