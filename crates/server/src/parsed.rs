//! The documents of the query texts clients sent lately, parsed and checked against the
//! limits once per text instead of once per request. An integration sends the same few
//! texts over and over with other variables; parsing one (pest, with its stack checks)
//! was about 8 % of the server's CPU for a family's page, (a) in `bench/`.
//!
//! Only documents that parsed and were within the limits are kept, by their exact text.
//! At most [`MAX_ENTRIES`] documents and [`MAX_BYTES`] of their texts are kept; the next
//! one past either forgets them all, so that a client sending endless distinct texts
//! costs what it cost without the cache, a parse per request, and no more memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use kinbridge_api::Limits;
use kinbridge_api::limits::{LimitExceeded, check_parsed};

/// At most this many documents are kept.
pub const MAX_ENTRIES: usize = 128;
/// At most this many bytes of query text are kept (a document's tree takes several times
/// its text).
pub const MAX_BYTES: usize = 512 * 1024;

#[derive(Debug, Default, Clone)]
pub struct ParsedQueries {
    inner: Arc<Mutex<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    bytes: usize,
    documents: HashMap<String, Arc<ExecutableDocument>>,
}

impl ParsedQueries {
    /// [`check_parsed`]: the document of `query` if it parses, or the limit it exceeds; from
    /// the documents kept when `query` was checked before.
    pub fn check(&self, query: &str, limits: &Limits) -> Result<Option<Arc<ExecutableDocument>>, LimitExceeded> {
        if let Some(document) = self.kept().documents.get(query) {
            return Ok(Some(Arc::clone(document)));
        }
        let Some(document) = check_parsed(query, limits)?.map(Arc::new) else { return Ok(None) };
        let mut kept = self.kept();
        if kept.documents.len() >= MAX_ENTRIES || kept.bytes + query.len() > MAX_BYTES {
            kept.documents.clear();
            kept.bytes = 0;
        }
        if query.len() <= MAX_BYTES && kept.documents.insert(query.to_owned(), Arc::clone(&document)).is_none() {
            kept.bytes += query.len();
        }
        Ok(Some(document))
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // Documents are inserted whole: a panic elsewhere cannot leave one half-kept.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many documents are kept.
    pub fn len(&self) -> usize {
        self.kept().documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_and_its_document_shared() {
        let parsed = ParsedQueries::default();
        let limits = Limits::default();
        let first = parsed.check("{ viewer { subject } }", &limits).unwrap().unwrap();
        let again = parsed.check("{ viewer { subject } }", &limits).unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the second check answers from the kept document");
        assert_eq!(parsed.len(), 1);
        let other = parsed.check("{ viewer { roles } }", &limits).unwrap().unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn what_does_not_parse_or_is_over_a_limit_is_not_kept() {
        let parsed = ParsedQueries::default();
        let limits = Limits { max_aliases: 1, ..Limits::default() };
        assert!(parsed.check("{ viewer {", &limits).unwrap().is_none());
        let exceeded = parsed.check("{ a: viewer { subject } b: viewer { subject } }", &limits).unwrap_err();
        assert_eq!(exceeded.code, "TOO_MANY_ALIASES");
        assert!(parsed.is_empty());
        // And is refused again, not answered from a cache.
        assert!(parsed.check("{ a: viewer { subject } b: viewer { subject } }", &limits).is_err());
    }

    #[test]
    fn past_its_bounds_it_forgets_everything_and_keeps_the_newest() {
        let parsed = ParsedQueries::default();
        let limits = Limits::default();
        for n in 0..MAX_ENTRIES {
            parsed.check(&format!("{{ a{n}: viewer {{ subject }} }}"), &limits).unwrap().unwrap();
        }
        assert_eq!(parsed.len(), MAX_ENTRIES);
        parsed.check("{ viewer { subject } }", &limits).unwrap().unwrap();
        assert_eq!(parsed.len(), 1, "one past the bound starts afresh");
    }
}
