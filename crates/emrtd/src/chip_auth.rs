//! Chip Authentication version 1, terminal side, run by the server through a relaying client
//! (ICAO 9303-11 §6.2, BSI TR-03110-1 §3.4 / TR-03110-3 §B).
//!
//! Chip authentication proves that the chip holds the private key of the static key-agreement
//! key in DG14 (which passive authentication bound to the document signer), so the chip is not
//! a copy. The terminal sends an ephemeral public key; both sides compute the key-agreement
//! secret `K` (ECDH, BSI TR-03111 §4.3.1, or DH, PKCS#3) and derive new secure-messaging keys
//! from it (ICAO 9303-11 §9.7.1). Only a chip with the private key can produce a response that
//! verifies under those keys.
//!
//! # The relay
//! The client (the phone) is never trusted, so the server plays the terminal and the phone only
//! carries bytes. The exact sequence the mobile client performs:
//!
//! 1. Read every data group it needs **first**, under BAC or PACE secure messaging. After step 3
//!    the chip speaks only with keys the phone does not have.
//! 2. Upload DG14; the server calls [`ChipAuthSession::start`], keeps the serialised session
//!    ([`ChipAuthSession::to_bytes`], encrypted in the attempt's vault) and returns
//!    [`ClientInstructions`].
//! 3. Send [`ClientInstructions::mse_apdu`] to the chip *wrapped in the current BAC/PACE secure
//!    messaging*: for 3DES protocols this is MSE:Set KAT carrying the ephemeral public key
//!    (ICAO 9303-11 §6.2.4.1); for AES protocols it is MSE:Set AT naming the protocol, followed by
//!    [`ClientInstructions::general_authenticate_apdu`] (General Authenticate with the ephemeral
//!    key, ICAO 9303-11 §6.2.4.2), also wrapped. The chip answers `90 00` and switches to the
//!    new keys with a send sequence counter of zero.
//! 4. Send [`ClientInstructions::protected_command_apdu`] **as is**, without any further
//!    wrapping: the server already protected it with the new session keys (SSC 1). It is a READ
//!    BINARY of the first bytes of EF.COM by short file identifier.
//! 5. Return the chip's complete response APDU (data objects and SW1-SW2) unchanged; the server
//!    calls [`ChipAuthSession::verify_response`]. A correct `DO'8E'` MAC (SSC 2) proves the chip
//!    derived the same keys, i.e. holds the DG14 private key. The decrypted bytes, the start of
//!    EF.COM, can be compared with the uploaded EF.COM as a consistency check.
//!
//! The ephemeral private key is used once inside [`ChipAuthSession::start`] and zeroized there;
//! the session keeps only the derived secure-messaging keys, which are zeroized on drop.
//! For P-256/384/521 and brainpoolP256r1/384r1 the ephemeral key and ECDH use the constant-time
//! RustCrypto crates; other curves (brainpoolP224r1, brainpoolP512r1, explicit parameters) and
//! DH use the variable-time generic arithmetic of [`crate::crypto::ec`] and `num-bigint`, which
//! can leak timing about a scalar that lives for one authentication only.

pub mod sm;

use der::asn1::ObjectIdentifier;
use elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, NonZeroScalar};
use num_bigint::BigUint;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::curves::{Curve, CurveId};
use crate::crypto::{CryptoError, PublicKey, ec};
use crate::tlv::{self, Tag};
use sm::{PlainCommand, SecureChannel, SmCipher, SmError};

/// Largest DH modulus accepted from DG14, in bits (bounds the modular exponentiation cost).
pub const MAX_DH_BITS: u64 = 4096;

/// Short file identifier of EF.COM (ICAO 9303-10 §4.6.1, Table 37).
pub const EF_COM_SFI: u8 = 0x1E;

/// Bytes of EF.COM the protected READ BINARY asks for: the tag, length and start of the LDS
/// version, which every EF.COM has.
pub const PROBE_READ_LEN: u8 = 4;

/// Object identifiers of ICAO 9303-11 §9.2.5 / BSI TR-03110-3 §A.1.1.
pub mod oid {
    use der::asn1::ObjectIdentifier;
    pub const ID_PK_DH: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.1");
    pub const ID_PK_ECDH: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.2");
    /// X9.42 `dhpublicnumber` (RFC 3279 §2.3.3).
    pub const DH_PUBLIC_NUMBER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10046.2.1");
    /// PKCS#3 `dhKeyAgreement`.
    pub const DH_KEY_AGREEMENT: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.3.1");
    /// `id-CA` arc; `id-CA-DH` is `.1`, `id-CA-ECDH` is `.2`, each followed by the cipher suite.
    pub const ID_CA: &str = "0.4.0.127.0.7.2.2.3";
}

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

    fn to_byte(self) -> u8 {
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

    fn from_byte(b: u8) -> Option<Self> {
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

/// Why chip authentication could not be run or did not prove key possession.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChipAuthError {
    #[error("chip-authentication protocol {0} is not supported")]
    UnsupportedProtocol(String),
    #[error("the DG14 chip public key is malformed or does not match the protocol")]
    MalformedChipKey,
    #[error("the DG14 chip public key uses an unsupported curve or group")]
    UnsupportedDomain,
    #[error("the chip's response is not a valid secure-messaging response: {0}")]
    Response(#[from] SmError),
    #[error("the stored chip-authentication session is malformed")]
    MalformedSession,
}

impl ChipAuthError {
    /// True when the chip answered but failed to prove possession of the DG14 private key
    /// (`document_chip_authentication_failed`), as opposed to an input or server problem.
    pub fn is_proof_failure(&self) -> bool {
        matches!(self, Self::Response(_))
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

/// The chip's static key-agreement key.
pub(crate) enum ChipKey {
    Ec { curve: Curve, point: Vec<u8> },
    Dh { group: DhGroup, y: BigUint },
}

/// DH domain parameters (PKCS#3 `DHParameter` or X9.42 `DomainParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhGroup {
    pub p: BigUint,
    pub g: BigUint,
    pub q: Option<BigUint>,
}

impl DhGroup {
    pub fn modulus_len(&self) -> usize {
        usize::try_from(self.p.bits().div_ceil(8)).unwrap_or(usize::MAX)
    }

    /// Public-key validation: `1 < y < p − 1` and, with a known `q`, `y^q ≡ 1 (mod p)`
    /// (NIST SP 800-56A §5.6.2.3.1), so a small-subgroup key is refused.
    pub fn check_public(&self, y: &BigUint) -> bool {
        let one = BigUint::from(1u8);
        if *y <= one || *y >= &self.p - &one {
            return false;
        }
        self.q.as_ref().is_none_or(|q| y.modpow(q, &self.p) == one)
    }

    /// An exponent in `[2, q − 2]` (or `[2, p − 3]` without `q`), big-endian. `num-bigint`
    /// cannot wipe its own buffers, so secrets are kept as zeroizing byte strings and converted
    /// only for the arithmetic.
    pub fn random_exponent<R: rand_core::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Zeroizing<Vec<u8>> {
        let bound = self
            .q
            .clone()
            .unwrap_or_else(|| &self.p - BigUint::from(1u8));
        let mut buf = Zeroizing::new(vec![
            0u8;
            usize::try_from(bound.bits().div_ceil(8)).unwrap_or(0)
                + 8
        ]);
        rng.fill_bytes(&mut buf);
        let span = &bound - BigUint::from(3u8);
        Zeroizing::new((BigUint::from_bytes_be(&buf) % span + BigUint::from(2u8)).to_bytes_be())
    }

    /// An integer as a modulus-length octet string, the encoding of DH public keys and shared
    /// secrets in ICAO 9303-11 §9.4 / TR-03110-3 §A.2.2.
    pub fn encode(&self, v: &BigUint) -> Vec<u8> {
        ec::to_fixed_be(v, self.modulus_len())
    }

    /// The X9.42 `SubjectPublicKeyInfo` for public value `y`.
    pub fn spki_der(&self, y: &BigUint) -> Vec<u8> {
        let int = |v: &BigUint| tlv::encode(Tag(0x02), &der_uint(v));
        let mut params = int(&self.p);
        params.extend(int(&self.g));
        if let Some(q) = &self.q {
            params.extend(int(q));
        }
        let mut alg = tlv::encode(Tag(0x06), oid::DH_PUBLIC_NUMBER.as_bytes());
        alg.extend(tlv::encode(Tag(0x30), &params));
        let mut bits = vec![0u8];
        bits.extend(int(y));
        let mut spki = tlv::encode(Tag(0x30), &alg);
        spki.extend(tlv::encode(Tag(0x03), &bits));
        tlv::encode(Tag(0x30), &spki)
    }
}

/// Content octets of a DER INTEGER holding the non-negative `v`.
pub(crate) fn der_uint(v: &BigUint) -> Vec<u8> {
    let mut bytes = v.to_bytes_be();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

fn positive_int(content: &[u8]) -> Result<BigUint, ChipAuthError> {
    match content.first() {
        Some(b) if b & 0x80 == 0 => Ok(BigUint::from_bytes_be(content)),
        _ => Err(ChipAuthError::MalformedChipKey),
    }
}

impl ChipKey {
    pub(crate) fn parse(spki_der: &[u8]) -> Result<Self, ChipAuthError> {
        let bad = |_| ChipAuthError::MalformedChipKey;
        let spki = tlv::read_exact(spki_der).map_err(bad)?;
        let parts = spki.children().map_err(bad)?;
        let [alg, key] = parts.as_slice() else {
            return Err(ChipAuthError::MalformedChipKey);
        };
        let alg_parts = alg.children().map_err(bad)?;
        let alg_oid = alg_parts
            .first()
            .filter(|t| t.tag == Tag(0x06))
            .and_then(|t| ObjectIdentifier::from_bytes(t.content).ok())
            .ok_or(ChipAuthError::MalformedChipKey)?;
        if alg_oid != oid::DH_PUBLIC_NUMBER && alg_oid != oid::DH_KEY_AGREEMENT {
            return match PublicKey::from_spki_der(spki_der) {
                Ok(PublicKey::Ec { curve, point }) => Ok(Self::Ec { curve, point }),
                Ok(PublicKey::Rsa(_)) => Err(ChipAuthError::MalformedChipKey),
                Err(CryptoError::UnsupportedCurve(_) | CryptoError::InvalidCurveParameters(_)) => {
                    Err(ChipAuthError::UnsupportedDomain)
                }
                Err(_) => Err(ChipAuthError::MalformedChipKey),
            };
        }
        let params = alg_parts
            .get(1)
            .ok_or(ChipAuthError::MalformedChipKey)?
            .children()
            .map_err(bad)?;
        let (Some(p), Some(g)) = (params.first(), params.get(1)) else {
            return Err(ChipAuthError::MalformedChipKey);
        };
        let p = positive_int(p.content)?;
        let g = positive_int(g.content)?;
        // X9.42 has q third; PKCS#3's third field is a private-value length, not a group order.
        let q = match params.get(2) {
            Some(q) if alg_oid == oid::DH_PUBLIC_NUMBER => Some(positive_int(q.content)?),
            _ => None,
        };
        if p.bits() > MAX_DH_BITS || p.bits() < 512 || !p.bit(0) || g < BigUint::from(2u8) || g >= p
        {
            return Err(ChipAuthError::UnsupportedDomain);
        }
        let group = DhGroup { p, g, q };
        let y_der = key
            .content
            .split_first()
            .filter(|(unused, _)| **unused == 0)
            .map(|(_, k)| k);
        let y_tlv = y_der
            .and_then(|k| tlv::read_exact(k).ok())
            .filter(|t| t.tag == Tag(0x02));
        let y = positive_int(y_tlv.ok_or(ChipAuthError::MalformedChipKey)?.content)?;
        if !group.check_public(&y) {
            return Err(ChipAuthError::MalformedChipKey);
        }
        Ok(Self::Dh { group, y })
    }
}

/// The ephemeral key and the shared secret of one key agreement, terminal side.
struct Agreement {
    ephemeral_public_key: Vec<u8>,
    shared_secret: Zeroizing<Vec<u8>>,
}

fn typed_ecdh<C, R>(chip_point: &[u8], rng: &mut R) -> Result<Agreement, ChipAuthError>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
    R: rand_core::CryptoRng + ?Sized,
{
    let chip = elliptic_curve::PublicKey::<C>::from_sec1_bytes(chip_point)
        .map_err(|_| ChipAuthError::MalformedChipKey)?;
    let secret = <NonZeroScalar<C> as elliptic_curve::Generate>::generate_from_rng(rng);
    let ephemeral = elliptic_curve::PublicKey::<C>::from_secret_scalar(&secret);
    let shared = elliptic_curve::ecdh::diffie_hellman(secret, chip.as_affine());
    Ok(Agreement {
        ephemeral_public_key: ephemeral
            .as_affine()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec(),
        shared_secret: Zeroizing::new(shared.raw_secret_bytes().to_vec()),
    })
}

fn generic_ecdh<R: rand_core::CryptoRng + ?Sized>(
    curve: &Curve,
    chip_point: &[u8],
    rng: &mut R,
) -> Result<Agreement, ChipAuthError> {
    let params = curve.params();
    let mut buf = Zeroizing::new(vec![0u8; params.order_len() + 8]);
    rng.fill_bytes(&mut buf);
    let d = BigUint::from_bytes_be(&buf) % (&params.n - BigUint::from(1u8)) + BigUint::from(1u8);
    let mut scalar = Zeroizing::new(ec::to_fixed_be(&d, params.order_len()));
    drop(d);
    let map = |err| match err {
        CryptoError::InvalidPoint => ChipAuthError::MalformedChipKey,
        _ => ChipAuthError::UnsupportedDomain,
    };
    let ephemeral_public_key = ec::public_point(params, &scalar).map_err(map)?;
    let shared_secret = ec::shared_secret(params, &scalar, chip_point).map_err(map)?;
    scalar.zeroize();
    Ok(Agreement {
        ephemeral_public_key,
        shared_secret,
    })
}

fn agree<R: rand_core::CryptoRng + ?Sized>(
    key: &ChipKey,
    rng: &mut R,
) -> Result<Agreement, ChipAuthError> {
    match key {
        ChipKey::Ec { curve, point } => match curve {
            Curve::Named(CurveId::P256) => typed_ecdh::<p256::NistP256, R>(point, rng),
            Curve::Named(CurveId::P384) => typed_ecdh::<p384::NistP384, R>(point, rng),
            Curve::Named(CurveId::P521) => typed_ecdh::<p521::NistP521, R>(point, rng),
            Curve::Named(CurveId::BrainpoolP256r1) => {
                typed_ecdh::<bp256::BrainpoolP256r1, R>(point, rng)
            }
            Curve::Named(CurveId::BrainpoolP384r1) => {
                typed_ecdh::<bp384::BrainpoolP384r1, R>(point, rng)
            }
            other => generic_ecdh(other, point, rng),
        },
        ChipKey::Dh { group, y } => {
            let x = BigUint::from_bytes_be(&group.random_exponent(rng));
            let ephemeral = group.g.modpow(&x, &group.p);
            let shared = Zeroizing::new(group.encode(&y.modpow(&x, &group.p)));
            Ok(Agreement {
                ephemeral_public_key: group.encode(&ephemeral),
                shared_secret: shared,
            })
        }
    }
}

/// What the mobile client relays to the chip (see the module documentation for the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInstructions {
    /// The terminal's ephemeral public key: an uncompressed point for ECDH, a modulus-length
    /// unsigned integer for DH.
    pub ephemeral_public_key: Vec<u8>,
    /// MSE:Set KAT (3DES) or MSE:Set AT (AES), in plain; the client wraps it in BAC/PACE SM.
    pub mse_apdu: Vec<u8>,
    /// General Authenticate with the ephemeral key (AES protocols only); wrapped like `mse_apdu`.
    pub general_authenticate_apdu: Option<Vec<u8>>,
    /// A command already protected with the new session keys; sent to the chip unchanged.
    pub protected_command_apdu: Vec<u8>,
}

/// A chip that proved possession of the DG14 private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipAuthOutcome {
    pub protocol: CaProtocol,
    /// SW1-SW2 of the protected READ BINARY (authenticated by the MAC).
    pub status_word: u16,
    /// The decrypted response: the first [`PROBE_READ_LEN`] bytes of EF.COM when `status_word`
    /// is `0x9000`.
    pub response_data: Vec<u8>,
}

impl ChipAuthOutcome {
    /// Whether the chip's EF.COM starts with the bytes it returned under the new keys, binding
    /// the uploaded EF.COM to the authenticated chip.
    pub fn matches_ef_com(&self, ef_com: &[u8]) -> bool {
        self.status_word == 0x9000
            && !self.response_data.is_empty()
            && ef_com.starts_with(&self.response_data)
    }
}

/// Server-side state between issuing [`ClientInstructions`] and checking the chip's answer.
/// Holds the derived session keys (zeroized on drop), never the ephemeral private key.
#[derive(Debug)]
pub struct ChipAuthSession {
    protocol: CaProtocol,
    channel: SecureChannel,
}

const SESSION_MAGIC: &[u8; 4] = b"CAS1";

impl ChipAuthSession {
    /// Generates the ephemeral key pair, agrees the secret with the DG14 chip key, derives the
    /// session keys and builds the APDUs the client must relay.
    ///
    /// # Errors
    /// [`ChipAuthError::MalformedChipKey`] / [`ChipAuthError::UnsupportedDomain`] for a DG14
    /// key that cannot be used with the protocol.
    pub fn start<R: rand_core::CryptoRng + ?Sized>(
        params: &ChipAuthParams,
        rng: &mut R,
    ) -> Result<(Self, ClientInstructions), ChipAuthError> {
        let key = ChipKey::parse(&params.chip_public_key_spki)?;
        let matches = matches!(
            (&key, params.protocol.agreement),
            (ChipKey::Ec { .. }, KeyAgreement::Ecdh) | (ChipKey::Dh { .. }, KeyAgreement::Dh)
        );
        if !matches {
            return Err(ChipAuthError::MalformedChipKey);
        }
        let agreement = agree(&key, rng)?;
        let cipher = params.protocol.cipher;
        let (k_enc, k_mac) = sm::derive_keys(cipher, &agreement.shared_secret);
        let mut channel = SecureChannel::new(cipher, k_enc, k_mac, 0)?;
        let (mse_apdu, general_authenticate_apdu) = setup_apdus(
            params.protocol,
            &agreement.ephemeral_public_key,
            params.key_id,
        );
        let protected_command_apdu = channel.wrap_command(&probe_command())?;
        let instructions = ClientInstructions {
            ephemeral_public_key: agreement.ephemeral_public_key,
            mse_apdu,
            general_authenticate_apdu,
            protected_command_apdu,
        };
        Ok((
            Self {
                protocol: params.protocol,
                channel,
            },
            instructions,
        ))
    }

    pub fn protocol(&self) -> CaProtocol {
        self.protocol
    }

    /// Checks the chip's protected response to [`ClientInstructions::protected_command_apdu`].
    ///
    /// # Errors
    /// [`ChipAuthError::Response`] when the MAC does not verify (the chip does not hold the DG14
    /// key, or the bytes were altered) or the response is malformed.
    pub fn verify_response(
        mut self,
        response_apdu: &[u8],
    ) -> Result<ChipAuthOutcome, ChipAuthError> {
        let (data, status_word) = self.channel.unwrap_response(response_apdu)?;
        Ok(ChipAuthOutcome {
            protocol: self.protocol,
            status_word,
            response_data: data.to_vec(),
        })
    }

    /// Serialises the state for the attempt vault: `CAS1 ‖ protocol ‖ SSC(16) ‖ KSenc ‖ KSmac`.
    /// The bytes are secret and must only be stored encrypted.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        out.extend_from_slice(SESSION_MAGIC);
        out.push(self.protocol.to_byte());
        out.extend_from_slice(&self.channel.ssc().to_be_bytes());
        out.extend_from_slice(self.channel.k_enc());
        out.extend_from_slice(self.channel.k_mac());
        out
    }

    /// Restores a session written by [`Self::to_bytes`].
    ///
    /// # Errors
    /// [`ChipAuthError::MalformedSession`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ChipAuthError> {
        let bad = ChipAuthError::MalformedSession;
        let rest = bytes
            .strip_prefix(SESSION_MAGIC.as_slice())
            .ok_or(bad.clone())?;
        let (&proto, rest) = rest.split_first().ok_or(bad.clone())?;
        let protocol = CaProtocol::from_byte(proto).ok_or(bad.clone())?;
        let (ssc, keys) = rest.split_first_chunk::<16>().ok_or(bad.clone())?;
        let len = protocol.cipher.key_len();
        if keys.len() != 2 * len {
            return Err(bad);
        }
        let (k_enc, k_mac) = keys.split_at(len);
        let channel = SecureChannel::new(
            protocol.cipher,
            Zeroizing::new(k_enc.to_vec()),
            Zeroizing::new(k_mac.to_vec()),
            u128::from_be_bytes(*ssc),
        )
        .map_err(|_| ChipAuthError::MalformedSession)?;
        Ok(Self { protocol, channel })
    }
}

/// READ BINARY of EF.COM by short EF identifier, offset 0 (ICAO 9303-10 §4.6.1; ISO/IEC 7816-4
/// §11.2.3, P1 = `0x80 | SFI`).
pub(crate) fn probe_command() -> PlainCommand {
    PlainCommand {
        header: [0x00, 0xB0, 0x80 | EF_COM_SFI, 0x00],
        data: Vec::new(),
        le: Some(usize::from(PROBE_READ_LEN)),
    }
}

/// MSE:Set KAT (3DES, ICAO 9303-11 §6.2.4.1) or MSE:Set AT + General Authenticate
/// (AES, ICAO 9303-11 §6.2.4.2).
fn setup_apdus(
    protocol: CaProtocol,
    ephemeral: &[u8],
    key_id: Option<u32>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let key_ref = key_id.map(|id| {
        let bytes = id.to_be_bytes();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(3);
        tlv::encode(Tag(0x84), bytes.get(start..).unwrap_or(&[0]))
    });
    if protocol.cipher == SmCipher::Tdes {
        let mut data = tlv::encode(Tag(0x91), ephemeral);
        data.extend(key_ref.unwrap_or_default());
        (apdu([0x00, 0x22, 0x41, 0xA6], &data, None), None)
    } else {
        let mut data = tlv::encode(Tag(0x80), protocol.oid().as_bytes());
        data.extend(key_ref.unwrap_or_default());
        let mse = apdu([0x00, 0x22, 0x41, 0xA4], &data, None);
        let ga_data = tlv::encode(Tag(0x7C), &tlv::encode(Tag(0x80), ephemeral));
        (
            mse,
            Some(apdu([0x00, 0x86, 0x00, 0x00], &ga_data, Some(256))),
        )
    }
}

/// A plain command APDU with short or extended lengths (ISO/IEC 7816-4 §5.1).
fn apdu(header: [u8; 4], data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut out = header.to_vec();
    let extended = data.len() > 255;
    if !data.is_empty() {
        if extended {
            out.push(0);
            out.extend(u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
        } else {
            out.push(u8::try_from(data.len()).unwrap_or(0));
        }
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        if extended {
            out.extend([0, 0]);
        } else {
            out.push(u8::try_from(le % 256).unwrap_or(0));
        }
    }
    out
}

/// Chip side of the key agreement, for the test kit's virtual chip and for cross-checks: the
/// secret a chip with static private key `private` derives from the terminal's ephemeral key.
#[cfg(feature = "testkit")]
pub(crate) fn chip_side_secret(
    key: &ChipKey,
    private: &BigUint,
    ephemeral: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ChipAuthError> {
    match key {
        ChipKey::Ec { curve, .. } => {
            let params = curve.params();
            let scalar = Zeroizing::new(ec::to_fixed_be(private, params.order_len()));
            ec::shared_secret(params, &scalar, ephemeral)
                .map_err(|_| ChipAuthError::MalformedChipKey)
        }
        ChipKey::Dh { group, .. } => {
            if ephemeral.len() != group.modulus_len() {
                return Err(ChipAuthError::MalformedChipKey);
            }
            let y = BigUint::from_bytes_be(ephemeral);
            if !group.check_public(&y) {
                return Err(ChipAuthError::MalformedChipKey);
            }
            Ok(Zeroizing::new(group.encode(&y.modpow(private, &group.p))))
        }
    }
}
