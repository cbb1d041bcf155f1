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

#[cfg(feature = "pcsc")]
mod system;
#[cfg(feature = "pcsc")]
pub use system::{PcscTransport, list_readers};

#[cfg(not(feature = "pcsc"))]
mod unavailable;
#[cfg(not(feature = "pcsc"))]
pub use unavailable::{PcscTransport, list_readers};

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
    /// This build has no PC/SC support: the `pcsc` feature links the system's PC/SC library,
    /// which a plain Rust toolchain lacks (Debian: install `libpcsclite-dev`, then build with
    /// `--features idgate/pcsc`; `scripts/test.sh` does so where the library is installed).
    #[error(
        "this idgate was built without PC/SC support (install libpcsclite-dev and build with --features idgate/pcsc)"
    )]
    NotBuilt,
}
