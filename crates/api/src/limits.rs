//! What one request may ask for, checked before it costs anything.
//!
//! [`check`] reads the query once: a lexical pass bounds its size and nesting before the
//! parser sees it (a deeply nested document would otherwise exhaust the parser's stack),
//! then one walk over the parsed document counts aliases, fragment spreads and directives
//! as written and the fields the query selects once every fragment is expanded. A
//! fragment's expanded size is computed once and remembered, so a "fragment bomb" (each
//! fragment spreading the previous one twice, doubling per level) is counted in time
//! linear in the document's size, and refused, where expanding it would take exponential
//! time. Only then do async-graphql's own validation, depth and complexity limits run, over
//! a document whose expansion is bounded.
//!
//! Each limit has its own `extensions.code` and reports the limit it hit and what the
//! query asked for (`extensions.limit`, `extensions.found`).

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Limits on what one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How deeply selections may nest (async-graphql's depth limit).
    pub max_depth: usize,
    /// The most a query may cost; a connection costs its page size times its nodes' cost.
    pub max_complexity: usize,
    /// The longest query document, in bytes.
    pub max_document_bytes: usize,
    /// The deepest nesting of braces, parentheses and brackets in the document.
    pub max_nesting: usize,
    /// The most fields a query selects once its fragments are expanded.
    pub max_fields: usize,
    /// The most aliases a document may write.
    pub max_aliases: usize,
    /// The most fragment spreads a document may write.
    pub max_fragment_spreads: usize,
    /// The most directives a document may write.
    pub max_directives: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 200_000,
            max_document_bytes: 32 * 1024,
            max_nesting: 48,
            max_fields: 2_000,
            max_aliases: 100,
            max_fragment_spreads: 200,
            max_directives: 100,
        }
    }
}

/// A limit a query went over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// `extensions.code`: `DOCUMENT_TOO_LARGE`, `TOO_DEEP`, `TOO_MANY_FIELDS`,
    /// `TOO_MANY_ALIASES`, `TOO_MANY_FRAGMENT_SPREADS` or `TOO_MANY_DIRECTIVES`.
    pub code: &'static str,
    pub limit: usize,
    /// What the query asked for; for the expanded field count, at least this many (the
    /// count stops early on a query far over the limit).
    pub found: usize,
}

impl LimitExceeded {
    pub fn message(&self) -> String {
        let what = match self.code {
            "DOCUMENT_TOO_LARGE" => "bytes in the query document",
            "TOO_DEEP" => "levels of nesting",
            "TOO_MANY_FIELDS" => "fields once fragments are expanded",
            "TOO_MANY_ALIASES" => "aliases",
            "TOO_MANY_FRAGMENT_SPREADS" => "fragment spreads",
            _ => "directives",
        };
        format!("the query has {} {what}; at most {} are accepted", self.found, self.limit)
    }
}

/// Checks `query` against `limits`, in time linear in its length. A document that does
/// not parse passes: the executor reports its syntax error.
pub fn check(query: &str, limits: &Limits) -> Result<(), LimitExceeded> {
    check_parsed(query, limits).map(drop)
}

/// [`check`], handing back the document it parsed (`None` if it does not parse), so that
/// the request is parsed once: the executor takes it (`Request::set_parsed_query`), and so
/// does the reshaping of the response (`shape::reshape_parsed`).
pub fn check_parsed(
    query: &str,
    limits: &Limits,
) -> Result<Option<async_graphql::parser::types::ExecutableDocument>, LimitExceeded> {
    let over = |code, limit: usize, found: usize| {
        if found > limit { Err(LimitExceeded { code, limit, found }) } else { Ok(()) }
    };
    over("DOCUMENT_TOO_LARGE", limits.max_document_bytes, query.len())?;
    over("TOO_DEEP", limits.max_nesting, nesting(query))?;
    let Ok(document) = async_graphql::parser::parse_query(query) else { return Ok(None) };
    let mut counts = Counts::default();
    for fragment in document.fragments.values() {
        counts.directives += fragment.node.directives.len();
        counts.written(&fragment.node.selection_set.node);
    }
    let mut expanded = Expansion { document: &document, sizes: HashMap::new(), cap: limits.max_fields + 1 };
    let mut fields = 0usize;
    for (_, operation) in document.operations.iter() {
        counts.directives += operation.node.directives.len()
            + operation.node.variable_definitions.iter().map(|v| v.node.directives.len()).sum::<usize>();
        counts.written(&operation.node.selection_set.node);
        fields = fields.saturating_add(expanded.size(&operation.node.selection_set.node, &mut Vec::new()));
    }
    over("TOO_MANY_ALIASES", limits.max_aliases, counts.aliases)?;
    over("TOO_MANY_FRAGMENT_SPREADS", limits.max_fragment_spreads, counts.spreads)?;
    over("TOO_MANY_DIRECTIVES", limits.max_directives, counts.directives)?;
    over("TOO_MANY_FIELDS", limits.max_fields, fields)?;
    Ok(Some(document))
}

/// The deepest nesting of `{`, `(` and `[` outside strings and comments.
fn nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// What a document writes, each counted once where it is written.
#[derive(Default)]
struct Counts {
    aliases: usize,
    spreads: usize,
    directives: usize,
}

impl Counts {
    fn written(&mut self, set: &SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    self.aliases += usize::from(f.node.alias.is_some());
                    self.directives += f.node.directives.len();
                    self.written(&f.node.selection_set.node);
                }
                Selection::FragmentSpread(s) => {
                    self.spreads += 1;
                    self.directives += s.node.directives.len();
                }
                Selection::InlineFragment(i) => {
                    self.directives += i.node.directives.len();
                    self.written(&i.node.selection_set.node);
                }
            }
        }
    }
}

/// The fields a selection selects with its fragments expanded, each fragment's size
/// computed once. Sizes saturate at `cap` (just over the limit), so the numbers stay small.
struct Expansion<'a> {
    document: &'a ExecutableDocument,
    sizes: HashMap<&'a str, usize>,
    cap: usize,
}

impl<'a> Expansion<'a> {
    fn size(&mut self, set: &'a SelectionSet, visiting: &mut Vec<&'a str>) -> usize {
        let mut total = 0usize;
        for item in &set.items {
            let n = match &item.node {
                Selection::Field(f) => 1 + self.size(&f.node.selection_set.node, visiting),
                Selection::InlineFragment(i) => self.size(&i.node.selection_set.node, visiting),
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    match self.sizes.get(name) {
                        Some(n) => *n,
                        // A cycle (refused by validation) or an unknown fragment adds nothing.
                        None if visiting.contains(&name) => 0,
                        None => match self.document.fragments.get(name) {
                            None => 0,
                            Some(fragment) => {
                                visiting.push(name);
                                let n = self.size(&fragment.node.selection_set.node, visiting);
                                visiting.pop();
                                self.sizes.insert(name, n);
                                n
                            }
                        },
                    }
                }
            };
            total = total.saturating_add(n).min(self.cap);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(query: &str) -> Option<&'static str> {
        check(query, &Limits::default()).err().map(|e| e.code)
    }

    /// Fragments that each spread the previous one twice: 2^levels fields when expanded.
    fn bomb(levels: usize) -> String {
        let mut fragments = String::from("fragment F0 on Query { viewer { subject } }");
        for i in 1..=levels {
            fragments.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i - 1, i - 1));
        }
        format!("query {{ ...F{levels} }} {fragments}")
    }

    #[test]
    fn an_ordinary_query_passes() {
        assert_eq!(
            code("{ families(first: 50) { totalCount edges { node { name members { edges { node { role } } } } } } }"),
            None
        );
        assert_eq!(
            code("query Q($a: String) { family(id: $a) @include(if: true) { ...F } } fragment F on Family { name }"),
            None
        );
        assert_eq!(code("{ this is not graphql"), None, "the executor reports syntax errors");
    }

    #[test]
    fn a_fragment_bomb_is_counted_without_expanding_it_and_refused() {
        // 2 × 2^9 = 1,024 fields: under the limit of 2,000.
        assert_eq!(code(&bomb(9)), None);
        let err = check(&bomb(11), &Limits::default()).unwrap_err();
        assert_eq!((err.code, err.limit), ("TOO_MANY_FIELDS", 2_000));
        assert!(err.found > 2_000);
        // 2^60 fields, in a document of a few kilobytes: counted at once.
        let started = std::time::Instant::now();
        assert_eq!(code(&bomb(60)), Some("TOO_MANY_FIELDS"));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "linear, not exponential");
    }

    #[test]
    fn fragment_cycles_and_unknown_fragments_do_not_loop() {
        assert_eq!(code("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A viewer { subject } }"), None);
        assert_eq!(code("{ ...Missing }"), None);
    }

    #[test]
    fn aliases_spreads_and_directives_are_counted_as_written() {
        let aliases: String = (0..101).map(|i| format!(" a{i}: viewer {{ subject }}")).collect();
        assert_eq!(code(&format!("{{{aliases} }}")), Some("TOO_MANY_ALIASES"));
        let spreads: String = (0..201).map(|_| " ...F").collect();
        assert_eq!(
            code(&format!("{{{spreads} }} fragment F on Query {{ viewer {{ subject }} }}")),
            Some("TOO_MANY_FRAGMENT_SPREADS")
        );
        let directives: String = (0..101).map(|_| " @include(if: true)").collect();
        assert_eq!(code(&format!("{{ viewer{directives} {{ subject }} }}")), Some("TOO_MANY_DIRECTIVES"));
    }

    #[test]
    fn size_and_nesting_are_refused_before_parsing() {
        assert_eq!(code(&format!("{{ viewer {{ subject }} }} #{}", "x".repeat(40_000))), Some("DOCUMENT_TOO_LARGE"));
        let deep = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
        assert_eq!(code(&deep), Some("TOO_DEEP"));
        // Braces inside strings and comments are not nesting.
        let quoted = format!(
            "{{ personByIdentifier(system: \"{}\", value: \"\"\"{}\"\"\") {{ id }} }} # {}",
            "{".repeat(60),
            "[".repeat(60),
            "(".repeat(60)
        );
        assert_eq!(nesting(&quoted), 2);
    }
}
