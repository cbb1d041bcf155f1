//! Keyset pagination (docs/api.md "Pagination"): pages are cut by the position of the last item
//! seen, never by an offset, so a page costs an index seek plus `limit` rows however many rows
//! precede it.
//!
//! Sessions are ordered newest first, `(created_at DESC, id DESC)`; the id breaks ties between
//! sessions created in the same millisecond, so the order is total and no row is skipped or repeated.
//! `starting_after` is the id of the last item of the previous page; `next_cursor` is that id when
//! there is more. Stores fetch `limit + 1` rows to learn `has_more` without counting.

use serde::Serialize;

use crate::error::Error;

/// A page size in 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Limit(u8);

impl Limit {
    pub const DEFAULT: Limit = Limit(10);
    pub const MAX: Limit = Limit(100);

    pub fn new(n: u32) -> Option<Self> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=100).contains(n))
            .map(Self)
    }

    /// The `limit` query parameter: absent means 10; anything but a decimal integer in 1..=100 is
    /// refused with a message naming the parameter.
    pub fn from_query(raw: Option<&str>) -> Result<Self, Error> {
        match raw {
            None => Ok(Self::DEFAULT),
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(Self::new)
                .ok_or_else(|| {
                    Error::invalid_param("limit", "must be an integer between 1 and 100")
                }),
        }
    }

    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which page to read: `limit` items after the item whose id is `starting_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<C> {
    pub limit: Limit,
    pub starting_after: Option<C>,
}

impl<C> Default for PageRequest<C> {
    fn default() -> Self {
        Self {
            limit: Limit::DEFAULT,
            starting_after: None,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// From `limit + 1` fetched rows: the extra row only signals that there is more.
    pub fn from_overfetch(mut rows: Vec<T>, limit: Limit) -> Self {
        let limit = usize::try_from(limit.get()).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Self {
            items: rows,
            has_more,
        }
    }

    /// The `next_cursor`: the key of the last item when there is more, else `None`.
    pub fn next_cursor<K>(&self, key: impl Fn(&T) -> K) -> Option<K> {
        if self.has_more {
            self.items.last().map(key)
        } else {
            None
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_ten() {
        assert_eq!(Limit::from_query(None).unwrap().get(), 10);
    }

    #[test]
    fn limit_accepts_one_to_one_hundred() {
        assert_eq!(Limit::from_query(Some("1")).unwrap().get(), 1);
        assert_eq!(Limit::from_query(Some("100")).unwrap().get(), 100);
    }

    #[test]
    fn limit_rejects_everything_else_naming_the_parameter() {
        for raw in ["0", "101", "5.5", "abc", "", "-1", "+5", "1e2", " 5"] {
            let e = Limit::from_query(Some(raw)).unwrap_err();
            assert_eq!(
                e.message, "Invalid `limit`: must be an integer between 1 and 100.",
                "{raw}"
            );
        }
    }

    #[test]
    fn overfetch_sets_has_more_and_truncates() {
        let limit = Limit::new(2).unwrap();
        let page = Page::from_overfetch(vec![1, 2, 3], limit);
        assert_eq!(page.items, [1, 2]);
        assert!(page.has_more);
        assert_eq!(page.next_cursor(|x| *x), Some(2));
        let last = Page::from_overfetch(vec![1, 2], limit);
        assert!(!last.has_more);
        assert_eq!(last.next_cursor(|x| *x), None);
    }
}
