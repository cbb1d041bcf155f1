//! The terminal side of ICAO 9303: access control (BAC, ICAO 9303-11 §4.3; PACE, §4.4), secure
//! messaging (§9.8, [`crate::sm`]), reading the LDS files (ICAO 9303-10 §4; ISO/IEC 7816-4
//! SELECT and READ BINARY), active authentication (§6.1) and chip authentication (§6.2), over
//! any [`Transport`] that carries one APDU to the chip and its answer back.
//!
//! This module performs no I/O itself: the caller's transport does (PC/SC on a desktop, the
//! phone's NFC stack, or the test kit's virtual chip). Everything is synchronous, and the public
//! surface has no lifetimes and no generics beyond the transport, so it can be exposed to phone
//! apps through generated bindings (see "Use from phone apps" below).
//!
//! # A complete read
//! ```no_run
//! use emrtd::reader::{AccessKey, MrzKey, Reader, Transport, TransportError};
//! # struct Nfc;
//! # impl Transport for Nfc {
//! #     fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> { Ok(vec![]) }
//! # }
//! # fn server_challenge() -> [u8; 8] { [0; 8] }
//! let key = AccessKey::Mrz(MrzKey::new("L898902C", "690806", "940623")?);
//! let mut reader = Reader::new(Nfc);
//! reader.authenticate(&key)?; // PACE when EF.CardAccess offers it, otherwise BAC
//! let files = reader.read_document()?; // EF.COM, EF.SOD and every data group the SOD lists
//! let aa_signature = reader.active_authenticate(&server_challenge())?;
//! # let _ = (files, aa_signature);
//! # Ok::<(), emrtd::reader::ReadError>(())
//! ```
//! `files` feeds [`crate::passive::verify`] (through [`DocumentFiles::data_groups`]); the
//! signature feeds [`crate::active::Challenge::verify`] on the server, which issued the
//! challenge. Chip authentication relayed for the server is
//! [`Reader::relay_chip_authentication`]; run by the terminal itself it is
//! [`Reader::chip_authenticate`].
//!
//! # Errors that say what happened
//! [`ReadError`] distinguishes a wrong MRZ or CAN ([`ReadError::WrongAccessKey`]), a file the
//! chip refuses ([`ReadError::AccessDenied`]) or does not have ([`ReadError::FileNotFound`]),
//! the card leaving the field ([`ReadError::CardRemoved`]), a response whose MAC does not verify
//! ([`ReadError::BadMac`]) and answers no conforming chip gives ([`ReadError::HostileAnswer`]).
//! No answer of a chip can make this module panic: every length is checked and every
//! allocation capped ([`MAX_FILE_LEN`]).
//!
//! # Use from phone apps
//! The API is shaped for binding generators such as UniFFI (Kotlin, Swift): a phone app
//! implements [`Transport`] over its NFC stack (Android `IsoDep.transceive`, iOS
//! `NFCISO7816Tag.sendCommand`) as a *callback interface*, and the bindings expose [`Reader`]
//! over `Box<dyn Transport + Send>` as an *object* with the methods above; [`AccessKey`],
//! [`DocumentFiles`], [`ExchangeStats`] and the error enums are plain records and enums with
//! owned fields. The calls block, so the app runs them off its UI thread (Android: a background
//! coroutine; iOS: the tag-reader session's queue), which is what both NFC stacks require anyway.
//! A thin `idgate-mobile` crate holding the `#[uniffi::export]` wrappers is all that is needed:
//! it keeps a `Mutex<Reader<Box<dyn Transport + Send>>>` (binding objects must be `Send + Sync`;
//! the reader is `Send`), and converts the few types UniFFI lacks (`BTreeMap` of data groups to a
//! `HashMap`, `SmCipher` to a plain enum). `emrtd` itself stays free of FFI code.

mod bac;
mod files;
mod pace;

use zeroize::Zeroizing;

use crate::apdu::{ApduError, CommandApdu, ResponseApdu, sw};
use crate::chip_auth::{ChipAuthError, ChipAuthOutcome, ChipAuthParams, ChipAuthSession};
use crate::sm::{SecureChannel, SmError};

pub use bac::{BacKeys, MrzKey};
pub use files::{DocumentFiles, EMRTD_AID, FileId, MAX_FILE_LEN};
#[cfg(feature = "testkit")]
pub(crate) use pace::{Domain, Element, token_input};
pub use pace::{
    PaceMapping, PaceParams, PaceSecret, mapped_generator, modp_1024_160, modp_2048_224,
    modp_2048_256, standard_dh_group,
};

/// Carries one command APDU to the chip and returns its complete response APDU (data and
/// SW1-SW2). Implemented by the caller over PC/SC, NFC, or the test kit's virtual chip.
pub trait Transport {
    /// # Errors
    /// [`TransportError::CardRemoved`] when the chip left the field; [`TransportError::Failed`]
    /// for any other transport failure.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
}

/// Why the transport could not deliver an APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("the card left the field")]
    CardRemoved,
    /// A reader or NFC stack failure; the message must not contain APDU bytes.
    #[error("transport failure: {0}")]
    Failed(String),
}

/// Why reading the chip failed. No variant carries MRZ data or file contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// BAC or PACE failed because the MRZ or CAN does not match the chip's
    /// (`63xx` on MUTUAL AUTHENTICATE / GENERAL AUTHENTICATE, or a cryptogram that does not
    /// verify under the derived key).
    #[error("the MRZ or CAN does not match the chip (wrong access key)")]
    WrongAccessKey {
        /// Remaining attempts when the chip says (`63Cx`).
        tries_left: Option<u8>,
    },
    /// The access key is malformed (not the digits and characters ICAO 9303-3 allows).
    #[error("the access key is malformed: {0}")]
    InvalidAccessKey(&'static str),
    /// The chip refused access (`6982` security status not satisfied, `6983` blocked, `6985`).
    #[error("the chip refused access (status {sw:04X})")]
    AccessDenied { sw: u16 },
    #[error("file {file:04X} is not on the chip")]
    FileNotFound { file: u16 },
    #[error("the card was removed")]
    CardRemoved,
    /// A protected response whose MAC does not verify: altered on the way, or a session the
    /// chip no longer shares.
    #[error("a secure-messaging response failed its MAC check")]
    BadMac,
    /// An answer no conforming chip gives (malformed APDU, TLV, cryptogram, length), reported
    /// instead of trusted.
    #[error("the chip's answer is malformed: {0}")]
    HostileAnswer(&'static str),
    /// A status word the step does not expect.
    #[error("the chip answered status {sw:04X}")]
    UnexpectedStatus { sw: u16 },
    #[error("the chip supports neither PACE nor BAC with the parameters offered")]
    Unsupported(&'static str),
    #[error("the operation needs an authenticated session (BAC or PACE) first")]
    NotAuthenticated,
    #[error("no random numbers available from the operating system")]
    RandomUnavailable,
    #[error("transport failure: {0}")]
    Transport(String),
    #[error("chip authentication: {0}")]
    ChipAuthentication(ChipAuthError),
}

impl From<TransportError> for ReadError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::CardRemoved => Self::CardRemoved,
            TransportError::Failed(m) => Self::Transport(m),
        }
    }
}

impl From<SmError> for ReadError {
    fn from(e: SmError) -> Self {
        match e {
            SmError::BadMac => Self::BadMac,
            SmError::Truncated | SmError::BadLength => Self::HostileAnswer("protected APDU length"),
            SmError::Unprotected(sw::OK) => {
                Self::HostileAnswer("unprotected success inside a secure session")
            }
            SmError::Unprotected(sw) => Self::UnexpectedStatus { sw },
            SmError::MalformedObjects | SmError::MissingObject(_) => {
                Self::HostileAnswer("secure-messaging data objects")
            }
            SmError::BadPadding => Self::HostileAnswer("secure-messaging cryptogram padding"),
            SmError::StatusMismatch => Self::HostileAnswer("protected and plain status differ"),
            SmError::CounterOverflow => Self::HostileAnswer("send sequence counter exhausted"),
            // Keys are derived here, so a wrong length is this side's error; report it as
            // unsupported rather than blaming the chip.
            SmError::KeyLength => Self::Unsupported("session key length"),
        }
    }
}

impl From<ApduError> for ReadError {
    fn from(e: ApduError) -> Self {
        match e {
            ApduError::Truncated => Self::HostileAnswer("response shorter than a status word"),
            ApduError::BadLength | ApduError::TooLong => Self::HostileAnswer("APDU length"),
        }
    }
}

/// The access-control secret: the MRZ (BAC or PACE) or the card access number (PACE only).
#[derive(Clone, PartialEq, Eq)]
pub enum AccessKey {
    Mrz(MrzKey),
    /// The card access number printed on the document (6 digits on most cards).
    Can(String),
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Mrz(_) => "AccessKey::Mrz(<redacted>)",
            Self::Can(_) => "AccessKey::Can(<redacted>)",
        })
    }
}

/// The access control that established the current session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessProtocol {
    Bac,
    Pace(PaceParams),
}

/// APDUs and bytes exchanged so far (command and response bytes as the transport carried them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    pub apdus: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// Where nonces and ephemeral keys come from: the operating system, or, under the `testkit`
/// feature only, a fixed byte script so the published worked examples can be replayed.
enum Randomness {
    Os,
    #[cfg(feature = "testkit")]
    Scripted(std::collections::VecDeque<u8>),
}

impl Randomness {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), ReadError> {
        match self {
            Self::Os => getrandom::fill(out).map_err(|_| ReadError::RandomUnavailable),
            #[cfg(feature = "testkit")]
            Self::Scripted(bytes) => {
                for b in out.iter_mut() {
                    *b = bytes.pop_front().ok_or(ReadError::RandomUnavailable)?;
                }
                Ok(())
            }
        }
    }
}

/// A terminal session with one chip.
pub struct Reader<T: Transport> {
    transport: T,
    channel: Option<SecureChannel>,
    protocol: Option<AccessProtocol>,
    stats: ExchangeStats,
    /// Largest number of file bytes asked for in one READ BINARY; shrinks when the chip
    /// answers `6700` or `6Cxx` (see [`Reader::set_max_read`]).
    max_read: usize,
    randomness: Randomness,
}

impl<T: Transport> std::fmt::Debug for Reader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("protocol", &self.protocol)
            .field("stats", &self.stats)
            .field("max_read", &self.max_read)
            .finish_non_exhaustive()
    }
}

/// READ BINARY size that fits a short-length protected response: 223 data bytes pad to 224,
/// and `87 81 E1 01 ‖ 224 ‖ 99 02 SW ‖ 8E 08 MAC` is 242 bytes, below 256 for every cipher.
pub const DEFAULT_MAX_READ: usize = 0xDF;

impl<T: Transport> Reader<T> {
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            channel: None,
            protocol: None,
            stats: ExchangeStats::default(),
            max_read: DEFAULT_MAX_READ,
            randomness: Randomness::Os,
        }
    }

    /// Replays fixed bytes instead of the operating system's random numbers, so a test can
    /// reproduce a published exchange byte for byte. Test kit only: never in production.
    #[cfg(feature = "testkit")]
    #[must_use]
    pub fn with_scripted_randomness(mut self, bytes: &[u8]) -> Self {
        self.randomness = Randomness::Scripted(bytes.iter().copied().collect());
        self
    }

    /// Asks for up to `max` bytes per READ BINARY (1..=65 536). Values above 223 need a reader
    /// and chip that support extended length (ISO/IEC 7816-4 §5.1; advertised in EF.ATR/INFO);
    /// the reader still shrinks the size when the chip answers `6700` or `6Cxx`.
    pub fn set_max_read(&mut self, max: usize) {
        self.max_read = max.clamp(1, crate::apdu::MAX_LE - 64);
    }

    pub fn max_read(&self) -> usize {
        self.max_read
    }

    pub fn stats(&self) -> ExchangeStats {
        self.stats
    }

    /// The access protocol of the current session, if any.
    pub fn access_protocol(&self) -> Option<AccessProtocol> {
        self.protocol
    }

    /// The cipher and SSC of the current secure-messaging session (for diagnostics and tests).
    pub fn secure_channel(&self) -> Option<&SecureChannel> {
        self.channel.as_ref()
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Sends raw bytes and returns the raw answer, counting both.
    fn exchange_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, ReadError> {
        self.stats.apdus += 1;
        self.stats.bytes_sent += command.len() as u64;
        let response = self.transport.transmit(command)?;
        self.stats.bytes_received += response.len() as u64;
        Ok(response)
    }

    /// Sends a command, protected when a session is established, and returns the plain
    /// response. A chip that answers a protected command with a bare error status (no SM data
    /// objects) is reported by that status: chips do so when they abort the session.
    fn transceive(&mut self, command: &CommandApdu) -> Result<ResponseApdu, ReadError> {
        if self.channel.is_some() {
            let wrapped = match self.channel.as_mut() {
                Some(channel) => channel.wrap_command(command)?,
                None => return Err(ReadError::NotAuthenticated),
            };
            let raw = self.exchange_raw(&wrapped)?;
            let channel = self.channel.as_mut().ok_or(ReadError::NotAuthenticated)?;
            match channel.unwrap_response(&raw) {
                Ok((data, sw)) => Ok(ResponseApdu {
                    data: data.to_vec(),
                    sw,
                }),
                Err(SmError::Unprotected(sw)) if sw != sw::OK => Ok(ResponseApdu {
                    data: Vec::new(),
                    sw,
                }),
                Err(e) => Err(e.into()),
            }
        } else {
            let raw = self.exchange_raw(&command.to_bytes()?)?;
            Ok(ResponseApdu::parse(&raw)?)
        }
    }

    /// Sends a command in plain even during a session (PACE's own exchange, which precedes
    /// secure messaging).
    fn transceive_plain(&mut self, command: &CommandApdu) -> Result<ResponseApdu, ReadError> {
        let raw = self.exchange_raw(&command.to_bytes()?)?;
        Ok(ResponseApdu::parse(&raw)?)
    }

    /// Runs PACE when EF.CardAccess announces a protocol this reader supports, otherwise BAC
    /// (ICAO 9303-11 §4.2: "the inspection system SHALL try PACE first"). A CAN can only be
    /// used with PACE. When PACE fails with anything but a wrong key (for instance a chip that
    /// announces PACE but rejects its own parameters), BAC is tried with the MRZ.
    ///
    /// # Errors
    /// [`ReadError::WrongAccessKey`] and the other variants of [`ReadError`].
    pub fn authenticate(&mut self, key: &AccessKey) -> Result<AccessProtocol, ReadError> {
        let pace = match self.read_card_access() {
            Ok(Some(card_access)) => PaceParams::select(&card_access),
            Ok(None) => None,
            Err(ReadError::CardRemoved) => return Err(ReadError::CardRemoved),
            Err(_) => None,
        };
        if let Some(params) = pace {
            match self.pace(key, params) {
                Ok(()) => return Ok(AccessProtocol::Pace(params)),
                Err(
                    e @ (ReadError::WrongAccessKey { .. }
                    | ReadError::CardRemoved
                    | ReadError::InvalidAccessKey(_)
                    | ReadError::RandomUnavailable),
                ) => return Err(e),
                Err(_) => {}
            }
        }
        let AccessKey::Mrz(mrz) = key else {
            return Err(ReadError::Unsupported(
                "the card access number needs PACE, which the chip does not offer",
            ));
        };
        self.select_application()?;
        self.bac(mrz)?;
        Ok(AccessProtocol::Bac)
    }

    /// Active authentication (ICAO 9303-11 §6.1): INTERNAL AUTHENTICATE with the 8-byte
    /// challenge the server issued ([`crate::active::Challenge::bytes`]). Returns the chip's
    /// signature, which the server checks with [`crate::active::Challenge::verify`].
    ///
    /// # Errors
    /// [`ReadError::AccessDenied`] / [`ReadError::UnexpectedStatus`] when the chip refuses, or
    /// a secure-messaging error.
    pub fn active_authenticate(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ReadError> {
        if challenge.len() != crate::active::CHALLENGE_LEN {
            return Err(ReadError::Unsupported(
                "active-authentication challenges are 8 bytes",
            ));
        }
        if self.channel.is_none() {
            return Err(ReadError::NotAuthenticated);
        }
        let command = CommandApdu::new(0x00, 0x88, 0x00, 0x00)
            .with_data(challenge.to_vec())
            .with_le(256);
        let response = self.transceive(&command)?;
        match response.sw {
            sw::OK if !response.data.is_empty() => Ok(response.data),
            sw::OK => Err(ReadError::HostileAnswer(
                "empty INTERNAL AUTHENTICATE answer",
            )),
            other => Err(status_error(other, None)),
        }
    }

    /// Relays the server's chip-authentication instructions (see [`crate::chip_auth`]): the
    /// MSE (and General Authenticate) commands wrapped in the current session, then the
    /// server's already-protected command as is. Returns the chip's response APDU unchanged,
    /// which the server passes to [`ChipAuthSession::verify_response`]. The current session
    /// ends: the chip now speaks only with keys the server holds.
    ///
    /// # Errors
    /// A refusal of the MSE / General Authenticate commands, or a transport failure.
    pub fn relay_chip_authentication(
        &mut self,
        instructions: &crate::chip_auth::ClientInstructions,
    ) -> Result<Vec<u8>, ReadError> {
        self.send_chip_auth_setup(instructions)?;
        self.channel = None;
        self.protocol = None;
        self.exchange_raw(&instructions.protected_command_apdu)
    }

    /// Chip authentication run by the terminal itself (ICAO 9303-11 §6.2) with the key and
    /// protocol of DG14: generates the ephemeral key, sends it, checks that the chip answers
    /// under the derived keys, and continues secure messaging with them (SSC restarted at
    /// zero, §6.2.3).
    ///
    /// # Errors
    /// [`ReadError::ChipAuthentication`] when the chip cannot prove possession of the DG14
    /// key; other variants for refusals and transport failures.
    pub fn chip_authenticate(
        &mut self,
        params: &ChipAuthParams,
    ) -> Result<ChipAuthOutcome, ReadError> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let (session, instructions) =
            ChipAuthSession::start(params, &mut rng).map_err(ReadError::ChipAuthentication)?;
        self.send_chip_auth_setup(&instructions)?;
        self.channel = None;
        let response = self.exchange_raw(&instructions.protected_command_apdu)?;
        let (outcome, channel) = session
            .verify_and_continue(&response)
            .map_err(|e| match e {
                ChipAuthError::Response(SmError::Unprotected(sw)) => status_error(sw, None),
                other => ReadError::ChipAuthentication(other),
            })?;
        self.channel = Some(channel);
        Ok(outcome)
    }

    fn send_chip_auth_setup(
        &mut self,
        instructions: &crate::chip_auth::ClientInstructions,
    ) -> Result<(), ReadError> {
        if self.channel.is_none() {
            return Err(ReadError::NotAuthenticated);
        }
        let mut commands = vec![&instructions.mse_apdu];
        if let Some(ga) = &instructions.general_authenticate_apdu {
            commands.push(ga);
        }
        for bytes in commands {
            let command = CommandApdu::parse(bytes)?;
            let response = self.transceive(&command)?;
            if response.sw != sw::OK {
                return Err(status_error(response.sw, None));
            }
        }
        Ok(())
    }

    fn random<const N: usize>(&mut self) -> Result<Zeroizing<[u8; N]>, ReadError> {
        let mut out = Zeroizing::new([0u8; N]);
        self.randomness.fill(out.as_mut_slice())?;
        Ok(out)
    }
}

/// Maps a refusal to the error that names it (ISO/IEC 7816-4 §5.6).
fn status_error(status: u16, file: Option<u16>) -> ReadError {
    match (status, file) {
        (sw::FILE_NOT_FOUND, Some(file)) => ReadError::FileNotFound { file },
        (
            sw::SECURITY_STATUS_NOT_SATISFIED
            | sw::AUTH_METHOD_BLOCKED
            | sw::CONDITIONS_NOT_SATISFIED
            | sw::SM_OBJECTS_MISSING
            | sw::SM_OBJECTS_INCORRECT,
            _,
        ) => ReadError::AccessDenied { sw: status },
        (other, _) => ReadError::UnexpectedStatus { sw: other },
    }
}
