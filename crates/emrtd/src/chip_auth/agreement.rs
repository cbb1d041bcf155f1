//! The terminal side of the key agreement: one ephemeral key pair and the shared secret
//! (ECDH, BSI TR-03111 §4.3.1; DH, PKCS#3), plus the chip side for the test kit.

use elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, NonZeroScalar};
use num_bigint::BigUint;
use zeroize::{Zeroize, Zeroizing};

use super::{ChipAuthError, ChipKey};
use crate::crypto::curves::{Curve, CurveId};
use crate::crypto::{CryptoError, ec};

/// The ephemeral key and the shared secret of one key agreement, terminal side.
pub(super) struct Agreement {
    pub(super) ephemeral_public_key: Vec<u8>,
    pub(super) shared_secret: Zeroizing<Vec<u8>>,
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

pub(super) fn agree<R: rand_core::CryptoRng + ?Sized>(
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
