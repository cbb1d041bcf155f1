//! The machine-readable zone (ICAO 9303-3 §4, layouts of 9303-4 TD3, 9303-5 TD1, 9303-6 TD2).
//!
//! This module turns the MRZ characters stored in DG1 (tag 5F1F) into typed fields and checks
//! every check digit (9303-3 §4.9) and the composite digit. It is pure: the only outside input,
//! the reference date used to resolve two-digit years, is a parameter.
//!
//! Errors name the field and the digit, never the characters themselves, because MRZ text is
//! personal data. For the same reason [`Mrz`]'s `Debug` output is redacted.
//!
//! Layouts (0-based character positions in the concatenated lines):
//!
//! | field              | TD1 (3×30)         | TD2 (2×36)     | TD3 (2×44)     |
//! |--------------------|--------------------|----------------|----------------|
//! | document code      | 0–1                | 0–1            | 0–1            |
//! | issuing state      | 2–4                | 2–4            | 2–4            |
//! | name               | 60–89              | 5–35           | 5–43           |
//! | document number    | 5–13, check 14     | 36–44, check 45| 44–52, check 53|
//! | optional data      | 15–29 and 48–58    | 64–70          | 72–85, check 86|
//! | nationality        | 45–47              | 46–48          | 54–56          |
//! | date of birth      | 30–35, check 36    | 49–54, check 55| 57–62, check 63|
//! | sex                | 37                 | 56             | 64             |
//! | date of expiry     | 38–43, check 44    | 57–62, check 63| 65–70, check 71|
//! | composite          | 59                 | 71             | 87             |
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;
use std::ops::Range;

use time::{Date, Month};

/// The three MRZ formats (ICAO 9303-3 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MrzFormat {
    /// 3 lines of 30 characters: ID cards (9303-5).
    Td1,
    /// 2 lines of 36 characters (9303-6).
    Td2,
    /// 2 lines of 44 characters: passports (9303-4).
    Td3,
}

impl MrzFormat {
    /// Number of MRZ characters, line breaks excluded.
    pub const fn char_count(self) -> usize {
        match self {
            MrzFormat::Td1 => 90,
            MrzFormat::Td2 => 72,
            MrzFormat::Td3 => 88,
        }
    }

    fn from_len(len: usize) -> Option<Self> {
        [MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3]
            .into_iter()
            .find(|f| f.char_count() == len)
    }
}

/// MRZ fields that carry a check digit, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MrzField {
    DocumentNumber,
    DateOfBirth,
    DateOfExpiry,
    /// TD3 personal number / optional data (9303-4 §4.2.2, positions 29–42 of line 2).
    OptionalData,
    /// The composite check digit over the upper/middle line fields.
    Composite,
    Sex,
}

impl fmt::Display for MrzField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            MrzField::DocumentNumber => "document number",
            MrzField::DateOfBirth => "date of birth",
            MrzField::DateOfExpiry => "date of expiry",
            MrzField::OptionalData => "optional data",
            MrzField::Composite => "composite",
            MrzField::Sex => "sex",
        };
        f.write_str(name)
    }
}

/// Why MRZ bytes were rejected. Carries positions and digits only, never MRZ characters.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MrzError {
    #[error("MRZ has {found} characters; TD1 has 90, TD2 72, TD3 88")]
    Length { found: usize },
    #[error("MRZ character at position {position} is not in 0-9, A-Z or '<' (9303-3 §4.3)")]
    InvalidCharacter { position: usize },
    #[error("{field} check digit: computed {expected}, MRZ has {found}")]
    CheckDigit {
        field: MrzField,
        expected: u8,
        found: u8,
    },
    #[error("{field} check digit position does not hold a digit")]
    CheckDigitNotADigit { field: MrzField },
    #[error("{field} is not a valid calendar date")]
    InvalidDate { field: MrzField },
    #[error("sex marker is not F, M, X or '<'")]
    InvalidSex,
    #[error("long document number overflow in the optional data has no check digit")]
    MalformedDocumentNumberOverflow,
}

/// Sex marker (9303-4 §4.2.2): `<` (unspecified) is reported as [`Sex::Unspecified`] = `X`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
    Unspecified,
}

impl Sex {
    /// The claim letter: F, M or X.
    pub fn as_char(self) -> char {
        match self {
            Sex::Female => 'F',
            Sex::Male => 'M',
            Sex::Unspecified => 'X',
        }
    }
}

/// A date of birth, whose day, month or whole value may be unknown: the data-element notes of
/// ICAO 9303-4/-5/-6 let an issuer fill unknown parts with `<`, which count as 0 in the check
/// digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateOfBirth {
    pub year: Option<i32>,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

impl DateOfBirth {
    /// The full date, when every part is known.
    pub fn date(&self) -> Option<Date> {
        let month = Month::try_from(self.month?).ok()?;
        Date::from_calendar_date(self.year?, month, self.day?).ok()
    }
}

impl fmt::Debug for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DateOfBirth(<redacted>)")
    }
}

/// A parsed, check-digit-verified MRZ. Text fields have fillers turned into spaces and trimmed.
#[derive(Clone, PartialEq, Eq)]
pub struct Mrz {
    pub format: MrzFormat,
    /// Document code, e.g. `P`, `ID`, `I`, `AC` (9303-3 §4.2.2; trailing filler removed).
    pub document_code: String,
    /// Issuing state or organisation, 9303-3 §5 three-letter code without fillers (e.g. `D`, `UTO`).
    pub issuing_state: String,
    /// Primary identifier (surname), the name part before the first `<<` (9303-3 §4.6).
    pub primary_identifier: String,
    /// Secondary identifier (given names), after the first `<<`; empty when absent.
    pub secondary_identifier: String,
    /// Document number, including the TD1/TD2 long-number overflow (9303-5 §4.2.4 note j).
    pub document_number: String,
    pub nationality: String,
    pub date_of_birth: DateOfBirth,
    pub sex: Sex,
    pub date_of_expiry: Date,
    /// TD3: personal number; TD2: optional data; TD1: optional data of the upper line (after any
    /// document-number overflow).
    pub optional_data: String,
    /// TD1 only: optional data of the middle line.
    pub optional_data_2: Option<String>,
}

impl fmt::Debug for Mrz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mrz")
            .field("format", &self.format)
            .field("document_code", &self.document_code)
            .field("issuing_state", &self.issuing_state)
            .finish_non_exhaustive()
    }
}

impl Mrz {
    /// Parses the MRZ characters of DG1 (or printed lines; ASCII CR/LF between lines are ignored)
    /// and checks every check digit.
    ///
    /// `today` resolves two-digit years (see [`resolve_birth_year`] and [`resolve_expiry_year`]).
    pub fn parse(input: &[u8], today: Date) -> Result<Mrz, MrzError> {
        // Longest accepted input: TD1 plus CR LF after each of its lines.
        if input.len() > MrzFormat::Td1.char_count() + 6 {
            return Err(MrzError::Length { found: input.len() });
        }
        let chars: Vec<u8> = input
            .iter()
            .copied()
            .filter(|c| *c != b'\r' && *c != b'\n')
            .collect();
        let format =
            MrzFormat::from_len(chars.len()).ok_or(MrzError::Length { found: chars.len() })?;
        if let Some(position) = chars
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'A'..=b'Z' | b'<'))
        {
            return Err(MrzError::InvalidCharacter { position });
        }
        let m = Chars(&chars);
        match format {
            MrzFormat::Td1 => parse_td1(m, today),
            MrzFormat::Td2 => parse_td2_td3(m, MrzFormat::Td2, today),
            MrzFormat::Td3 => parse_td2_td3(m, MrzFormat::Td3, today),
        }
    }

    /// Whether the document has expired on `today` (it is valid through its expiry date).
    pub fn is_expired(&self, today: Date) -> bool {
        self.date_of_expiry < today
    }
}

/// The check digit of 9303-3 §4.9: weights 7, 3, 1 repeating; digits count as themselves,
/// A–Z as 10–35 and `<` as 0; the sum modulo 10.
pub fn check_digit(field: &[u8]) -> u8 {
    let sum: u32 = field
        .iter()
        .zip([7u32, 3, 1].into_iter().cycle())
        .map(|(c, w)| w * char_value(*c))
        .sum();
    (sum % 10) as u8
}

fn char_value(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'Z' => u32::from(c - b'A') + 10,
        _ => 0,
    }
}

/// Century of a date of birth: 20yy unless that lies after `today`, then 19yy. A birth date is
/// never in the future; holders over 100 years old cannot be represented by a two-digit year
/// and are read as a century younger.
pub fn resolve_birth_year(yy: u8, month: Option<u8>, day: Option<u8>, today: Date) -> i32 {
    let candidate = 2000 + i32::from(yy);
    let later = (candidate, month.unwrap_or(1), day.unwrap_or(1))
        > (today.year(), u8::from(today.month()), today.day());
    if later { candidate - 100 } else { candidate }
}

/// Century of a date of expiry: 20yy unless that is more than 50 years after `today`'s year,
/// then 19yy. Documents are issued for at most a few decades, while expired documents of the
/// last century may still be presented, so the window is [today − 49, today + 50] years.
pub fn resolve_expiry_year(yy: u8, today: Date) -> i32 {
    let candidate = 2000 + i32::from(yy);
    if candidate > today.year() + 50 {
        candidate - 100
    } else {
        candidate
    }
}

/// Bound-checked view of the validated MRZ characters.
#[derive(Clone, Copy)]
struct Chars<'a>(&'a [u8]);

impl<'a> Chars<'a> {
    fn get(self, r: Range<usize>) -> &'a [u8] {
        self.0.get(r).unwrap_or_default()
    }

    fn at(self, i: usize) -> u8 {
        self.0.get(i).copied().unwrap_or(b'<')
    }

    /// Fillers to spaces, trimmed.
    fn text(self, r: Range<usize>) -> String {
        filler_text(self.get(r))
    }
}

fn filler_text(bytes: &[u8]) -> String {
    let s: String = bytes
        .iter()
        .map(|&c| if c == b'<' { ' ' } else { char::from(c) })
        .collect();
    s.trim().to_owned()
}

/// Verifies a check digit at `pos` over `data`.
fn verify(field: MrzField, data: &[u8], check: u8) -> Result<(), MrzError> {
    let expected = check_digit(data);
    let found = match check {
        b'0'..=b'9' => check - b'0',
        _ => return Err(MrzError::CheckDigitNotADigit { field }),
    };
    if expected != found {
        return Err(MrzError::CheckDigit {
            field,
            expected,
            found,
        });
    }
    Ok(())
}

/// 9303-4 §4.2.2 note: a personal number that is all fillers may have `<` as its check digit.
fn verify_optional(data: &[u8], check: u8) -> Result<(), MrzError> {
    if check == b'<' && data.iter().all(|c| *c == b'<') {
        return Ok(());
    }
    verify(MrzField::OptionalData, data, check)
}

/// Name field (9303-3 §4.6): primary and secondary identifiers separated by `<<`.
fn split_name(name: &[u8]) -> (String, String) {
    match name.windows(2).position(|w| w == b"<<") {
        Some(i) => (
            filler_text(name.get(..i).unwrap_or_default()),
            filler_text(name.get(i + 2..).unwrap_or_default()),
        ),
        None => (filler_text(name), String::new()),
    }
}

fn two_digits(b: &[u8]) -> Option<u8> {
    match b {
        [h @ b'0'..=b'9', l @ b'0'..=b'9'] => Some((h - b'0') * 10 + (l - b'0')),
        _ => None,
    }
}

fn is_fillers(b: &[u8]) -> bool {
    b.iter().all(|c| *c == b'<')
}

/// YYMMDD with fillers for unknown parts (year unknown only if the whole date is unknown).
fn parse_birth(b: &[u8], today: Date) -> Result<DateOfBirth, MrzError> {
    let err = MrzError::InvalidDate {
        field: MrzField::DateOfBirth,
    };
    if is_fillers(b) {
        return Ok(DateOfBirth {
            year: None,
            month: None,
            day: None,
        });
    }
    let part = |r: Range<usize>| -> Result<Option<u8>, MrzError> {
        let p = b.get(r).unwrap_or_default();
        if is_fillers(p) {
            Ok(None)
        } else {
            two_digits(p).map(Some).ok_or(err.clone())
        }
    };
    let yy = part(0..2)?.ok_or(err.clone())?;
    let month = part(2..4)?;
    let day = part(4..6)?;
    if month.is_none() && day.is_some() {
        return Err(err);
    }
    if let Some(m) = month {
        let month = Month::try_from(m).map_err(|_| err.clone())?;
        // Validate the day against the month (29 Feb checked in a leap year, as the century
        // is only resolved afterwards).
        if let Some(d) = day {
            Date::from_calendar_date(2000 + i32::from(yy), month, d).map_err(|_| err.clone())?;
        }
    }
    let year = resolve_birth_year(yy, month, day, today);
    let dob = DateOfBirth {
        year: Some(year),
        month,
        day,
    };
    if month.is_some() && day.is_some() && dob.date().is_none() {
        return Err(err);
    }
    Ok(dob)
}

fn parse_expiry(b: &[u8], today: Date) -> Result<Date, MrzError> {
    let err = MrzError::InvalidDate {
        field: MrzField::DateOfExpiry,
    };
    let (yy, mm, dd) = match (
        two_digits(b.get(0..2).unwrap_or_default()),
        two_digits(b.get(2..4).unwrap_or_default()),
        two_digits(b.get(4..6).unwrap_or_default()),
    ) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(err),
    };
    let month = Month::try_from(mm).map_err(|_| err.clone())?;
    Date::from_calendar_date(resolve_expiry_year(yy, today), month, dd).map_err(|_| err)
}

fn parse_sex(c: u8) -> Result<Sex, MrzError> {
    match c {
        b'F' => Ok(Sex::Female),
        b'M' => Ok(Sex::Male),
        b'X' | b'<' => Ok(Sex::Unspecified),
        _ => Err(MrzError::InvalidSex),
    }
}

/// Document number of TD1/TD2: when its check-digit position holds `<`, the number continues
/// in the optional data, up to the first filler, whose last character is the check digit
/// (9303-5 §4.2.4 note j, 9303-6 §4.2.4 note j). Returns the number and the optional data left.
fn document_number_with_overflow(
    number: &[u8],
    check: u8,
    optional: &[u8],
) -> Result<(String, Vec<u8>), MrzError> {
    if check != b'<' {
        verify(MrzField::DocumentNumber, number, check)?;
        return Ok((filler_text(number), optional.to_vec()));
    }
    let end = optional
        .iter()
        .position(|c| *c == b'<')
        .unwrap_or(optional.len());
    let (overflow, rest) = optional.split_at(end);
    let (check, extra) = overflow
        .split_last()
        .ok_or(MrzError::MalformedDocumentNumberOverflow)?;
    let mut full = number.to_vec();
    full.extend_from_slice(extra);
    verify(MrzField::DocumentNumber, &full, *check)?;
    Ok((filler_text(&full), rest.to_vec()))
}

fn parse_td1(m: Chars<'_>, today: Date) -> Result<Mrz, MrzError> {
    let (document_number, optional_1) =
        document_number_with_overflow(m.get(5..14), m.at(14), m.get(15..30))?;
    verify(MrzField::DateOfBirth, m.get(30..36), m.at(36))?;
    verify(MrzField::DateOfExpiry, m.get(38..44), m.at(44))?;
    let composite: Vec<u8> = [m.get(5..30), m.get(30..37), m.get(38..45), m.get(48..59)].concat();
    verify(MrzField::Composite, &composite, m.at(59))?;
    let (primary_identifier, secondary_identifier) = split_name(m.get(60..90));
    Ok(Mrz {
        format: MrzFormat::Td1,
        document_code: m.text(0..2),
        issuing_state: m.text(2..5),
        primary_identifier,
        secondary_identifier,
        document_number,
        nationality: m.text(45..48),
        date_of_birth: parse_birth(m.get(30..36), today)?,
        sex: parse_sex(m.at(37))?,
        date_of_expiry: parse_expiry(m.get(38..44), today)?,
        optional_data: filler_text(&optional_1),
        optional_data_2: Some(m.text(48..59)),
    })
}

/// TD2 and TD3 share one layout; TD3's name field is 8 characters longer and its optional data
/// (the personal number) carries its own check digit.
fn parse_td2_td3(m: Chars<'_>, format: MrzFormat, today: Date) -> Result<Mrz, MrzError> {
    let l2 = match format {
        MrzFormat::Td3 => 44,
        _ => 36,
    };
    let optional_end = match format {
        MrzFormat::Td3 => l2 + 42,
        _ => l2 + 35,
    };
    let optional = m.get(l2 + 28..optional_end);
    let (document_number, optional_rest) = match format {
        // TD3 has no overflow rule: a 9-character field and a mandatory digit.
        MrzFormat::Td3 => {
            verify(MrzField::DocumentNumber, m.get(l2..l2 + 9), m.at(l2 + 9))?;
            (m.text(l2..l2 + 9), optional.to_vec())
        }
        _ => document_number_with_overflow(m.get(l2..l2 + 9), m.at(l2 + 9), optional)?,
    };
    verify(
        MrzField::DateOfBirth,
        m.get(l2 + 13..l2 + 19),
        m.at(l2 + 19),
    )?;
    verify(
        MrzField::DateOfExpiry,
        m.get(l2 + 21..l2 + 27),
        m.at(l2 + 27),
    )?;
    let composite_end = match format {
        MrzFormat::Td3 => {
            verify_optional(optional, m.at(l2 + 42))?;
            l2 + 43
        }
        _ => l2 + 35,
    };
    let composite: Vec<u8> = [
        m.get(l2..l2 + 10),
        m.get(l2 + 13..l2 + 20),
        m.get(l2 + 21..composite_end),
    ]
    .concat();
    verify(MrzField::Composite, &composite, m.at(composite_end))?;
    let (primary_identifier, secondary_identifier) = split_name(m.get(5..l2));
    Ok(Mrz {
        format,
        document_code: m.text(0..2),
        issuing_state: m.text(2..5),
        primary_identifier,
        secondary_identifier,
        document_number,
        nationality: m.text(l2 + 10..l2 + 13),
        date_of_birth: parse_birth(m.get(l2 + 13..l2 + 19), today)?,
        sex: parse_sex(m.at(l2 + 20))?,
        date_of_expiry: parse_expiry(m.get(l2 + 21..l2 + 27), today)?,
        optional_data: filler_text(&optional_rest),
        optional_data_2: None,
    })
}
