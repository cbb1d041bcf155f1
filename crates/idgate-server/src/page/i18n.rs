//! The hosted page's words: one message catalog per language (`messages/<tag>.toml`, flat
//! `key = "text"` with `{name}` placeholders), chosen by the browser's `Accept-Language`
//! (RFC 9110 §12.5.4). English is the reference catalog: every other catalog has exactly its keys
//! and placeholders (a unit test holds them to it), so a missing translation fails the build's
//! tests instead of showing a key to a person.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A language of the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    De,
    Fr,
}

impl Locale {
    /// Every language, the reference (English) first.
    pub const ALL: [Locale; 3] = [Locale::En, Locale::De, Locale::Fr];

    /// The BCP 47 tag, for `<html lang>` and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Self::En => include_str!("messages/en.toml"),
            Self::De => include_str!("messages/de.toml"),
            Self::Fr => include_str!("messages/fr.toml"),
        }
    }

    /// The best language for an `Accept-Language` header: the highest-weighted range that names
    /// one of ours by its primary subtag (`de-CH` → German); `*` and no match → English. Ranges
    /// with `q=0` are refused, as RFC 9110 says; ties keep the header's order.
    pub fn negotiate(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::En;
        };
        let mut best: Option<(u16, Self)> = None;
        for range in header.split(',').take(32) {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_weight);
            let (Some(weight), Some(locale)) = (weight, Self::from_range(tag)) else {
                continue;
            };
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, locale));
            }
        }
        best.map_or(Self::En, |(_, locale)| locale)
    }

    fn from_range(range: &str) -> Option<Self> {
        let primary = range.split('-').next().unwrap_or("");
        Self::ALL
            .into_iter()
            .find(|l| primary.eq_ignore_ascii_case(l.tag()))
    }

    /// This language's catalog.
    pub fn messages(self) -> &'static Messages {
        static CATALOGS: OnceLock<[Messages; 3]> = OnceLock::new();
        let all = CATALOGS.get_or_init(|| Locale::ALL.map(Messages::parse_catalog));
        let [en, de, fr] = all;
        match self {
            Self::En => en,
            Self::De => de,
            Self::Fr => fr,
        }
    }
}

/// A `q` value (RFC 9110 §12.4.2: at most three decimals, 0 to 1) in thousandths.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// One language's messages.
#[derive(Debug)]
pub struct Messages {
    locale: Locale,
    entries: BTreeMap<String, String>,
}

impl Messages {
    /// Parses a catalog shipped in the binary. A broken catalog is a build defect that the unit
    /// tests catch, so a key missing at run time shows as the key itself rather than a panic.
    fn parse_catalog(locale: Locale) -> Self {
        let entries = parse(locale.source()).unwrap_or_else(|error| {
            tracing::error!(locale = locale.tag(), %error, "hosted page catalog unreadable");
            BTreeMap::new()
        });
        Self { locale, entries }
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The message `key`, or the key itself when the catalog lacks it.
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.entries.get(key).map_or(key, String::as_str)
    }

    /// The message `key` with its `{name}` placeholders replaced.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.get(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// Every message whose key starts with `prefix`, for the page script (which shows the
    /// live status, the camera step and the consent step in the page's language).
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.entries
            .iter()
            .filter(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Reads `key = "text"` lines; `#` starts a comment line. Text is a JSON string literal, so
/// quotes and non-ASCII need no second escaping syntax.
fn parse(source: &str) -> Result<BTreeMap<String, String>, String> {
    let mut entries = BTreeMap::new();
    for (number, line) in source.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key = \"text\"", number + 1))?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(format!("line {}: invalid key {key:?}", number + 1));
        }
        let value: String =
            serde_json::from_str(value.trim()).map_err(|e| format!("line {}: {e}", number + 1))?;
        if entries.insert(key.to_owned(), value).is_some() {
            return Err(format!("line {}: duplicate key {key}", number + 1));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_catalog_parses() {
        for locale in Locale::ALL {
            parse(locale.source()).unwrap_or_else(|e| panic!("{}: {e}", locale.tag()));
        }
    }

    #[test]
    fn every_catalog_has_the_reference_keys_and_placeholders() {
        let reference = parse(Locale::En.source()).expect("en");
        for locale in &Locale::ALL[1..] {
            let catalog = parse(locale.source()).expect("catalog");
            let missing: Vec<_> = reference
                .keys()
                .filter(|k| !catalog.contains_key(*k))
                .collect();
            let extra: Vec<_> = catalog
                .keys()
                .filter(|k| !reference.contains_key(*k))
                .collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, extra {extra:?}",
                locale.tag()
            );
            for (key, text) in &reference {
                assert_eq!(
                    placeholders(text),
                    placeholders(&catalog[key]),
                    "{}: {key}",
                    locale.tag()
                );
            }
        }
    }

    #[test]
    fn the_highest_weighted_supported_language_wins() {
        assert_eq!(
            Locale::negotiate(Some("de-CH, fr;q=0.9, en;q=0.8")),
            Locale::De
        );
        assert_eq!(
            Locale::negotiate(Some("ja, fr;q=0.5, de;q=0.4")),
            Locale::Fr
        );
        assert_eq!(Locale::negotiate(Some("en;q=0.2, FR;q=0.3")), Locale::Fr);
        assert_eq!(
            Locale::negotiate(Some("fr;q=0.5, de;q=0.5")),
            Locale::Fr,
            "ties keep the order"
        );
    }

    #[test]
    fn no_match_a_refusal_or_a_malformed_header_falls_back_to_english() {
        for header in [
            None,
            Some(""),
            Some("ja"),
            Some("*"),
            Some("de;q=0"),
            Some("de;q=2"),
            Some("de;q=0.5555"),
            Some(";;,,"),
        ] {
            assert_eq!(Locale::negotiate(header), Locale::En, "{header:?}");
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let text = Locale::En
            .messages()
            .fmt("status.tries", &[("nfc", "2"), ("liveness", "1")]);
        assert!(
            text.contains('2') && text.contains('1') && !text.contains('{'),
            "{text}"
        );
    }
}
