//! A virtual eMRTD chip: the card side of active authentication (ICAO 9303-11 §6.1) and of the
//! chip-authentication relay (ICAO 9303-11 §6.2), so tests and the simulator can exercise the
//! server's verifiers end to end without a phone or a passport.

use std::sync::Arc;

use num_bigint::BigUint;
use rsa::BoxedUint;
use rsa::RsaPrivateKey;
use rsa::traits::PublicKeyParts;

use crate::active::CHALLENGE_LEN;
use crate::chip_auth::sm::{SecureChannel, SmCipher, derive_keys};
use crate::chip_auth::{CaProtocol, ChipKey, ClientInstructions, EF_COM_SFI, chip_side_secret};
use crate::crypto::hash::HashAlgorithm;
use crate::tlv::{self, Tag};

use super::TestkitError;
use super::keys::{EcPrivateKey, os_rng};

/// The chip's active-authentication key.
#[derive(Debug, Clone)]
pub enum AaPrivateKey {
    /// RSA with ISO/IEC 9796-2 scheme 1; SHA-1 uses the `0xBC` trailer, SHA-2 the `ID ‖ 0xCC` one.
    Rsa {
        key: Arc<RsaPrivateKey>,
        hash: HashAlgorithm,
    },
    /// ECDSA with a plain signature over the hash of the challenge.
    Ec {
        key: EcPrivateKey,
        hash: HashAlgorithm,
    },
}

/// The chip's static chip-authentication key: its public SPKI (as DG14 would carry it) and
/// the private value (an EC scalar or a DH exponent).
#[derive(Clone)]
pub struct CaPrivateKey {
    pub public_key_spki: Vec<u8>,
    private: BigUint,
}

impl std::fmt::Debug for CaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPrivateKey").finish_non_exhaustive()
    }
}

impl CaPrivateKey {
    pub fn new(public_key_spki: Vec<u8>, private: BigUint) -> Self {
        Self {
            public_key_spki,
            private,
        }
    }

    pub fn from_ec(key: &EcPrivateKey) -> Self {
        Self {
            public_key_spki: key.spki_der(),
            private: key.scalar().clone(),
        }
    }
}

/// Status words the virtual chip answers with (ISO/IEC 7816-4 §5.6).
const SW_OK: u16 = 0x9000;
const SW_SM_OBJECTS_INCORRECT: u16 = 0x6988;
const SW_WRONG_P1P2: u16 = 0x6A86;
const SW_CONDITIONS: u16 = 0x6985;

/// A chip that knows its AA and CA private keys and its EF.COM.
#[derive(Debug, Clone)]
pub struct VirtualChip {
    aa: Option<AaPrivateKey>,
    ca: Option<CaPrivateKey>,
    ef_com: Vec<u8>,
}

impl VirtualChip {
    pub fn new(aa: Option<AaPrivateKey>, ca: Option<CaPrivateKey>, ef_com: Vec<u8>) -> Self {
        Self { aa, ca, ef_com }
    }

    pub fn supports_active_authentication(&self) -> bool {
        self.aa.is_some()
    }

    pub fn supports_chip_authentication(&self) -> bool {
        self.ca.is_some()
    }

    /// INTERNAL AUTHENTICATE (ICAO 9303-11 §6.1): signs the 8-byte challenge.
    ///
    /// # Errors
    /// [`TestkitError::Chip`] when the chip has no AA key or the challenge has the wrong length.
    pub fn internal_authenticate(&self, challenge: &[u8]) -> Result<Vec<u8>, TestkitError> {
        if challenge.len() != CHALLENGE_LEN {
            return Err(TestkitError::Chip("challenge must be 8 bytes"));
        }
        match self
            .aa
            .as_ref()
            .ok_or(TestkitError::Chip("no active-authentication key"))?
        {
            AaPrivateKey::Rsa { key, hash } => sign_9796_2(key, *hash, challenge),
            AaPrivateKey::Ec { key, hash } => Ok(key.sign_prehash_plain(&hash.digest(challenge))),
        }
    }

    /// The chip-authentication secret a chip with this key derives from the terminal's
    /// ephemeral public key; `None` without a CA key or for an invalid ephemeral key.
    pub(crate) fn ca_shared_secret(&self, ephemeral: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        let ca = self.ca.as_ref()?;
        let key = ChipKey::parse(&ca.public_key_spki).ok()?;
        chip_side_secret(&key, &ca.private, ephemeral).ok()
    }

    /// Plays the chip's part of the relay described in [`crate::chip_auth`]: processes the MSE
    /// (and General Authenticate) commands, switches to the new session keys and answers the
    /// protected command. Returns the protected response APDU the client sends back.
    ///
    /// # Errors
    /// [`TestkitError::Chip`] for commands a real chip would reject outright.
    pub fn chip_authenticate(
        &self,
        instructions: &ClientInstructions,
    ) -> Result<Vec<u8>, TestkitError> {
        let ca = self
            .ca
            .as_ref()
            .ok_or(TestkitError::Chip("no chip-authentication key"))?;
        let (cipher, ephemeral) = match instructions.general_authenticate_apdu.as_deref() {
            None => (SmCipher::Tdes, parse_mse_set_kat(&instructions.mse_apdu)?),
            Some(ga) => (
                parse_mse_set_at(&instructions.mse_apdu)?,
                parse_general_authenticate(ga)?,
            ),
        };
        let key = ChipKey::parse(&ca.public_key_spki).map_err(|_| TestkitError::Chip("CA key"))?;
        let Ok(secret) = chip_side_secret(&key, &ca.private, &ephemeral) else {
            // A chip that cannot use the terminal's key answers in plain.
            return Ok(SW_CONDITIONS.to_be_bytes().to_vec());
        };
        let (k_enc, k_mac) = derive_keys(cipher, &secret);
        let mut channel =
            SecureChannel::new(cipher, k_enc, k_mac, 0).map_err(|_| TestkitError::Chip("keys"))?;
        let Ok(command) = channel.unwrap_command(&instructions.protected_command_apdu) else {
            return Ok(SW_SM_OBJECTS_INCORRECT.to_be_bytes().to_vec());
        };
        let (data, sw) = match command.header {
            [0x00, 0xB0, p1, offset] if p1 == 0x80 | EF_COM_SFI => {
                let le = command.le.unwrap_or(256);
                let start = usize::from(offset).min(self.ef_com.len());
                let end = start.saturating_add(le).min(self.ef_com.len());
                (
                    self.ef_com.get(start..end).unwrap_or_default().to_vec(),
                    SW_OK,
                )
            }
            _ => (Vec::new(), SW_WRONG_P1P2),
        };
        channel
            .wrap_response(&data, sw)
            .map_err(|_| TestkitError::Chip("wrap response"))
    }
}

/// ISO/IEC 9796-2 digital signature scheme 1 with partial recovery, as a chip computes it:
/// `J = 0x6A ‖ M1 ‖ H(M1 ‖ challenge) ‖ trailer`, `Σ = J^d mod n`.
fn sign_9796_2(
    key: &RsaPrivateKey,
    hash: HashAlgorithm,
    challenge: &[u8],
) -> Result<Vec<u8>, TestkitError> {
    let k = key.size();
    let trailer: Vec<u8> = match hash {
        HashAlgorithm::Sha1 => vec![0xBC],
        other => vec![crate::active::iso9796_hash_id(other), 0xCC],
    };
    let m1_len = k
        .checked_sub(1 + hash.output_len() + trailer.len())
        .ok_or(TestkitError::Key("RSA key too small for ISO/IEC 9796-2"))?;
    let mut m1 = vec![0u8; m1_len];
    rand_core::Rng::fill_bytes(&mut os_rng(), &mut m1);
    let mut j = vec![0x6A];
    j.extend(&m1);
    j.extend(hash.digest_parts(&[&m1, challenge]));
    j.extend(trailer);
    let c = BoxedUint::from_be_slice(&j, key.n_bits_precision())
        .map_err(|_| TestkitError::Key("9796-2 encoding"))?;
    let s = rsa::hazmat::rsa_decrypt_and_check(
        key,
        None::<&mut rand_core::UnwrapErr<getrandom::SysRng>>,
        &c,
    )
    .map_err(|_| TestkitError::Key("RSA private operation"))?;
    Ok(crate::crypto::ec::to_fixed_be(
        &BigUint::from_bytes_be(&s.to_be_bytes()),
        k,
    ))
}

/// The data field of a short- or extended-length command APDU.
fn command_data(apdu: &[u8]) -> Result<&[u8], TestkitError> {
    let bad = TestkitError::Chip("malformed command APDU");
    let body = apdu.get(4..).ok_or(bad.clone())?;
    match body {
        [0, hi, lo, rest @ ..] if rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])) => rest
            .get(..usize::from(u16::from_be_bytes([*hi, *lo])))
            .ok_or(bad),
        [lc, rest @ ..] => rest.get(..usize::from(*lc)).ok_or(bad),
        [] => Ok(&[]),
    }
}

/// MSE:Set KAT (`00 22 41 A6`, ICAO 9303-11 §6.2.4.1): the ephemeral key is in `DO'91'`.
fn parse_mse_set_kat(apdu: &[u8]) -> Result<Vec<u8>, TestkitError> {
    if apdu.get(..4) != Some(&[0x00, 0x22, 0x41, 0xA6]) {
        return Err(TestkitError::Chip("expected MSE:Set KAT"));
    }
    let objects = tlv::read_all(command_data(apdu)?).map_err(|_| TestkitError::Chip("MSE data"))?;
    objects
        .iter()
        .find(|o| o.tag == Tag(0x91))
        .map(|o| o.content.to_vec())
        .ok_or(TestkitError::Chip("MSE:Set KAT without ephemeral key"))
}

/// MSE:Set AT (`00 22 41 A4`): the protocol OID in `DO'80'` selects the cipher.
fn parse_mse_set_at(apdu: &[u8]) -> Result<SmCipher, TestkitError> {
    if apdu.get(..4) != Some(&[0x00, 0x22, 0x41, 0xA4]) {
        return Err(TestkitError::Chip("expected MSE:Set AT"));
    }
    let objects = tlv::read_all(command_data(apdu)?).map_err(|_| TestkitError::Chip("MSE data"))?;
    let oid = objects
        .iter()
        .find(|o| o.tag == Tag(0x80))
        .and_then(|o| der::asn1::ObjectIdentifier::from_bytes(o.content).ok())
        .ok_or(TestkitError::Chip("MSE:Set AT without protocol"))?;
    CaProtocol::from_oid(&oid)
        .map(|p| p.cipher)
        .ok_or(TestkitError::Chip("unknown protocol"))
}

/// General Authenticate (`00 86 00 00`) with `7C { 80 ephemeral key }`.
fn parse_general_authenticate(apdu: &[u8]) -> Result<Vec<u8>, TestkitError> {
    if apdu.get(..4) != Some(&[0x00, 0x86, 0x00, 0x00]) {
        return Err(TestkitError::Chip("expected General Authenticate"));
    }
    let outer = tlv::read_exact(command_data(apdu)?).map_err(|_| TestkitError::Chip("GA data"))?;
    outer
        .child(Tag(0x80))
        .ok()
        .flatten()
        .map(|o| o.content.to_vec())
        .ok_or(TestkitError::Chip(
            "General Authenticate without ephemeral key",
        ))
}
