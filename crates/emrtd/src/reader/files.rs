//! Selecting and reading the LDS elementary files (ICAO 9303-10 §3.10–§4.6; ISO/IEC 7816-4
//! §11.1 SELECT, §11.2 READ BINARY).
//!
//! A file is read as the BER-TLV it holds: a first READ BINARY of its header gives the total
//! length, and the rest follows in chunks no larger than the reader's current limit. Offsets up
//! to 32 767 go in P1-P2 of READ BINARY `B0`; beyond, READ BINARY `B1` carries the offset in
//! `DO'54'` and the chip answers in `DO'53'` (ISO/IEC 7816-4 §11.2.3). A chip that refuses the
//! length (`6700`) gets smaller chunks; one that names the length it has (`6Cxx`) is asked for
//! exactly that.

use std::collections::BTreeMap;

use super::{ReadError, Reader, Transport, status_error};
use crate::apdu::{CommandApdu, sw};
use crate::lds::{self, DataGroup};
use crate::tlv::{self, Tag};

/// Largest file this reader accepts (a DG2 with a large portrait is ~100 KB; DG3/DG4 fit too).
pub const MAX_FILE_LEN: usize = 1 << 20;

/// Smallest READ BINARY chunk the reader shrinks to before giving up on a chip.
const MIN_CHUNK: usize = 8;

/// Bytes of a file read first to learn its length: tag (≤ 2 bytes here) and a length of up to
/// `84 xx xx xx xx`.
const HEADER_PROBE: usize = 8;

/// The eMRTD application identifier (ICAO 9303-10 §3.10.1).
pub const EMRTD_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

/// Elementary file identifiers (ICAO 9303-10 §3.11.2, Table 38; §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u16);

impl FileId {
    /// EF.CardAccess, in the master file.
    pub const CARD_ACCESS: Self = Self(0x011C);
    pub const COM: Self = Self(0x011E);
    pub const SOD: Self = Self(0x011D);

    /// `EF.DGn` = `0101` … `0110`.
    pub fn data_group(number: u8) -> Option<Self> {
        (1..=16)
            .contains(&number)
            .then(|| Self(0x0100 | u16::from(number)))
    }
}

/// What a full read of the chip returns: the raw files, byte for byte as the chip holds them
/// (passive authentication hashes these exact bytes).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DocumentFiles {
    pub com: Vec<u8>,
    pub sod: Vec<u8>,
    /// Data groups by number.
    pub data_groups: BTreeMap<u8, Vec<u8>>,
    /// Data groups the SOD lists but the chip refused to give (typically DG3/DG4, which need
    /// terminal authentication); their absence is not an error of the read.
    pub refused: Vec<u8>,
}

impl std::fmt::Debug for DocumentFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentFiles")
            .field("com_len", &self.com.len())
            .field("sod_len", &self.sod.len())
            .field("data_groups", &self.data_groups.keys().collect::<Vec<_>>())
            .field("refused", &self.refused)
            .finish()
    }
}

impl DocumentFiles {
    /// The data groups as `(number, bytes)`, the form [`crate::passive::verify`] takes.
    pub fn data_groups(&self) -> Vec<(u8, &[u8])> {
        self.data_groups
            .iter()
            .map(|(n, d)| (*n, d.as_slice()))
            .collect()
    }

    /// EF.COM parsed (ICAO 9303-10 §4.6.1).
    ///
    /// # Errors
    /// The parser's error for a malformed EF.COM.
    pub fn parsed_com(&self) -> Result<lds::com::Com, lds::LdsError> {
        lds::com::parse(&self.com)
    }

    /// DG14 parsed, when read.
    ///
    /// # Errors
    /// The parser's error for a malformed DG14.
    pub fn parsed_dg14(&self) -> Option<Result<lds::dg14::SecurityInfos, lds::LdsError>> {
        self.data_groups.get(&14).map(|d| lds::dg14::parse(d))
    }

    /// DG15 parsed, when read.
    pub fn parsed_dg15(&self) -> Option<Result<lds::dg15::ActiveAuthPublicKey, lds::LdsError>> {
        self.data_groups.get(&15).map(|d| lds::dg15::parse(d))
    }

    /// DG2 parsed, when read.
    pub fn parsed_dg2(&self) -> Option<Result<lds::dg2::Dg2, lds::LdsError>> {
        self.data_groups.get(&2).map(|d| lds::dg2::parse(d))
    }

    /// The DG15 `SubjectPublicKeyInfo`, as [`crate::active::Challenge::verify`] takes it.
    pub fn dg15_spki(&self) -> Option<&[u8]> {
        let dg15 = self.data_groups.get(&15)?;
        tlv::read_exact(dg15).ok().map(|t| t.content)
    }
}

/// Total length of the BER-TLV whose first bytes are `head`.
fn tlv_total_len(head: &[u8]) -> Result<usize, ReadError> {
    let bad = ReadError::HostileAnswer("file does not start with a BER-TLV header");
    let tag_len = match head.first() {
        Some(t) if t & 0x1F == 0x1F => 2,
        Some(_) => 1,
        None => return Err(bad),
    };
    let first = *head.get(tag_len).ok_or(bad.clone())?;
    let (len_len, len) = if first < 0x80 {
        (1, usize::from(first))
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return Err(bad);
        }
        let bytes = head.get(tag_len + 1..tag_len + 1 + n).ok_or(bad.clone())?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (1 + n, len)
    };
    let total = len
        .checked_add(tag_len + len_len)
        .ok_or(ReadError::HostileAnswer("file length overflows"))?;
    if total > MAX_FILE_LEN {
        return Err(ReadError::HostileAnswer(
            "file longer than the reader accepts",
        ));
    }
    Ok(total)
}

impl<T: Transport> Reader<T> {
    /// SELECT the eMRTD application by its AID (ICAO 9303-10 §3.10.1), protected when a
    /// session exists.
    ///
    /// # Errors
    /// [`ReadError::Unsupported`] when the chip has no eMRTD application.
    pub fn select_application(&mut self) -> Result<(), ReadError> {
        let command = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(EMRTD_AID.to_vec());
        let response = self.transceive(&command)?;
        match response.sw {
            sw::OK => Ok(()),
            sw::FILE_NOT_FOUND => Err(ReadError::Unsupported("no eMRTD application on the chip")),
            other => Err(status_error(other, None)),
        }
    }

    /// SELECT an elementary file by its identifier (`00 A4 02 0C`, no response data).
    ///
    /// # Errors
    /// [`ReadError::FileNotFound`], [`ReadError::AccessDenied`], or a session error.
    pub fn select_file(&mut self, file: FileId) -> Result<(), ReadError> {
        let command =
            CommandApdu::new(0x00, 0xA4, 0x02, 0x0C).with_data(file.0.to_be_bytes().to_vec());
        let response = self.transceive(&command)?;
        match response.sw {
            sw::OK => Ok(()),
            other => Err(status_error(other, Some(file.0))),
        }
    }

    /// One READ BINARY of up to `len` bytes at `offset` of the selected file, adapting to the
    /// chip: `6Cxx` → exactly `xx`; `6700` → half the length. Returns what the chip gave
    /// (possibly fewer bytes at the end of the file, `6282`).
    ///
    /// # Errors
    /// [`ReadError::HostileAnswer`] when the chip returns more than asked; status errors.
    pub fn read_binary(&mut self, offset: usize, len: usize) -> Result<Vec<u8>, ReadError> {
        let mut want = len.clamp(1, self.max_read);
        loop {
            let command = read_command(offset, want)?;
            let response = self.transceive(&command)?;
            match response.sw {
                sw::OK | sw::END_OF_FILE => {
                    let data = if offset > 0x7FFF {
                        unwrap_offset_response(&response.data)?
                    } else {
                        response.data
                    };
                    if data.len() > want {
                        return Err(ReadError::HostileAnswer(
                            "READ BINARY returned more than asked",
                        ));
                    }
                    if data.is_empty() {
                        return Err(ReadError::HostileAnswer("READ BINARY returned no data"));
                    }
                    return Ok(data);
                }
                sw::WRONG_LENGTH if want > MIN_CHUNK => {
                    want = (want / 2).max(MIN_CHUNK);
                    self.max_read = self.max_read.min(want);
                }
                other => match sw::exact_length(other) {
                    Some(exact) if exact < want && exact > 0 => {
                        want = exact;
                    }
                    _ => return Err(status_error(other, None)),
                },
            }
        }
    }

    /// Selects and reads a whole file (its complete BER-TLV).
    ///
    /// # Errors
    /// [`ReadError::FileNotFound`], [`ReadError::AccessDenied`], [`ReadError::HostileAnswer`]
    /// for a length the file cannot have, session and transport errors.
    pub fn read_file(&mut self, file: FileId) -> Result<Vec<u8>, ReadError> {
        self.select_file(file)?;
        let mut content = self.read_binary(0, HEADER_PROBE)?;
        let total = tlv_total_len(&content)?;
        content.truncate(total);
        if content.len() < total {
            content.reserve(total - content.len());
        }
        while content.len() < total {
            let chunk = self.read_binary(content.len(), total - content.len())?;
            content.extend_from_slice(&chunk);
        }
        content.truncate(total);
        Ok(content)
    }

    /// Reads EF.COM, EF.SOD and every data group the SOD lists (the SOD is authoritative,
    /// ICAO 9303-10 §4.6.2; EF.COM is a hint, and data groups it lists are read too). A data
    /// group the chip refuses with `6982` (DG3/DG4 behind terminal authentication) is recorded
    /// in [`DocumentFiles::refused`]; any other failure ends the read.
    ///
    /// # Errors
    /// [`ReadError::NotAuthenticated`] without a session; the errors of [`Self::read_file`].
    pub fn read_document(&mut self) -> Result<DocumentFiles, ReadError> {
        if self.channel.is_none() {
            return Err(ReadError::NotAuthenticated);
        }
        let com = self.read_file(FileId::COM)?;
        let sod = self.read_file(FileId::SOD)?;
        let mut numbers: Vec<u8> = crate::sod::Sod::parse(&sod)
            .ok()
            .map(|parsed| {
                parsed
                    .lds
                    .data_group_hashes
                    .iter()
                    .map(|h| h.number)
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(parsed) = lds::com::parse(&com) {
            numbers.extend(parsed.data_groups.iter().map(|dg| DataGroup::number(*dg)));
        }
        numbers.sort_unstable();
        numbers.dedup();
        let mut files = DocumentFiles {
            com,
            sod,
            ..DocumentFiles::default()
        };
        for number in numbers {
            let Some(file) = FileId::data_group(number) else {
                continue;
            };
            match self.read_file(file) {
                Ok(bytes) => {
                    files.data_groups.insert(number, bytes);
                }
                Err(ReadError::AccessDenied {
                    sw: sw::SECURITY_STATUS_NOT_SATISFIED,
                }) => files.refused.push(number),
                Err(e) => return Err(e),
            }
        }
        Ok(files)
    }

    /// EF.CardAccess from the master file, read in plain before any session
    /// (ICAO 9303-11 §4.2; ICAO 9303-10 §3.11.3). `None` when the chip has none (BAC only).
    ///
    /// # Errors
    /// Transport errors and malformed answers.
    pub fn read_card_access(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        match self.read_file(FileId::CARD_ACCESS) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ReadError::FileNotFound { .. } | ReadError::AccessDenied { .. }) => Ok(None),
            Err(ReadError::UnexpectedStatus { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// READ BINARY for `len` bytes at `offset`: `B0` with the offset in P1-P2 up to 32 767,
/// otherwise `B1` with `DO'54'` (ISO/IEC 7816-4 §11.2.3).
fn read_command(offset: usize, len: usize) -> Result<CommandApdu, ReadError> {
    if offset <= 0x7FFF {
        let [p1, p2] = u16::try_from(offset)
            .map_err(|_| ReadError::HostileAnswer("offset"))?
            .to_be_bytes();
        return Ok(CommandApdu::new(0x00, 0xB0, p1, p2).with_le(len));
    }
    let offset = u32::try_from(offset).map_err(|_| ReadError::HostileAnswer("offset"))?;
    let bytes = offset.to_be_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    let data = tlv::encode(Tag(0x54), bytes.get(start..).unwrap_or(&[0]));
    // The answer is `53 L data`: room for the tag and a length of up to three bytes.
    let overhead = if len < 0x80 {
        2
    } else if len < 0x100 {
        3
    } else {
        4
    };
    Ok(CommandApdu::new(0x00, 0xB1, 0x00, 0x00)
        .with_data(data)
        .with_le(len + overhead))
}

/// The file bytes inside a `B1` answer's `DO'53'`.
fn unwrap_offset_response(data: &[u8]) -> Result<Vec<u8>, ReadError> {
    let object = tlv::read_exact(data)
        .map_err(|_| ReadError::HostileAnswer("READ BINARY (B1) answer is not DO'53'"))?;
    if object.tag != Tag(0x53) {
        return Err(ReadError::HostileAnswer(
            "READ BINARY (B1) answer is not DO'53'",
        ));
    }
    Ok(object.content.to_vec())
}
