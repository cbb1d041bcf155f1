//! MRZ parsing and check digits against the ICAO 9303-3 worked example, the published UTOPIA
//! specimens of 9303-4 (TD3), 9303-5 (TD1) and 9303-6 (TD2), and the BSI "Erika Mustermann" DG1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::mrz::{self, Mrz, MrzError, MrzField, MrzFormat, Sex};
use proptest::prelude::*;
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2026 - 11 - 22);

const TD3_SPECIMEN: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\
                            L898902C36UTO7408122F1204159ZE184226B<<<<<10";
const TD2_SPECIMEN: &str = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\
                            D231458907UTO7408122F1204159<<<<<<<6";
const TD1_SPECIMEN: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\
                            7408122F1204159UTO<<<<<<<<<<<6\
                            ERIKSSON<<ANNA<MARIA<<<<<<<<<<";
/// BSI TR-03105 test passport "Erika Mustermann": empty personal number with `<` check digit.
const ERIKA: &str = "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<\
                     C11T002JM4D<<9608122F2310314<<<<<<<<<<<<<<<4";

fn parse(s: &str) -> Result<Mrz, MrzError> {
    Mrz::parse(s.as_bytes(), TODAY)
}

/// Replaces the character at `pos` (0-based in the concatenated MRZ).
fn with_char(s: &str, pos: usize, c: char) -> String {
    s.chars()
        .enumerate()
        .map(|(i, x)| if i == pos { c } else { x })
        .collect()
}

#[test]
fn check_digit_worked_example_of_9303_3() {
    // 9303-3 §4.9: date 27 July 1952 -> "520727", check digit 3.
    assert_eq!(mrz::check_digit(b"520727"), 3);
    assert_eq!(mrz::check_digit(b"AB2134<<<"), 5);
    assert_eq!(mrz::check_digit(b"<<<<<<"), 0);
}

#[test]
fn td3_specimen_of_9303_4_parses_with_all_fields() {
    let m = parse(TD3_SPECIMEN).unwrap();
    assert_eq!(m.format, MrzFormat::Td3);
    assert_eq!(m.document_code, "P");
    assert_eq!(m.issuing_state, "UTO");
    assert_eq!(m.primary_identifier, "ERIKSSON");
    assert_eq!(m.secondary_identifier, "ANNA MARIA");
    assert_eq!(m.document_number, "L898902C3");
    assert_eq!(m.nationality, "UTO");
    assert_eq!(m.date_of_birth.date(), Some(date!(1974 - 08 - 12)));
    assert_eq!(m.sex, Sex::Female);
    assert_eq!(m.date_of_expiry, date!(2012 - 04 - 15));
    assert_eq!(m.optional_data, "ZE184226B");
    assert_eq!(m.optional_data_2, None);
    assert!(m.is_expired(TODAY));
}

#[test]
fn td2_specimen_of_9303_6_parses() {
    let m = parse(TD2_SPECIMEN).unwrap();
    assert_eq!(m.format, MrzFormat::Td2);
    assert_eq!(m.document_code, "I");
    assert_eq!(m.document_number, "D23145890");
    assert_eq!(m.primary_identifier, "ERIKSSON");
    assert_eq!(m.secondary_identifier, "ANNA MARIA");
    assert_eq!(m.date_of_birth.date(), Some(date!(1974 - 08 - 12)));
    assert_eq!(m.date_of_expiry, date!(2012 - 04 - 15));
    assert_eq!(m.optional_data, "");
}

#[test]
fn td1_specimen_of_9303_5_parses() {
    let m = parse(TD1_SPECIMEN).unwrap();
    assert_eq!(m.format, MrzFormat::Td1);
    assert_eq!(m.document_code, "I");
    assert_eq!(m.issuing_state, "UTO");
    assert_eq!(m.document_number, "D23145890");
    assert_eq!(m.nationality, "UTO");
    assert_eq!(m.primary_identifier, "ERIKSSON");
    assert_eq!(m.secondary_identifier, "ANNA MARIA");
    assert_eq!(m.sex, Sex::Female);
    assert_eq!(m.optional_data, "");
    assert_eq!(m.optional_data_2.as_deref(), Some(""));
}

#[test]
fn td1_long_document_number_overflows_into_optional_data() {
    // 9303-5 note j: check-digit position `<`, the number continues in the optional data
    // ("734", then its check digit 9).
    let long = "I<UTOD23145890<7349<<<<<<<<<<<\
                3407127M9507122UTO<<<<<<<<<<<2\
                STEVENSON<<PETER<JOHN<<<<<<<<<";
    let m = parse(long).unwrap();
    assert_eq!(m.document_number, "D23145890734");
    assert_eq!(m.optional_data, "");
    assert_eq!(m.sex, Sex::Male);
    assert_eq!(m.secondary_identifier, "PETER JOHN");
}

#[test]
fn td1_long_document_number_with_wrong_overflow_digit_is_rejected() {
    let long = "I<UTOD23145890<7348<<<<<<<<<<<\
                3407127M9507122UTO<<<<<<<<<<<2\
                STEVENSON<<PETER<JOHN<<<<<<<<<";
    assert_eq!(
        parse(long).unwrap_err(),
        MrzError::CheckDigit {
            field: MrzField::DocumentNumber,
            expected: 9,
            found: 8
        }
    );
}

#[test]
fn bsi_erika_mrz_with_empty_personal_number_parses() {
    let m = parse(ERIKA).unwrap();
    assert_eq!(m.issuing_state, "D");
    assert_eq!(m.nationality, "D");
    assert_eq!(m.primary_identifier, "MUSTERMANN");
    assert_eq!(m.secondary_identifier, "ERIKA");
    assert_eq!(m.document_number, "C11T002JM");
    assert_eq!(m.date_of_birth.date(), Some(date!(1996 - 08 - 12)));
    assert_eq!(m.date_of_expiry, date!(2023 - 10 - 31));
    assert_eq!(m.optional_data, "");
}

#[test]
fn wrong_document_number_digit_names_field_and_digits() {
    let bad = with_char(TD3_SPECIMEN, 53, '5');
    assert_eq!(
        parse(&bad).unwrap_err(),
        MrzError::CheckDigit {
            field: MrzField::DocumentNumber,
            expected: 6,
            found: 5
        }
    );
}

#[test]
fn wrong_date_of_birth_digit_is_rejected() {
    let bad = with_char(TD3_SPECIMEN, 63, '5');
    assert_eq!(
        parse(&bad).unwrap_err(),
        MrzError::CheckDigit {
            field: MrzField::DateOfBirth,
            expected: 2,
            found: 5
        }
    );
}

#[test]
fn wrong_date_of_expiry_digit_is_rejected() {
    let bad = with_char(TD3_SPECIMEN, 71, '0');
    assert_eq!(
        parse(&bad).unwrap_err(),
        MrzError::CheckDigit {
            field: MrzField::DateOfExpiry,
            expected: 9,
            found: 0
        }
    );
}

#[test]
fn wrong_personal_number_digit_is_rejected() {
    let bad = with_char(TD3_SPECIMEN, 86, '2');
    assert_eq!(
        parse(&bad).unwrap_err(),
        MrzError::CheckDigit {
            field: MrzField::OptionalData,
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn wrong_composite_digit_is_rejected_in_every_format() {
    for (s, pos, expected) in [
        (TD3_SPECIMEN, 87, 0),
        (TD2_SPECIMEN, 71, 6),
        (TD1_SPECIMEN, 59, 6),
    ] {
        let bad = with_char(s, pos, '1');
        assert_eq!(
            parse(&bad).unwrap_err(),
            MrzError::CheckDigit {
                field: MrzField::Composite,
                expected,
                found: 1
            }
        );
    }
}

#[test]
fn composite_covers_the_optional_data() {
    // Change the personal number and fix its own digit: only the composite can notice.
    let changed = with_char(TD3_SPECIMEN, 72, 'Y');
    let digit = mrz::check_digit(&changed.as_bytes()[72..86]);
    let bad = with_char(&changed, 86, char::from(b'0' + digit));
    assert!(matches!(
        parse(&bad).unwrap_err(),
        MrzError::CheckDigit {
            field: MrzField::Composite,
            ..
        }
    ));
}

#[test]
fn errors_never_contain_mrz_text() {
    let bad = with_char(TD3_SPECIMEN, 53, '5');
    let e = parse(&bad).unwrap_err();
    let text = format!("{e} {e:?}");
    for secret in ["L898902C3", "ERIKSSON", "740812", "ANNA"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn debug_output_is_redacted() {
    let m = parse(TD3_SPECIMEN).unwrap();
    let text = format!("{m:?}");
    assert!(
        !text.contains("ERIKSSON") && !text.contains("L898902C3") && !text.contains("1974"),
        "{text}"
    );
}

#[test]
fn check_digit_position_must_hold_a_digit() {
    let bad = with_char(TD3_SPECIMEN, 63, 'A');
    assert_eq!(
        parse(&bad).unwrap_err(),
        MrzError::CheckDigitNotADigit {
            field: MrzField::DateOfBirth
        }
    );
}

#[test]
fn wrong_lengths_are_rejected() {
    assert_eq!(
        parse(&TD3_SPECIMEN[..87]).unwrap_err(),
        MrzError::Length { found: 87 }
    );
    assert_eq!(parse("").unwrap_err(), MrzError::Length { found: 0 });
    assert_eq!(
        Mrz::parse(&[b'<'; 500], TODAY).unwrap_err(),
        MrzError::Length { found: 500 }
    );
}

#[test]
fn characters_outside_the_mrz_alphabet_are_rejected() {
    let bad = with_char(TD3_SPECIMEN, 10, 'e');
    assert_eq!(
        parse(&bad).unwrap_err(),
        MrzError::InvalidCharacter { position: 10 }
    );
}

#[test]
fn printed_lines_with_line_breaks_are_accepted() {
    let lines = format!("{}\r\n{}\n", &TD3_SPECIMEN[..44], &TD3_SPECIMEN[44..]);
    assert_eq!(parse(&lines).unwrap(), parse(TD3_SPECIMEN).unwrap());
}

#[test]
fn unspecified_sex_filler_reads_as_x() {
    // Sex is outside every check digit but the composite does not cover it either.
    let m = parse(&with_char(TD3_SPECIMEN, 64, '<')).unwrap();
    assert_eq!(m.sex, Sex::Unspecified);
    assert_eq!(m.sex.as_char(), 'X');
    assert_eq!(
        parse(&with_char(TD3_SPECIMEN, 64, 'X')).unwrap().sex,
        Sex::Unspecified
    );
}

#[test]
fn unknown_sex_letter_is_rejected() {
    assert_eq!(
        parse(&with_char(TD3_SPECIMEN, 64, 'Q')).unwrap_err(),
        MrzError::InvalidSex
    );
}

/// Builds a TD3 with the given line-2 fields and correct digits.
fn td3(doc: &str, dob: &str, expiry: &str) -> String {
    let d = |s: &str| char::from(b'0' + mrz::check_digit(s.as_bytes()));
    let personal = "<<<<<<<<<<<<<<";
    let body = format!(
        "{doc}{}UTO{dob}{}F{expiry}{}{personal}<",
        d(doc),
        d(dob),
        d(expiry)
    );
    let composite_input = format!("{}{}{}", &body[0..10], &body[13..20], &body[21..43]);
    format!(
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<{body}{}",
        d(&composite_input)
    )
}

#[test]
fn impossible_calendar_dates_are_rejected() {
    assert_eq!(
        parse(&td3("L898902C3", "741312", "120415")).unwrap_err(),
        MrzError::InvalidDate {
            field: MrzField::DateOfBirth
        }
    );
    assert_eq!(
        parse(&td3("L898902C3", "740812", "120231")).unwrap_err(),
        MrzError::InvalidDate {
            field: MrzField::DateOfExpiry
        }
    );
}

#[test]
fn birth_on_29_february_is_checked_against_the_resolved_year() {
    assert_eq!(
        parse(&td3("L898902C3", "000229", "300101"))
            .unwrap()
            .date_of_birth
            .date(),
        Some(date!(2000 - 02 - 29))
    );
    assert_eq!(
        parse(&td3("L898902C3", "010229", "300101")).unwrap_err(),
        MrzError::InvalidDate {
            field: MrzField::DateOfBirth
        }
    );
}

#[test]
fn unknown_day_of_birth_is_kept_as_partial_date() {
    let m = parse(&td3("L898902C3", "7408<<", "300101")).unwrap();
    assert_eq!(
        (
            m.date_of_birth.year,
            m.date_of_birth.month,
            m.date_of_birth.day
        ),
        (Some(1974), Some(8), None)
    );
    assert_eq!(m.date_of_birth.date(), None);
}

#[test]
fn birth_year_is_never_in_the_future() {
    // 9303 two-digit years: a birth date after the reference date belongs to the last century.
    assert_eq!(mrz::resolve_birth_year(26, Some(11), Some(22), TODAY), 2026);
    assert_eq!(mrz::resolve_birth_year(26, Some(11), Some(23), TODAY), 1926);
    assert_eq!(mrz::resolve_birth_year(0, Some(1), Some(1), TODAY), 2000);
    assert_eq!(mrz::resolve_birth_year(99, Some(12), Some(31), TODAY), 1999);
}

#[test]
fn expiry_year_window_is_fifty_years_ahead() {
    assert_eq!(mrz::resolve_expiry_year(23, TODAY), 2023);
    assert_eq!(mrz::resolve_expiry_year(76, TODAY), 2076);
    assert_eq!(mrz::resolve_expiry_year(77, TODAY), 1977);
    assert_eq!(mrz::resolve_expiry_year(99, TODAY), 1999);
}

#[test]
fn document_valid_through_its_expiry_day() {
    let m = parse(ERIKA).unwrap();
    assert!(!m.is_expired(date!(2023 - 10 - 31)));
    assert!(m.is_expired(date!(2023 - 11 - 01)));
}

proptest! {
    #[test]
    fn arbitrary_mrz_alphabet_strings_never_panic(
        len in prop::sample::select(vec![72usize, 88, 90]),
        seed in prop::collection::vec(prop::sample::select(b"0123456789ABCDEFXMF<<<<<".to_vec()), 90),
    ) {
        let _ = Mrz::parse(&seed[..len], TODAY);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let _ = Mrz::parse(&bytes, TODAY);
    }

    #[test]
    fn any_single_digit_change_in_a_checked_field_is_detected(
        pos in prop::sample::select((44usize..53).chain(57..63).chain(65..71).collect::<Vec<_>>()),
        digit in 0u8..10,
    ) {
        let original = TD3_SPECIMEN.as_bytes()[pos];
        prop_assume!(original.is_ascii_digit() && original != b'0' + digit);
        let bad = with_char(TD3_SPECIMEN, pos, char::from(b'0' + digit));
        let rejected = matches!(parse(&bad), Err(MrzError::CheckDigit { .. } | MrzError::InvalidDate { .. }));
        prop_assert!(rejected);
    }
}
