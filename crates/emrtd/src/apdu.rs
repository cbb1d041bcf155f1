//! Command and response APDUs (ISO/IEC 7816-3 §12.1, ISO/IEC 7816-4 §5.1): the four command
//! cases in short and extended length, and the status words an eMRTD answers with
//! (ISO/IEC 7816-4 §5.6, ICAO 9303-11 §4.3.4 / §4.4.4).
//!
//! Both encodings are bounded: a command's data is at most 65 535 bytes and its expected length
//! at most 65 536 (`Le = 0000` in extended length); a response shorter than the two status
//! bytes is refused, never indexed.

/// Largest command data field (extended Lc).
pub const MAX_COMMAND_DATA: usize = 65_535;
/// Largest expected response length (extended `Le = 0000`).
pub const MAX_LE: usize = 65_536;

/// Why bytes are not a well-formed APDU. No variant carries APDU contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduError {
    #[error("APDU shorter than its header or status word")]
    Truncated,
    #[error("APDU length fields do not match its size")]
    BadLength,
    #[error("command data or expected length beyond the extended-length limits")]
    TooLong,
}

/// A command APDU. `le` is the expected response length: `Some(256)` is a short `Le = 00`,
/// `Some(65_536)` an extended `Le = 0000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// CLA, INS, P1, P2.
    pub header: [u8; 4],
    pub data: Vec<u8>,
    pub le: Option<usize>,
}

impl CommandApdu {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            header: [cla, ins, p1, p2],
            data: Vec::new(),
            le: None,
        }
    }

    #[must_use]
    pub fn with_data(mut self, data: Vec<u8>) -> Self {
        self.data = data;
        self
    }

    #[must_use]
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    pub fn ins(&self) -> u8 {
        self.header[1]
    }

    /// Whether the command needs extended length fields: data beyond 255 bytes or an expected
    /// response beyond 256 (ISO/IEC 7816-4 §5.1).
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > 256)
    }

    /// The encoding of ISO/IEC 7816-4 §5.1 (cases 1, 2S/E, 3S/E, 4S/E).
    ///
    /// # Errors
    /// [`ApduError::TooLong`] when the data or `le` exceed the extended-length limits.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > MAX_COMMAND_DATA || self.le.is_some_and(|le| le == 0 || le > MAX_LE) {
            return Err(ApduError::TooLong);
        }
        let extended = self.is_extended();
        let mut out = Vec::with_capacity(self.data.len() + 9);
        out.extend_from_slice(&self.header);
        if !self.data.is_empty() {
            let lc = u16::try_from(self.data.len()).map_err(|_| ApduError::TooLong)?;
            if extended {
                out.push(0);
                out.extend(lc.to_be_bytes());
            } else {
                out.push(u8::try_from(lc).map_err(|_| ApduError::TooLong)?);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            // 256 → 00 (short), 65 536 → 0000 (extended): the truncation is the encoding.
            let le = u16::try_from(le % MAX_LE).map_err(|_| ApduError::TooLong)?;
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                out.extend(le.to_be_bytes());
            } else {
                out.push(u8::try_from(le % 256).map_err(|_| ApduError::TooLong)?);
            }
        }
        Ok(out)
    }

    /// Parses an encoded command (the card side).
    ///
    /// # Errors
    /// [`ApduError::Truncated`] or [`ApduError::BadLength`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let (header, body) = bytes.split_first_chunk::<4>().ok_or(ApduError::Truncated)?;
        let short_le = |b: u8| if b == 0 { 256 } else { usize::from(b) };
        let ext_le = |h: u8, l: u8| match u16::from_be_bytes([h, l]) {
            0 => MAX_LE,
            n => usize::from(n),
        };
        let (data, le) = match body {
            [] => (Vec::new(), None),
            [le] => (Vec::new(), Some(short_le(*le))),
            [0, h, l] => (Vec::new(), Some(ext_le(*h, *l))),
            [0, h, l, rest @ ..] => {
                let lc = usize::from(u16::from_be_bytes([*h, *l]));
                if lc == 0 {
                    return Err(ApduError::BadLength);
                }
                match (rest.get(..lc), rest.get(lc..)) {
                    (Some(data), Some([])) => (data.to_vec(), None),
                    (Some(data), Some([h, l])) => (data.to_vec(), Some(ext_le(*h, *l))),
                    _ => return Err(ApduError::BadLength),
                }
            }
            [0, ..] => return Err(ApduError::BadLength),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match (rest.get(..lc), rest.get(lc..)) {
                    (Some(data), Some([])) => (data.to_vec(), None),
                    (Some(data), Some([le])) => (data.to_vec(), Some(short_le(*le))),
                    _ => return Err(ApduError::BadLength),
                }
            }
        };
        Ok(Self {
            header: *header,
            data,
            le,
        })
    }
}

/// A response APDU: data and the status word SW1-SW2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl ResponseApdu {
    /// Splits the trailing status word off.
    ///
    /// # Errors
    /// [`ApduError::Truncated`] for fewer than two bytes, [`ApduError::TooLong`] beyond
    /// 65 536 data bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let (data, sw) = bytes.split_last_chunk::<2>().ok_or(ApduError::Truncated)?;
        if data.len() > MAX_LE {
            return Err(ApduError::TooLong);
        }
        Ok(Self {
            data: data.to_vec(),
            sw: u16::from_be_bytes(*sw),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend(self.sw.to_be_bytes());
        out
    }

    pub fn is_ok(&self) -> bool {
        self.sw == sw::OK
    }
}

/// Status words (ISO/IEC 7816-4 §5.6, Tables 5–6) an eMRTD terminal tells apart.
pub mod sw {
    pub const OK: u16 = 0x9000;
    /// End of file reached before reading Le bytes (`6282`).
    pub const END_OF_FILE: u16 = 0x6282;
    /// Verification failed: BAC/PACE with the wrong key (`6300`, ICAO 9303-11 §4.3.4).
    pub const AUTH_FAILED: u16 = 0x6300;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    pub const AUTH_METHOD_BLOCKED: u16 = 0x6983;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const SM_OBJECTS_MISSING: u16 = 0x6987;
    pub const SM_OBJECTS_INCORRECT: u16 = 0x6988;
    pub const WRONG_DATA: u16 = 0x6A80;
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const WRONG_P1P2: u16 = 0x6A86;
    pub const REFERENCED_DATA_NOT_FOUND: u16 = 0x6A88;
    /// Offset outside the file (`6B00`).
    pub const WRONG_OFFSET: u16 = 0x6B00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;

    /// `6Cxx`: wrong Le, `xx` is the exact length available (0 meaning 256).
    pub fn exact_length(sw: u16) -> Option<usize> {
        let [sw1, sw2] = sw.to_be_bytes();
        (sw1 == 0x6C).then_some(if sw2 == 0 { 256 } else { usize::from(sw2) })
    }

    /// `63Cx`: verification failed, `x` tries left.
    pub fn tries_left(sw: u16) -> Option<u8> {
        let [sw1, sw2] = sw.to_be_bytes();
        (sw1 == 0x63 && sw2 & 0xF0 == 0xC0).then_some(sw2 & 0x0F)
    }
}
