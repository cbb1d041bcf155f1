//! EF.SOD builder: the LDS security object (ICAO 9303-10 §4.6.2) signed as CMS SignedData
//! (RFC 5652 §5, profiled by ICAO 9303-10 §4.6.2.2), in DER or in the BER indefinite-length form
//! some issuers produce.

use time::OffsetDateTime;

use crate::crypto::hash::HashAlgorithm;
use crate::tlv::{self, Tag};

use super::TestkitError;
use super::keys::{SignatureScheme, SigningKey, digest_algorithm_der, signature_algorithm_der};
use super::x509::time_der;

const ID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const ID_CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
const ID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const ID_SIGNING_TIME: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05];
/// `id-icao-mrtd-security-ldsSecurityObject` 2.23.136.1.1.1.
const ID_LDS_SECURITY_OBJECT: &[u8] = &[0x67, 0x81, 0x08, 0x01, 0x01, 0x01];
/// `id-Ed25519` (RFC 8410): a real algorithm the eMRTD profile does not allow.
const ID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];
/// `id-data` 1.2.840.113549.1.7.1.
const ID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];

/// How the SOD is signed and encoded.
pub struct SodSpec<'a> {
    pub lds_hash: HashAlgorithm,
    pub data_groups: &'a [(u8, &'a [u8])],
    pub dsc_der: &'a [u8],
    pub signer: &'a SigningKey,
    pub scheme: SignatureScheme,
    pub signature_hash: HashAlgorithm,
    pub signing_time: OffsetDateTime,
    /// Flip a bit of the signature after signing.
    pub break_signature: bool,
    /// Name Ed25519 as the signature algorithm.
    pub unsupported_algorithm: bool,
    /// BER with indefinite lengths and a segmented eContent.
    pub ber_indefinite: bool,
    /// Field and security deviations (see [`super::Deviation`]).
    pub deviations: &'a [super::Deviation],
    /// Certificates embedded before the DSC.
    pub extra_certificates: &'a [Vec<u8>],
}

/// `LDSSecurityObject ::= SEQUENCE { version 0, hashAlgorithm, dataGroupHashValues }`.
pub fn lds_security_object(hash: HashAlgorithm, data_groups: &[(u8, &[u8])]) -> Vec<u8> {
    let mut hashes = Vec::new();
    for (number, bytes) in data_groups {
        let mut entry = tlv::encode(Tag(0x02), &[*number]);
        entry.extend(tlv::encode(Tag(0x04), &hash.digest(bytes)));
        hashes.extend(tlv::encode(Tag(0x30), &entry));
    }
    let mut body = tlv::encode(Tag(0x02), &[0x00]);
    body.extend(digest_algorithm_der(hash));
    body.extend(tlv::encode(Tag(0x30), &hashes));
    tlv::encode(Tag(0x30), &body)
}

fn attribute(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = tlv::encode(Tag(0x06), oid);
    body.extend(tlv::encode(Tag(0x31), value));
    tlv::encode(Tag(0x30), &body)
}

/// Builds EF.SOD (`77 { ContentInfo }`).
///
/// # Errors
/// [`TestkitError::Key`] when signing fails, [`TestkitError::Input`] for a malformed DSC.
pub fn build(spec: &SodSpec<'_>) -> Result<Vec<u8>, TestkitError> {
    use super::Deviation as D;
    let has = |d: D| spec.deviations.contains(&d);
    let lds = lds_security_object(spec.lds_hash, spec.data_groups);
    let content_type = if has(D::EContentTypeIdData) {
        ID_DATA
    } else {
        ID_LDS_SECURITY_OBJECT
    };

    let mut attrs = vec![attribute(
        ID_MESSAGE_DIGEST,
        &tlv::encode(Tag(0x04), &spec.signature_hash.digest(&lds)),
    )];
    if !has(D::NoContentTypeAttribute) {
        attrs.push(attribute(
            ID_CONTENT_TYPE,
            &tlv::encode(Tag(0x06), content_type),
        ));
    }
    if !has(D::NoSigningTime) {
        attrs.push(attribute(ID_SIGNING_TIME, &time_der(spec.signing_time)));
    }
    attrs.sort(); // DER SET OF order (X.690 §11.6)
    let attrs = attrs.concat();
    // The signature covers the attributes encoded as a SET (RFC 5652 §5.4).
    let mut signature = spec.signer.sign(
        spec.scheme,
        spec.signature_hash,
        &tlv::encode(Tag(0x31), &attrs),
    )?;
    if spec.break_signature {
        let middle = signature.len() / 2;
        if let Some(b) = signature.get_mut(middle) {
            *b ^= 0x01;
        }
    }
    let signature_algorithm = if spec.unsupported_algorithm {
        tlv::encode(Tag(0x30), &tlv::encode(Tag(0x06), ID_ED25519))
    } else {
        signature_algorithm_der(spec.scheme, spec.signature_hash)
    };

    // sid: IssuerAndSerialNumber taken from the DSC's tbsCertificate.
    let bad = |_| TestkitError::Input("DSC certificate");
    let cert = tlv::read_exact(spec.dsc_der).map_err(bad)?;
    let tbs = cert
        .children()
        .map_err(bad)?
        .into_iter()
        .next()
        .ok_or(TestkitError::Input("DSC tbs"))?;
    let tbs_fields = tbs.children().map_err(bad)?;
    let (Some(serial), Some(issuer)) = (tbs_fields.get(1), tbs_fields.get(3)) else {
        return Err(TestkitError::Input("DSC tbs fields"));
    };
    let mut sid = if has(D::IssuerRdnsReordered) {
        // The same RDNs, reversed: another name byte for byte.
        let mut rdns: Vec<&[u8]> = issuer
            .children()
            .map_err(bad)?
            .iter()
            .map(|r| r.raw)
            .collect();
        rdns.reverse();
        tlv::encode(Tag(0x30), &rdns.concat())
    } else {
        issuer.raw.to_vec()
    };
    if has(D::SerialWithoutSignByte) {
        let magnitude = serial
            .content
            .strip_prefix(&[0x00])
            .unwrap_or(serial.content);
        sid.extend(tlv::encode(Tag(0x02), magnitude));
    } else {
        sid.extend_from_slice(serial.raw);
    }
    let sid = tlv::encode(Tag(0x30), &sid);

    let mut signer_info = tlv::encode(Tag(0x02), &[0x01]);
    signer_info.extend(sid);
    signer_info.extend(digest_algorithm_der(spec.signature_hash));
    signer_info.extend(tlv::encode(Tag(0xA0), &attrs));
    signer_info.extend(signature_algorithm);
    signer_info.extend(tlv::encode(Tag(0x04), &signature));
    let signer_info = tlv::encode(Tag(0x30), &signer_info);

    let mut digest_algs = vec![digest_algorithm_der(spec.signature_hash)];
    if spec.lds_hash != spec.signature_hash {
        digest_algs.push(digest_algorithm_der(spec.lds_hash));
        digest_algs.sort();
    }
    let digest_algs = digest_algs.concat();

    let mut certificates = spec.extra_certificates.concat();
    if has(D::UnparseableEmbeddedCertificate) {
        // A SEQUENCE that is no Certificate (one field instead of three).
        certificates.extend(tlv::encode(Tag(0x30), &tlv::encode(Tag(0x02), &[0x01])));
    } else {
        certificates.extend_from_slice(spec.dsc_der);
    }
    if spec.ber_indefinite {
        return Ok(build_ber(
            content_type,
            &digest_algs,
            &lds,
            &certificates,
            &signer_info,
        ));
    }
    let mut encap = tlv::encode(Tag(0x06), content_type);
    encap.extend(tlv::encode(Tag(0xA0), &tlv::encode(Tag(0x04), &lds)));
    let mut signed_data = tlv::encode(Tag(0x02), &[0x03]);
    signed_data.extend(tlv::encode(Tag(0x31), &digest_algs));
    signed_data.extend(tlv::encode(Tag(0x30), &encap));
    signed_data.extend(tlv::encode(Tag(0xA0), &certificates));
    signed_data.extend(tlv::encode(Tag(0x31), &signer_info));
    let mut content_info = tlv::encode(Tag(0x06), ID_SIGNED_DATA);
    content_info.extend(tlv::encode(
        Tag(0xA0),
        &tlv::encode(Tag(0x30), &signed_data),
    ));
    Ok(tlv::encode(
        Tag(0x77),
        &tlv::encode(Tag(0x30), &content_info),
    ))
}

/// An indefinite-length constructed TLV (X.690 §8.1.3.6): `tag 80 … 00 00`.
fn indefinite(tag: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    out.push(0x80);
    out.extend_from_slice(content);
    out.extend([0x00, 0x00]);
    out
}

/// The same SignedData with indefinite lengths on every constructed level down to the eContent,
/// which is a constructed OCTET STRING of two segments (as `openssl cms -stream` writes it).
fn build_ber(
    content_type: &[u8],
    digest_algs: &[u8],
    lds: &[u8],
    dsc: &[u8],
    signer_info: &[u8],
) -> Vec<u8> {
    let (first, second) = lds.split_at(lds.len() / 2);
    let mut segments = tlv::encode(Tag(0x04), first);
    segments.extend(tlv::encode(Tag(0x04), second));
    let econtent = indefinite(&[0x24], &segments);
    let mut encap = tlv::encode(Tag(0x06), content_type);
    encap.extend(indefinite(&[0xA0], &econtent));
    let mut signed_data = tlv::encode(Tag(0x02), &[0x03]);
    signed_data.extend(tlv::encode(Tag(0x31), digest_algs));
    signed_data.extend(indefinite(&[0x30], &encap));
    signed_data.extend(indefinite(&[0xA0], dsc));
    signed_data.extend(indefinite(&[0x31], signer_info));
    let mut content_info = tlv::encode(Tag(0x06), ID_SIGNED_DATA);
    content_info.extend(indefinite(&[0xA0], &indefinite(&[0x30], &signed_data)));
    // The EF.SOD wrapper itself keeps a definite length, as files on chips do.
    tlv::encode(Tag(0x77), &indefinite(&[0x30], &content_info))
}
