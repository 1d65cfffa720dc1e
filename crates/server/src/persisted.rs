//! Automatic persisted queries, as Apollo's persisted-queries link speaks them: a client
//! sends `extensions.persistedQuery = { version: 1, sha256Hash }` without the query; a
//! server that does not know the hash answers `PersistedQueryNotFound` (code
//! `PERSISTED_QUERY_NOT_FOUND`), and the client sends the query with its hash once, which
//! registers it. After that, the hash alone runs the query.
//!
//! The cache is per process and bounded in entries and bytes (least recently used goes
//! first); a replica that does not know a hash simply asks for the query again. It is
//! kept per organisation: a query's text can hold literal values (a national id in a
//! lookup), and one organisation must not be able to learn, by probing hashes, what
//! another has asked.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use kinbridge_domain::ids::OrganizationId;
use sha2::{Digest, Sha256};

/// How many queries one process keeps, over all organisations.
pub const MAX_ENTRIES: usize = 4096;
/// How many bytes of query text one process keeps, over all organisations.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// What the request's `persistedQuery` extension asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persisted {
    /// Run the query registered under this hash.
    Lookup(Hash),
    /// Register the query the request carries under this hash (which has been checked).
    Register(Hash),
}

/// A SHA-256 hash of a query's text.
pub type Hash = [u8; 32];

/// Why a `persistedQuery` extension was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: &'static str,
}

/// Reads the request's `persistedQuery` extension, if any, and checks a given query
/// against its hash. Linear in the query's length.
pub fn parse(request: &mut async_graphql::Request) -> Result<Option<Persisted>, Refusal> {
    let Some(extension) = request.extensions.remove("persistedQuery") else {
        return Ok(None);
    };
    let refuse = |field, message| Refusal { field, message };
    let async_graphql::Value::Object(fields) = extension else {
        return Err(refuse("extensions.persistedQuery", "must be { version: 1, sha256Hash: \"…\" }"));
    };
    if fields.get("version") != Some(&async_graphql::Value::from(1)) {
        return Err(refuse("extensions.persistedQuery.version", "must be 1"));
    }
    let hash = match fields.get("sha256Hash") {
        Some(async_graphql::Value::String(hex)) => decode_hex(hex),
        _ => None,
    }
    .ok_or_else(|| refuse("extensions.persistedQuery.sha256Hash", "must be 64 hexadecimal digits"))?;
    if request.query.is_empty() {
        return Ok(Some(Persisted::Lookup(hash)));
    }
    if <[u8; 32]>::from(Sha256::digest(request.query.as_bytes())) != hash {
        return Err(refuse("extensions.persistedQuery.sha256Hash", "is not the SHA-256 hash of the query"));
    }
    Ok(Some(Persisted::Register(hash)))
}

fn decode_hex(hex: &str) -> Option<Hash> {
    if hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(hash)
}

type Key = (OrganizationId, Hash);

/// The registered queries of one process.
#[derive(Debug, Clone)]
pub struct PersistedQueries {
    inner: Arc<Mutex<Cache>>,
}

#[derive(Debug)]
struct Cache {
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    tick: u64,
    entries: HashMap<Key, (Arc<str>, u64)>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, Key>,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES, MAX_BYTES)
    }
}

impl PersistedQueries {
    pub fn with_capacity(max_entries: usize, max_bytes: usize) -> Self {
        let cache =
            Cache { max_entries, max_bytes, bytes: 0, tick: 0, entries: HashMap::new(), by_use: BTreeMap::new() };
        Self { inner: Arc::new(Mutex::new(cache)) }
    }

    /// The query `organization` registered under `hash`, if it is still kept.
    pub fn get(&self, organization: OrganizationId, hash: &Hash) -> Option<Arc<str>> {
        let mut cache = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = &mut *cache;
        cache.tick += 1;
        let tick = cache.tick;
        let (query, used) = cache.entries.get_mut(&(organization, *hash))?;
        cache.by_use.remove(used);
        *used = tick;
        cache.by_use.insert(tick, (organization, *hash));
        Some(Arc::clone(query))
    }

    /// Keeps `query` under `hash` for `organization`, making room by forgetting the least
    /// recently used queries. A query larger than the whole cache is not kept.
    pub fn insert(&self, organization: OrganizationId, hash: Hash, query: &str) {
        let mut cache = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = &mut *cache;
        if query.len() > cache.max_bytes || cache.max_entries == 0 {
            return;
        }
        let key = (organization, hash);
        if let Some((old, used)) = cache.entries.remove(&key) {
            cache.by_use.remove(&used);
            cache.bytes -= old.len();
        }
        while cache.entries.len() >= cache.max_entries || cache.bytes + query.len() > cache.max_bytes {
            let Some((_, oldest)) = cache.by_use.pop_first() else { break };
            if let Some((old, _)) = cache.entries.remove(&oldest) {
                cache.bytes -= old.len();
            }
        }
        cache.tick += 1;
        cache.bytes += query.len();
        cache.entries.insert(key, (Arc::from(query), cache.tick));
        cache.by_use.insert(cache.tick, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(query: &str) -> Hash {
        Sha256::digest(query.as_bytes()).into()
    }

    fn request(query: &str, extension: serde_json::Value) -> async_graphql::Request {
        let mut r = async_graphql::Request::new(query);
        r.extensions.insert("persistedQuery".into(), async_graphql::Value::from_json(extension).unwrap());
        r
    }

    fn hex(hash: &Hash) -> String {
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_hash_alone_is_a_lookup_and_a_query_with_its_hash_registers_it() {
        let q = "{ viewer { organizationId } }";
        let ext = serde_json::json!({ "version": 1, "sha256Hash": hex(&hash_of(q)) });
        assert_eq!(parse(&mut request("", ext.clone())), Ok(Some(Persisted::Lookup(hash_of(q)))));
        assert_eq!(parse(&mut request(q, ext)), Ok(Some(Persisted::Register(hash_of(q)))));
        assert_eq!(parse(&mut async_graphql::Request::new(q)), Ok(None));
    }

    #[test]
    fn an_extension_that_is_not_apollos_version_1_is_refused_naming_the_field() {
        let q = "{ viewer { organizationId } }";
        let field = |ext: serde_json::Value, query: &str| parse(&mut request(query, ext)).unwrap_err().field;
        assert_eq!(field(serde_json::json!("x"), ""), "extensions.persistedQuery");
        assert_eq!(
            field(serde_json::json!({ "version": 2, "sha256Hash": hex(&hash_of(q)) }), ""),
            "extensions.persistedQuery.version"
        );
        assert_eq!(
            field(serde_json::json!({ "version": 1, "sha256Hash": "abc" }), ""),
            "extensions.persistedQuery.sha256Hash"
        );
        let wrong = serde_json::json!({ "version": 1, "sha256Hash": hex(&hash_of("{ other }")) });
        assert_eq!(field(wrong, q), "extensions.persistedQuery.sha256Hash");
        let not_hex = serde_json::json!({ "version": 1, "sha256Hash": "g".repeat(64) });
        assert_eq!(field(not_hex, ""), "extensions.persistedQuery.sha256Hash");
    }

    #[test]
    fn queries_are_kept_per_organisation() {
        let cache = PersistedQueries::default();
        let (a, b) = (OrganizationId::new(), OrganizationId::new());
        cache.insert(a, hash_of("{ x }"), "{ x }");
        assert_eq!(cache.get(a, &hash_of("{ x }")).as_deref(), Some("{ x }"));
        assert_eq!(cache.get(b, &hash_of("{ x }")), None, "another organisation cannot probe for it");
    }

    #[test]
    fn the_least_recently_used_query_goes_first_when_entries_or_bytes_run_out() {
        let org = OrganizationId::new();
        let cache = PersistedQueries::with_capacity(2, 1_000);
        cache.insert(org, hash_of("a"), "a");
        cache.insert(org, hash_of("b"), "b");
        assert!(cache.get(org, &hash_of("a")).is_some(), "a is now the most recent");
        cache.insert(org, hash_of("c"), "c");
        assert!(cache.get(org, &hash_of("b")).is_none(), "b was least recently used");
        assert!(cache.get(org, &hash_of("a")).is_some());
        assert!(cache.get(org, &hash_of("c")).is_some());

        let cache = PersistedQueries::with_capacity(100, 10);
        cache.insert(org, [1; 32], "123456");
        cache.insert(org, [2; 32], "123456");
        assert!(cache.get(org, &[1; 32]).is_none(), "bytes ran out");
        assert!(cache.get(org, &[2; 32]).is_some());
        cache.insert(org, [3; 32], "12345678901");
        assert!(cache.get(org, &[3; 32]).is_none(), "larger than the whole cache: not kept");
        assert!(cache.get(org, &[2; 32]).is_some(), "and nothing was evicted for it");
    }
}
