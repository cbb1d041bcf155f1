//! PACE version 2 with the Generic Mapping (ICAO 9303-11 §4.4; BSI TR-03110-2 §3.2), terminal
//! side, over ECDH on the standardized curves or DH on the standardized groups
//! (ICAO 9303-11 §9.5.1), with 3DES or AES secure messaging (§9.8).
//!
//! 1. MSE:Set AT names the protocol and the password (MRZ or CAN).
//! 2. GENERAL AUTHENTICATE returns the nonce `z = E(K_π, s)`; `K_π = KDF(K, 3)` (§9.7.3).
//! 3. Mapping: ephemeral keys exchanged on the standard generator, `H` agreed, and the new
//!    generator `G̃ = s·G + H` (ECDH) or `g̃ = g^s · h mod p` (DH) (§4.4.3.3.1).
//! 4. Key agreement on `G̃`; `KS_enc`, `KS_mac` from the shared secret (§9.7.1).
//! 5. Authentication tokens: MACs over the other side's ephemeral public key in a `7F49`
//!    object (§4.4.3.4, §9.4.4); the chip's is checked before its keys are used.
//!
//! Elliptic-curve arithmetic is the generic, variable-time code of [`crate::crypto::ec`] (the
//! mapped generator is not a fixed curve point, which the constant-time RustCrypto curve types
//! do not support as a base), and DH uses `num-bigint`: the timing of an ephemeral scalar that
//! lives for one session can leak, which the NFC channel's latency makes hard to observe.

use num_bigint::BigUint;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{AccessKey, AccessProtocol, ReadError, Reader, Transport, status_error};
use crate::apdu::{CommandApdu, sw};
use crate::chip_auth::DhGroup;
use crate::crypto::curves::CurveId;
use crate::crypto::ec::{self, AffinePoint, CurveParams};
use crate::sm::{self, SecureChannel, SmCipher};
use crate::tlv::{self, Tag};

/// The mapping and key agreement of a PACE protocol (ICAO 9303-11 §9.2.1). Only the Generic
/// Mapping is implemented; the Integrated and Chip Authentication Mappings are refused at
/// selection so the terminal falls back to another PACEInfo or to BAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaceMapping {
    DhGeneric,
    EcdhGeneric,
}

/// One PACE protocol with its standardized domain parameters, as EF.CardAccess announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaceParams {
    pub mapping: PaceMapping,
    pub cipher: SmCipher,
    /// Standardized domain parameter identifier (ICAO 9303-11 §9.5.1, Table 4).
    pub parameter_id: u8,
    /// Whether MSE:Set AT must name the parameters (`DO'84'`): required when EF.CardAccess
    /// offers several sets (§4.4.4.1).
    pub name_parameters: bool,
}

/// `id-PACE` (0.4.0.127.0.7.2.2.4).
const ID_PACE: [u32; 9] = [0, 4, 0, 127, 0, 7, 2, 2, 4];

impl PaceParams {
    /// From a `PACEInfo` protocol OID and parameter id; `None` for what this reader cannot run.
    pub fn from_info(protocol: &der::asn1::ObjectIdentifier, parameter_id: u64) -> Option<Self> {
        let arcs: Vec<u32> = protocol.arcs().collect();
        let (prefix, rest) = arcs.split_at_checked(ID_PACE.len())?;
        if prefix != ID_PACE {
            return None;
        }
        let (mapping, cipher) = match rest {
            [1, c] => (PaceMapping::DhGeneric, *c),
            [2, c] => (PaceMapping::EcdhGeneric, *c),
            _ => return None,
        };
        let cipher = match cipher {
            1 => SmCipher::Tdes,
            2 => SmCipher::Aes128,
            3 => SmCipher::Aes192,
            4 => SmCipher::Aes256,
            _ => return None,
        };
        let parameter_id = u8::try_from(parameter_id).ok()?;
        let params = Self {
            mapping,
            cipher,
            parameter_id,
            name_parameters: false,
        };
        Domain::from_params(&params).ok()?;
        Some(params)
    }

    /// The protocol OID (`id-PACE-{DH,ECDH}-GM-{3DES-CBC-CBC,AES-CBC-CMAC-*}`).
    pub fn oid(&self) -> der::asn1::ObjectIdentifier {
        let m = match self.mapping {
            PaceMapping::DhGeneric => 1,
            PaceMapping::EcdhGeneric => 2,
        };
        let c = match self.cipher {
            SmCipher::Tdes => 1,
            SmCipher::Aes128 => 2,
            SmCipher::Aes192 => 3,
            SmCipher::Aes256 => 4,
        };
        der::asn1::ObjectIdentifier::new(&format!("0.4.0.127.0.7.2.2.4.{m}.{c}"))
            .unwrap_or(crate::chip_auth::oid::ID_PK_ECDH)
    }

    /// The first supported protocol of EF.CardAccess (a DER `SecurityInfos` SET), in the
    /// chip's order. `None` when it offers none this reader can run.
    pub fn select(card_access: &[u8]) -> Option<Self> {
        let set = tlv::read_exact(card_access).ok()?;
        let infos = crate::lds::dg14::parse_security_infos(&set).ok()?;
        let paces: Vec<_> = infos
            .infos
            .iter()
            .filter_map(|i| match i {
                crate::lds::dg14::SecurityInfo::Pace(p) => Some(p),
                _ => None,
            })
            .collect();
        let ambiguous = paces.len() > 1;
        paces.iter().find_map(|p| {
            let mut params = Self::from_info(&p.protocol, p.parameter_id?)?;
            params.name_parameters = ambiguous;
            Some(params)
        })
    }
}

/// The PACE password (ICAO 9303-11 §9.7.3): `K = SHA-1(MRZ_information)` with reference 1, or
/// the CAN's characters with reference 2.
#[derive(Clone)]
pub struct PaceSecret {
    key: Zeroizing<Vec<u8>>,
    reference: u8,
}

impl std::fmt::Debug for PaceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaceSecret")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

impl PaceSecret {
    /// # Errors
    /// [`ReadError::InvalidAccessKey`] for a CAN that is not 1–12 digits.
    pub fn new(key: &AccessKey) -> Result<Self, ReadError> {
        Ok(match key {
            AccessKey::Mrz(mrz) => Self {
                key: mrz.sha1(),
                reference: 1,
            },
            AccessKey::Can(can) => {
                let can = can.trim();
                if can.is_empty() || can.len() > 12 || !can.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ReadError::InvalidAccessKey("card access number"));
                }
                Self {
                    key: Zeroizing::new(can.as_bytes().to_vec()),
                    reference: 2,
                }
            }
        })
    }

    /// `K_π = KDF(K, 3)`.
    pub(crate) fn k_pi(&self, cipher: SmCipher) -> Zeroizing<Vec<u8>> {
        sm::derive_key(cipher, &self.key, 3)
    }

    pub(crate) fn reference(&self) -> u8 {
        self.reference
    }
}

/// A group element: an affine point or a residue modulo `p`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Element {
    Point(AffinePoint),
    Int(BigUint),
}

/// The domain parameters of a PACE run.
pub(crate) enum Domain {
    Ec(&'static CurveParams),
    Dh(DhGroup),
}

/// The standardized curves of ICAO 9303-11 §9.5.1 this crate has parameters for.
fn curve_for(id: u8) -> Option<CurveId> {
    Some(match id {
        8 => CurveId::P192,
        9 => CurveId::BrainpoolP192r1,
        10 => CurveId::P224,
        11 => CurveId::BrainpoolP224r1,
        12 => CurveId::P256,
        13 => CurveId::BrainpoolP256r1,
        14 => CurveId::BrainpoolP320r1,
        15 => CurveId::P384,
        16 => CurveId::BrainpoolP384r1,
        17 => CurveId::BrainpoolP512r1,
        18 => CurveId::P521,
        _ => return None,
    })
}

/// RFC 5114 §2.1: 1024-bit MODP group with a 160-bit prime-order subgroup (ICAO 9303-11 §9.5.1
/// parameter id 0).
pub fn modp_1024_160() -> DhGroup {
    let h = |s: &str| BigUint::parse_bytes(s.as_bytes(), 16).unwrap_or_default();
    DhGroup {
        p: h(concat!(
            "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D18",
            "9838EF1E2EE652C013ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A7372",
            "4EFFD6FAE5644738FAA31A4FF55BCCC0A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708",
            "DF1FB2BC2E4A4371"
        )),
        g: h(concat!(
            "A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B",
            "777E690F5504F213160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76",
            "A6A24C087A091F531DBF0A0169B6A28AD662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24",
            "855E6EEB22B3B2E5"
        )),
        q: Some(h("F518AA8781A8DF278ABA4E7D64B7CB9D49462353")),
    }
}

fn parse_hex(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 16).unwrap_or_default()
}

/// RFC 5114 §2.2: 2048-bit MODP group with a 224-bit prime-order subgroup (ICAO 9303-11 §9.5.1
/// parameter id 1).
pub fn modp_2048_224() -> DhGroup {
    DhGroup {
        p: parse_hex(concat!(
            "AD107E1E9123A9D0D660FAA79559C51FA20D64E5683B9FD1B54B1597B61D0A75E6FA141DF95A56DB",
            "AF9A3C407BA1DF15EB3D688A309C180E1DE6B85A1274A0A66D3F8152AD6AC2129037C9EDEFDA4DF8",
            "D91E8FEF55B7394B7AD5B7D0B6C12207C9F98D11ED34DBF6C6BA0B2C8BBC27BE6A00E0A0B9C49708",
            "B3BF8A317091883681286130BC8985DB1602E714415D9330278273C7DE31EFDC7310F7121FD5A074",
            "15987D9ADC0A486DCDF93ACC44328387315D75E198C641A480CD86A1B9E587E8BE60E69CC928B2B9",
            "C52172E413042E9B23F10B0E16E79763C9B53DCF4BA80A29E3FB73C16B8E75B97EF363E2FFA31F71",
            "CF9DE5384E71B81C0AC4DFFE0C10E64F"
        )),
        g: parse_hex(concat!(
            "AC4032EF4F2D9AE39DF30B5C8FFDAC506CDEBE7B89998CAF74866A08CFE4FFE3A6824A4E10B9A6F0",
            "DD921F01A70C4AFAAB739D7700C29F52C57DB17C620A8652BE5E9001A8D66AD7C17669101999024A",
            "F4D027275AC1348BB8A762D0521BC98AE247150422EA1ED409939D54DA7460CDB5F6C6B250717CBE",
            "F180EB34118E98D119529A45D6F834566E3025E316A330EFBB77A86F0C1AB15B051AE3D428C8F8AC",
            "B70A8137150B8EEB10E183EDD19963DDD9E263E4770589EF6AA21E7F5F2FF381B539CCE3409D13CD",
            "566AFBB48D6C019181E1BCFE94B30269EDFE72FE9B6AA4BD7B5A0F1C71CFFF4C19C418E1F6EC0179",
            "81BC087F2A7065B384B890D3191F2BFA"
        )),
        q: Some(parse_hex(
            "801C0D34C58D93FE997177101F80535A4738CEBCBF389A99B36371EB",
        )),
    }
}

/// RFC 5114 §2.3: 2048-bit MODP group with a 256-bit prime-order subgroup (ICAO 9303-11 §9.5.1
/// parameter id 2).
pub fn modp_2048_256() -> DhGroup {
    DhGroup {
        p: parse_hex(concat!(
            "87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00E00DF8F1D61957D4",
            "FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD5A8A9D306BCF67ED",
            "91F9E6725B4758C022E0B1EF4275BF7B6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C",
            "4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8E",
            "F6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026C0B857F689962856",
            "DED4010ABD0BE621C3A3960A54E710C375F26375D7014103A4B54330C198AF126116D2276E11715F",
            "693877FAD7EF09CADB094AE91E1A1597"
        )),
        g: parse_hex(concat!(
            "3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA12510DBC15077BE463F",
            "FF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18A55AE31341000A65",
            "0196F931C77A57F2DDF463E5E9EC144B777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC83",
            "1D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0A",
            "DB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915B3353BBB64E0EC37",
            "7FD028370DF92B52C7891428CDC67EB6184B523D1DB246C32F63078490F00EF8D647D148D4795451",
            "5E2327CFEF98C582664B4C0F6CC41659"
        )),
        q: Some(parse_hex(
            "8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3",
        )),
    }
}

/// The standardized DH group of ICAO 9303-11 §9.5.1 with parameter id `id` (0, 1 or 2).
pub fn standard_dh_group(id: u8) -> Option<DhGroup> {
    match id {
        0 => Some(modp_1024_160()),
        1 => Some(modp_2048_224()),
        2 => Some(modp_2048_256()),
        _ => None,
    }
}

impl Domain {
    pub(crate) fn from_params(params: &PaceParams) -> Result<Self, ReadError> {
        match params.mapping {
            PaceMapping::EcdhGeneric => curve_for(params.parameter_id)
                .map(|c| Self::Ec(c.params()))
                .ok_or(ReadError::Unsupported("PACE curve")),
            PaceMapping::DhGeneric => standard_dh_group(params.parameter_id)
                .map(Self::Dh)
                .ok_or(ReadError::Unsupported("PACE DH group")),
        }
    }

    pub(crate) fn generator(&self) -> Element {
        match self {
            Self::Ec(c) => Element::Point(c.generator()),
            Self::Dh(g) => Element::Int(g.g.clone()),
        }
    }

    fn order(&self) -> BigUint {
        match self {
            Self::Ec(c) => c.n.clone(),
            Self::Dh(g) => g.q.clone().unwrap_or_else(|| &g.p - BigUint::from(1u8)),
        }
    }

    /// A private key in `[1, order − 1]` by rejection sampling over `order`'s bit length, so a
    /// scripted byte source reproduces a published key exactly.
    pub(crate) fn random_private(
        &self,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), ReadError>,
    ) -> Result<Zeroizing<Vec<u8>>, ReadError> {
        let order = self.order();
        let bits = order.bits();
        let len = usize::try_from(bits.div_ceil(8)).map_err(|_| ReadError::Unsupported("order"))?;
        let excess = u32::try_from(len as u64 * 8 - bits).unwrap_or(0);
        for _ in 0..256 {
            let mut buf = Zeroizing::new(vec![0u8; len]);
            fill(&mut buf)?;
            if let Some(first) = buf.first_mut() {
                *first &= 0xFFu8.checked_shr(excess).unwrap_or(0xFF);
            }
            let k = BigUint::from_bytes_be(&buf);
            if k > BigUint::from(0u8) && k < order {
                return Ok(buf);
            }
        }
        Err(ReadError::RandomUnavailable)
    }

    /// `k · gen` (or `gen^k`), encoded as a public key.
    pub(crate) fn public(&self, generator: &Element, k: &[u8]) -> Result<Vec<u8>, ReadError> {
        let element = self.multiply(generator, k)?;
        Ok(self.encode(&element))
    }

    fn multiply(&self, base: &Element, k: &[u8]) -> Result<Element, ReadError> {
        let k = BigUint::from_bytes_be(k);
        match (self, base) {
            (Self::Ec(c), Element::Point(p)) => c
                .scalar_mul(&k, p)
                .map(Element::Point)
                .ok_or(ReadError::HostileAnswer("point at infinity")),
            (Self::Dh(g), Element::Int(b)) => Ok(Element::Int(b.modpow(&k, &g.p))),
            _ => Err(ReadError::Unsupported("element of another group")),
        }
    }

    pub(crate) fn encode(&self, element: &Element) -> Vec<u8> {
        match (self, element) {
            (Self::Ec(c), Element::Point(p)) => c.encode_point(p),
            (Self::Dh(g), Element::Int(v)) => g.encode(v),
            _ => Vec::new(),
        }
    }

    /// Decodes and validates the other side's public key: on the curve and not the identity
    /// (ECDH); `1 < y < p − 1` and in the order-`q` subgroup (DH).
    pub(crate) fn decode_public(&self, bytes: &[u8]) -> Result<Element, ReadError> {
        match self {
            Self::Ec(c) => c
                .decode_point(bytes)
                .map(Element::Point)
                .map_err(|_| ReadError::HostileAnswer("PACE public key is not on the curve")),
            Self::Dh(g) => {
                if bytes.len() != g.modulus_len() {
                    return Err(ReadError::HostileAnswer("PACE public key length"));
                }
                let y = BigUint::from_bytes_be(bytes);
                if !g.check_public(&y) {
                    return Err(ReadError::HostileAnswer(
                        "PACE public key outside the group",
                    ));
                }
                Ok(Element::Int(y))
            }
        }
    }

    /// The Generic Mapping (ICAO 9303-11 §4.4.3.3.1): `G̃ = s·G + H` / `g̃ = g^s · h`, where
    /// `H = k · peer` is the mapping agreement.
    pub(crate) fn map(&self, nonce: &[u8], k: &[u8], peer: &Element) -> Result<Element, ReadError> {
        let h = self.multiply(peer, k)?;
        let s_g = self.multiply(&self.generator(), nonce)?;
        match (self, s_g, h) {
            (Self::Ec(c), Element::Point(a), Element::Point(b)) => c
                .add_points(&a, &b)
                .map(Element::Point)
                .ok_or(ReadError::HostileAnswer("mapped generator at infinity")),
            (Self::Dh(g), Element::Int(a), Element::Int(b)) => {
                let mapped = a * b % &g.p;
                if mapped <= BigUint::from(1u8) {
                    return Err(ReadError::HostileAnswer("mapped generator is trivial"));
                }
                Ok(Element::Int(mapped))
            }
            _ => Err(ReadError::Unsupported("element of another group")),
        }
    }

    /// The key-agreement secret: the x-coordinate of `k · peer` (ECDH, BSI TR-03111 §4.3.1) or
    /// `peer^k mod p` (DH), fixed length.
    pub(crate) fn agree(&self, k: &[u8], peer: &Element) -> Result<Zeroizing<Vec<u8>>, ReadError> {
        match self.multiply(peer, k)? {
            Element::Point(p) => Ok(Zeroizing::new(match self {
                Self::Ec(c) => ec::to_fixed_be(&p.x, c.field_len()),
                Self::Dh(_) => Vec::new(),
            })),
            Element::Int(v) => Ok(Zeroizing::new(self.encode(&Element::Int(v)))),
        }
    }

    /// The tag of the public key inside `7F49` (ICAO 9303-11 §9.4.4: `86` point, `84` DH value).
    pub(crate) fn public_key_tag(&self) -> Tag {
        match self {
            Self::Ec(_) => Tag(0x86),
            Self::Dh(_) => Tag(0x84),
        }
    }
}

/// The authentication token input (ICAO 9303-11 §4.4.3.4, §9.4.4): `7F49 { 06 OID, 86|84 key }`.
pub(crate) fn token_input(params: &PaceParams, domain: &Domain, public_key: &[u8]) -> Vec<u8> {
    let mut inner = tlv::encode(Tag(0x06), params.oid().as_bytes());
    inner.extend(tlv::encode(domain.public_key_tag(), public_key));
    tlv::encode(Tag(0x7F49), &inner)
}

/// The mapped generator of the Generic Mapping from the decrypted nonce, one side's mapping
/// private key and the other side's mapping public key, encoded as a public key (an uncompressed
/// point or a modulus-length integer). Exposed so the published worked examples can be checked.
///
/// # Errors
/// [`ReadError::Unsupported`] for parameters outside ICAO 9303-11 §9.5.1 this crate has, or
/// [`ReadError::HostileAnswer`] for an invalid public key.
pub fn mapped_generator(
    params: &PaceParams,
    nonce: &[u8],
    private_key: &[u8],
    peer_public_key: &[u8],
) -> Result<Vec<u8>, ReadError> {
    let domain = Domain::from_params(params)?;
    let peer = domain.decode_public(peer_public_key)?;
    let mapped = domain.map(nonce, private_key, &peer)?;
    Ok(domain.encode(&mapped))
}

/// Builds `7C { tag value }` for GENERAL AUTHENTICATE.
fn dynamic_auth(tag: u8, value: &[u8]) -> Vec<u8> {
    tlv::encode(Tag(0x7C), &tlv::encode(Tag(u32::from(tag)), value))
}

/// The content of `tag` inside a `7C` answer.
fn from_dynamic_auth(data: &[u8], tag: u8) -> Result<Vec<u8>, ReadError> {
    let outer = tlv::read_exact(data)
        .ok()
        .filter(|t| t.tag == Tag(0x7C))
        .ok_or(ReadError::HostileAnswer(
            "GENERAL AUTHENTICATE answer is not 7C",
        ))?;
    outer
        .child(Tag(u32::from(tag)))
        .ok()
        .flatten()
        .map(|t| t.content.to_vec())
        .ok_or(ReadError::HostileAnswer(
            "GENERAL AUTHENTICATE answer misses a data object",
        ))
}

impl<T: Transport> Reader<T> {
    /// PACE with `params` (from EF.CardAccess, [`PaceParams::select`]) and the MRZ or CAN, then
    /// SELECT of the eMRTD application under the new secure messaging (ICAO 9303-11 §4.2).
    ///
    /// # Errors
    /// [`ReadError::WrongAccessKey`] when the chip rejects the terminal's token (`63xx`) or its
    /// own token does not verify; [`ReadError::HostileAnswer`] for invalid keys or encodings.
    pub fn pace(&mut self, key: &AccessKey, params: PaceParams) -> Result<(), ReadError> {
        self.channel = None;
        self.protocol = None;
        let secret = PaceSecret::new(key)?;
        let domain = Domain::from_params(&params)?;

        // MSE:Set AT (§4.4.4.1).
        let mut mse = tlv::encode(Tag(0x80), params.oid().as_bytes());
        mse.extend(tlv::encode(Tag(0x83), &[secret.reference()]));
        if params.name_parameters {
            mse.extend(tlv::encode(Tag(0x84), &[params.parameter_id]));
        }
        let answer =
            self.transceive_plain(&CommandApdu::new(0x00, 0x22, 0xC1, 0xA4).with_data(mse))?;
        if answer.sw != sw::OK && sw::tries_left(answer.sw).is_none() {
            return Err(status_error(answer.sw, None));
        }

        // Encrypted nonce.
        let z = self.general_authenticate(true, &tlv::encode(Tag(0x7C), &[]), 0x80)?;
        let k_pi = secret.k_pi(params.cipher);
        if z.is_empty() || !z.len().is_multiple_of(params.cipher.block_len()) {
            return Err(ReadError::HostileAnswer("PACE nonce length"));
        }
        let s = sm::cbc_zero_iv(params.cipher, &k_pi, &z, false)?;

        // Mapping.
        let mut fill = |buf: &mut [u8]| self.randomness.fill(buf);
        let map_private = domain.random_private(&mut fill)?;
        let map_public = domain.public(&domain.generator(), &map_private)?;
        let chip_map = self.general_authenticate(true, &dynamic_auth(0x81, &map_public), 0x82)?;
        if chip_map == map_public {
            return Err(ReadError::HostileAnswer("chip echoed the mapping key"));
        }
        let chip_map = domain.decode_public(&chip_map)?;
        let generator = domain.map(&s, &map_private, &chip_map)?;
        drop(map_private);

        // Key agreement on the mapped generator.
        let mut fill = |buf: &mut [u8]| self.randomness.fill(buf);
        let private = domain.random_private(&mut fill)?;
        let public = domain.public(&generator, &private)?;
        let chip_public_bytes =
            self.general_authenticate(true, &dynamic_auth(0x83, &public), 0x84)?;
        if chip_public_bytes == public {
            return Err(ReadError::HostileAnswer("chip echoed the ephemeral key"));
        }
        let chip_public = domain.decode_public(&chip_public_bytes)?;
        let shared = domain.agree(&private, &chip_public)?;
        drop(private);
        let (ks_enc, ks_mac) = sm::derive_keys(params.cipher, &shared);

        // Mutual authentication.
        let t_ifd = sm::mac8(
            params.cipher,
            &ks_mac,
            &token_input(&params, &domain, &chip_public_bytes),
        )?;
        let t_ic = self.general_authenticate(false, &dynamic_auth(0x85, &t_ifd), 0x86)?;
        let expected = sm::mac8(
            params.cipher,
            &ks_mac,
            &token_input(&params, &domain, &public),
        )?;
        if !bool::from(expected.as_slice().ct_eq(&t_ic)) {
            return Err(ReadError::WrongAccessKey { tries_left: None });
        }
        self.channel = Some(SecureChannel::new(params.cipher, ks_enc, ks_mac, 0)?);
        self.protocol = Some(AccessProtocol::Pace(params));
        self.select_application()
    }

    /// One GENERAL AUTHENTICATE step of PACE, in plain, returning the content of `want` in the
    /// answer. Command chaining (CLA `10`) on all but the last step (§4.4.4.2).
    fn general_authenticate(
        &mut self,
        chained: bool,
        data: &[u8],
        want: u8,
    ) -> Result<Vec<u8>, ReadError> {
        let cla = if chained { 0x10 } else { 0x00 };
        let command = CommandApdu::new(cla, 0x86, 0x00, 0x00)
            .with_data(data.to_vec())
            .with_le(256);
        let answer = self.transceive_plain(&command)?;
        match answer.sw {
            sw::OK => from_dynamic_auth(&answer.data, want),
            sw::AUTH_FAILED => Err(ReadError::WrongAccessKey { tries_left: None }),
            other => match sw::tries_left(other) {
                Some(n) => Err(ReadError::WrongAccessKey {
                    tries_left: Some(n),
                }),
                None => Err(status_error(other, None)),
            },
        }
    }
}
