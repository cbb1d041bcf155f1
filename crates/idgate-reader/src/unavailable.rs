//! What the crate offers without the `pcsc` feature: the same API, answering
//! [`PcscError::NotBuilt`], so that the CLI can say what is missing instead of the workspace
//! failing to build on a machine without the PC/SC library.

use std::convert::Infallible;

use emrtd::reader::{Transport, TransportError};

use crate::PcscError;

/// The names of the connected readers: never any without PC/SC support.
///
/// # Errors
/// Always [`PcscError::NotBuilt`].
pub fn list_readers() -> Result<Vec<String>, PcscError> {
    Err(PcscError::NotBuilt)
}

/// A session with a card; it cannot exist without PC/SC support (the field is uninhabited),
/// so its methods are statically unreachable rather than stubbed.
#[derive(Debug)]
pub struct PcscTransport {
    never: Infallible,
}

impl PcscTransport {
    /// # Errors
    /// Always [`PcscError::NotBuilt`].
    pub fn connect(_reader: &str) -> Result<Self, PcscError> {
        Err(PcscError::NotBuilt)
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        match self.never {}
    }

    /// The card's answer to reset.
    ///
    /// # Errors
    /// Never: no value of this type exists.
    pub fn atr(&self) -> Result<Vec<u8>, PcscError> {
        match self.never {}
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.never {}
    }
}
