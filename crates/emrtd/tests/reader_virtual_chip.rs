//! The terminal ([`emrtd::reader::Reader`]) against the test kit's APDU-level virtual chip
//! ([`emrtd::testkit::card::VirtualCard`]): BAC, PACE for each mapping, curve family and cipher,
//! secure messaging over whole-file reads (short, extended, odd lengths, offsets past 32 767),
//! active and chip authentication, and every failure the reader must name.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::active::Challenge;
use emrtd::chip_auth::ChipAuthSession;
use emrtd::crypto::{CurveId, HashAlgorithm};
use emrtd::reader::{
    AccessKey, AccessProtocol, FileId, MrzKey, PaceMapping, PaceParams, ReadError, Reader,
};
use emrtd::sm::SmCipher;
use emrtd::testkit::card::{CardBehaviour, VirtualCard};
use emrtd::testkit::{AaConfig, Algo, CaConfig, TestPassport};

fn passport() -> TestPassport {
    TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap()
}

/// A passport whose DG2 holds a `size`-byte pseudo-random "JPEG".
fn passport_with_portrait(size: usize) -> TestPassport {
    let mut jpeg = vec![0xFF, 0xD8];
    let mut x = 0x9E37_79B9_u32;
    while jpeg.len() < size - 2 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        jpeg.push(x as u8);
    }
    jpeg.extend([0xFF, 0xD9]);
    TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .portrait_jpeg(jpeg, 480, 640)
        .build()
        .unwrap()
}

fn mrz(p: &TestPassport) -> AccessKey {
    AccessKey::Mrz(p.mrz_key().unwrap())
}

fn wrong_mrz() -> AccessKey {
    AccessKey::Mrz(MrzKey::new("X12345678", "010101", "300101").unwrap())
}

fn reader(p: &TestPassport, behaviour: CardBehaviour) -> Reader<VirtualCard> {
    Reader::new(VirtualCard::new(p, behaviour).unwrap())
}

fn pace(mapping: PaceMapping, cipher: SmCipher, parameter_id: u8) -> PaceParams {
    PaceParams {
        mapping,
        cipher,
        parameter_id,
        name_parameters: false,
    }
}

fn with_pace(params: PaceParams) -> CardBehaviour {
    CardBehaviour {
        pace: Some(params),
        ..CardBehaviour::default()
    }
}

fn assert_reads_every_file(p: &TestPassport, reader: &mut Reader<VirtualCard>) {
    let files = reader.read_document().unwrap();
    assert_eq!(files.com, p.com);
    assert_eq!(files.sod, p.sod);
    let expected: Vec<(u8, &[u8])> = p.data_groups();
    assert_eq!(files.data_groups(), expected);
}

#[test]
fn bac_chip_is_read_in_full_byte_for_byte() {
    let p = passport();
    let mut reader = reader(&p, CardBehaviour::default());
    assert_eq!(reader.authenticate(&mrz(&p)).unwrap(), AccessProtocol::Bac);
    assert_reads_every_file(&p, &mut reader);
}

#[test]
fn read_document_files_parse_into_the_crate_structures() {
    let p = passport();
    let mut reader = reader(&p, CardBehaviour::default());
    reader.authenticate(&mrz(&p)).unwrap();
    let files = reader.read_document().unwrap();
    assert_eq!(files.parsed_com().unwrap().data_groups.len(), 4);
    assert!(files.parsed_dg14().unwrap().is_ok());
    assert!(files.parsed_dg15().unwrap().is_ok());
    assert!(files.parsed_dg2().unwrap().is_ok());
}

#[test]
fn pace_is_preferred_when_card_access_offers_it() {
    let p = passport();
    let params = pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13);
    let mut reader = reader(&p, with_pace(params));
    assert_eq!(
        reader.authenticate(&mrz(&p)).unwrap(),
        AccessProtocol::Pace(params)
    );
    assert_reads_every_file(&p, &mut reader);
}

#[test]
fn pace_ecdh_runs_on_every_nist_curve() {
    let p = passport();
    for (id, cipher) in [
        (12, SmCipher::Aes128),
        (15, SmCipher::Aes192),
        (18, SmCipher::Aes256),
    ] {
        let params = pace(PaceMapping::EcdhGeneric, cipher, id);
        let mut reader = reader(&p, with_pace(params));
        assert_eq!(
            reader.authenticate(&mrz(&p)).unwrap(),
            AccessProtocol::Pace(params),
            "parameter id {id}"
        );
        assert_eq!(
            reader.read_file(FileId::data_group(1).unwrap()).unwrap(),
            p.dg1
        );
    }
}

#[test]
fn pace_ecdh_runs_on_brainpool_curves() {
    let p = passport();
    for (id, cipher) in [(13, SmCipher::Aes256), (16, SmCipher::Aes128)] {
        let params = pace(PaceMapping::EcdhGeneric, cipher, id);
        let mut reader = reader(&p, with_pace(params));
        assert_eq!(
            reader.authenticate(&mrz(&p)).unwrap(),
            AccessProtocol::Pace(params)
        );
        assert_eq!(
            reader.read_file(FileId::data_group(1).unwrap()).unwrap(),
            p.dg1
        );
    }
}

#[test]
fn pace_dh_runs_on_the_1024_bit_group() {
    let p = passport();
    let params = pace(PaceMapping::DhGeneric, SmCipher::Aes128, 0);
    let mut reader = reader(&p, with_pace(params));
    assert_eq!(
        reader.authenticate(&mrz(&p)).unwrap(),
        AccessProtocol::Pace(params)
    );
    assert_reads_every_file(&p, &mut reader);
}

#[test]
fn pace_dh_runs_on_the_2048_bit_groups() {
    let p = passport();
    for id in [1, 2] {
        let params = pace(PaceMapping::DhGeneric, SmCipher::Aes256, id);
        let mut reader = reader(&p, with_pace(params));
        assert_eq!(
            reader.authenticate(&mrz(&p)).unwrap(),
            AccessProtocol::Pace(params),
            "group {id}"
        );
        assert_eq!(
            reader.read_file(FileId::data_group(1).unwrap()).unwrap(),
            p.dg1
        );
    }
}

#[test]
fn pace_with_3des_secure_messaging_reads_the_chip() {
    let p = passport();
    for mapping in [PaceMapping::EcdhGeneric, PaceMapping::DhGeneric] {
        let id = if mapping == PaceMapping::DhGeneric {
            0
        } else {
            12
        };
        let params = pace(mapping, SmCipher::Tdes, id);
        let mut reader = reader(&p, with_pace(params));
        assert_eq!(
            reader.authenticate(&mrz(&p)).unwrap(),
            AccessProtocol::Pace(params)
        );
        assert_eq!(reader.read_file(FileId::SOD).unwrap(), p.sod);
    }
}

#[test]
fn pace_accepts_the_card_access_number() {
    let p = passport();
    let params = pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 12);
    let behaviour = CardBehaviour {
        can: Some("123456".into()),
        ..with_pace(params)
    };
    let mut reader = reader(&p, behaviour);
    assert_eq!(
        reader
            .authenticate(&AccessKey::Can("123456".into()))
            .unwrap(),
        AccessProtocol::Pace(params)
    );
    assert_eq!(reader.read_file(FileId::COM).unwrap(), p.com);
}

#[test]
fn wrong_card_access_number_is_reported_as_a_wrong_key() {
    let p = passport();
    let behaviour = CardBehaviour {
        can: Some("123456".into()),
        ..with_pace(pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 12))
    };
    let mut reader = reader(&p, behaviour);
    assert_eq!(
        reader.authenticate(&AccessKey::Can("654321".into())),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
}

#[test]
fn pace_only_chip_is_read_without_bac() {
    let p = passport();
    let behaviour = CardBehaviour {
        bac: false,
        ..with_pace(pace(PaceMapping::EcdhGeneric, SmCipher::Aes256, 15))
    };
    let mut reader = reader(&p, behaviour);
    assert!(matches!(
        reader.authenticate(&mrz(&p)).unwrap(),
        AccessProtocol::Pace(_)
    ));
    assert_reads_every_file(&p, &mut reader);
}

#[test]
fn card_access_number_on_a_bac_only_chip_is_unsupported() {
    let p = passport();
    let mut reader = reader(&p, CardBehaviour::default());
    assert!(matches!(
        reader.authenticate(&AccessKey::Can("123456".into())),
        Err(ReadError::Unsupported(_))
    ));
}

#[test]
fn wrong_mrz_is_reported_under_bac() {
    let p = passport();
    let mut reader = reader(&p, CardBehaviour::default());
    assert_eq!(
        reader.authenticate(&wrong_mrz()),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
}

#[test]
fn wrong_mrz_is_reported_under_pace() {
    let p = passport();
    let mut reader = reader(
        &p,
        with_pace(pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13)),
    );
    assert_eq!(
        reader.authenticate(&wrong_mrz()),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
}

#[test]
fn files_cannot_be_read_before_authentication() {
    let p = passport();
    let mut reader = reader(&p, CardBehaviour::default());
    reader.select_application().unwrap();
    assert_eq!(
        reader.read_file(FileId::COM),
        Err(ReadError::AccessDenied { sw: 0x6982 })
    );
    assert_eq!(reader.read_document(), Err(ReadError::NotAuthenticated));
}

#[test]
fn altered_response_mac_mid_read_is_a_bad_mac() {
    let p = passport();
    let behaviour = CardBehaviour {
        corrupt_mac_of_response: Some(6),
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(reader.read_document(), Err(ReadError::BadMac));
}

#[test]
fn data_group_listed_but_missing_is_file_not_found() {
    let p = passport();
    let behaviour = CardBehaviour {
        missing_data_groups: vec![15],
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(
        reader.read_document(),
        Err(ReadError::FileNotFound { file: 0x010F })
    );
}

#[test]
fn card_removed_mid_read_is_reported_as_removed() {
    let p = passport();
    let behaviour = CardBehaviour {
        remove_after_apdus: Some(12),
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(reader.read_document(), Err(ReadError::CardRemoved));
}

#[test]
fn chip_answering_wrong_length_gets_smaller_reads() {
    let p = passport();
    let behaviour = CardBehaviour {
        max_le: 100,
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_reads_every_file(&p, &mut reader);
    assert!(reader.max_read() <= 100);
}

#[test]
fn chip_naming_the_exact_length_is_asked_for_that_length() {
    let p = passport();
    let behaviour = CardBehaviour {
        max_le: 64,
        exact_length_hint: true,
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(reader.read_file(FileId::SOD).unwrap(), p.sod);
}

#[test]
fn extended_length_reads_need_fewer_apdus() {
    let p = passport_with_portrait(20_000);
    let mut short = reader(&p, CardBehaviour::default());
    short.authenticate(&mrz(&p)).unwrap();
    assert_reads_every_file(&p, &mut short);
    let behaviour = CardBehaviour {
        max_le: 65_536,
        ..CardBehaviour::default()
    };
    let mut extended = reader(&p, behaviour);
    extended.set_max_read(4096);
    extended.authenticate(&mrz(&p)).unwrap();
    assert_reads_every_file(&p, &mut extended);
    assert!(extended.stats().apdus * 4 < short.stats().apdus);
}

#[test]
fn chip_without_extended_length_is_read_with_short_apdus() {
    let p = passport_with_portrait(3000);
    let behaviour = CardBehaviour {
        extended_length: false,
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.set_max_read(4096);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_reads_every_file(&p, &mut reader);
    assert!(reader.max_read() <= 256);
}

#[test]
fn offsets_past_32767_are_read_with_the_odd_instruction() {
    let p = passport_with_portrait(40_000);
    assert!(p.dg2.len() > 0x8000);
    let params = pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 12);
    let mut reader = reader(&p, with_pace(params));
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(
        reader.read_file(FileId::data_group(2).unwrap()).unwrap(),
        p.dg2
    );
}

#[test]
fn odd_offsets_past_32767_work_with_3des_and_extended_length() {
    let p = passport_with_portrait(40_001);
    let behaviour = CardBehaviour {
        max_le: 65_536,
        ..CardBehaviour::default()
    };
    let mut reader = reader(&p, behaviour);
    reader.set_max_read(1001);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(
        reader.read_file(FileId::data_group(2).unwrap()).unwrap(),
        p.dg2
    );
}

#[test]
fn active_authentication_answer_verifies_with_the_server_challenge_rsa() {
    let p = TestPassport::builder()
        .active_authentication(AaConfig::Rsa {
            hash: HashAlgorithm::Sha256,
        })
        .build()
        .unwrap();
    let mut reader = reader(&p, CardBehaviour::default());
    reader.authenticate(&mrz(&p)).unwrap();
    let files = reader.read_document().unwrap();
    let challenge = Challenge::issue().unwrap();
    let signature = reader.active_authenticate(challenge.bytes()).unwrap();
    challenge
        .verify(files.dg15_spki().unwrap(), &signature, None)
        .unwrap();
}

#[test]
fn active_authentication_answer_verifies_with_the_server_challenge_ecdsa() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .active_authentication(AaConfig::Ecdsa {
            curve: CurveId::BrainpoolP256r1,
            hash: HashAlgorithm::Sha256,
        })
        .build()
        .unwrap();
    let params = pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13);
    let mut reader = reader(&p, with_pace(params));
    reader.authenticate(&mrz(&p)).unwrap();
    let files = reader.read_document().unwrap();
    let challenge = Challenge::issue().unwrap();
    let signature = reader.active_authenticate(challenge.bytes()).unwrap();
    challenge
        .verify(
            files.dg15_spki().unwrap(),
            &signature,
            p.aa_signature_algorithm().as_ref(),
        )
        .unwrap();
}

#[test]
fn relayed_chip_authentication_is_verified_by_the_server_session() {
    for ca in [
        CaConfig::Ecdh {
            curve: CurveId::P256,
            cipher: SmCipher::Aes128,
        },
        CaConfig::Ecdh {
            curve: CurveId::BrainpoolP256r1,
            cipher: SmCipher::Tdes,
        },
        CaConfig::Dh {
            cipher: SmCipher::Aes256,
        },
    ] {
        let p = TestPassport::builder()
            .algorithm(Algo::EcdsaP256)
            .chip_authentication(ca)
            .build()
            .unwrap();
        let mut reader = reader(&p, CardBehaviour::default());
        reader.authenticate(&mrz(&p)).unwrap();
        let files = reader.read_document().unwrap();
        let infos = files.parsed_dg14().unwrap().unwrap();
        let params = emrtd::chip_auth::ChipAuthParams::from_security_infos(&infos)
            .unwrap()
            .unwrap();
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let (session, instructions) = ChipAuthSession::start(&params, &mut rng).unwrap();
        let response = reader.relay_chip_authentication(&instructions).unwrap();
        let outcome = session.verify_response(&response).unwrap();
        assert!(outcome.matches_ef_com(&files.com), "{ca:?}");
    }
}

#[test]
fn terminal_chip_authentication_switches_secure_messaging_to_the_new_keys() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .chip_authentication(CaConfig::Ecdh {
            curve: CurveId::BrainpoolP256r1,
            cipher: SmCipher::Aes128,
        })
        .build()
        .unwrap();
    let params = pace(PaceMapping::EcdhGeneric, SmCipher::Aes256, 13);
    let mut reader = reader(&p, with_pace(params));
    reader.authenticate(&mrz(&p)).unwrap();
    let dg14 = reader.read_file(FileId::data_group(14).unwrap()).unwrap();
    let infos = emrtd::lds::dg14::parse(&dg14).unwrap();
    let ca = emrtd::chip_auth::ChipAuthParams::from_security_infos(&infos)
        .unwrap()
        .unwrap();
    let outcome = reader.chip_authenticate(&ca).unwrap();
    assert!(outcome.matches_ef_com(&p.com));
    assert_eq!(reader.secure_channel().unwrap().cipher(), SmCipher::Aes128);
    assert_eq!(
        reader.read_file(FileId::data_group(1).unwrap()).unwrap(),
        p.dg1
    );
}

#[test]
fn chip_authentication_with_a_substituted_dg14_key_fails_the_proof() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .chip_authentication(CaConfig::Ecdh {
            curve: CurveId::P256,
            cipher: SmCipher::Aes128,
        })
        .failure(emrtd::testkit::Failure::WrongCaKey)
        .build()
        .unwrap();
    let mut reader = reader(&p, CardBehaviour::default());
    reader.authenticate(&mrz(&p)).unwrap();
    let files = reader.read_document().unwrap();
    let infos = files.parsed_dg14().unwrap().unwrap();
    let ca = emrtd::chip_auth::ChipAuthParams::from_security_infos(&infos)
        .unwrap()
        .unwrap();
    assert!(reader.chip_authenticate(&ca).is_err());
}

#[test]
fn reader_over_a_boxed_transport_is_send_for_binding_generators() {
    fn assert_send<T: Send>(_: &T) {}
    let p = passport();
    let transport: Box<dyn emrtd::reader::Transport + Send> =
        Box::new(VirtualCard::new(&p, CardBehaviour::default()).unwrap());
    let mut reader = Reader::new(transport);
    assert_send(&reader);
    reader.authenticate(&mrz(&p)).unwrap();
    assert_eq!(reader.read_file(FileId::COM).unwrap(), p.com);
}

#[test]
fn terminal_falls_back_to_bac_when_the_chip_refuses_its_own_pace_offer() {
    let p = passport();
    let behaviour = CardBehaviour {
        pace_refused: true,
        ..with_pace(pace(PaceMapping::EcdhGeneric, SmCipher::Aes128, 13))
    };
    let mut reader = reader(&p, behaviour);
    assert_eq!(reader.authenticate(&mrz(&p)).unwrap(), AccessProtocol::Bac);
    assert_reads_every_file(&p, &mut reader);
}
