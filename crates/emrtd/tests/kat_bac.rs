//! BAC and its secure messaging reproduced byte for byte from the worked example of ICAO Doc
//! 9303-11, Appendix D (D.2 key derivation from the MRZ `L898902C<3 690806 1 940623 6`, D.3
//! mutual authentication, D.4 secure messaging): the terminal is driven by a scripted transport
//! that checks every command APDU against the published bytes and answers with the published
//! responses, and the terminal's nonces come from the example.
//!
//! Provenance: the values are those of ICAO 9303-11 Appendix D, as quoted by several public
//! implementations (e.g. the Dart `dmrtd` tests, `gmrtd`, JMRTD-derived tests); each one is
//! checked here against this crate's computation, so a transcription error would fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::collections::VecDeque;

use emrtd::reader::{MrzKey, ReadError, Reader, Transport, TransportError};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// Answers each command with the next scripted response after checking it is the expected one.
struct Script(VecDeque<(Vec<u8>, Vec<u8>)>);

impl Script {
    fn new(steps: &[(&str, &str)]) -> Self {
        Self(steps.iter().map(|(c, r)| (hex(c), hex(r))).collect())
    }
}

impl Transport for Script {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let (expected, response) = self.0.pop_front().expect("no more scripted APDUs");
        assert_eq!(
            hex::encode_upper(command),
            hex::encode_upper(&expected),
            "command APDU differs from the worked example"
        );
        Ok(response)
    }
}

fn key() -> MrzKey {
    MrzKey::new("L898902C", "690806", "940623").unwrap()
}

const RND_IFD: &str = "781723860C06C226";
const K_IFD: &str = "0B795240CB7049B01C19B33E32804F0B";
const GET_CHALLENGE: (&str, &str) = ("0084000008", "4608F91988702212 9000");
const MUTUAL_AUTHENTICATE: (&str, &str) = (
    "0082000028 72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7 28",
    "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449 9000",
);

fn scripted_reader(steps: &[(&str, &str)]) -> Reader<Script> {
    let mut randomness = hex(RND_IFD);
    randomness.extend(hex(K_IFD));
    Reader::new(Script::new(steps)).with_scripted_randomness(&randomness)
}

#[test]
fn mrz_information_carries_check_digits_as_in_appendix_d2() {
    assert_eq!(
        key().mrz_information().as_slice(),
        b"L898902C<369080619406236"
    );
}

#[test]
fn key_seed_and_basic_access_keys_match_appendix_d2() {
    let keys = key().bac_keys();
    assert_eq!(*keys.k_seed, hex("239AB9CB282DAF66231DC5A4DF6BFBAE"));
    assert_eq!(*keys.k_enc, hex("AB94FDECF2674FDFB9B391F85D7F76F2"));
    assert_eq!(*keys.k_mac, hex("7962D9ECE03D1ACD4C76089DCE131543"));
}

#[test]
fn mutual_authentication_sends_the_published_cryptogram_and_derives_the_published_ssc() {
    let mut reader = scripted_reader(&[GET_CHALLENGE, MUTUAL_AUTHENTICATE]);
    reader.bac(&key()).unwrap();
    let channel = reader.secure_channel().unwrap();
    assert_eq!(channel.ssc(), 0x8870_2212_0C06_C226);
}

#[test]
fn secure_messaging_after_bac_reproduces_appendix_d4_and_reads_ef_com() {
    let mut reader = scripted_reader(&[
        GET_CHALLENGE,
        MUTUAL_AUTHENTICATE,
        (
            "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
            "990290008E08FA855A5D4C50A8ED9000",
        ),
        (
            "0CB000000D9701048E08ED6705417E96BA5500",
            "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
        ),
        (
            "0CB000040D9701128E082EA28A70F3C7B53500",
            "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
        ),
    ]);
    reader.bac(&key()).unwrap();
    reader.select_file(emrtd::reader::FileId::COM).unwrap();
    assert_eq!(reader.read_binary(0, 4).unwrap(), hex("60145F01"));
    assert_eq!(
        reader.read_binary(4, 0x12).unwrap(),
        hex("04303130365F36063034303030305C026175")
    );
}

#[test]
fn chip_refusing_the_cryptogram_is_reported_as_a_wrong_mrz() {
    let mut reader = scripted_reader(&[GET_CHALLENGE, (MUTUAL_AUTHENTICATE.0, "6300")]);
    assert_eq!(
        reader.bac(&key()),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
    assert!(reader.secure_channel().is_none());
}

#[test]
fn chip_cryptogram_with_a_wrong_mac_is_reported_as_a_wrong_mrz() {
    let mut reader = scripted_reader(&[
        GET_CHALLENGE,
        (
            MUTUAL_AUTHENTICATE.0,
            "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D744A 9000",
        ),
    ]);
    assert_eq!(
        reader.bac(&key()),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
}

#[test]
fn protected_response_with_a_flipped_mac_bit_is_a_bad_mac() {
    let mut reader = scripted_reader(&[
        GET_CHALLENGE,
        MUTUAL_AUTHENTICATE,
        (
            "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
            "990290008E08FA855A5D4C50A8EC9000",
        ),
    ]);
    reader.bac(&key()).unwrap();
    assert_eq!(
        reader.select_file(emrtd::reader::FileId::COM),
        Err(ReadError::BadMac)
    );
}

#[test]
fn short_get_challenge_answer_is_a_hostile_answer() {
    let mut reader = scripted_reader(&[("0084000008", "4608F9198870 9000")]);
    assert!(matches!(
        reader.bac(&key()),
        Err(ReadError::HostileAnswer(_))
    ));
}

#[test]
fn document_number_outside_the_mrz_alphabet_is_refused() {
    assert_eq!(
        MrzKey::new("L89-902C", "690806", "940623"),
        Err(ReadError::InvalidAccessKey("document number"))
    );
    assert_eq!(
        MrzKey::new("L898902C", "6908O6", "940623"),
        Err(ReadError::InvalidAccessKey("date of birth"))
    );
}
