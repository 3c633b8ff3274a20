//! Keyset pages for lists that grow without bound: the items after the last key of the
//! previous page, in the list's own order, so a page costs the same wherever it is.

/// At most `limit` items whose key comes after `after` in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<K> {
    pub after: Option<K>,
    pub limit: usize,
}

impl<K> Page<K> {
    /// Every item: internal callers (the scheduler, the dispatcher) read whole lists.
    pub fn all() -> Self {
        Page { after: None, limit: usize::MAX }
    }

    /// The limit as SQLite's `LIMIT` takes it (`-1`: none).
    pub fn sql_limit(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(-1)
    }
}

impl<K> Default for Page<K> {
    fn default() -> Self {
        Page::all()
    }
}
