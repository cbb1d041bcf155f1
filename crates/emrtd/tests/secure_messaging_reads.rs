//! Secure messaging (ICAO 9303-11 §9.8) as file reads use it: the send sequence counter,
//! ISO/IEC 9797-1 padding method 2, odd-length data, extended-length reads (Le > 256 forces an
//! extended protected APDU) and odd-INS commands (`B1`, data in `DO'85'`), for every cipher.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::sm::{PlainCommand, SecureChannel, SmCipher, SmError, cbc_zero_iv};
use emrtd::tlv::{self, Tag};
use zeroize::Zeroizing;

const CIPHERS: [SmCipher; 4] = [
    SmCipher::Tdes,
    SmCipher::Aes128,
    SmCipher::Aes192,
    SmCipher::Aes256,
];

fn pair(cipher: SmCipher, ssc: u128) -> (SecureChannel, SecureChannel) {
    let k_enc = Zeroizing::new((0..cipher.key_len() as u8).collect::<Vec<u8>>());
    let k_mac = Zeroizing::new(
        (0..cipher.key_len() as u8)
            .map(|b| b ^ 0x5A)
            .collect::<Vec<u8>>(),
    );
    (
        SecureChannel::new(cipher, k_enc.clone(), k_mac.clone(), ssc).unwrap(),
        SecureChannel::new(cipher, k_enc, k_mac, ssc).unwrap(),
    )
}

fn read(offset: u16, le: usize) -> PlainCommand {
    let [p1, p2] = offset.to_be_bytes();
    PlainCommand {
        header: [0x00, 0xB0, p1, p2],
        data: Vec::new(),
        le: Some(le),
    }
}

#[test]
fn odd_length_responses_round_trip_for_every_cipher() {
    for cipher in CIPHERS {
        let (mut terminal, mut card) = pair(cipher, 0);
        for len in (1..=70).chain([223, 255, 256, 1001, 4095]) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let command = terminal.wrap_command(&read(0, len)).unwrap();
            assert_eq!(card.unwrap_command(&command).unwrap().le, Some(len));
            let response = card.wrap_response(&data, 0x9000).unwrap();
            let (plain, sw) = terminal.unwrap_response(&response).unwrap();
            assert_eq!(
                (plain.as_slice(), sw),
                (data.as_slice(), 0x9000),
                "{cipher:?} {len}"
            );
        }
    }
}

#[test]
fn send_sequence_counter_advances_by_two_per_exchange() {
    for cipher in CIPHERS {
        let (mut terminal, mut card) = pair(cipher, 41);
        for exchange in 1..=5u128 {
            let command = terminal.wrap_command(&read(0, 8)).unwrap();
            card.unwrap_command(&command).unwrap();
            let response = card.wrap_response(&[1, 2, 3], 0x9000).unwrap();
            terminal.unwrap_response(&response).unwrap();
            assert_eq!(terminal.ssc(), 41 + 2 * exchange);
            assert_eq!(card.ssc(), terminal.ssc());
        }
    }
}

#[test]
fn response_for_an_earlier_counter_is_refused() {
    let (mut terminal, mut card) = pair(SmCipher::Aes128, 0);
    let command = terminal.wrap_command(&read(0, 8)).unwrap();
    card.unwrap_command(&command).unwrap();
    let first = card.wrap_response(&[9; 8], 0x9000).unwrap();
    terminal.unwrap_response(&first).unwrap();
    terminal.wrap_command(&read(8, 8)).unwrap();
    assert_eq!(terminal.unwrap_response(&first), Err(SmError::BadMac));
}

#[test]
fn encrypted_data_is_padded_with_iso9797_method_2() {
    // 3DES secure messaging encrypts with a zero IV (ICAO 9303-11 §9.8.6.1), so the cryptogram
    // can be decrypted here without the channel and its padding inspected.
    let (_, mut card) = pair(SmCipher::Tdes, 0);
    let k_enc: Vec<u8> = (0..16u8).collect();
    for len in [1usize, 7, 8, 9, 16] {
        let response = card.wrap_response(&vec![0xAB; len], 0x9000).unwrap();
        let do87 = tlv::read(&response).unwrap().0;
        assert_eq!(do87.tag, Tag(0x87));
        assert_eq!(do87.content[0], 0x01, "padding-content indicator");
        let padded = cbc_zero_iv(SmCipher::Tdes, &k_enc, &do87.content[1..], false).unwrap();
        assert_eq!(
            padded.len(),
            (len / 8 + 1) * 8,
            "a full block is added to whole blocks"
        );
        assert_eq!(padded[len], 0x80);
        assert!(padded[len + 1..].iter().all(|b| *b == 0));
    }
}

#[test]
fn read_beyond_256_bytes_is_sent_as_an_extended_protected_apdu() {
    for cipher in CIPHERS {
        let (mut terminal, _) = pair(cipher, 0);
        let apdu = terminal.wrap_command(&read(0, 1024)).unwrap();
        // 0C B0 00 00 | 00 Lc(2) | 97 02 04 00 | 8E 08 MAC | 00 00
        assert_eq!(&apdu[..5], &[0x0C, 0xB0, 0x00, 0x00, 0x00]);
        assert_eq!(u16::from_be_bytes([apdu[5], apdu[6]]), 14);
        assert_eq!(&apdu[7..11], &[0x97, 0x02, 0x04, 0x00]);
        assert_eq!(&apdu[apdu.len() - 2..], &[0x00, 0x00]);
        assert_eq!(apdu.len(), 7 + 14 + 2);
    }
}

#[test]
fn read_of_at_most_256_bytes_stays_short() {
    let (mut terminal, _) = pair(SmCipher::Aes128, 0);
    let apdu = terminal.wrap_command(&read(0, 256)).unwrap();
    // 0C B0 00 00 | Lc | 97 01 00 | 8E 08 MAC | 00
    assert_eq!(apdu[4], 13);
    assert_eq!(&apdu[5..8], &[0x97, 0x01, 0x00]);
    assert_eq!(apdu.len(), 5 + 13 + 1);
}

#[test]
fn odd_instruction_carries_its_data_in_do85_both_ways() {
    for cipher in CIPHERS {
        let (mut terminal, mut card) = pair(cipher, 0);
        let offset_object = tlv::encode(Tag(0x54), &[0x01, 0x23, 0x45]);
        let command = PlainCommand {
            header: [0x00, 0xB1, 0x00, 0x00],
            data: offset_object.clone(),
            le: Some(230),
        };
        let apdu = terminal.wrap_command(&command).unwrap();
        let objects = tlv::read_all(&apdu[5..apdu.len() - 1]).unwrap();
        assert_eq!(objects[0].tag, Tag(0x85), "{cipher:?}");
        assert!(objects.iter().all(|o| o.tag != Tag(0x87)));
        let plain = card.unwrap_command(&apdu).unwrap();
        assert_eq!(plain.data, offset_object);
        let answer = tlv::encode(Tag(0x53), &[7; 200]);
        let response = card.wrap_response_for(0xB1, &answer, 0x9000).unwrap();
        assert_eq!(response[0], 0x85);
        let (data, _) = terminal.unwrap_response(&response).unwrap();
        assert_eq!(*data, answer);
    }
}
