//! LDS data groups (ICAO 9303-10): the BSI "Erika Mustermann" reference files, and generated
//! files for every branch and error (ISO/IEC 19794-5 and 39794-5 faces, JPEG and JPEG 2000,
//! DG14 SecurityInfos, DG15 RSA/EC keys).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use der::asn1::ObjectIdentifier;
use emrtd::lds::dg2::{FaceEncoding, ImageFormat};
use emrtd::lds::dg14::{AaSignatureAlgorithm, CaCipher, HashAlgorithm, KeyAgreement, SecurityInfo};
use emrtd::lds::dg15::{EcCurve, PublicKeyKind};
use emrtd::lds::{DataGroup, FaceRecordProblem, LdsError, com, dg1, dg2, dg14, dg15};
use emrtd::mrz::{MrzError, MrzField, Sex};
use emrtd::tlv::{self, Tag, TlvError};
use proptest::prelude::*;
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2026 - 11 - 22);

/// Images generated once with Pillow (24x16 RGB gradient; a grey J2K codestream).
const JPEG_24X16: &str = "\
    ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912\
    130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffdb0043010909\
    090c0b0c180d0d1832211c21323232323232323232323232323232323232323232323232323232323232323232323232\
    3232323232323232323232323232ffc00011080010001803012200021101031101ffc4001f0000010501010101010100\
    000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221\
    31410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a\
    434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596979899\
    9aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1\
    f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100\
    020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f015\
    6272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869\
    6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4\
    c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f00f3\
    7b6d13a7cb5b16da274f96baeb6d13a7c95b16da274f92bb6be69e679b95e73b6a7236da274f928af46b6d13a7cb4579\
    53cd35dcfbdc3673fbb5a9ffd9";
const JP2_24X16: &str = "\
    0000000c6a5020200d0a870a00000014667479706a703220000000006a7032200000002d6a7032680000001669686472\
    00000010000000180003070700000000000f636f6c7201000000000010000000e36a703263ff4fff51002f0000000000\
    18000000100000000000000000000000180000001000000000000000000003070101070101070101ff52000c00000001\
    000404040001ff5c00104040484850484850484850484850ff640025000143726561746564206279204f70656e4a5045\
    472076657273696f6e20322e352e34ff90000a00000000005f0001ff93df802006edff7fc7d4060851bf80c07c208008\
    a7e0060273a380c3ea030011436fa3ed05000b3b9aa28f80c1f383002c5bd3a1f5030003826156669f80c0f903004b25\
    54e29eb7a07c8140522a4e6cdf80ffd9";
const J2K_GRAY_24X16: &str = "\
    ff4fff510029000000000018000000100000000000000000000000180000001000000000000000000001070101ff5200\
    0c00000001000404040001ff5c00104040484850484850484850484850ff640025000143726561746564206279204f70\
    656e4a5045472076657273696f6e20322e352e34ff90000a00000000005f0001ff93cfb40c06ff1fc03a0c7da0600702\
    4557c0f901c3ea0580110011395f0b3c23917f0d7fc07c21c1f3868011002c5ab70382500168b2239fc03a2c0f905400\
    8c4b253af6bf522a4c0adf7389ff6c7f2ddc9fffd9";

fn hx(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn enc(tag: u32, parts: &[&[u8]]) -> Vec<u8> {
    tlv::encode(Tag(tag), &parts.concat())
}

fn oid(s: &str) -> Vec<u8> {
    enc(0x06, &[ObjectIdentifier::new_unwrap(s).as_bytes()])
}

fn int(v: u8) -> Vec<u8> {
    enc(0x02, &[&[v]])
}

/// The BSI reference passport files, or `None` (test skipped) when the shared test data is absent.
fn bsi(name: &str) -> Option<Vec<u8>> {
    idgate_testkit::read_shared_testdata(&format!("emrtd/bsi-erika/{name}"))
}

// ---- EF.COM ----

#[test]
fn bsi_com_lists_its_data_groups() {
    let Some(bytes) = bsi("EF_COM.bin") else {
        return;
    };
    let c = com::parse(&bytes).unwrap();
    assert_eq!(c.lds_version, "0107");
    assert_eq!(c.unicode_version, "040000");
    assert_eq!(
        c.data_groups,
        [
            DataGroup::Dg1,
            DataGroup::Dg2,
            DataGroup::Dg3,
            DataGroup::Dg4,
            DataGroup::Dg14
        ]
    );
}

fn com_file(version: &[u8], tags: &[u8]) -> Vec<u8> {
    enc(
        0x60,
        &[
            &enc(0x5F01, &[version]),
            &enc(0x5F36, &[b"040000"]),
            &enc(0x5C, &[tags]),
        ],
    )
}

#[test]
fn com_with_unknown_tag_in_list_is_rejected() {
    assert_eq!(
        com::parse(&com_file(b"0108", &[0x61, 0x77])).unwrap_err(),
        LdsError::UnknownDataGroupTag { tag: 0x77 }
    );
}

#[test]
fn com_version_must_be_digits() {
    assert_eq!(
        com::parse(&com_file(b"01x8", &[0x61])).unwrap_err(),
        LdsError::InvalidVersion { tag: Tag(0x5F01) }
    );
}

#[test]
fn com_without_tag_list_is_rejected() {
    let bytes = enc(
        0x60,
        &[&enc(0x5F01, &[b"0108"]), &enc(0x5F36, &[b"040000"])],
    );
    assert_eq!(
        com::parse(&bytes).unwrap_err(),
        LdsError::Tlv(TlvError::MissingTag { tag: Tag(0x5C) })
    );
}

#[test]
fn data_group_numbers_and_tags_follow_9303_10() {
    assert_eq!(DataGroup::Dg2.tag(), Tag(0x75));
    assert_eq!(DataGroup::Dg15.number(), 15);
    assert_eq!(DataGroup::from_number(14), Some(DataGroup::Dg14));
    assert_eq!(DataGroup::from_number(0), None);
    assert_eq!(DataGroup::from_number(17), None);
    assert_eq!(DataGroup::from_tag(Tag(0x6F)), Some(DataGroup::Dg15));
}

// ---- DG1 ----

#[test]
fn bsi_dg1_is_erika_mustermanns_td3() {
    let Some(bytes) = bsi("Datagroup1.bin") else {
        return;
    };
    let m = dg1::parse(&bytes, TODAY).unwrap();
    assert_eq!(m.primary_identifier, "MUSTERMANN");
    assert_eq!(m.secondary_identifier, "ERIKA");
    assert_eq!(m.issuing_state, "D");
    assert_eq!(m.document_number, "C11T002JM");
    assert_eq!(m.date_of_birth.date(), Some(date!(1996 - 08 - 12)));
    assert_eq!(m.sex, Sex::Female);
    assert_eq!(m.date_of_expiry, date!(2023 - 10 - 31));
}

const TD3: &[u8] =
    b"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10";

#[test]
fn dg1_with_another_outer_tag_is_rejected() {
    let bytes = enc(0x75, &[&enc(0x5F1F, &[TD3])]);
    assert_eq!(
        dg1::parse(&bytes, TODAY).unwrap_err(),
        LdsError::Tlv(TlvError::UnexpectedTag {
            expected: Tag(0x61),
            found: Tag(0x75)
        })
    );
}

#[test]
fn dg1_check_digit_errors_pass_through() {
    let mut mrz = TD3.to_vec();
    mrz[63] = b'5';
    let bytes = enc(0x61, &[&enc(0x5F1F, &[&mrz])]);
    assert_eq!(
        dg1::parse(&bytes, TODAY).unwrap_err(),
        LdsError::Mrz(MrzError::CheckDigit {
            field: MrzField::DateOfBirth,
            expected: 2,
            found: 5
        })
    );
}

#[test]
fn dg1_with_trailing_bytes_is_rejected() {
    let mut bytes = enc(0x61, &[&enc(0x5F1F, &[TD3])]);
    bytes.push(0);
    assert!(matches!(
        dg1::parse(&bytes, TODAY).unwrap_err(),
        LdsError::Tlv(TlvError::TrailingData { .. })
    ));
}

// ---- DG2 ----

#[test]
fn bsi_dg2_portrait_is_jpeg2000_and_decodes_to_pixels() {
    let Some(bytes) = bsi("Datagroup2.bin") else {
        return;
    };
    let d = dg2::parse(&bytes).unwrap();
    let p = d.primary();
    assert_eq!(p.format, ImageFormat::Jpeg2000);
    assert_eq!(p.encoding, FaceEncoding::Iso19794);
    assert_eq!((p.width, p.height), (337, 449));
    assert_eq!(d.portraits().count(), 1);
    // A real-world quirk: the record header declares 337x449, the JP2 itself is 413x531. The
    // decoder trusts the image's own header.
    let img = p.decode().unwrap();
    assert_eq!((img.width, img.height), (413, 531));
    assert_eq!(img.rgb.len(), 413 * 531 * 3);
    // A real photo is not one flat colour.
    assert!(img.rgb.iter().min() != img.rgb.iter().max());
}

/// One ISO/IEC 19794-5:2005 facial record block (§5.5–§5.8) around `image`.
fn facial_block(
    image: &[u8],
    data_type: u8,
    width: u16,
    height: u16,
    feature_points: u16,
) -> Vec<u8> {
    let len = 20 + 8 * feature_points as usize + 12 + image.len();
    let mut b = (len as u32).to_be_bytes().to_vec();
    b.extend(feature_points.to_be_bytes());
    b.extend([0u8; 14]); // gender, eyes, hair, feature mask, expression, pose angle and uncertainty
    b.extend(vec![0u8; 8 * feature_points as usize]);
    b.extend([1, data_type]);
    b.extend(width.to_be_bytes());
    b.extend(height.to_be_bytes());
    b.extend([1, 2, 0, 0, 0, 0]); // colour space, source type, device type, quality
    b.extend(image);
    b
}

fn face_record(blocks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = blocks.concat();
    let mut r = [b"FAC\0".as_slice(), b"010\0"].concat();
    r.extend(((14 + body.len()) as u32).to_be_bytes());
    r.extend((blocks.len() as u16).to_be_bytes());
    r.extend(body);
    r
}

fn bit(data_block: &[u8]) -> Vec<u8> {
    let bht = enc(
        0xA1,
        &[
            &enc(0x81, &[&[0x02]]),
            &enc(0x87, &[&[0x01, 0x01]]),
            &enc(0x88, &[&[0x00, 0x08]]),
        ],
    );
    enc(0x7F60, &[&bht, data_block])
}

fn dg2_file(count: u8, templates: &[Vec<u8>]) -> Vec<u8> {
    enc(0x75, &[&enc(0x7F61, &[&int(count), &templates.concat()])])
}

fn dg2_19794(image: &[u8], data_type: u8) -> Vec<u8> {
    let record = face_record(&[facial_block(image, data_type, 24, 16, 0)]);
    dg2_file(1, &[bit(&enc(0x5F2E, &[&record]))])
}

#[test]
fn iso19794_jpeg_portrait_decodes_to_rgb() {
    let d = dg2::parse(&dg2_19794(&hx(JPEG_24X16), 0)).unwrap();
    let p = d.primary();
    assert_eq!((p.format, p.width, p.height), (ImageFormat::Jpeg, 24, 16));
    assert_eq!(p.data, hx(JPEG_24X16));
    let img = p.decode().unwrap();
    assert_eq!(
        (img.width, img.height, img.rgb.len()),
        (24, 16, 24 * 16 * 3)
    );
    // The generator drew red = 10 * x, so the right edge is redder than the left.
    assert!(img.rgb[3 * 23] > img.rgb[0] + 100);
}

#[test]
fn iso19794_jp2_portrait_decodes_to_rgb() {
    let img = dg2::parse(&dg2_19794(&hx(JP2_24X16), 1))
        .unwrap()
        .primary()
        .decode()
        .unwrap();
    assert_eq!(
        (img.width, img.height, img.rgb.len()),
        (24, 16, 24 * 16 * 3)
    );
    assert!(img.rgb[3 * 23] > img.rgb[0] + 100);
}

#[test]
fn grey_jpeg2000_codestream_decodes_to_rgb() {
    let d = dg2::parse(&dg2_19794(&hx(J2K_GRAY_24X16), 1)).unwrap();
    assert_eq!(d.primary().format, ImageFormat::Jpeg2000);
    let img = d.primary().decode().unwrap();
    assert_eq!(img.rgb.len(), 24 * 16 * 3);
    assert!(img.rgb.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
}

#[test]
fn feature_points_are_skipped() {
    let record = face_record(&[facial_block(&hx(JPEG_24X16), 0, 24, 16, 3)]);
    let d = dg2::parse(&dg2_file(1, &[bit(&enc(0x5F2E, &[&record]))])).unwrap();
    assert_eq!(d.primary().data, hx(JPEG_24X16));
}

#[test]
fn every_image_is_returned_and_the_first_is_primary() {
    let record = face_record(&[
        facial_block(&hx(JP2_24X16), 1, 24, 16, 0),
        facial_block(&hx(JPEG_24X16), 0, 24, 16, 0),
    ]);
    let second = face_record(&[facial_block(&hx(J2K_GRAY_24X16), 1, 24, 16, 0)]);
    let d = dg2::parse(&dg2_file(
        2,
        &[bit(&enc(0x5F2E, &[&record])), bit(&enc(0x5F2E, &[&second]))],
    ))
    .unwrap();
    let formats: Vec<_> = d.portraits().map(|p| p.format).collect();
    assert_eq!(
        formats,
        [
            ImageFormat::Jpeg2000,
            ImageFormat::Jpeg,
            ImageFormat::Jpeg2000
        ]
    );
    assert_eq!(d.primary().data, hx(JP2_24X16));
}

#[test]
fn instance_count_must_match_the_templates() {
    let record = face_record(&[facial_block(&hx(JPEG_24X16), 0, 24, 16, 0)]);
    assert_eq!(
        dg2::parse(&dg2_file(2, &[bit(&enc(0x5F2E, &[&record]))])).unwrap_err(),
        LdsError::BiometricCountMismatch {
            declared: 2,
            found: 1
        }
    );
}

#[test]
fn template_without_data_block_is_rejected() {
    let bht = enc(0xA1, &[&enc(0x81, &[&[0x02]])]);
    let bytes = dg2_file(1, &[enc(0x7F60, &[&bht])]);
    assert_eq!(
        dg2::parse(&bytes).unwrap_err(),
        LdsError::MissingBiometricDataBlock
    );
}

#[test]
fn record_without_images_has_no_portrait() {
    let bytes = dg2_file(1, &[bit(&enc(0x5F2E, &[&face_record(&[])]))]);
    assert_eq!(dg2::parse(&bytes).unwrap_err(), LdsError::NoPortrait);
}

#[test]
fn face_record_with_wrong_identifier_or_version_is_rejected() {
    let mut record = face_record(&[facial_block(&hx(JPEG_24X16), 0, 24, 16, 0)]);
    record[5] = b'3';
    let bytes = dg2_file(1, &[bit(&enc(0x5F2E, &[&record]))]);
    assert_eq!(
        dg2::parse(&bytes).unwrap_err(),
        LdsError::FaceRecord {
            offset: 4,
            reason: FaceRecordProblem::UnsupportedVersion
        }
    );
    record[0] = b'F';
    record[1] = b'I';
    let bytes = dg2_file(1, &[bit(&enc(0x5F2E, &[&record]))]);
    assert_eq!(
        dg2::parse(&bytes).unwrap_err(),
        LdsError::FaceRecord {
            offset: 0,
            reason: FaceRecordProblem::NotAFaceRecord
        }
    );
}

#[test]
fn facial_block_longer_than_the_record_is_rejected() {
    let mut record = face_record(&[facial_block(&hx(JPEG_24X16), 0, 24, 16, 0)]);
    record[14..18].copy_from_slice(&10_000u32.to_be_bytes());
    let bytes = dg2_file(1, &[bit(&enc(0x5F2E, &[&record]))]);
    assert_eq!(
        dg2::parse(&bytes).unwrap_err(),
        LdsError::FaceRecord {
            offset: 14,
            reason: FaceRecordProblem::BadLength
        }
    );
}

#[test]
fn record_length_beyond_the_data_is_rejected() {
    let mut record = face_record(&[facial_block(&hx(JPEG_24X16), 0, 24, 16, 0)]);
    record[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    let bytes = dg2_file(1, &[bit(&enc(0x5F2E, &[&record]))]);
    assert_eq!(
        dg2::parse(&bytes).unwrap_err(),
        LdsError::FaceRecord {
            offset: 8,
            reason: FaceRecordProblem::BadLength
        }
    );
}

#[test]
fn unknown_image_bytes_are_rejected() {
    assert_eq!(
        dg2::parse(&dg2_19794(b"GIF89a....", 0)).unwrap_err(),
        LdsError::UnknownImageFormat
    );
}

#[test]
fn portrait_debug_does_not_print_image_bytes() {
    let d = dg2::parse(&dg2_19794(&hx(JPEG_24X16), 0)).unwrap();
    let text = format!("{:?}", d.primary());
    assert!(
        text.contains("data_len: 685") && !text.contains("255, 216"),
        "{text}"
    );
}

/// An ISO/IEC 39794-5 FaceImageDataBlock (wrapped in [1] as ICAO's DG2 profile does).
fn face_data_block_39794(image: &[u8], size: Option<(u8, u8)>) -> Vec<u8> {
    let format = enc(0xA0, &[&enc(0x80, &[&[0x02]])]);
    let size_block = size
        .map(|(w, h)| enc(0xA7, &[&enc(0x80, &[&[w]]), &enc(0x81, &[&[h]])]))
        .unwrap_or_default();
    let info = enc(0xA1, &[&format, &size_block]);
    let two_d = enc(0xA0, &[&enc(0x80, &[image]), &info]);
    let representation = enc(
        0x30,
        &[&enc(0x80, &[&[0]]), &enc(0xA1, &[&enc(0xA0, &[&two_d])])],
    );
    let version = enc(0xA0, &[&enc(0x80, &[&[3]]), &enc(0x81, &[&[0x07, 0xE3]])]);
    let face = enc(0x65, &[&version, &enc(0xA1, &[&representation])]);
    enc(0x7F2E, &[&enc(0xA1, &[&face])])
}

#[test]
fn iso39794_face_data_block_yields_the_portrait() {
    let d = dg2::parse(&dg2_file(
        1,
        &[bit(&face_data_block_39794(&hx(JPEG_24X16), Some((24, 16))))],
    ))
    .unwrap();
    let p = d.primary();
    assert_eq!(
        (p.format, p.encoding, p.width, p.height),
        (ImageFormat::Jpeg, FaceEncoding::Iso39794, 24, 16)
    );
    assert_eq!(p.decode().unwrap().rgb.len(), 24 * 16 * 3);
}

#[test]
fn iso39794_without_size_block_reads_size_from_the_image() {
    let d = dg2::parse(&dg2_file(
        1,
        &[bit(&face_data_block_39794(&hx(JP2_24X16), None))],
    ))
    .unwrap();
    assert_eq!((d.primary().width, d.primary().height), (24, 16));
}

#[test]
fn iso39794_without_image_data_is_rejected() {
    let face = enc(0x65, &[&enc(0xA0, &[&enc(0x80, &[&[3]])])]);
    let bytes = dg2_file(1, &[bit(&enc(0x7F2E, &[&face]))]);
    assert_eq!(
        dg2::parse(&bytes).unwrap_err(),
        LdsError::FaceDataBlock {
            element: "representationBlocks"
        }
    );
}

/// Rewrites the SIZ image width (Xsiz) of a raw JPEG 2000 codestream (ISO/IEC 15444-1 §A.5.1).
fn j2k_with_width(width: u32) -> Vec<u8> {
    let mut j2k = hx(J2K_GRAY_24X16);
    assert_eq!(&j2k[2..4], &[0xFF, 0x51]);
    j2k[8..12].copy_from_slice(&width.to_be_bytes());
    j2k
}

#[test]
fn oversized_image_is_refused_before_decoding() {
    let d = dg2::parse(&dg2_19794(&j2k_with_width(5000), 1)).unwrap();
    assert_eq!(
        d.primary().decode().unwrap_err(),
        LdsError::ImageDimensions {
            width: 5000,
            height: 16
        }
    );
}

#[test]
fn corrupt_jpeg_is_a_decode_error() {
    let mut jpeg = hx(JPEG_24X16);
    jpeg.truncate(100);
    let d = dg2::parse(&dg2_19794(&jpeg, 0)).unwrap();
    assert!(matches!(
        d.primary().decode().unwrap_err(),
        LdsError::ImageDecode {
            format: ImageFormat::Jpeg,
            ..
        }
    ));
}

// ---- DG14 ----

#[test]
fn bsi_dg14_announces_ecdh_chip_authentication_and_its_key() {
    let Some(bytes) = bsi("Datagroup14.bin") else {
        return;
    };
    let infos = dg14::parse(&bytes).unwrap();
    let ca: Vec<_> = infos.chip_authentication().collect();
    assert_eq!(ca.len(), 1);
    assert_eq!(
        (ca[0].key_agreement, ca[0].cipher, ca[0].version),
        (KeyAgreement::Ecdh, CaCipher::Des3CbcCbc, 1)
    );
    let keys: Vec<_> = infos.chip_authentication_public_keys().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_agreement, KeyAgreement::Ecdh);
    // The BSI key uses explicit curve parameters; the SPKI is kept byte for byte.
    assert!(
        bytes
            .windows(keys[0].spki_der.len())
            .any(|w| w == keys[0].spki_der.as_slice())
    );
    // BSI ships the same key separately as DG14_pk.bin.
    if let Some(pk) = bsi("DG14_pk.bin") {
        assert_eq!(keys[0].spki_der, pk);
    }
}

fn spki_ec_named(curve: &str) -> Vec<u8> {
    let mut point = vec![0x00, 0x04];
    point.extend([7u8; 64]);
    enc(
        0x30,
        &[
            &enc(0x30, &[&oid("1.2.840.10045.2.1"), &oid(curve)]),
            &enc(0x03, &[&point]),
        ],
    )
}

fn dg14_file(infos: &[Vec<u8>]) -> Vec<u8> {
    enc(0x6E, &[&enc(0x31, &[&infos.concat()])])
}

#[test]
fn dg14_infos_of_every_known_kind_are_typed() {
    let infos = [
        enc(0x30, &[&oid("0.4.0.127.0.7.2.2.3.2.4"), &int(1), &int(9)]),
        enc(
            0x30,
            &[
                &oid("0.4.0.127.0.7.2.2.1.2"),
                &spki_ec_named("1.2.840.10045.3.1.7"),
                &int(9),
            ],
        ),
        enc(0x30, &[&oid("0.4.0.127.0.7.2.2.4.2.2"), &int(2), &int(13)]),
        enc(
            0x30,
            &[
                &oid("2.23.136.1.1.5"),
                &int(1),
                &oid("0.4.0.127.0.7.1.1.4.1.3"),
            ],
        ),
        enc(0x30, &[&oid("0.4.0.127.0.7.2.2.2"), &int(1)]),
        enc(0x30, &[&oid("1.2.3.4"), &enc(0x05, &[])]),
    ];
    let parsed = dg14::parse(&dg14_file(&infos)).unwrap();
    assert_eq!(parsed.infos.len(), 6);
    let ca = parsed.chip_authentication().next().unwrap();
    assert_eq!(
        (ca.key_agreement, ca.cipher, ca.key_id),
        (KeyAgreement::Ecdh, CaCipher::AesCbcCmac256, Some(9))
    );
    let pk = parsed.chip_authentication_public_keys().next().unwrap();
    assert_eq!(pk.spki_der, spki_ec_named("1.2.840.10045.3.1.7"));
    assert_eq!(pk.key_id, Some(9));
    assert!(
        matches!(&parsed.infos[2], SecurityInfo::Pace(p) if p.version == 2 && p.parameter_id == Some(13))
    );
    let aa = parsed.active_authentication().unwrap();
    assert_eq!(
        aa.signature_algorithm,
        AaSignatureAlgorithm::EcdsaPlain(HashAlgorithm::Sha256)
    );
    assert!(
        matches!(&parsed.infos[4], SecurityInfo::TerminalAuthentication(t) if t.version == 1 && t.ef_cvca.is_none())
    );
    match &parsed.infos[5] {
        SecurityInfo::Unknown { oid, raw } => {
            assert_eq!(oid.to_string(), "1.2.3.4");
            assert_eq!(raw, &infos[5]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dg14_dh_chip_authentication_with_3des() {
    let parsed = dg14::parse(&dg14_file(&[enc(
        0x30,
        &[&oid("0.4.0.127.0.7.2.2.3.1.1"), &int(1)],
    )]))
    .unwrap();
    let ca = parsed.chip_authentication().next().unwrap();
    assert_eq!(
        (ca.key_agreement, ca.cipher, ca.key_id),
        (KeyAgreement::Dh, CaCipher::Des3CbcCbc, None)
    );
}

#[test]
fn dg14_non_plain_aa_algorithm_is_kept_as_oid() {
    let parsed = dg14::parse(&dg14_file(&[enc(
        0x30,
        &[&oid("2.23.136.1.1.5"), &int(1), &oid("1.2.840.10045.4.3.2")],
    )]))
    .unwrap();
    assert_eq!(
        parsed.active_authentication().unwrap().signature_algorithm,
        AaSignatureAlgorithm::Other(ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"))
    );
}

#[test]
fn dg14_malformed_known_info_is_an_error_not_unknown() {
    let infos = [
        enc(
            0x30,
            &[
                &oid("2.23.136.1.1.5"),
                &int(1),
                &oid("0.4.0.127.0.7.1.1.4.1.3"),
            ],
        ),
        enc(0x30, &[&oid("0.4.0.127.0.7.2.2.3.2.2")]),
    ];
    assert_eq!(
        dg14::parse(&dg14_file(&infos)).unwrap_err(),
        LdsError::InvalidSecurityInfo { index: 1 }
    );
}

#[test]
fn dg14_public_key_must_be_a_der_spki() {
    let info = enc(
        0x30,
        &[&oid("0.4.0.127.0.7.2.2.1.2"), &enc(0x30, &[&int(1)])],
    );
    assert_eq!(
        dg14::parse(&dg14_file(&[info])).unwrap_err(),
        LdsError::InvalidSecurityInfo { index: 0 }
    );
}

#[test]
fn dg14_must_hold_a_set() {
    let bytes = enc(0x6E, &[&enc(0x30, &[])]);
    assert_eq!(
        dg14::parse(&bytes).unwrap_err(),
        LdsError::Tlv(TlvError::UnexpectedTag {
            expected: Tag::SET,
            found: Tag::SEQUENCE
        })
    );
}

// ---- DG15 ----

#[test]
fn bsi_dg15_is_an_rsa_1024_key() {
    let Some(bytes) = bsi("Datagroup15.bin") else {
        return;
    };
    let key = dg15::parse(&bytes).unwrap();
    assert_eq!(key.kind, PublicKeyKind::Rsa { modulus_bits: 1024 });
    assert_eq!(key.spki_der, bytes[3..]);
    if let Some(pk) = bsi("DG15_pk.bin") {
        assert_eq!(key.spki_der, pk);
    }
}

#[test]
fn dg15_named_curve_key() {
    let spki = spki_ec_named("1.3.36.3.3.2.8.1.1.7");
    let key = dg15::parse(&enc(0x6F, &[&spki])).unwrap();
    assert_eq!(
        key.kind,
        PublicKeyKind::Ec {
            curve: EcCurve::Named(ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7"))
        }
    );
    assert_eq!(key.spki_der, spki);
}

#[test]
fn dg15_explicit_curve_parameters_are_kept() {
    let params = enc(
        0x30,
        &[&int(1), &enc(0x30, &[&oid("1.2.840.10045.1.1"), &int(23)])],
    );
    let mut point = vec![0x00, 0x04];
    point.extend([7u8; 64]);
    let spki = enc(
        0x30,
        &[
            &enc(0x30, &[&oid("1.2.840.10045.2.1"), &params]),
            &enc(0x03, &[&point]),
        ],
    );
    let key = dg15::parse(&enc(0x6F, &[&spki])).unwrap();
    assert_eq!(
        key.kind,
        PublicKeyKind::Ec {
            curve: EcCurve::Explicit {
                parameters_der: params
            }
        }
    );
}

#[test]
fn dg15_other_algorithms_are_unsupported() {
    let spki = enc(
        0x30,
        &[
            &enc(0x30, &[&oid("1.3.101.112")]),
            &enc(0x03, &[&[0u8; 33]]),
        ],
    );
    assert_eq!(
        dg15::parse(&enc(0x6F, &[&spki])).unwrap_err(),
        LdsError::UnsupportedPublicKeyAlgorithm {
            oid: "1.3.101.112".into()
        }
    );
}

#[test]
fn dg15_rsa_modulus_bit_length_ignores_the_sign_octet() {
    let mut modulus = vec![0x00, 0x01];
    modulus.extend([0xFF; 255]);
    let rsa_key = enc(0x30, &[&enc(0x02, &[&modulus]), &enc(0x02, &[&[1, 0, 1]])]);
    let mut bits = vec![0u8];
    bits.extend(&rsa_key);
    let spki = enc(
        0x30,
        &[
            &enc(0x30, &[&oid("1.2.840.113549.1.1.1"), &enc(0x05, &[])]),
            &enc(0x03, &[&bits]),
        ],
    );
    assert_eq!(
        dg15::parse(&enc(0x6F, &[&spki])).unwrap().kind,
        PublicKeyKind::Rsa { modulus_bits: 2041 }
    );
}

#[test]
fn dg15_garbage_key_is_rejected() {
    assert_eq!(
        dg15::parse(&enc(0x6F, &[&enc(0x30, &[&int(5)])])).unwrap_err(),
        LdsError::InvalidPublicKey
    );
}

// ---- robustness ----

proptest! {
    #[test]
    fn arbitrary_contents_never_panic(tag in prop::sample::select(vec![0x60u32, 0x61, 0x75, 0x6E, 0x6F]),
                                      body in prop::collection::vec(any::<u8>(), 0..400)) {
        let bytes = enc(tag, &[&body]);
        let _ = com::parse(&bytes);
        let _ = dg1::parse(&bytes, TODAY);
        let _ = dg14::parse(&bytes);
        let _ = dg15::parse(&bytes);
        if let Ok(d) = dg2::parse(&bytes) {
            let _ = d.primary().decode();
        }
    }

    #[test]
    fn mutated_dg2_never_panics(pos in 0usize..2000, byte in any::<u8>()) {
        let mut bytes = dg2_19794(&hx(JPEG_24X16), 0);
        let i = pos % bytes.len();
        bytes[i] = byte;
        if let Ok(d) = dg2::parse(&bytes) {
            let _ = d.primary().decode();
        }
    }
}

/// Found by the `dg2` fuzz target: 301 bytes whose JPEG 2000 portrait declares a grid of over a
/// million tiles kept the decoder busy for seconds. Now refused from its header.
#[test]
fn a_dg2_portrait_declaring_a_million_tiles_is_refused() {
    let data = include_bytes!("../fuzz/seeds/dg2/million_tile_grid");
    let dg2 = emrtd::lds::dg2::parse(data).expect("the record itself parses");
    let portraits: Vec<_> = dg2.portraits().collect();
    assert!(!portraits.is_empty());
    for portrait in portraits {
        assert!(portrait.decode().is_err());
    }
}
