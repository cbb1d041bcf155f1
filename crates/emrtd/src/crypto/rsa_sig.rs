//! RSA signature verification: RSASSA-PKCS1-v1_5 (RFC 8017 §8.2.2, EMSA-PKCS1-v1_5 §9.2)
//! and RSASSA-PSS (RFC 8017 §8.1.2, EMSA-PSS-VERIFY §9.1.2) with independent MGF1 hash and
//! salt length, as RFC 4055 parameters allow. Only the raw public operation comes from the
//! `rsa` crate; the padding checks are here so that every parameter combination an issuer may
//! choose (and the ISO/IEC 9796-2 recovery of active authentication) uses one primitive.

use rsa::BoxedUint;
use rsa::traits::PublicKeyParts;

use super::CryptoError;
use super::algorithm::PssParams;
use super::hash::HashAlgorithm;

/// The RSA public operation `s^e mod n` (RSAVP1, RFC 8017 §5.2.2), returned as a
/// modulus-length octet string. Also used by ISO/IEC 9796-2 active authentication
/// (ICAO 9303-11 §6.1).
///
/// # Errors
/// [`CryptoError::BadSignature`] when the signature is not a modulus-length integer below `n`.
pub fn rsa_public_op(key: &rsa::RsaPublicKey, signature: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let k = key.size();
    if signature.len() != k {
        return Err(CryptoError::BadSignature);
    }
    let s = BoxedUint::from_be_slice(signature, key.n_bits_precision())
        .map_err(|_| CryptoError::BadSignature)?;
    if s >= *key.n().as_ref() {
        return Err(CryptoError::BadSignature);
    }
    let m = rsa::hazmat::rsa_encrypt(key, &s).map_err(|_| CryptoError::BadSignature)?;
    let bytes = m.to_be_bytes();
    // Left-trim or left-pad the fixed-precision encoding to exactly k bytes (I2OSP).
    let mut out = vec![0u8; k];
    let take = bytes.len().min(k);
    if let (Some(dst), Some(src)) = (out.get_mut(k - take..), bytes.get(bytes.len() - take..)) {
        dst.copy_from_slice(src);
    }
    if bytes.iter().take(bytes.len() - take).any(|b| *b != 0) {
        return Err(CryptoError::BadSignature);
    }
    Ok(out)
}

/// DER `DigestInfo` prefix for each hash (RFC 8017 §9.2 note 1), with NULL parameters.
fn digest_info_prefix(hash: HashAlgorithm) -> &'static [u8] {
    match hash {
        HashAlgorithm::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        HashAlgorithm::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
        HashAlgorithm::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlgorithm::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlgorithm::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// The same prefix with the NULL parameters omitted, which RFC 8017 §9.2 note 2 says
/// verifiers should accept (some older issuers produce it).
fn digest_info_prefix_without_null(hash: HashAlgorithm) -> Vec<u8> {
    let with_null = digest_info_prefix(hash);
    let mut out = Vec::with_capacity(with_null.len() - 2);
    // 30 L 30 L' OID 05 00 04 hl  →  30 L-2 30 L'-2 OID 04 hl
    let oid_end = with_null.len() - 4;
    out.push(0x30);
    out.push(with_null.get(1).copied().unwrap_or(0).wrapping_sub(2));
    out.push(0x30);
    out.push(with_null.get(3).copied().unwrap_or(0).wrapping_sub(2));
    out.extend_from_slice(with_null.get(4..oid_end).unwrap_or_default());
    out.extend_from_slice(with_null.get(oid_end + 2..).unwrap_or_default());
    out
}

/// RSASSA-PKCS1-v1_5 verification over a precomputed hash.
///
/// # Errors
/// [`CryptoError::BadSignature`].
pub fn verify_pkcs1v15(
    key: &rsa::RsaPublicKey,
    hash: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    if digest.len() != hash.output_len() {
        return Err(CryptoError::BadSignature);
    }
    let em = rsa_public_op(key, signature)?;
    for prefix in [
        digest_info_prefix(hash).to_vec(),
        digest_info_prefix_without_null(hash),
    ] {
        let t_len = prefix.len() + digest.len();
        // EM = 0x00 ‖ 0x01 ‖ PS (≥ 8 × 0xFF) ‖ 0x00 ‖ T
        if em.len() < t_len + 11 {
            continue;
        }
        let ps_len = em.len() - t_len - 3;
        let expected = [
            &[0x00, 0x01][..],
            &vec![0xFF; ps_len],
            &[0x00],
            &prefix,
            digest,
        ]
        .concat();
        if expected == em {
            return Ok(());
        }
    }
    Err(CryptoError::BadSignature)
}

/// MGF1 (RFC 8017 Appendix B.2.1).
fn mgf1(hash: HashAlgorithm, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut counter: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(&hash.digest_parts(&[seed, &counter.to_be_bytes()]));
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// RSASSA-PSS verification over a precomputed hash `mHash` (RFC 8017 §9.1.2 steps 3–14).
///
/// # Errors
/// [`CryptoError::BadSignature`].
pub fn verify_pss(
    key: &rsa::RsaPublicKey,
    params: &PssParams,
    m_hash: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let bad = Err(CryptoError::BadSignature);
    let h_len = params.hash.output_len();
    if m_hash.len() != h_len || params.trailer_field != 1 {
        return bad;
    }
    let decoded = rsa_public_op(key, signature)?;
    let mod_bits = key.n().bits_vartime() as usize;
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    // When emBits is a multiple of 8 the leading octet of the k-byte integer must be zero.
    let skip = decoded.len() - em_len;
    if decoded.iter().take(skip).any(|b| *b != 0) {
        return bad;
    }
    let Some(em) = decoded.get(skip..) else {
        return bad;
    };
    if em_len < h_len + params.salt_len + 2 {
        return bad;
    }
    let Some((&last, rest)) = em.split_last() else {
        return bad;
    };
    if last != 0xBC {
        return bad;
    }
    let db_len = em_len - h_len - 1;
    let (masked_db, h) = rest.split_at(db_len);
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = 0xFFu8
        .checked_shr(u32::try_from(unused_bits).unwrap_or(8))
        .unwrap_or(0);
    if masked_db.first().is_some_and(|b| b & !top_mask != 0) {
        return bad;
    }
    let mask = mgf1(params.mgf1_hash, h, db_len);
    let mut db: Vec<u8> = masked_db.iter().zip(&mask).map(|(a, b)| a ^ b).collect();
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    // DB = PS (zeros) ‖ 0x01 ‖ salt
    let ps_len = db_len - params.salt_len - 1;
    if db.iter().take(ps_len).any(|b| *b != 0) || db.get(ps_len) != Some(&0x01) {
        return bad;
    }
    let salt = db.get(ps_len + 1..).unwrap_or_default();
    let h_prime = params.hash.digest_parts(&[&[0u8; 8], m_hash, salt]);
    if h_prime.as_slice() == h { Ok(()) } else { bad }
}
