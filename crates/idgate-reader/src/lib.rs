//! A PC/SC transport for [`emrtd::reader`]: reads a passport through a desktop contactless
//! reader (PC/SC Workgroup specification, part 5; pcsc-lite on Linux, WinSCard on Windows,
//! the PCSC framework on macOS).
//!
//! `emrtd` holds the whole terminal protocol (BAC, PACE, secure messaging, file reads, active
//! and chip authentication) and performs no I/O; this crate only carries APDUs between it and a
//! reader:
//!
//! ```no_run
//! use emrtd::reader::{AccessKey, MrzKey, Reader};
//! use idgate_reader::PcscTransport;
//!
//! let name = idgate_reader::list_readers()?.into_iter().next().ok_or("no reader")?;
//! let transport = PcscTransport::connect(&name)?;
//! let mut reader = Reader::new(transport);
//! reader.authenticate(&AccessKey::Mrz(MrzKey::new("L898902C", "690806", "940623")?))?;
//! let files = reader.read_document()?;
//! # let _ = files;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//! Connecting reports why no session could start ([`PcscError`]: no PC/SC service, no reader,
//! an unknown reader, no card on the reader, a reader that went away). During a read, a card
//! taken off the reader (or reset, which loses the secure-messaging session just as surely)
//! becomes [`TransportError::CardRemoved`], which the reader reports as
//! `emrtd::reader::ReadError::CardRemoved`; every other failure is
//! [`TransportError::Failed`] with the PC/SC reason, never APDU bytes.
//!
//! # Phone apps
//! Phones have no PC/SC: an app implements [`emrtd::reader::Transport`] over its own NFC stack
//! (Android `IsoDep.transceive`, iOS `NFCISO7816Tag.sendCommand`) and drives the same
//! `emrtd::reader::Reader` through generated bindings (UniFFI: the transport as a callback
//! interface, the reader as an object; see the "Use from phone apps" section of
//! `emrtd::reader`). This crate follows the same shape so that it could be bound too: it is
//! synchronous, its types own their data (no lifetimes in the public surface), the transport is
//! `Send`, and its errors are a plain enum.

use emrtd::reader::{Transport, TransportError};
use pcsc::{Context, Protocols, Scope, ShareMode};

/// Largest response accepted, GET RESPONSE chains included: an extended-length READ BINARY
/// answer (65 536 bytes and its secure-messaging wrapping) fits.
const MAX_RESPONSE: usize = 70_000;

/// Why no session with a card could start, or why the reader list could not be had. Carries
/// reader names (which the user typed or the system lists), never card data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcscError {
    /// The PC/SC service is not running (on Linux: `pcscd`).
    #[error("no PC/SC service is running (start pcscd)")]
    NoService,
    /// The service runs but no reader is connected.
    #[error("no smart-card reader is connected")]
    NoReaders,
    /// No connected reader has this name.
    #[error("no reader named {name:?} (see `idgate passport readers`)")]
    UnknownReader { name: String },
    /// The reader is there but holds no card.
    #[error("no card on reader {name:?}")]
    NoCard { name: String },
    /// The card was taken off the reader (or reset) while connecting.
    #[error("the card was removed from reader {name:?}")]
    CardRemoved { name: String },
    /// The reader was unplugged or stopped answering.
    #[error("reader {name:?} is unavailable")]
    ReaderUnavailable { name: String },
    /// A card is there but cannot be powered or does not answer.
    #[error("the card on reader {name:?} does not answer")]
    UnresponsiveCard { name: String },
    /// Another application holds the card exclusively.
    #[error("reader {name:?} is in use by another application")]
    InUse { name: String },
    /// Any other PC/SC failure, with its reason.
    #[error("PC/SC failure: {0}")]
    Other(String),
}

impl PcscError {
    /// Maps a PC/SC status to the error naming what happened on `name`.
    fn on_reader(e: pcsc::Error, name: &str) -> Self {
        let name = name.to_owned();
        match e {
            pcsc::Error::NoService | pcsc::Error::ServiceStopped => Self::NoService,
            pcsc::Error::NoReadersAvailable => Self::NoReaders,
            pcsc::Error::UnknownReader => Self::UnknownReader { name },
            pcsc::Error::NoSmartcard => Self::NoCard { name },
            pcsc::Error::RemovedCard | pcsc::Error::ResetCard => Self::CardRemoved { name },
            pcsc::Error::ReaderUnavailable => Self::ReaderUnavailable { name },
            pcsc::Error::UnpoweredCard
            | pcsc::Error::UnresponsiveCard
            | pcsc::Error::UnsupportedCard => Self::UnresponsiveCard { name },
            pcsc::Error::SharingViolation => Self::InUse { name },
            other => Self::Other(other.to_string()),
        }
    }
}

fn establish() -> Result<Context, PcscError> {
    Context::establish(Scope::User).map_err(|e| match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => PcscError::NoService,
        other => PcscError::Other(other.to_string()),
    })
}

/// The names of the connected readers, in the order PC/SC lists them. An empty list when the
/// service runs but no reader is connected.
///
/// # Errors
/// [`PcscError::NoService`] when PC/SC is not running; [`PcscError::Other`] otherwise.
pub fn list_readers() -> Result<Vec<String>, PcscError> {
    let context = establish()?;
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(PcscError::on_reader(e, "")),
    }
}

/// A session with the card on one PC/SC reader, carrying APDUs for [`emrtd::reader::Reader`].
/// Dropping it disconnects (leaving the card powered, as other applications expect).
pub struct PcscTransport {
    card: pcsc::Card,
    reader: String,
    /// Reused for every response, so a read allocates once.
    buffer: Vec<u8>,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connects to the card on the reader named `reader` (exactly as [`list_readers`] gives
    /// it), sharing it with other applications, over whichever of T=0 and T=1 the card offers.
    ///
    /// # Errors
    /// [`PcscError::UnknownReader`], [`PcscError::NoCard`] and the other variants.
    pub fn connect(reader: &str) -> Result<Self, PcscError> {
        let context = establish()?;
        let known = match context.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => return Err(PcscError::NoReaders),
            Err(e) => return Err(PcscError::on_reader(e, reader)),
        };
        let Some(name) = known
            .into_iter()
            .find(|n| n.to_bytes() == reader.as_bytes())
        else {
            return Err(PcscError::UnknownReader {
                name: reader.to_owned(),
            });
        };
        let card = context
            .connect(&name, ShareMode::Shared, Protocols::ANY)
            .map_err(|e| PcscError::on_reader(e, reader))?;
        Ok(Self {
            card,
            reader: reader.to_owned(),
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The card's answer to reset (ISO/IEC 7816-3 §8; for a contactless card the reader
    /// builds it from the ATS, PC/SC part 3 §3.1.3.2.3).
    ///
    /// # Errors
    /// When the reader cannot give it (card removed, reader gone).
    pub fn atr(&self) -> Result<Vec<u8>, PcscError> {
        self.card
            .get_attribute_owned(pcsc::Attribute::AtrString)
            .map_err(|e| PcscError::on_reader(e, &self.reader))
    }

    fn transmit_once(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.card.transmit(command, &mut self.buffer) {
            Ok(response) => Ok(response.to_vec()),
            Err(e) => Err(transport_error(e)),
        }
    }
}

/// A card taken off the reader, or reset (its secure-messaging session is gone either way), is
/// [`TransportError::CardRemoved`]; the rest is a failure named by its PC/SC reason.
fn transport_error(e: pcsc::Error) -> TransportError {
    match e {
        pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard => {
            TransportError::CardRemoved
        }
        pcsc::Error::ReaderUnavailable => {
            TransportError::Failed("the reader is unavailable".to_owned())
        }
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => {
            TransportError::Failed("the PC/SC service stopped".to_owned())
        }
        other => TransportError::Failed(other.to_string()),
    }
}

impl Transport for PcscTransport {
    /// Sends `command` and returns the complete response. Over T=0 a card that has more data
    /// answers `61xx`; the data are fetched with GET RESPONSE (ISO/IEC 7816-4 §7.1.3, §11.5.2)
    /// and joined, so the reader above sees one response as over T=1.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut response = self.transmit_once(command)?;
        let mut data: Vec<u8> = Vec::new();
        while let [.., 0x61, available] = response.as_slice() {
            let available = *available;
            let body = response.len() - 2;
            data.extend_from_slice(response.get(..body).unwrap_or_default());
            if data.len() > MAX_RESPONSE {
                return Err(TransportError::Failed(
                    "the card's response is longer than any eMRTD answer".to_owned(),
                ));
            }
            response = self.transmit_once(&[0x00, 0xC0, 0x00, 0x00, available])?;
        }
        if data.is_empty() {
            return Ok(response);
        }
        data.extend_from_slice(&response);
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_or_reset_card_is_reported_as_removed() {
        for e in [
            pcsc::Error::RemovedCard,
            pcsc::Error::ResetCard,
            pcsc::Error::NoSmartcard,
        ] {
            assert_eq!(transport_error(e), TransportError::CardRemoved, "{e:?}");
        }
    }

    #[test]
    fn an_unplugged_reader_is_a_failure_that_says_so() {
        assert_eq!(
            transport_error(pcsc::Error::ReaderUnavailable),
            TransportError::Failed("the reader is unavailable".to_owned())
        );
    }

    #[test]
    fn connect_errors_name_the_reader_and_what_is_missing() {
        assert_eq!(
            PcscError::on_reader(pcsc::Error::NoSmartcard, "ACS ACR122U 00 00"),
            PcscError::NoCard {
                name: "ACS ACR122U 00 00".into()
            }
        );
        assert_eq!(
            PcscError::on_reader(pcsc::Error::ReaderUnavailable, "r"),
            PcscError::ReaderUnavailable { name: "r".into() }
        );
        assert_eq!(
            PcscError::on_reader(pcsc::Error::NoService, "r"),
            PcscError::NoService
        );
        assert_eq!(
            PcscError::on_reader(pcsc::Error::RemovedCard, "r"),
            PcscError::CardRemoved { name: "r".into() }
        );
    }

    #[test]
    fn the_transport_can_move_to_a_worker_thread() {
        fn send<T: Send>() {}
        send::<PcscTransport>();
    }
}
