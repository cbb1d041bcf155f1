//! Server-side chip-authentication state: minted by [`ChipAuthSession::start`] with a fresh
//! ephemeral key, consumed by [`ChipAuthSession::verify_response`].

use zeroize::Zeroizing;

use super::agreement::agree;
use super::apdu::{probe_command, setup_apdus};
use super::sm::{self, SecureChannel};
use super::{CaProtocol, ChipAuthError, ChipAuthParams, ChipKey, KeyAgreement};

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

    /// Like [`Self::verify_response`], for a terminal that runs chip authentication itself and
    /// keeps talking to the chip: also returns the secure channel under the new keys, its SSC
    /// already past the verified response (ICAO 9303-11 §6.2.3).
    ///
    /// # Errors
    /// As [`Self::verify_response`].
    pub(crate) fn verify_and_continue(
        mut self,
        response_apdu: &[u8],
    ) -> Result<(ChipAuthOutcome, SecureChannel), ChipAuthError> {
        let (data, status_word) = self.channel.unwrap_response(response_apdu)?;
        Ok((
            ChipAuthOutcome {
                protocol: self.protocol,
                status_word,
                response_data: data.to_vec(),
            },
            self.channel,
        ))
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
