//! Chip-authentication protocols and the parameters DG14 announces (ICAO 9303-11 §9.2.5).

use der::asn1::ObjectIdentifier;

use super::sm::SmCipher;
use super::{ChipAuthError, ChipKey, oid};

/// The key-agreement half of a chip-authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAgreement {
    Dh,
    Ecdh,
}

/// A chip-authentication protocol: `id-CA-{DH,ECDH}-{3DES-CBC-CBC,AES-CBC-CMAC-128/192/256}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaProtocol {
    pub agreement: KeyAgreement,
    pub cipher: SmCipher,
}

impl CaProtocol {
    /// Maps `ChipAuthenticationInfo.protocol`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        let s = oid.to_string();
        let rest = s.strip_prefix(oid::ID_CA)?.strip_prefix('.')?;
        let (agreement, cipher) = rest.split_once('.')?;
        let agreement = match agreement {
            "1" => KeyAgreement::Dh,
            "2" => KeyAgreement::Ecdh,
            _ => return None,
        };
        let cipher = match cipher {
            "1" => SmCipher::Tdes,
            "2" => SmCipher::Aes128,
            "3" => SmCipher::Aes192,
            "4" => SmCipher::Aes256,
            _ => return None,
        };
        Some(Self { agreement, cipher })
    }

    pub fn oid(self) -> ObjectIdentifier {
        let a = match self.agreement {
            KeyAgreement::Dh => 1,
            KeyAgreement::Ecdh => 2,
        };
        let c = match self.cipher {
            SmCipher::Tdes => 1,
            SmCipher::Aes128 => 2,
            SmCipher::Aes192 => 3,
            SmCipher::Aes256 => 4,
        };
        ObjectIdentifier::new(&format!("{}.{a}.{c}", oid::ID_CA)).unwrap_or(oid::ID_PK_ECDH)
    }

    /// `id-CA-ECDH-3DES-CBC-CBC` etc., for check reports.
    pub fn name(self) -> String {
        let a = match self.agreement {
            KeyAgreement::Dh => "DH",
            KeyAgreement::Ecdh => "ECDH",
        };
        let c = match self.cipher {
            SmCipher::Tdes => "3DES-CBC-CBC",
            SmCipher::Aes128 => "AES-CBC-CMAC-128",
            SmCipher::Aes192 => "AES-CBC-CMAC-192",
            SmCipher::Aes256 => "AES-CBC-CMAC-256",
        };
        format!("id-CA-{a}-{c}")
    }

    pub(super) fn to_byte(self) -> u8 {
        let a = match self.agreement {
            KeyAgreement::Dh => 0x10,
            KeyAgreement::Ecdh => 0x20,
        };
        let c = match self.cipher {
            SmCipher::Tdes => 1,
            SmCipher::Aes128 => 2,
            SmCipher::Aes192 => 3,
            SmCipher::Aes256 => 4,
        };
        a | c
    }

    pub(super) fn from_byte(b: u8) -> Option<Self> {
        let agreement = match b >> 4 {
            1 => KeyAgreement::Dh,
            2 => KeyAgreement::Ecdh,
            _ => return None,
        };
        let cipher = match b & 0x0F {
            1 => SmCipher::Tdes,
            2 => SmCipher::Aes128,
            3 => SmCipher::Aes192,
            4 => SmCipher::Aes256,
            _ => return None,
        };
        Some(Self { agreement, cipher })
    }
}

/// What the server needs from DG14: the protocol (`ChipAuthenticationInfo.protocol`), the
/// chip's static public key (`ChipAuthenticationPublicKeyInfo.chipAuthenticationPublicKey`,
/// a DER `SubjectPublicKeyInfo`) and the optional key identifier that ties the two when DG14
/// lists several keys (ICAO 9303-11 §9.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipAuthParams {
    pub protocol: CaProtocol,
    pub chip_public_key_spki: Vec<u8>,
    pub key_id: Option<u32>,
}

impl ChipAuthParams {
    /// From the raw DG14 values. A DG14 without `ChipAuthenticationInfo` implies
    /// `*-3DES-CBC-CBC` (ICAO 9303-11 §9.2.5, note on version 1); pass
    /// [`CaProtocol::default_for_key`] in that case.
    ///
    /// # Errors
    /// [`ChipAuthError::UnsupportedProtocol`] for an OID outside `id-CA`.
    pub fn new(
        protocol_oid: &ObjectIdentifier,
        chip_public_key_spki: &[u8],
        key_id: Option<u32>,
    ) -> Result<Self, ChipAuthError> {
        let protocol = CaProtocol::from_oid(protocol_oid)
            .ok_or_else(|| ChipAuthError::UnsupportedProtocol(protocol_oid.to_string()))?;
        Ok(Self {
            protocol,
            chip_public_key_spki: chip_public_key_spki.to_vec(),
            key_id,
        })
    }
}

impl ChipAuthParams {
    /// Selects the chip-authentication key and protocol from a parsed DG14
    /// ([`crate::lds::dg14::SecurityInfos`]): the `ChipAuthenticationInfo` whose key identifier
    /// matches a `ChipAuthenticationPublicKeyInfo` (ICAO 9303-11 §9.2.5), or, when DG14 has a key
    /// but no `ChipAuthenticationInfo`, 3DES with the key's agreement. `None` when DG14 announces
    /// no chip authentication.
    ///
    /// # Errors
    /// [`ChipAuthError::MalformedChipKey`] when the only key is neither DH nor EC.
    pub fn from_security_infos(
        infos: &crate::lds::dg14::SecurityInfos,
    ) -> Result<Option<Self>, ChipAuthError> {
        use crate::lds::dg14::{CaCipher, KeyAgreement as LdsAgreement};
        let convert = |agreement: LdsAgreement, cipher: CaCipher| CaProtocol {
            agreement: match agreement {
                LdsAgreement::Dh => KeyAgreement::Dh,
                LdsAgreement::Ecdh => KeyAgreement::Ecdh,
            },
            cipher: match cipher {
                CaCipher::Des3CbcCbc => SmCipher::Tdes,
                CaCipher::AesCbcCmac128 => SmCipher::Aes128,
                CaCipher::AesCbcCmac192 => SmCipher::Aes192,
                CaCipher::AesCbcCmac256 => SmCipher::Aes256,
            },
        };
        let key_id = |id: Option<u64>| id.and_then(|v| u32::try_from(v).ok());
        for info in infos.chip_authentication() {
            let key = infos.chip_authentication_public_keys().find(|k| {
                k.key_agreement == info.key_agreement
                    && (info.key_id.is_none() || k.key_id == info.key_id)
            });
            if let Some(key) = key {
                return Ok(Some(Self {
                    protocol: convert(info.key_agreement, info.cipher),
                    chip_public_key_spki: key.spki_der.clone(),
                    key_id: key_id(key.key_id),
                }));
            }
        }
        let Some(key) = infos.chip_authentication_public_keys().next() else {
            return Ok(None);
        };
        Ok(Some(Self {
            protocol: CaProtocol::default_for_key(&key.spki_der)?,
            chip_public_key_spki: key.spki_der.clone(),
            key_id: key_id(key.key_id),
        }))
    }
}

impl CaProtocol {
    /// The protocol a chip whose DG14 has a key but no `ChipAuthenticationInfo` runs:
    /// 3DES with the key's agreement (ICAO 9303-11 §9.2.5).
    ///
    /// # Errors
    /// [`ChipAuthError::MalformedChipKey`] when the SPKI is neither DH nor EC.
    pub fn default_for_key(chip_public_key_spki: &[u8]) -> Result<Self, ChipAuthError> {
        let agreement = match ChipKey::parse(chip_public_key_spki)? {
            ChipKey::Ec { .. } => KeyAgreement::Ecdh,
            ChipKey::Dh { .. } => KeyAgreement::Dh,
        };
        Ok(Self {
            agreement,
            cipher: SmCipher::Tdes,
        })
    }
}
