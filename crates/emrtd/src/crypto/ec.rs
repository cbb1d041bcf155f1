//! Generic short-Weierstrass elliptic-curve arithmetic over prime fields, on `num-bigint`.
//!
//! Why this exists: the typed RustCrypto crates cover NIST P-256/384/521 and
//! brainpoolP256r1/384r1 only, while ICAO 9303-12 §4.4.4 allows every brainpool curve
//! (brainpoolP512r1 is common) and documents may carry *explicit* domain parameters
//! (BSI TR-03111 §4.1, RFC 3279 §2.3.5 `ECParameters`). This module implements the
//! arithmetic of BSI TR-03111 §2.3 in Jacobian coordinates, ECDSA verification
//! (TR-03111 §4.2.1.2) and ECKA-DH (TR-03111 §4.3.1), which chip authentication needs
//! (ICAO 9303-11 §6.2).
//!
//! Everything here handles public data on the verification side, so variable-time big-integer
//! arithmetic is acceptable; the only secret is the server's ephemeral scalar in
//! [`shared_secret`], which lives for one authentication; the derived secret is returned in
//! a [`zeroize::Zeroizing`] buffer.

use num_bigint::BigUint;
use zeroize::Zeroizing;

use super::CryptoError;

/// Domain parameters `(p, a, b, G, n, h)` of a curve `y² = x³ + ax + b` over GF(p)
/// (BSI TR-03111 §2.3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct CurveParams {
    pub p: BigUint,
    pub a: BigUint,
    pub b: BigUint,
    pub gx: BigUint,
    pub gy: BigUint,
    pub n: BigUint,
    pub h: BigUint,
}

impl std::fmt::Debug for CurveParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CurveParams({} bit)", self.p.bits())
    }
}

/// Upper bound on the field size we accept, so explicit parameters from an untrusted
/// certificate cannot make us compute with enormous numbers.
pub const MAX_FIELD_BITS: u64 = 521;

/// A point in affine coordinates; `None` in APIs that may return the point at infinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinePoint {
    pub x: BigUint,
    pub y: BigUint,
}

/// Jacobian point `(X, Y, Z)` representing `(X/Z², Y/Z³)`; `Z = 0` is the point at infinity.
#[derive(Debug, Clone)]
struct Jacobian {
    x: BigUint,
    y: BigUint,
    z: BigUint,
}

impl CurveParams {
    /// Builds parameters from big-endian byte strings and checks them for plausibility:
    /// an odd prime-sized field within [`MAX_FIELD_BITS`], coefficients reduced mod p,
    /// the generator on the curve, a non-trivial order.
    ///
    /// # Errors
    /// [`CryptoError::InvalidCurveParameters`] when a check fails.
    pub fn from_be_bytes(
        p: &[u8],
        a: &[u8],
        b: &[u8],
        gx: &[u8],
        gy: &[u8],
        n: &[u8],
        h: &[u8],
    ) -> Result<Self, CryptoError> {
        let params = Self {
            p: BigUint::from_bytes_be(p),
            a: BigUint::from_bytes_be(a),
            b: BigUint::from_bytes_be(b),
            gx: BigUint::from_bytes_be(gx),
            gy: BigUint::from_bytes_be(gy),
            n: BigUint::from_bytes_be(n),
            h: if h.is_empty() {
                BigUint::from(1u8)
            } else {
                BigUint::from_bytes_be(h)
            },
        };
        params.validate()?;
        Ok(params)
    }

    fn validate(&self) -> Result<(), CryptoError> {
        let bad = |why: &'static str| Err(CryptoError::InvalidCurveParameters(why));
        let bits = self.p.bits();
        if !(64..=MAX_FIELD_BITS).contains(&bits) || !self.p.bit(0) {
            return bad("field size");
        }
        if self.a >= self.p || self.b >= self.p {
            return bad("coefficient not reduced");
        }
        if self.n.bits() < 64 || self.n.bits() > bits + 1 || !self.n.bit(0) {
            return bad("order");
        }
        if self.h == BigUint::ZERO {
            return bad("cofactor");
        }
        let g = AffinePoint {
            x: self.gx.clone(),
            y: self.gy.clone(),
        };
        if !self.is_on_curve(&g) {
            return bad("generator not on curve");
        }
        Ok(())
    }

    /// Length in bytes of a field element (`⌈log₂₅₆ p⌉`, BSI TR-03111 §3.1.3).
    pub fn field_len(&self) -> usize {
        self.p.bits().div_ceil(8) as usize
    }

    /// Length in bytes of a scalar modulo the group order.
    pub fn order_len(&self) -> usize {
        self.n.bits().div_ceil(8) as usize
    }

    pub fn generator(&self) -> AffinePoint {
        AffinePoint {
            x: self.gx.clone(),
            y: self.gy.clone(),
        }
    }

    /// `y² ≡ x³ + ax + b (mod p)` with both coordinates reduced.
    pub fn is_on_curve(&self, pt: &AffinePoint) -> bool {
        if pt.x >= self.p || pt.y >= self.p {
            return false;
        }
        let lhs = (&pt.y * &pt.y) % &self.p;
        let rhs = (&pt.x * &pt.x % &self.p * &pt.x + &self.a * &pt.x + &self.b) % &self.p;
        lhs == rhs
    }

    /// Decodes a SEC1 / BSI TR-03111 §3.2 point (uncompressed `04‖X‖Y`, or compressed
    /// `02|03‖X` when `p ≡ 3 (mod 4)`) and checks that it lies on the curve. The point at
    /// infinity is rejected: it is never a valid public key.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPoint`].
    pub fn decode_point(&self, bytes: &[u8]) -> Result<AffinePoint, CryptoError> {
        let l = self.field_len();
        let (&tag, rest) = bytes.split_first().ok_or(CryptoError::InvalidPoint)?;
        let pt = match tag {
            0x04 if rest.len() == 2 * l => {
                let (x, y) = rest.split_at(l);
                AffinePoint {
                    x: BigUint::from_bytes_be(x),
                    y: BigUint::from_bytes_be(y),
                }
            }
            0x02 | 0x03 if rest.len() == l => {
                let x = BigUint::from_bytes_be(rest);
                if x >= self.p {
                    return Err(CryptoError::InvalidPoint);
                }
                let y = self.lift_x(&x, tag == 0x03)?;
                AffinePoint { x, y }
            }
            _ => return Err(CryptoError::InvalidPoint),
        };
        if !self.is_on_curve(&pt) {
            return Err(CryptoError::InvalidPoint);
        }
        Ok(pt)
    }

    /// Square root of `x³ + ax + b` for point decompression; only the `p ≡ 3 (mod 4)` case
    /// (every brainpool curve and P-256/384/521's relatives used in eMRTDs except P-224).
    fn lift_x(&self, x: &BigUint, odd: bool) -> Result<BigUint, CryptoError> {
        let four = BigUint::from(4u8);
        if &self.p % &four != BigUint::from(3u8) {
            return Err(CryptoError::InvalidPoint);
        }
        let rhs = (x * x % &self.p * x + &self.a * x + &self.b) % &self.p;
        let exp = (&self.p + 1u8) / &four;
        let y = rhs.modpow(&exp, &self.p);
        if (&y * &y) % &self.p != rhs {
            return Err(CryptoError::InvalidPoint);
        }
        Ok(if y.bit(0) == odd {
            y
        } else {
            (&self.p - &y) % &self.p
        })
    }

    /// Uncompressed SEC1 encoding `04‖X‖Y` with fixed-length coordinates.
    pub fn encode_point(&self, pt: &AffinePoint) -> Vec<u8> {
        let l = self.field_len();
        let mut out = Vec::with_capacity(1 + 2 * l);
        out.push(0x04);
        out.extend_from_slice(&to_fixed_be(&pt.x, l));
        out.extend_from_slice(&to_fixed_be(&pt.y, l));
        out
    }

    fn sub(&self, a: &BigUint, b: &BigUint) -> BigUint {
        if a >= b { a - b } else { &self.p - (b - a) }
    }

    fn to_jacobian(pt: &AffinePoint) -> Jacobian {
        Jacobian {
            x: pt.x.clone(),
            y: pt.y.clone(),
            z: BigUint::from(1u8),
        }
    }

    fn infinity() -> Jacobian {
        Jacobian {
            x: BigUint::from(1u8),
            y: BigUint::from(1u8),
            z: BigUint::ZERO,
        }
    }

    fn to_affine(&self, pt: &Jacobian) -> Option<AffinePoint> {
        if pt.z == BigUint::ZERO {
            return None;
        }
        // p is prime, so z^(p-2) is z⁻¹ (Fermat).
        let zinv = pt.z.modpow(&(&self.p - 2u8), &self.p);
        let zinv2 = &zinv * &zinv % &self.p;
        let x = &pt.x * &zinv2 % &self.p;
        let y = &pt.y * &zinv2 % &self.p * &zinv % &self.p;
        Some(AffinePoint { x, y })
    }

    fn double(&self, pt: &Jacobian) -> Jacobian {
        let p = &self.p;
        if pt.z == BigUint::ZERO || pt.y == BigUint::ZERO {
            return Self::infinity();
        }
        let xx = &pt.x * &pt.x % p;
        let yy = &pt.y * &pt.y % p;
        let yyyy = &yy * &yy % p;
        let zz = &pt.z * &pt.z % p;
        let s = (BigUint::from(4u8) * &pt.x % p) * &yy % p;
        let m = (BigUint::from(3u8) * &xx + &self.a * (&zz * &zz % p)) % p;
        let x3 = self.sub(&(&m * &m % p), &(BigUint::from(2u8) * &s % p));
        let y3 = self.sub(
            &(&m * self.sub(&s, &x3) % p),
            &(BigUint::from(8u8) * &yyyy % p),
        );
        let z3 = BigUint::from(2u8) * &pt.y % p * &pt.z % p;
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    fn add(&self, a: &Jacobian, b: &Jacobian) -> Jacobian {
        let p = &self.p;
        if a.z == BigUint::ZERO {
            return b.clone();
        }
        if b.z == BigUint::ZERO {
            return a.clone();
        }
        let z1z1 = &a.z * &a.z % p;
        let z2z2 = &b.z * &b.z % p;
        let u1 = &a.x * &z2z2 % p;
        let u2 = &b.x * &z1z1 % p;
        let s1 = &a.y * &b.z % p * &z2z2 % p;
        let s2 = &b.y * &a.z % p * &z1z1 % p;
        let h = self.sub(&u2, &u1);
        let r = self.sub(&s2, &s1);
        if h == BigUint::ZERO {
            return if r == BigUint::ZERO {
                self.double(a)
            } else {
                Self::infinity()
            };
        }
        let hh = &h * &h % p;
        let hhh = &h * &hh % p;
        let v = &u1 * &hh % p;
        let x3 = self.sub(
            &self.sub(&(&r * &r % p), &hhh),
            &(BigUint::from(2u8) * &v % p),
        );
        let y3 = self.sub(&(&r * self.sub(&v, &x3) % p), &(&s1 * &hhh % p));
        let z3 = &a.z * &b.z % p * &h % p;
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// Point addition in affine form (`None` = the point at infinity).
    pub fn add_points(&self, a: &AffinePoint, b: &AffinePoint) -> Option<AffinePoint> {
        self.to_affine(&self.add(&Self::to_jacobian(a), &Self::to_jacobian(b)))
    }

    /// Point doubling in affine form.
    pub fn double_point(&self, a: &AffinePoint) -> Option<AffinePoint> {
        self.to_affine(&self.double(&Self::to_jacobian(a)))
    }

    /// `k·P` by left-to-right double-and-add (variable time; see the module note).
    pub fn scalar_mul(&self, k: &BigUint, pt: &AffinePoint) -> Option<AffinePoint> {
        let base = Self::to_jacobian(pt);
        let mut acc = Self::infinity();
        for i in (0..k.bits()).rev() {
            acc = self.double(&acc);
            if k.bit(i) {
                acc = self.add(&acc, &base);
            }
        }
        self.to_affine(&acc)
    }

    /// `u1·G + u2·Q` with Shamir's trick: one shared doubling chain.
    fn double_scalar_mul(
        &self,
        u1: &BigUint,
        u2: &BigUint,
        q: &AffinePoint,
    ) -> Option<AffinePoint> {
        let g = Self::to_jacobian(&self.generator());
        let qj = Self::to_jacobian(q);
        let gq = self.add(&g, &qj);
        let mut acc = Self::infinity();
        for i in (0..u1.bits().max(u2.bits())).rev() {
            acc = self.double(&acc);
            match (u1.bit(i), u2.bit(i)) {
                (true, true) => acc = self.add(&acc, &gq),
                (true, false) => acc = self.add(&acc, &g),
                (false, true) => acc = self.add(&acc, &qj),
                (false, false) => {}
            }
        }
        self.to_affine(&acc)
    }

    /// The integer `e` derived from a hash for ECDSA: its leftmost `⌈log₂ n⌉` bits
    /// (BSI TR-03111 §4.2.1.1, SEC1 §4.1.3 step 5), so a SHA-512 hash on a 256-bit curve and a
    /// SHA-1 hash on P-521 both work.
    fn hash_to_int(&self, hash: &[u8]) -> BigUint {
        let e = BigUint::from_bytes_be(hash);
        let hash_bits = (hash.len() as u64) * 8;
        let n_bits = self.n.bits();
        if hash_bits > n_bits {
            e >> (hash_bits - n_bits)
        } else {
            e
        }
    }

    /// ECDSA verification (BSI TR-03111 §4.2.1.2) of `(r, s)` over an already computed hash.
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] when the signature does not verify or is out of range.
    pub fn ecdsa_verify_prehash(
        &self,
        q: &AffinePoint,
        hash: &[u8],
        r: &BigUint,
        s: &BigUint,
    ) -> Result<(), CryptoError> {
        let zero = BigUint::ZERO;
        if *r == zero || *s == zero || *r >= self.n || *s >= self.n {
            return Err(CryptoError::BadSignature);
        }
        let e = self.hash_to_int(hash);
        // n is prime: s^(n-2) = s⁻¹.
        let w = s.modpow(&(&self.n - 2u8), &self.n);
        let u1 = e * &w % &self.n;
        let u2 = r * &w % &self.n;
        let point = self
            .double_scalar_mul(&u1, &u2, q)
            .ok_or(CryptoError::BadSignature)?;
        if &point.x % &self.n == *r {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }
}

/// Left-pads (or, for an out-of-range value, truncates from the left) to exactly `len` bytes.
pub fn to_fixed_be(v: &BigUint, len: usize) -> Vec<u8> {
    let bytes = v.to_bytes_be();
    if bytes.len() >= len {
        return bytes
            .get(bytes.len() - len..)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(&bytes);
    out
}

/// ECDSA verification with a SEC1-encoded public point and `(r, s)` as big-endian integers.
///
/// # Errors
/// [`CryptoError::InvalidPoint`] for a bad key, [`CryptoError::BadSignature`] otherwise.
pub fn ecdsa_verify(
    params: &CurveParams,
    public_point: &[u8],
    hash: &[u8],
    r: &[u8],
    s: &[u8],
) -> Result<(), CryptoError> {
    let q = params.decode_point(public_point)?;
    params.ecdsa_verify_prehash(
        &q,
        hash,
        &BigUint::from_bytes_be(r),
        &BigUint::from_bytes_be(s),
    )
}

/// ECKA-DH (BSI TR-03111 §4.3.1): the x-coordinate of `d·Q`, as a field-length octet string
/// (TR-03111 §3.1.3 FE2OS). The peer point is fully decoded and checked to lie on the curve;
/// with a cofactor above 1 the scalar is multiplied by `h` first (cofactor ECDH) so that
/// small-subgroup points yield infinity and are rejected.
///
/// # Errors
/// [`CryptoError::InvalidPoint`] for a bad peer point, [`CryptoError::InvalidScalar`] for a
/// scalar that is zero or not below the order, [`CryptoError::SharedSecretIsInfinity`].
pub fn shared_secret(
    params: &CurveParams,
    private_scalar: &[u8],
    peer_point: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let q = params.decode_point(peer_point)?;
    // num-bigint offers no zeroization of its heap limbs; the scalar is ephemeral.
    let d = BigUint::from_bytes_be(private_scalar);
    if d == BigUint::ZERO || d >= params.n {
        return Err(CryptoError::InvalidScalar);
    }
    let k = if params.h == BigUint::from(1u8) {
        d
    } else {
        &d * &params.h
    };
    let shared = params
        .scalar_mul(&k, &q)
        .ok_or(CryptoError::SharedSecretIsInfinity)?;
    Ok(Zeroizing::new(to_fixed_be(&shared.x, params.field_len())))
}

/// The public point `d·G` of a private scalar, SEC1 uncompressed; used to publish an
/// ephemeral key (ICAO 9303-11 §6.2.3 chip authentication, terminal side).
///
/// # Errors
/// [`CryptoError::InvalidScalar`] when `d` is zero or not below the order.
pub fn public_point(params: &CurveParams, private_scalar: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // num-bigint offers no zeroization of its heap limbs; the scalar is ephemeral.
    let d = BigUint::from_bytes_be(private_scalar);
    if d == BigUint::ZERO || d >= params.n {
        return Err(CryptoError::InvalidScalar);
    }
    let pt = params
        .scalar_mul(&d, &params.generator())
        .ok_or(CryptoError::InvalidScalar)?;
    Ok(params.encode_point(&pt))
}
