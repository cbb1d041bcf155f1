//! Data-group builders (ICAO 9303-10 §4.6–4.7) and the MRZ (ICAO 9303-3/4/5) for test passports.

use time::Date;

use crate::chip_auth::CaProtocol;
use crate::mrz::check_digit;
use crate::tlv::{self, Tag};

use super::TestkitError;

/// The person and document a test passport describes. All values are fictitious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `P<` for a passport (TD3), `ID` for an identity card (TD1).
    pub document_code: String,
    /// ICAO 9303-3 §5 three-letter code, e.g. `NLD`, `D<<`, `UTO`.
    pub issuing_state: String,
    pub surname: String,
    pub given_names: String,
    pub document_number: String,
    pub nationality: String,
    pub date_of_birth: Date,
    /// `F`, `M` or `<` (unspecified, delivered as `X`).
    pub sex: char,
    pub date_of_expiry: Date,
    pub optional_data: String,
}

impl Default for Holder {
    fn default() -> Self {
        Self {
            document_code: "P<".into(),
            issuing_state: "NLD".into(),
            surname: "DE TESTER".into(),
            given_names: "ANNA MARIA".into(),
            document_number: "XT1234567".into(),
            nationality: "NLD".into(),
            date_of_birth: Date::from_calendar_date(1990, time::Month::March, 14)
                .unwrap_or(Date::MIN),
            sex: 'F',
            date_of_expiry: Date::from_calendar_date(2034, time::Month::June, 30)
                .unwrap_or(Date::MAX),
            optional_data: String::new(),
        }
    }
}

/// MRZ layout to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MrzLayout {
    /// Passport, 2 × 44 characters (ICAO 9303-4).
    #[default]
    Td3,
    /// Identity card, 3 × 30 characters (ICAO 9303-5).
    Td1,
}

/// Upper-cases and maps spaces and punctuation to the filler `<` (ICAO 9303-3 §4.6).
fn field(s: &str, len: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            c @ ('A'..='Z' | '0'..='9') => c,
            _ => '<',
        })
        .take(len)
        .collect();
    while out.len() < len {
        out.push('<');
    }
    out
}

fn name_field(h: &Holder, len: usize) -> String {
    field(
        &format!(
            "{}<<{}",
            field(&h.surname, h.surname.len()),
            field(&h.given_names, h.given_names.len())
        ),
        len,
    )
}

fn yymmdd(d: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        d.year().rem_euclid(100),
        u8::from(d.month()),
        d.day()
    )
}

fn digit(s: &str) -> char {
    char::from(b'0' + check_digit(s.as_bytes()))
}

/// The MRZ lines, concatenated without separators, with every check digit computed.
/// `corrupt_check_digit` replaces the document-number check digit with a wrong one.
pub fn mrz(h: &Holder, layout: MrzLayout, corrupt_check_digit: bool) -> String {
    let number = field(&h.document_number, 9);
    let mut number_cd = digit(&number);
    if corrupt_check_digit {
        number_cd = char::from(b'0' + (check_digit(number.as_bytes()) + 1) % 10);
    }
    let dob = yymmdd(h.date_of_birth);
    let doe = yymmdd(h.date_of_expiry);
    let sex = match h.sex {
        'F' | 'M' => h.sex,
        _ => '<',
    };
    match layout {
        MrzLayout::Td3 => {
            let line1 = format!(
                "{}{}{}",
                field(&h.document_code, 2),
                field(&h.issuing_state, 3),
                name_field(h, 39)
            );
            let optional = field(&h.optional_data, 14);
            let optional_cd = if h.optional_data.is_empty() {
                '<'
            } else {
                digit(&optional)
            };
            let composite_src = format!(
                "{number}{number_cd}{dob}{}{doe}{}{optional}{optional_cd}",
                digit(&dob),
                digit(&doe)
            );
            let line2 = format!(
                "{number}{number_cd}{}{dob}{}{sex}{doe}{}{optional}{optional_cd}{}",
                field(&h.nationality, 3),
                digit(&dob),
                digit(&doe),
                digit(&composite_src)
            );
            format!("{line1}{line2}")
        }
        MrzLayout::Td1 => {
            let optional1 = field(&h.optional_data, 15);
            let line1 = format!(
                "{}{}{number}{number_cd}{optional1}",
                field(&h.document_code, 2),
                field(&h.issuing_state, 3)
            );
            let optional2 = field("", 11);
            let line2_head = format!(
                "{dob}{}{sex}{doe}{}{}{optional2}",
                digit(&dob),
                digit(&doe),
                field(&h.nationality, 3)
            );
            // Composite (ICAO 9303-5 §4.2.2): line 1 positions 6–30, line 2 positions 1–7, 9–15, 19–29.
            let composite_src = format!(
                "{}{}{}{}",
                line1.get(5..30).unwrap_or_default(),
                line2_head.get(0..7).unwrap_or_default(),
                line2_head.get(8..15).unwrap_or_default(),
                line2_head.get(18..29).unwrap_or_default()
            );
            let line2 = format!("{line2_head}{}", digit(&composite_src));
            format!("{line1}{line2}{}", name_field(h, 30))
        }
    }
}

/// DG1: `61 { 5F1F MRZ }` (ICAO 9303-10 §4.7.1).
pub fn dg1(mrz: &str) -> Vec<u8> {
    tlv::encode(Tag(0x61), &tlv::encode(Tag(0x5F1F), mrz.as_bytes()))
}

/// DG2 with one ISO/IEC 19794-5:2005 facial record in a biometric information template
/// (ICAO 9303-10 §4.7.2): `75 { 7F61 { 02 count, 7F60 { A1 header, 5F2E record } } }`.
pub fn dg2(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    // Facial information block (19794-5 §5.5) + image information (§5.7), then the image.
    let mut block = Vec::new();
    let block_len = u32::try_from(20 + 12 + jpeg.len()).unwrap_or(u32::MAX);
    block.extend(block_len.to_be_bytes());
    block.extend([0, 0]); // feature points
    block.extend([0, 0, 0]); // gender, eye colour, hair colour: unspecified
    block.extend([0, 0, 0]); // property mask
    block.extend([0, 0]); // expression
    block.extend([0, 0, 0, 0, 0, 0]); // pose angle and uncertainty
    block.push(0x01); // face image type: full frontal
    block.push(0x00); // image data type: JPEG
    block.extend(width.to_be_bytes());
    block.extend(height.to_be_bytes());
    block.push(0x01); // colour space: sRGB
    block.push(0x02); // source type: digital camera
    block.extend([0, 0, 0, 0]); // device type, quality
    block.extend_from_slice(jpeg);
    let mut record = b"FAC\x00010\x00".to_vec();
    record.extend(
        u32::try_from(14 + block.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    record.extend([0, 1]); // one facial image
    record.extend(block);

    let mut header = tlv::encode(Tag(0x80), &[0x01, 0x01]); // ICAO header version 1.1
    header.extend(tlv::encode(Tag(0x81), &[0x02])); // biometric type: facial features
    header.extend(tlv::encode(Tag(0x87), &[0x01, 0x01])); // format owner: ISO/IEC JTC 1/SC 37
    header.extend(tlv::encode(Tag(0x88), &[0x00, 0x08])); // format type: face image
    let mut bit = tlv::encode(Tag(0xA1), &header);
    bit.extend(tlv::encode(Tag(0x5F2E), &record));
    let mut group = tlv::encode(Tag(0x02), &[0x01]);
    group.extend(tlv::encode(Tag(0x7F60), &bit));
    tlv::encode(Tag(0x75), &tlv::encode(Tag(0x7F61), &group))
}

/// DG15: `6F { SubjectPublicKeyInfo }` (ICAO 9303-10 §4.7.15).
pub fn dg15(aa_spki: &[u8]) -> Vec<u8> {
    tlv::encode(Tag(0x6F), aa_spki)
}

/// DG14 `SecurityInfos` (ICAO 9303-11 §9.2): a `ChipAuthenticationPublicKeyInfo`, a
/// `ChipAuthenticationInfo` and, for ECDSA active authentication, an `ActiveAuthenticationInfo`.
pub fn dg14(
    ca: Option<(CaProtocol, &[u8])>,
    aa_signature_algorithm: Option<der::asn1::ObjectIdentifier>,
) -> Vec<u8> {
    let oid = |o: der::asn1::ObjectIdentifier| tlv::encode(Tag(0x06), o.as_bytes());
    let int1 = tlv::encode(Tag(0x02), &[0x01]);
    let mut infos: Vec<Vec<u8>> = Vec::new();
    if let Some((protocol, spki)) = ca {
        let pk_oid = match protocol.agreement {
            crate::chip_auth::KeyAgreement::Ecdh => crate::chip_auth::oid::ID_PK_ECDH,
            crate::chip_auth::KeyAgreement::Dh => crate::chip_auth::oid::ID_PK_DH,
        };
        let mut pk = oid(pk_oid);
        pk.extend_from_slice(spki);
        infos.push(tlv::encode(Tag(0x30), &pk));
        let mut info = oid(protocol.oid());
        info.extend(&int1);
        infos.push(tlv::encode(Tag(0x30), &info));
    }
    if let Some(alg) = aa_signature_algorithm {
        let mut info = oid(crate::active::ID_AA);
        info.extend(&int1);
        info.extend(oid(alg));
        infos.push(tlv::encode(Tag(0x30), &info));
    }
    // DER SET OF: elements in ascending order of their encodings (X.690 §11.6).
    infos.sort();
    tlv::encode(Tag(0x6E), &tlv::encode(Tag(0x31), &infos.concat()))
}

/// EF.COM (ICAO 9303-10 §4.6.1): LDS version 1.7, Unicode 4.0.0 and the tag list.
pub fn ef_com(data_group_tags: &[u8]) -> Vec<u8> {
    let mut body = tlv::encode(Tag(0x5F01), b"0107");
    body.extend(tlv::encode(Tag(0x5F36), b"040000"));
    body.extend(tlv::encode(Tag(0x5C), data_group_tags));
    tlv::encode(Tag(0x60), &body)
}

/// Changes one byte of data group `number` so that its hash changes but it still parses:
/// a filler of DG1's name field (not covered by any check digit), the "gender" byte of DG2's
/// ISO/IEC 19794-5 facial information, or the last byte of any other group.
///
/// # Errors
/// [`TestkitError::Input`] for an empty data group.
pub fn tamper(number: u8, dg: &mut [u8]) -> Result<(), TestkitError> {
    let find = |dg: &[u8], needle: &[u8]| dg.windows(needle.len()).position(|w| w == needle);
    let index = match number {
        // Last character of the name field: TD3 line 1 ends at MRZ offset 43, TD1 line 3 at 89.
        1 => find(dg, &[0x5F, 0x1F]).map(|at| {
            let mrz_start = at + 3;
            let mrz_len = dg.len() - mrz_start;
            mrz_start + if mrz_len == 90 { 89 } else { 43 }
        }),
        2 => find(dg, b"FAC\0").map(|at| at + 20),
        _ => None,
    };
    let index = index.unwrap_or(dg.len().saturating_sub(1));
    let byte = dg
        .get_mut(index)
        .ok_or(TestkitError::Input("empty data group"))?;
    *byte = match *byte {
        b'<' => b'X',
        b'X' => b'<',
        other => other ^ 0x01,
    };
    Ok(())
}
