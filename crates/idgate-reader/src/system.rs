//! The PC/SC transport over the system's library (pcsc-lite on Linux, WinSCard on Windows, the
//! PCSC framework on macOS), built with the `pcsc` feature.

use emrtd::reader::{Transport, TransportError};
use pcsc::{Context, Protocols, Scope, ShareMode};

use crate::PcscError;

/// Largest response accepted, GET RESPONSE chains included: an extended-length READ BINARY
/// answer (65 536 bytes and its secure-messaging wrapping) fits.
const MAX_RESPONSE: usize = 70_000;

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
