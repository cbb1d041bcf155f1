//! PACE with the Generic Mapping reproduced byte for byte from the worked examples of ICAO Doc
//! 9303-11, Appendix G: G.1 (ECDH on brainpoolP256r1, `id-PACE-ECDH-GM-AES-CBC-CMAC-128`) and
//! G.2 (DH on the 1024-bit MODP group with 160-bit subgroup, `id-PACE-DH-GM-AES-CBC-CMAC-128`),
//! both with the MRZ `T22000129 3 640812 5 101031 8` as password. The terminal's two private
//! keys come from the example, and a scripted transport checks every command (MSE:Set AT, the
//! four GENERAL AUTHENTICATE steps: mapping key, agreement key on the mapped generator, token)
//! and answers with the chip's published responses. The session keys are then checked by the
//! first protected command, built independently from the published `KS_enc` / `KS_mac`.
//!
//! Provenance: the values of ICAO 9303-11 Appendix G as quoted in public PACE test suites
//! (e.g. the Dart `dmrtd` tests, `gmrtd`'s `pace_test.go`, a C++ PACE test suite); every value
//! here is also derived by this crate, so a transcription error would fail the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::collections::VecDeque;

use emrtd::reader::{
    AccessKey, MrzKey, PaceMapping, PaceParams, ReadError, Reader, Transport, TransportError,
    mapped_generator,
};
use emrtd::sm::{PlainCommand, SecureChannel, SmCipher, derive_key};
use zeroize::Zeroizing;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

struct Script(VecDeque<(Vec<u8>, Vec<u8>)>);

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

fn key() -> AccessKey {
    AccessKey::Mrz(MrzKey::new("T22000129", "640812", "101031").unwrap())
}

fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    match value.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend(value);
    out
}

/// A short case-4 APDU.
fn apdu(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = hex(header);
    out.push(data.len() as u8);
    out.extend(data);
    out.push(0);
    out
}

fn ok(data: Vec<u8>) -> Vec<u8> {
    let mut out = data;
    out.extend([0x90, 0x00]);
    out
}

mod g1 {
    pub const MAP_T_PRIV: &str = "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99";
    pub const MAP_T_PUB: &str = "04 7ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E 544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D";
    pub const MAP_C_PUB: &str = "04 824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57 30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54";
    pub const MAPPED: &str = "04 8CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2 8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522";
    pub const AGR_T_PRIV: &str = "A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595";
    pub const AGR_T_PUB: &str = "04 2DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C 3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462";
    pub const AGR_C_PUB: &str = "04 9E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB 7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094";
    pub const NONCE: &str = "3F00C4D39D153F2B2A214A078D899B22";
    pub const ENC_NONCE: &str = "95A3A016522EE98D01E76CB6B98B42C3";
    pub const KS_ENC: &str = "F5F0E35C0D7161EE6724EE513A0D9A7F";
    pub const KS_MAC: &str = "FE251C7858B356B24514B3BD5F4297D1";
    pub const T_IFD: &str = "C2B0BD78D94BA866";
    pub const T_IC: &str = "3ABB9674BCE93C08";
}

mod g2 {
    pub const MAP_T_PRIV: &str = "5265030F751F4AD18B08AC565FC7AC952E41618D";
    pub const MAP_T_PUB: &str = "23FB3749EA030D2A25B278D2A562047ADE3F01B74F17A15402CB7352CA7D2B3EB71C343DB13D1DEBCE9A3666DBCFC920B49174A602CB47965CAA73DC702489A44D41DB914DE9613DC5E98C94160551C0DF86274B9359BC0490D01B03AD54022DCB4F57FAD6322497D7A1E28D46710F461AFE710FBBBC5F8BA166F4311975EC6C";
    pub const MAP_C_PUB: &str = "78879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E623EA5738B26381E4DA19E004706FACE7B235C2DBF2F38748312F3C98C2DD4882A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6783FE42C9F2449400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6";
    pub const MAPPED: &str = "7C9CBFE98F9FBDDA8D143506FA7D9306F4CB17E3C71707AFF5E1C1A12370249684D64EE37AF44B8DBD9D45BF6023919CBAA027AB97ACC771666C8E98FF483301BFA4872DEDE9034EDFACB70814166B7F360676829B826BEA57291B5AD69FBC84EF1E779032A305803F74341793E869742D401325B37EE8565FFCDEE618342DC5";
    pub const AGR_T_PRIV: &str = "89CCD99B0E8D3B1F11E1296DCA68EC53411CF2CA";
    pub const AGR_T_PUB: &str = "907D89E2D425A178AA81AF4A7774EC8E388C115CAE67031E85EECE520BD911551B9AE4D04369F29A02626C86FBC6747CC7BC352645B6161A2A42D44EDA80A08FA8D61B76D3A154AD8A5A51786B0BC07147057871A922212C5F67F43173172236B7747D1671E6D692A3C7D40A0C3C5CE397545D015C175EB5130551EDBC2EE5D4";
    pub const AGR_C_PUB: &str = "075693D9AE941877573E634B6E644F8E60AF17A0076B8B123D9201074D36152BD8B3A213F53820C42ADC79AB5D0AEEC3AEFB91394DA476BD97B9B14D0A65C1FC71A0E019CB08AF55E1F729005FBA7E3FA5DC41899238A250767A6D46DB974064386CD456743585F8E5D90CC8B4004B1F6D866C79CE0584E49687FF61BC29AEA1";
    pub const NONCE: &str = "FA5B7E3E49753A0DB9178B7B9BD898C8";
    pub const ENC_NONCE: &str = "854D8DF5827FA6852D1A4FA701CDDDCA";
    pub const KS_ENC: &str = "2F7F46ADCC9E7E521B45D192FAFA9126";
    pub const KS_MAC: &str = "805A1D27D45A5116F73C54469462B7D8";
    pub const T_IFD: &str = "B46DD9BD4D98381F";
    pub const T_IC: &str = "917F37B5C0E6D8D1";
}

struct Example {
    params: PaceParams,
    oid: &'static str,
    map_t_priv: &'static str,
    map_t_pub: &'static str,
    map_c_pub: &'static str,
    agr_t_priv: &'static str,
    agr_t_pub: &'static str,
    agr_c_pub: &'static str,
    enc_nonce: &'static str,
    ks_enc: &'static str,
    ks_mac: &'static str,
    t_ifd: &'static str,
    t_ic: &'static str,
    /// Extra data objects the chip sends with its token (G.2: a CA reference, tag 87).
    t_ic_extra: Vec<u8>,
}

fn g1() -> Example {
    Example {
        params: PaceParams {
            mapping: PaceMapping::EcdhGeneric,
            cipher: SmCipher::Aes128,
            parameter_id: 13,
            name_parameters: false,
        },
        oid: "04007F00070202040202",
        map_t_priv: g1::MAP_T_PRIV,
        map_t_pub: g1::MAP_T_PUB,
        map_c_pub: g1::MAP_C_PUB,
        agr_t_priv: g1::AGR_T_PRIV,
        agr_t_pub: g1::AGR_T_PUB,
        agr_c_pub: g1::AGR_C_PUB,
        enc_nonce: g1::ENC_NONCE,
        ks_enc: g1::KS_ENC,
        ks_mac: g1::KS_MAC,
        t_ifd: g1::T_IFD,
        t_ic: g1::T_IC,
        t_ic_extra: Vec::new(),
    }
}

fn g2() -> Example {
    Example {
        params: PaceParams {
            mapping: PaceMapping::DhGeneric,
            cipher: SmCipher::Aes128,
            parameter_id: 0,
            name_parameters: false,
        },
        oid: "04007F00070202040102",
        map_t_priv: g2::MAP_T_PRIV,
        map_t_pub: g2::MAP_T_PUB,
        map_c_pub: g2::MAP_C_PUB,
        agr_t_priv: g2::AGR_T_PRIV,
        agr_t_pub: g2::AGR_T_PUB,
        agr_c_pub: g2::AGR_C_PUB,
        enc_nonce: g2::ENC_NONCE,
        ks_enc: g2::KS_ENC,
        ks_mac: g2::KS_MAC,
        t_ifd: g2::T_IFD,
        t_ic: g2::T_IC,
        t_ic_extra: tlv(&[0x87], b"DETESTCVCA00003"),
    }
}

/// The exchange of the example, then a protected SELECT of the eMRTD application under the
/// published session keys (SSC 1 for the command, 2 for the answer).
fn script(ex: &Example, t_ic_response: Option<Vec<u8>>) -> VecDeque<(Vec<u8>, Vec<u8>)> {
    let mut steps = VecDeque::new();
    let mut mse = tlv(&[0x80], &hex(ex.oid));
    mse.extend(hex("830101"));
    let mut mse_apdu = hex("0022C1A4");
    mse_apdu.push(mse.len() as u8);
    mse_apdu.extend(mse);
    steps.push_back((mse_apdu, hex("9000")));
    steps.push_back((
        hex("10860000027C0000"),
        ok(tlv(&[0x7C], &tlv(&[0x80], &hex(ex.enc_nonce)))),
    ));
    steps.push_back((
        apdu("10860000", &tlv(&[0x7C], &tlv(&[0x81], &hex(ex.map_t_pub)))),
        ok(tlv(&[0x7C], &tlv(&[0x82], &hex(ex.map_c_pub)))),
    ));
    steps.push_back((
        apdu("10860000", &tlv(&[0x7C], &tlv(&[0x83], &hex(ex.agr_t_pub)))),
        ok(tlv(&[0x7C], &tlv(&[0x84], &hex(ex.agr_c_pub)))),
    ));
    let mut token = tlv(&[0x86], &hex(ex.t_ic));
    token.extend(&ex.t_ic_extra);
    steps.push_back((
        apdu("00860000", &tlv(&[0x7C], &tlv(&[0x85], &hex(ex.t_ifd)))),
        t_ic_response.unwrap_or_else(|| ok(tlv(&[0x7C], &token))),
    ));
    // SELECT eMRTD application, protected with the published keys by an independent channel.
    let channel = |ssc| {
        SecureChannel::new(
            SmCipher::Aes128,
            Zeroizing::new(hex(ex.ks_enc)),
            Zeroizing::new(hex(ex.ks_mac)),
            ssc,
        )
        .unwrap()
    };
    let select = PlainCommand {
        header: [0x00, 0xA4, 0x04, 0x0C],
        data: hex("A0000002471001"),
        le: None,
    };
    let command = channel(0).wrap_command(&select).unwrap();
    let response = channel(1).wrap_response(&[], 0x9000).unwrap();
    steps.push_back((command, response));
    steps
}

fn reader_for(ex: &Example, steps: VecDeque<(Vec<u8>, Vec<u8>)>) -> Reader<Script> {
    let mut randomness = hex(ex.map_t_priv);
    randomness.extend(hex(ex.agr_t_priv));
    Reader::new(Script(steps)).with_scripted_randomness(&randomness)
}

#[test]
fn password_key_and_nonce_decryption_match_appendix_g() {
    let AccessKey::Mrz(mrz) = key() else {
        unreachable!()
    };
    assert_eq!(*mrz.sha1(), hex("7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD"));
    let k_pi = derive_key(SmCipher::Aes128, &mrz.sha1(), 3);
    assert_eq!(*k_pi, hex("89DED1B26624EC1E634C1989302849DD"));
    for (z, s) in [(g1::ENC_NONCE, g1::NONCE), (g2::ENC_NONCE, g2::NONCE)] {
        let plain = emrtd::sm::cbc_zero_iv(SmCipher::Aes128, &k_pi, &hex(z), false).unwrap();
        assert_eq!(*plain, hex(s));
    }
}

#[test]
fn ecdh_generic_mapping_gives_the_mapped_generator_of_appendix_g1() {
    let ex = g1();
    let mapped = mapped_generator(
        &ex.params,
        &hex(g1::NONCE),
        &hex(g1::MAP_T_PRIV),
        &hex(g1::MAP_C_PUB),
    )
    .unwrap();
    assert_eq!(mapped, hex(g1::MAPPED));
}

#[test]
fn dh_generic_mapping_gives_the_mapped_generator_of_appendix_g2() {
    let ex = g2();
    let mapped = mapped_generator(
        &ex.params,
        &hex(g2::NONCE),
        &hex(g2::MAP_T_PRIV),
        &hex(g2::MAP_C_PUB),
    )
    .unwrap();
    assert_eq!(mapped, hex(g2::MAPPED));
}

#[test]
fn ecdh_pace_exchange_reproduces_appendix_g1_and_its_session_keys() {
    let ex = g1();
    let mut reader = reader_for(&ex, script(&ex, None));
    reader.pace(&key(), ex.params).unwrap();
    assert_eq!(reader.secure_channel().unwrap().ssc(), 2);
}

#[test]
fn dh_pace_exchange_reproduces_appendix_g2_and_its_session_keys() {
    let ex = g2();
    let mut reader = reader_for(&ex, script(&ex, None));
    reader.pace(&key(), ex.params).unwrap();
    assert_eq!(reader.secure_channel().unwrap().ssc(), 2);
}

#[test]
fn chip_refusing_the_terminal_token_is_reported_as_a_wrong_password() {
    let ex = g1();
    let mut reader = reader_for(&ex, script(&ex, Some(hex("6300"))));
    assert_eq!(
        reader.pace(&key(), ex.params),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
    assert!(reader.secure_channel().is_none());
}

#[test]
fn chip_token_that_does_not_verify_is_reported_as_a_wrong_password() {
    let ex = g1();
    let mut bad = tlv(&[0x7C], &tlv(&[0x86], &hex("3ABB9674BCE93C09")));
    bad.extend([0x90, 0x00]);
    let mut reader = reader_for(&ex, script(&ex, Some(bad)));
    assert_eq!(
        reader.pace(&key(), ex.params),
        Err(ReadError::WrongAccessKey { tries_left: None })
    );
}

#[test]
fn card_access_of_appendix_g1_selects_ecdh_gm_aes128_on_brainpool_p256() {
    let card_access = hex("3114 3012060A04007F0007020204020202010202010D");
    assert_eq!(PaceParams::select(&card_access), Some(g1().params));
}

#[test]
fn card_access_offering_only_the_integrated_mapping_selects_nothing() {
    // id-PACE-ECDH-IM-AES-CBC-CMAC-128 (…4.4.2), parameter 13.
    let card_access = hex("3114 3012060A04007F0007020204040202010202010D");
    assert_eq!(PaceParams::select(&card_access), None);
}

#[test]
fn standardized_dh_groups_have_generators_of_the_stated_prime_order() {
    use num_bigint::BigUint;
    for (id, p_bits, q_bits) in [(0u8, 1024, 160), (1, 2048, 224), (2, 2048, 256)] {
        let group = emrtd::reader::standard_dh_group(id).unwrap();
        let q = group.q.clone().unwrap();
        assert_eq!(group.p.bits(), p_bits, "group {id}");
        assert_eq!(q.bits(), q_bits, "group {id}");
        // g generates the order-q subgroup: g^q = 1 and g != 1 (RFC 5114 §2).
        assert_eq!(
            group.g.modpow(&q, &group.p),
            BigUint::from(1u8),
            "group {id}"
        );
        assert!(group.g > BigUint::from(1u8));
        // q divides p - 1.
        assert_eq!((&group.p - 1u8) % &q, BigUint::from(0u8), "group {id}");
    }
}

#[test]
fn card_access_with_several_pace_infos_names_the_parameters_in_mse() {
    // ECDH-GM AES-128 on parameter 13, then DH-GM AES-128 on parameter 0.
    let card_access = hex(
        "3128 3012060A04007F0007020204020202010202010D 3012060A04007F00070202040102020102020100",
    );
    let selected = PaceParams::select(&card_access).unwrap();
    assert_eq!(selected.parameter_id, 13);
    assert!(selected.name_parameters);
}
