//! Figures of the terminal side against the virtual chip: APDUs and bytes of a full read
//! (DG1, DG2 of ~20 KB, DG14, DG15, EF.COM, EF.SOD), and the reader-side CPU time of BAC, of
//! PACE per curve or group, and of secure messaging per KB. The virtual chip's own time is
//! measured inside the transport and subtracted.
//!
//! ```text
//! cargo run -p emrtd --release --example reader_figures
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "example code: a failure is reported by the panic"
)]

use std::time::{Duration, Instant};

use emrtd::crypto::CurveId;
use emrtd::reader::{AccessKey, PaceMapping, PaceParams, Reader, Transport, TransportError};
use emrtd::sm::{PlainCommand, SecureChannel, SmCipher};
use emrtd::testkit::card::{CardBehaviour, VirtualCard};
use emrtd::testkit::{AaConfig, Algo, CaConfig, TestPassport};
use zeroize::Zeroizing;

/// The virtual chip, with the time spent inside it accumulated.
struct Timed {
    card: VirtualCard,
    inside: Duration,
}

impl Transport for Timed {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let start = Instant::now();
        let answer = self.card.transmit(command);
        self.inside += start.elapsed();
        answer
    }
}

fn passport() -> TestPassport {
    let mut jpeg = vec![0xFF, 0xD8];
    let mut x = 0x9E37_79B9_u32;
    while jpeg.len() < 20_000 - 2 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        jpeg.push(x as u8);
    }
    jpeg.extend([0xFF, 0xD9]);
    TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .portrait_jpeg(jpeg, 480, 640)
        .active_authentication(AaConfig::Rsa {
            hash: emrtd::crypto::HashAlgorithm::Sha256,
        })
        .chip_authentication(CaConfig::Ecdh {
            curve: CurveId::BrainpoolP256r1,
            cipher: SmCipher::Aes128,
        })
        .build()
        .unwrap()
}

fn reader(p: &TestPassport, behaviour: CardBehaviour) -> Reader<Timed> {
    Reader::new(Timed {
        card: VirtualCard::new(p, behaviour).unwrap(),
        inside: Duration::ZERO,
    })
}

/// Reader-side time of `f` on a fresh reader, median of `runs`.
fn reader_time(
    runs: usize,
    mut make: impl FnMut() -> Reader<Timed>,
    mut f: impl FnMut(&mut Reader<Timed>),
) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut r = make();
            let start = Instant::now();
            f(&mut r);
            let total = start.elapsed();
            total.saturating_sub(r.into_transport().inside)
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn pace(mapping: PaceMapping, cipher: SmCipher, id: u8) -> PaceParams {
    PaceParams {
        mapping,
        cipher,
        parameter_id: id,
        name_parameters: false,
    }
}

fn main() {
    let p = passport();
    let key = AccessKey::Mrz(p.mrz_key().unwrap());
    println!(
        "files: EF.COM {} B, EF.SOD {} B, DG1 {} B, DG2 {} B, DG14 {} B, DG15 {} B",
        p.com.len(),
        p.sod.len(),
        p.dg1.len(),
        p.dg2.len(),
        p.dg14.as_ref().map_or(0, Vec::len),
        p.dg15.as_ref().map_or(0, Vec::len),
    );

    println!("\n## Full read (authentication + EF.COM, EF.SOD, DG1, DG2, DG14, DG15)");
    let cases: [(&str, CardBehaviour, usize); 3] = [
        (
            "BAC, 3DES SM, short APDUs (223-byte reads)",
            CardBehaviour::default(),
            223,
        ),
        (
            "PACE ECDH-GM brainpoolP256r1, AES-128 SM, short APDUs",
            CardBehaviour {
                pace: Some(pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13)),
                ..CardBehaviour::default()
            },
            223,
        ),
        (
            "PACE ECDH-GM brainpoolP256r1, AES-128 SM, extended APDUs (4 KB reads)",
            CardBehaviour {
                pace: Some(pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13)),
                max_le: 65_536,
                ..CardBehaviour::default()
            },
            4096,
        ),
    ];
    for (name, behaviour, max_read) in cases {
        let mut r = reader(&p, behaviour);
        r.set_max_read(max_read);
        r.authenticate(&key).unwrap();
        let auth = r.stats();
        let files = r.read_document().unwrap();
        assert_eq!(files.data_groups.len(), 4);
        let total = r.stats();
        println!(
            "{name}: {} APDUs, {} B sent, {} B received (authentication alone: {} APDUs, {} B / {} B)",
            total.apdus,
            total.bytes_sent,
            total.bytes_received,
            auth.apdus,
            auth.bytes_sent,
            auth.bytes_received
        );
    }

    println!("\n## Reader-side CPU time (median, virtual chip's time subtracted)");
    let bac = reader_time(
        21,
        || reader(&p, CardBehaviour::default()),
        |r| {
            r.authenticate(&key).unwrap();
        },
    );
    println!("BAC (incl. SELECT application): {bac:?}");
    for (name, params) in [
        (
            "NIST P-256",
            pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 12),
        ),
        (
            "NIST P-384",
            pace(PaceMapping::EcdhGeneric, SmCipher::Aes192, 15),
        ),
        (
            "NIST P-521",
            pace(PaceMapping::EcdhGeneric, SmCipher::Aes256, 18),
        ),
        (
            "brainpoolP256r1",
            pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13),
        ),
        (
            "brainpoolP384r1",
            pace(PaceMapping::EcdhGeneric, SmCipher::Aes256, 16),
        ),
        (
            "DH 1024/160 (RFC 5114)",
            pace(PaceMapping::DhGeneric, SmCipher::Aes128, 0),
        ),
    ] {
        let behaviour = CardBehaviour {
            pace: Some(params),
            ..CardBehaviour::default()
        };
        let t = reader_time(
            15,
            || reader(&p, behaviour.clone()),
            |r| {
                r.authenticate(&key).unwrap();
            },
        );
        println!("PACE GM {name} ({}): {t:?}", params.cipher.name());
    }

    println!("\n## Secure messaging, terminal side, per KB of file read");
    for cipher in [SmCipher::Tdes, SmCipher::Aes128, SmCipher::Aes256] {
        let key = Zeroizing::new(vec![0x5Au8; cipher.key_len()]);
        let mut terminal = SecureChannel::new(cipher, key.clone(), key.clone(), 0).unwrap();
        let mut card = SecureChannel::new(cipher, key.clone(), key, 0).unwrap();
        let chunk = vec![0xA5u8; 1024];
        let read = PlainCommand {
            header: [0x00, 0xB0, 0x00, 0x00],
            data: Vec::new(),
            le: Some(1024),
        };
        // Median of 9 batches of 300 reads: the machine is shared, so single runs are noisy.
        let rounds = 300u32;
        let mut batches: Vec<Duration> = (0..9)
            .map(|_| {
                let mut inside = Duration::ZERO;
                let start = Instant::now();
                for _ in 0..rounds {
                    let command = terminal.wrap_command(&read).unwrap();
                    let t = Instant::now();
                    card.unwrap_command(&command).unwrap();
                    let response = card.wrap_response(&chunk, 0x9000).unwrap();
                    inside += t.elapsed();
                    let (data, _) = terminal.unwrap_response(&response).unwrap();
                    assert_eq!(data.len(), 1024);
                }
                (start.elapsed() - inside) / rounds
            })
            .collect();
        batches.sort();
        let per_kb = batches[batches.len() / 2];
        println!(
            "{}: {per_kb:?} per KB (one 1 KB READ BINARY wrapped and unwrapped)",
            cipher.name()
        );
    }
}
