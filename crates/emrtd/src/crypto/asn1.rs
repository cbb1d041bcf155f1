//! A minimal strict DER walker for the few small structures the crypto layer decodes itself
//! (X9.62 `ECDSA-Sig-Value`, RFC 3279 `ECParameters`, RFC 4055 `RSASSA-PSS-params`).
//! These are always DER inside certificates and SignerInfos (RFC 5280 §4.1, RFC 5652 §5.3),
//! so no BER leniency is needed here; the BER-tolerant reader for whole SODs is `crate::tlv`.

use super::CryptoError;

/// One TLV with a single-byte tag (all structures decoded here use low tag numbers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Der<'a> {
    pub tag: u8,
    pub content: &'a [u8],
}

/// Reads one TLV and returns it with the remaining input.
pub(crate) fn next(input: &[u8]) -> Result<(Der<'_>, &[u8]), CryptoError> {
    let bad = || CryptoError::Malformed("DER structure");
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    if tag & 0x1F == 0x1F {
        return Err(bad());
    }
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let (len_bytes, after) = rest.split_at_checked(n).ok_or_else(bad)?;
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (content, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
    Ok((Der { tag, content }, rest))
}

/// Reads exactly one TLV that must be the whole input and carry `tag`.
pub(crate) fn exact(input: &[u8], tag: u8) -> Result<&[u8], CryptoError> {
    let (tlv, rest) = next(input)?;
    if tlv.tag != tag || !rest.is_empty() {
        return Err(CryptoError::Malformed("DER structure"));
    }
    Ok(tlv.content)
}

/// Splits the content of a constructed value into its children.
pub(crate) fn children(mut input: &[u8]) -> Result<Vec<Der<'_>>, CryptoError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = next(input)?;
        out.push(tlv);
        input = rest;
    }
    Ok(out)
}

/// A non-negative INTEGER's magnitude with redundant leading zeros removed.
pub(crate) fn unsigned(der: Der<'_>) -> Result<&[u8], CryptoError> {
    if der.tag != 0x02
        || der.content.is_empty()
        || der.content.first().is_some_and(|b| b & 0x80 != 0)
    {
        return Err(CryptoError::Malformed("INTEGER"));
    }
    let start = der
        .content
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(der.content.len());
    Ok(der.content.get(start..).unwrap_or_default())
}

/// A small non-negative INTEGER (salt lengths, versions).
pub(crate) fn small_uint(der: Der<'_>) -> Result<u32, CryptoError> {
    let mag = unsigned(der)?;
    if mag.len() > 4 {
        return Err(CryptoError::Malformed("INTEGER too large"));
    }
    Ok(mag.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// An OBJECT IDENTIFIER.
pub(crate) fn oid(der: Der<'_>) -> Result<der::oid::ObjectIdentifier, CryptoError> {
    if der.tag != 0x06 {
        return Err(CryptoError::Malformed("OBJECT IDENTIFIER"));
    }
    der::oid::ObjectIdentifier::from_bytes(der.content)
        .map_err(|_| CryptoError::Malformed("OBJECT IDENTIFIER"))
}

/// An `AlgorithmIdentifier` (RFC 5280 §4.1.1.2): its OID and the raw DER of its parameters.
pub(crate) fn algorithm_identifier(
    seq_content: &[u8],
) -> Result<(der::oid::ObjectIdentifier, Option<&[u8]>), CryptoError> {
    let (oid_tlv, rest) = next(seq_content)?;
    let oid = oid(oid_tlv)?;
    if rest.is_empty() {
        return Ok((oid, None));
    }
    let (_, after) = next(rest)?;
    if !after.is_empty() {
        return Err(CryptoError::Malformed("AlgorithmIdentifier"));
    }
    Ok((oid, Some(rest)))
}
