//! Private keys and signing for the test-passport factory.
//!
//! RSA keys come either from the fixed keys in [`super::fixed_keys`] (default: instant) or are
//! generated once per process and cached (`OnceLock`), because RSA-4096 generation takes seconds.
//! EC keys are cheap and generated per passport on every curve the verifier supports, through the
//! generic arithmetic of [`crate::crypto::ec`], so brainpoolP512r1 and explicit-parameter keys sign
//! exactly like the typed curves; the CSCA's EC key of [`KeySource::Fixed`] is instead derived
//! from a public label ([`EcPrivateKey::fixed`]). Signing happens only here, never in the server.
//!
//! Signatures are deterministic: the ECDSA nonce and the RSA-PSS salt are derived from the key
//! and the message (in the spirit of RFC 6979 §3.2; not its exact construction), so that a
//! certificate issued twice with a fixed key is the same certificate byte for byte. A server in
//! test mode trusts the factory's CSCAs built in its own process while a simulator builds the
//! passports in another (`docs/verify.md` "Test passports and the simulator").

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use num_bigint::BigUint;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};

use crate::crypto::curves::{Curve, CurveId};
use crate::crypto::ec::{self, CurveParams};
use crate::crypto::hash::HashAlgorithm;
use crate::tlv::{self, Tag};

use super::TestkitError;
use super::fixed_keys;

/// The operating-system RNG in the shape the RustCrypto crates expect.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Where the issuers' keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeySource {
    /// The fixed RSA keys shipped with the test kit (instant) and, for the EC families, a CSCA
    /// key derived from a fixed label ([`EcPrivateKey::fixed`]): the same CSCA in every run.
    #[default]
    Fixed,
    /// Fresh RSA keys of the real sizes, generated once per process and then reused, and a
    /// fresh EC CSCA key per passport.
    Generated,
}

/// Role of an RSA key, selecting the fixed key or the cache slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaRole {
    /// RSA-4096 country signing CA.
    Csca,
    /// RSA-2048 document signer.
    Dsc,
    /// RSA-2048 key that belongs to nobody: a foreign CSCA, or a substituted chip key.
    Other,
    /// RSA-1024 active-authentication key.
    ActiveAuth,
}

impl RsaRole {
    fn bits(self) -> usize {
        match self {
            Self::Csca => 4096,
            Self::Dsc | Self::Other => 2048,
            Self::ActiveAuth => 1024,
        }
    }

    fn fixed_hex(self) -> &'static str {
        match self {
            Self::Csca => fixed_keys::RSA_4096_A,
            Self::Dsc => fixed_keys::RSA_2048_A,
            Self::Other => fixed_keys::RSA_2048_B,
            Self::ActiveAuth => fixed_keys::RSA_1024_AA,
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| (nibble(*p.first().unwrap_or(&b'0')) << 4) | nibble(*p.get(1).unwrap_or(&b'0')))
        .collect()
}

/// The RSA key for `role`, from the fixed set or the per-process cache.
///
/// # Errors
/// [`TestkitError::Key`] if a fixed key does not decode or generation fails.
pub fn rsa_key(role: RsaRole, source: KeySource) -> Result<Arc<RsaPrivateKey>, TestkitError> {
    type Cache = Mutex<HashMap<(RsaRole, KeySource), Arc<RsaPrivateKey>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache
        .lock()
        .map_err(|_| TestkitError::Key("key cache poisoned"))?;
    if let Some(key) = map.get(&(role, source)) {
        return Ok(Arc::clone(key));
    }
    let key = match source {
        KeySource::Fixed => {
            let der = unhex(role.fixed_hex());
            rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_der(&der)
                .or_else(|_| RsaPrivateKey::from_pkcs8_der(&der))
                .map_err(|_| TestkitError::Key("fixed RSA key"))?
        }
        KeySource::Generated => RsaPrivateKey::new(&mut os_rng(), role.bits())
            .map_err(|_| TestkitError::Key("RSA key generation"))?,
    };
    let key = Arc::new(key);
    map.insert((role, source), Arc::clone(&key));
    Ok(key)
}

/// An EC private key on a named curve or on explicit parameters.
#[derive(Clone)]
pub struct EcPrivateKey {
    pub curve: Curve,
    /// Whether the SPKI carries explicit `ECParameters` instead of the curve OID.
    pub explicit: bool,
    d: BigUint,
}

impl std::fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcPrivateKey")
            .field("curve", &self.curve.name())
            .finish_non_exhaustive()
    }
}

impl EcPrivateKey {
    /// A fresh key on `curve`.
    pub fn generate(curve: CurveId, explicit: bool) -> Self {
        let curve = Curve::Named(curve);
        let d = random_scalar(curve.params());
        Self { curve, explicit, d }
    }

    /// The key named `label` on `curve`: its scalar is derived from the label alone, so every
    /// process and every run gets the same key. A label is public, so is the key: test
    /// material only.
    pub fn fixed(curve: CurveId, explicit: bool, label: &str) -> Self {
        let curve = Curve::Named(curve);
        let params = curve.params();
        let d = scalar_from_bytes(
            params,
            &expand(
                &[b"idgate testkit fixed EC key", label.as_bytes()],
                params.order_len() + 8,
            ),
        );
        Self { curve, explicit, d }
    }

    /// A key from its scalar (for keys read from PKCS#8 files).
    pub fn from_scalar(curve: Curve, explicit: bool, d: BigUint) -> Self {
        Self { curve, explicit, d }
    }

    pub fn scalar(&self) -> &BigUint {
        &self.d
    }

    /// SEC1 uncompressed public point.
    pub fn public_point(&self) -> Vec<u8> {
        let params = self.curve.params();
        params
            .scalar_mul(&self.d, &params.generator())
            .map(|p| params.encode_point(&p))
            .unwrap_or_default()
    }

    /// `SubjectPublicKeyInfo` with `id-ecPublicKey` and a named curve or explicit parameters.
    pub fn spki_der(&self) -> Vec<u8> {
        let params = match (&self.curve, self.explicit) {
            (Curve::Named(id), false) => tlv::encode(Tag(0x06), id.oid().as_bytes()),
            _ => explicit_parameters_der(self.curve.params()),
        };
        let mut alg = tlv::encode(
            Tag(0x06),
            crate::crypto::curves::ID_EC_PUBLIC_KEY.as_bytes(),
        );
        alg.extend(params);
        spki(&alg, &self.public_point())
    }

    /// ECDSA (BSI TR-03111 §4.2.1.1) over a hash, as plain `r ‖ s`. The nonce is derived from
    /// the private key, the hash and a retry counter (see the module documentation), so the
    /// same key signs the same hash identically.
    pub fn sign_prehash_plain(&self, prehash: &[u8]) -> Vec<u8> {
        let params = self.curve.params();
        let n = &params.n;
        let secret = ec::to_fixed_be(&self.d, params.order_len());
        let mut attempt = 0u32;
        loop {
            attempt = attempt.wrapping_add(1);
            let k = scalar_from_bytes(
                params,
                &expand(
                    &[
                        b"idgate testkit ECDSA nonce",
                        &secret,
                        prehash,
                        &attempt.to_be_bytes(),
                    ],
                    params.order_len() + 8,
                ),
            );
            let Some(point) = params.scalar_mul(&k, &params.generator()) else {
                continue;
            };
            let r = &point.x % n;
            let kinv = k.modpow(&(n - BigUint::from(2u8)), n);
            let s = (kinv * (hash_to_int(params, prehash) + &r * &self.d)) % n;
            if r == BigUint::ZERO || s == BigUint::ZERO {
                continue;
            }
            let mut out = ec::to_fixed_be(&r, params.order_len());
            out.extend(ec::to_fixed_be(&s, params.order_len()));
            return out;
        }
    }

    /// ECDSA as a DER `ECDSA-Sig-Value` (X9.62), the form CMS and X.509 carry.
    pub fn sign_prehash_der(&self, prehash: &[u8]) -> Vec<u8> {
        let plain = self.sign_prehash_plain(prehash);
        let (r, s) = plain.split_at(plain.len() / 2);
        let mut body = tlv::encode(Tag(0x02), &der_uint(r));
        body.extend(tlv::encode(Tag(0x02), &der_uint(s)));
        tlv::encode(Tag(0x30), &body)
    }
}

fn hash_to_int(params: &CurveParams, hash: &[u8]) -> BigUint {
    let e = BigUint::from_bytes_be(hash);
    let hash_bits = u64::try_from(hash.len()).unwrap_or(0) * 8;
    let n_bits = params.n.bits();
    if hash_bits > n_bits {
        e >> (hash_bits - n_bits)
    } else {
        e
    }
}

fn random_scalar(params: &CurveParams) -> BigUint {
    let mut buf = vec![0u8; params.order_len() + 8];
    rand_core::Rng::fill_bytes(&mut os_rng(), &mut buf);
    scalar_from_bytes(params, &buf)
}

/// A scalar in `[1, n − 1]` from at least 8 bytes more than the order (bias below 2⁻⁶⁴).
fn scalar_from_bytes(params: &CurveParams, bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes) % (&params.n - BigUint::from(1u8)) + BigUint::from(1u8)
}

/// `len` bytes of SHA-512 in counter mode over the length-prefixed `parts`: a deterministic
/// stream for derived keys, nonces and salts.
fn expand(parts: &[&[u8]], len: usize) -> Vec<u8> {
    use sha2::Digest as _;
    let mut seed = sha2::Sha512::new();
    for part in parts {
        seed.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        seed.update(part);
    }
    let seed = seed.finalize();
    let mut out = Vec::with_capacity(len + 64);
    let mut block = 0u64;
    while out.len() < len {
        let mut h = sha2::Sha512::new();
        h.update(seed);
        h.update(block.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        block += 1;
    }
    out.truncate(len);
    out
}

/// A random-number generator that replays [`expand`] of its seed: the RSA-PSS salt (and the
/// blinding factor, which does not change the signature) of a deterministic signature.
struct DerivedRng {
    stream: Vec<u8>,
    seed: Vec<u8>,
    position: usize,
}

impl DerivedRng {
    fn new(parts: &[&[u8]]) -> Self {
        Self {
            stream: Vec::new(),
            seed: expand(parts, 64),
            position: 0,
        }
    }
}

impl rand_core::TryRng for DerivedRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let end = self.position + dst.len();
        if self.stream.len() < end {
            self.stream = expand(&[&self.seed], end.next_multiple_of(64));
        }
        if let Some(src) = self.stream.get(self.position..end) {
            dst.copy_from_slice(src);
        }
        self.position = end;
        Ok(())
    }
}

impl rand_core::TryCryptoRng for DerivedRng {}

/// Content octets of a DER INTEGER for the unsigned big-endian `v`.
pub fn der_uint(v: &[u8]) -> Vec<u8> {
    let start = v
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(v.len().saturating_sub(1));
    let mut out = v.get(start..).unwrap_or(&[0]).to_vec();
    if out.is_empty() || out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    out
}

/// `SEQUENCE { AlgorithmIdentifier, BIT STRING }` from the identifier's contents and the key.
pub fn spki(algorithm_content: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = tlv::encode(Tag(0x30), algorithm_content);
    body.extend(tlv::encode(Tag(0x03), &bits));
    tlv::encode(Tag(0x30), &body)
}

/// Explicit `ECParameters` (RFC 3279 §2.3.5, version 1, with cofactor; BSI TR-03111 §4.1.1).
pub fn explicit_parameters_der(p: &CurveParams) -> Vec<u8> {
    let int = |v: &BigUint| tlv::encode(Tag(0x02), &der_uint(&v.to_bytes_be()));
    let fl = p.field_len();
    let mut field_id = tlv::encode(Tag(0x06), &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x01, 0x01]);
    field_id.extend(int(&p.p));
    let mut curve = tlv::encode(Tag(0x04), &ec::to_fixed_be(&p.a, fl));
    curve.extend(tlv::encode(Tag(0x04), &ec::to_fixed_be(&p.b, fl)));
    let mut body = int(&BigUint::from(1u8));
    body.extend(tlv::encode(Tag(0x30), &field_id));
    body.extend(tlv::encode(Tag(0x30), &curve));
    body.extend(tlv::encode(Tag(0x04), &p.encode_point(&p.generator())));
    body.extend(int(&p.n));
    body.extend(int(&p.h));
    tlv::encode(Tag(0x30), &body)
}

/// A signing key of either family.
#[derive(Debug, Clone)]
pub enum SigningKey {
    Rsa(Arc<RsaPrivateKey>),
    Ec(EcPrivateKey),
}

/// The signature scheme an issuer uses with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    RsaPkcs1v15,
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash (RFC 4055 §3.1).
    RsaPss,
    Ecdsa,
}

impl SigningKey {
    pub fn spki_der(&self) -> Result<Vec<u8>, TestkitError> {
        match self {
            Self::Rsa(k) => k
                .to_public_key()
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|_| TestkitError::Key("RSA SPKI encoding")),
            Self::Ec(k) => Ok(k.spki_der()),
        }
    }

    /// Signs `message` (hashing it first).
    ///
    /// # Errors
    /// [`TestkitError::Key`] when the scheme does not fit the key or RSA signing fails.
    pub fn sign(
        &self,
        scheme: SignatureScheme,
        hash: HashAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, TestkitError> {
        let digest = hash.digest(message);
        match (self, scheme) {
            (Self::Rsa(k), SignatureScheme::RsaPkcs1v15) => rsa_pkcs1(k, hash, &digest),
            (Self::Rsa(k), SignatureScheme::RsaPss) => rsa_pss(k, hash, &digest),
            (Self::Ec(k), SignatureScheme::Ecdsa) => Ok(k.sign_prehash_der(&digest)),
            _ => Err(TestkitError::Key("signature scheme does not match the key")),
        }
    }
}

fn rsa_pkcs1(
    key: &RsaPrivateKey,
    hash: HashAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, TestkitError> {
    use rsa::Pkcs1v15Sign;
    let padding = match hash {
        HashAlgorithm::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        HashAlgorithm::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
        HashAlgorithm::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlgorithm::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlgorithm::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    };
    key.sign(padding, digest)
        .map_err(|_| TestkitError::Key("RSA PKCS#1 v1.5 signing"))
}

fn rsa_pss(
    key: &RsaPrivateKey,
    hash: HashAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, TestkitError> {
    use rsa::pss::Pss;
    use rsa::traits::PublicKeyParts;
    let modulus = key.n().as_ref().to_be_bytes();
    let mut rng = DerivedRng::new(&[b"idgate testkit RSA-PSS salt", modulus.as_ref(), digest]);
    let len = hash.output_len();
    let result = match hash {
        HashAlgorithm::Sha1 => {
            key.sign_with_rng(&mut rng, Pss::<sha1::Sha1>::new_with_salt(len), digest)
        }
        HashAlgorithm::Sha224 => {
            key.sign_with_rng(&mut rng, Pss::<sha2::Sha224>::new_with_salt(len), digest)
        }
        HashAlgorithm::Sha256 => {
            key.sign_with_rng(&mut rng, Pss::<sha2::Sha256>::new_with_salt(len), digest)
        }
        HashAlgorithm::Sha384 => {
            key.sign_with_rng(&mut rng, Pss::<sha2::Sha384>::new_with_salt(len), digest)
        }
        HashAlgorithm::Sha512 => {
            key.sign_with_rng(&mut rng, Pss::<sha2::Sha512>::new_with_salt(len), digest)
        }
    };
    result.map_err(|_| TestkitError::Key("RSA-PSS signing"))
}

/// DER `AlgorithmIdentifier` of a digest, parameters absent (RFC 5754 §2).
pub fn digest_algorithm_der(hash: HashAlgorithm) -> Vec<u8> {
    tlv::encode(Tag(0x30), &tlv::encode(Tag(0x06), hash.oid().as_bytes()))
}

/// DER `AlgorithmIdentifier` of a signature scheme with `hash`.
pub fn signature_algorithm_der(scheme: SignatureScheme, hash: HashAlgorithm) -> Vec<u8> {
    use crate::crypto::algorithm::oid;
    let oid_der = |o: der::asn1::ObjectIdentifier| tlv::encode(Tag(0x06), o.as_bytes());
    let body = match scheme {
        SignatureScheme::RsaPkcs1v15 => {
            let o = match hash {
                HashAlgorithm::Sha1 => oid::SHA1_WITH_RSA,
                HashAlgorithm::Sha224 => oid::SHA224_WITH_RSA,
                HashAlgorithm::Sha256 => oid::SHA256_WITH_RSA,
                HashAlgorithm::Sha384 => oid::SHA384_WITH_RSA,
                HashAlgorithm::Sha512 => oid::SHA512_WITH_RSA,
            };
            let mut b = oid_der(o);
            b.extend([0x05, 0x00]);
            b
        }
        SignatureScheme::RsaPss => {
            // RSASSA-PSS-params (RFC 4055 §3.1): hashAlgorithm [0], maskGenAlgorithm [1], saltLength [2].
            let hash_alg = digest_algorithm_der(hash);
            let mut mgf = oid_der(oid::MGF1);
            mgf.extend(&hash_alg);
            let mut params = tlv::encode(Tag(0xA0), &hash_alg);
            params.extend(tlv::encode(Tag(0xA1), &tlv::encode(Tag(0x30), &mgf)));
            let salt = u8::try_from(hash.output_len()).unwrap_or(32);
            params.extend(tlv::encode(Tag(0xA2), &tlv::encode(Tag(0x02), &[salt])));
            let mut b = oid_der(oid::RSASSA_PSS);
            b.extend(tlv::encode(Tag(0x30), &params));
            b
        }
        SignatureScheme::Ecdsa => oid_der(match hash {
            HashAlgorithm::Sha1 => oid::ECDSA_SHA1,
            HashAlgorithm::Sha224 => oid::ECDSA_SHA224,
            HashAlgorithm::Sha256 => oid::ECDSA_SHA256,
            HashAlgorithm::Sha384 => oid::ECDSA_SHA384,
            HashAlgorithm::Sha512 => oid::ECDSA_SHA512,
        }),
    };
    tlv::encode(Tag(0x30), &body)
}

/// Reads an EC private key from PKCS#8 (RFC 5208) wrapping a SEC1 `ECPrivateKey` (RFC 5915),
/// with named or explicit parameters, as the BSI reference passport's `DG14_sk.pkcs8`.
///
/// # Errors
/// [`TestkitError::Key`] when the structure is not an EC PKCS#8 key.
pub fn ec_key_from_pkcs8(der_bytes: &[u8]) -> Result<EcPrivateKey, TestkitError> {
    let bad = |_| TestkitError::Key("EC PKCS#8");
    let top = tlv::read_exact(der_bytes).map_err(bad)?;
    let fields = top.children().map_err(bad)?;
    let [_, alg, key, ..] = fields.as_slice() else {
        return Err(TestkitError::Key("EC PKCS#8"));
    };
    let alg_fields = alg.children().map_err(bad)?;
    let params = alg_fields
        .get(1)
        .ok_or(TestkitError::Key("EC PKCS#8 parameters"))?;
    let curve = crate::crypto::curves::decode_ec_parameters(params.raw)
        .map_err(|_| TestkitError::Key("EC curve"))?;
    let explicit = params.tag == Tag(0x30);
    let sec1 = tlv::read_exact(key.content).map_err(bad)?;
    let sec1_fields = sec1.children().map_err(bad)?;
    let d = sec1_fields
        .get(1)
        .filter(|t| t.tag == Tag(0x04))
        .ok_or(TestkitError::Key("ECPrivateKey"))?;
    Ok(EcPrivateKey::from_scalar(
        curve,
        explicit,
        BigUint::from_bytes_be(d.content),
    ))
}

/// Reads an RSA private key from PKCS#8.
///
/// # Errors
/// [`TestkitError::Key`].
pub fn rsa_key_from_pkcs8(der_bytes: &[u8]) -> Result<Arc<RsaPrivateKey>, TestkitError> {
    RsaPrivateKey::from_pkcs8_der(der_bytes)
        .map(Arc::new)
        .map_err(|_| TestkitError::Key("RSA PKCS#8"))
}
