//! A hostile or broken chip can make the reader fail, never panic: random answers, and genuine
//! answers of the virtual chip with bytes flipped, cut or appended at random, for BAC, PACE and
//! whole-document reads. Plus round trips of the APDU encodings (ISO/IEC 7816-4 §5.1).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::apdu::{CommandApdu, ResponseApdu};
use emrtd::reader::{
    AccessKey, PaceMapping, PaceParams, ReadError, Reader, Transport, TransportError,
};
use emrtd::sm::SmCipher;
use emrtd::testkit::card::{CardBehaviour, VirtualCard};
use emrtd::testkit::{Algo, TestPassport};
use proptest::prelude::*;

/// xorshift64*: deterministic, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Answers with random bytes of random length.
struct Noise(Rng);

impl Transport for Noise {
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
        let len = self.0.below(300);
        Ok((0..len).map(|_| self.0.next() as u8).collect())
    }
}

/// The virtual chip, with one answer in `rate` altered.
struct Mangler {
    card: VirtualCard,
    rng: Rng,
    rate: usize,
}

impl Transport for Mangler {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut answer = self.card.transmit(command)?;
        if self.rng.below(self.rate) == 0 {
            match self.rng.below(4) {
                0 if !answer.is_empty() => {
                    let i = self.rng.below(answer.len());
                    answer[i] ^= 1 << self.rng.below(8);
                }
                1 => answer.truncate(self.rng.below(answer.len() + 1)),
                2 => {
                    let extra = self.rng.below(20);
                    answer.extend((0..extra).map(|_| self.rng.next() as u8));
                }
                _ => {
                    let i = self.rng.below(answer.len() + 1);
                    answer.insert(i, self.rng.next() as u8);
                }
            }
        }
        Ok(answer)
    }
}

fn passport() -> TestPassport {
    TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap()
}

#[test]
fn random_answers_end_in_an_error_not_a_panic() {
    let p = passport();
    let key = AccessKey::Mrz(p.mrz_key().unwrap());
    for seed in 1..300u64 {
        let mut reader = Reader::new(Noise(Rng(seed)));
        assert!(reader.authenticate(&key).is_err());
    }
}

#[test]
fn mangled_answers_during_bac_and_reads_never_panic() {
    let p = passport();
    let key = AccessKey::Mrz(p.mrz_key().unwrap());
    let mut failures = 0;
    for seed in 1..60u64 {
        let card = VirtualCard::new(&p, CardBehaviour::default()).unwrap();
        let mut reader = Reader::new(Mangler {
            card,
            rng: Rng(seed),
            rate: 8,
        });
        let result = reader
            .authenticate(&key)
            .and_then(|_| reader.read_document());
        if let Ok(files) = result {
            // Whatever the reader accepted under secure messaging is what the chip holds.
            assert_eq!(files.sod, p.sod);
        } else {
            failures += 1;
        }
    }
    assert!(failures > 0, "the mangler never hit");
}

#[test]
fn mangled_answers_during_pace_never_panic() {
    let p = passport();
    let key = AccessKey::Mrz(p.mrz_key().unwrap());
    let params = PaceParams {
        mapping: PaceMapping::EcdhGeneric,
        cipher: SmCipher::Aes128,
        parameter_id: 12,
        name_parameters: false,
    };
    for seed in 1..40u64 {
        let behaviour = CardBehaviour {
            pace: Some(params),
            bac: false,
            ..CardBehaviour::default()
        };
        let card = VirtualCard::new(&p, behaviour).unwrap();
        let mut reader = Reader::new(Mangler {
            card,
            rng: Rng(seed),
            rate: 3,
        });
        if reader.authenticate(&key).is_ok()
            && let Ok(dg1) = reader.read_file(emrtd::reader::FileId::data_group(1).unwrap())
        {
            assert_eq!(dg1, p.dg1);
        }
    }
}

#[test]
fn file_header_declaring_a_huge_length_is_refused_before_allocating() {
    struct Huge(u8);
    impl Transport for Huge {
        fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.0 += 1;
            Ok(match self.0 {
                // SELECT EF.CardAccess, then its header: 4 GB.
                1 => vec![0x90, 0x00],
                _ => vec![0x31, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x90, 0x00],
            })
        }
    }
    let mut reader = Reader::new(Huge(0));
    assert!(matches!(
        reader.read_card_access(),
        Err(ReadError::HostileAnswer(_))
    ));
}

proptest! {
    #[test]
    fn command_apdu_encoding_round_trips(
        header in any::<[u8; 4]>(),
        data in proptest::collection::vec(any::<u8>(), 0..600),
        le in proptest::option::of(1usize..=65_536),
    ) {
        let command = CommandApdu { header, data, le };
        let bytes = command.to_bytes().unwrap();
        prop_assert_eq!(CommandApdu::parse(&bytes).unwrap(), command);
    }

    #[test]
    fn command_apdu_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = CommandApdu::parse(&bytes);
        let _ = ResponseApdu::parse(&bytes);
    }
}
