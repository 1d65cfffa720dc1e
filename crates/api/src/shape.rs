//! The shape of a response as the GraphQL specification gives it, where async-graphql's
//! differs: every object's keys in the order the query selected them (a connection's
//! `totalCount` otherwise comes before its `edges`, whatever the query said), and `null`
//! for a nullable field whose error left it out of `data` (clients such as Apollo's read a
//! missing key as a broken response: "Missing field").
//!
//! One pass over the response and the query's selections, after execution: time linear in
//! the size of both.

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, PathSegment, Positioned, Response, Value};

/// Reshapes `response` to the query `query` it answers (the operation `operation`, or the
/// only one). A query that does not parse leaves it as it is: it never ran.
pub fn reshape(query: &str, operation: Option<&str>, response: &mut Response) {
    if let Ok(document) = async_graphql::parser::parse_query(query) {
        reshape_parsed(&document, operation, response);
    }
}

/// [`reshape`] for a query already parsed.
pub fn reshape_parsed(document: &ExecutableDocument, operation: Option<&str>, response: &mut Response) {
    let Some((kind, selection)) = operation_selection(document, operation) else { return };
    // async-graphql answers `data: null` when every root field failed, even when each of
    // them is nullable and the answer is an object of nulls.
    if response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| match e.path.first() {
            Some(PathSegment::Field(name)) => nullable_root_field(kind, name),
            _ => false,
        })
    {
        response.data = Value::Object(IndexMap::new());
    }
    for error in &response.errors {
        null_where_left_out(&mut response.data, &error.path);
    }
    in_selection_order(&mut response.data, &[selection], document);
}

fn operation_selection<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, &'a SelectionSet)> {
    let op = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some((op.node.ty, &op.node.selection_set.node))
}

/// Whether the root field `name` of `kind` operations is nullable, from the published
/// schema (read once).
fn nullable_root_field(kind: OperationType, name: &str) -> bool {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    static NULLABLE: std::sync::LazyLock<Vec<(OperationType, String)>> = std::sync::LazyLock::new(|| {
        let Ok(schema) = async_graphql::parser::parse_schema(crate::sdl()) else { return Vec::new() };
        let mut nullable = Vec::new();
        for definition in &schema.definitions {
            let TypeSystemDefinition::Type(t) = definition else { continue };
            let kind = match t.node.name.node.as_str() {
                "Query" => OperationType::Query,
                "Mutation" => OperationType::Mutation,
                "Subscription" => OperationType::Subscription,
                _ => continue,
            };
            if let TypeKind::Object(object) = &t.node.kind {
                for field in &object.fields {
                    if field.node.ty.node.nullable {
                        nullable.push((kind, field.node.name.node.to_string()));
                    }
                }
            }
        }
        nullable
    });
    NULLABLE.iter().any(|(k, n)| *k == kind && n == name)
}

/// Writes `null` for the first field along `path` that its object lacks: the field that
/// took the error, or the nullable field above it that the error's null reached.
fn null_where_left_out(data: &mut Value, path: &[PathSegment]) {
    let mut at = data;
    for segment in path {
        at = match (segment, at) {
            (PathSegment::Field(name), Value::Object(map)) => {
                if !map.contains_key(name.as_str()) {
                    map.insert(Name::new(name), Value::Null);
                    return;
                }
                match map.get_mut(name.as_str()) {
                    Some(next) => next,
                    None => return,
                }
            }
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
}

/// The response keys of `sets` in selection order, fragments expanded in place, each with
/// the selection sets below it (a key selected twice merges both).
fn keys<'a>(
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
    out: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>,
    depth: usize,
) {
    // Fragments cannot cycle in a valid document; the bound keeps an invalid one finite.
    if depth > 64 {
        return;
    }
    for set in sets {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.alias.as_ref().map_or(field.name.node.as_str(), |a| a.node.as_str());
                    let below = &field.selection_set.node;
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(below),
                        None => out.push((key, vec![below])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let fragment: Option<&Positioned<FragmentDefinition>> =
                        document.fragments.get(&spread.node.fragment_name.node);
                    if let Some(fragment) = fragment {
                        keys(&[&fragment.node.selection_set.node], document, out, depth + 1);
                    }
                }
                Selection::InlineFragment(inline) => {
                    keys(&[&inline.node.selection_set.node], document, out, depth + 1);
                }
            }
        }
    }
}

/// Puts the keys of `value`'s objects in the order of `sets`, all the way down.
fn in_selection_order(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::Object(map) => {
            let mut order = Vec::new();
            keys(sets, document, &mut order, 0);
            reorder(map, &order, document);
        }
        Value::List(items) => {
            // Every item answers the same selections: their order is worked out once.
            let mut order = None;
            for item in items {
                match item {
                    Value::Object(map) => {
                        let order = order.get_or_insert_with(|| {
                            let mut order = Vec::new();
                            keys(sets, document, &mut order, 0);
                            order
                        });
                        reorder(map, order, document);
                    }
                    other => in_selection_order(other, sets, document),
                }
            }
        }
        _ => {}
    }
}

fn reorder(map: &mut IndexMap<Name, Value>, order: &[(&str, Vec<&SelectionSet>)], document: &ExecutableDocument) {
    // An object already in order (as `level.rs` renders them) keeps its map; only what is
    // below it is looked at.
    let mut at = 0;
    for (key, below) in order {
        if map.get_index(at).is_some_and(|(name, _)| name.as_str() == *key) {
            if let Some((_, value)) = map.get_index_mut(at) {
                in_selection_order(value, below, document);
            }
            at += 1;
        } else if map.contains_key(*key) {
            break;
        }
    }
    if at == map.len() {
        return;
    }
    let mut rest = std::mem::take(map);
    let mut ordered = IndexMap::with_capacity(rest.len());
    for (key, below) in order {
        if let Some((name, mut inner)) = rest.swap_remove_entry(*key) {
            in_selection_order(&mut inner, below, document);
            ordered.insert(name, inner);
        }
    }
    // Nothing the selections do not name is expected; kept, not lost, if there is.
    ordered.extend(rest);
    *map = ordered;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (Name::new(k), v.clone())).collect())
    }

    fn key_order(value: &Value) -> Vec<String> {
        match value {
            Value::Object(map) => map.keys().map(ToString::to_string).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn keys_follow_the_selection_through_aliases_fragments_and_lists() {
        let query = "query Q { families { edges { node { ...F name } } totalCount } b: viewer { subject } }
                     fragment F on Family { id ... on Family { version } }";
        let node = object(&[("name", "Hansen".into()), ("version", 1.into()), ("id", "fam_1".into())]);
        let data = object(&[
            ("b", object(&[("subject", "s".into())])),
            ("families", object(&[("totalCount", 1.into()), ("edges", Value::List(vec![object(&[("node", node)])]))])),
        ]);
        let mut response = Response::new(data);
        reshape(query, Some("Q"), &mut response);
        assert_eq!(key_order(&response.data), ["families", "b"]);
        let Value::Object(top) = &response.data else { unreachable!() };
        assert_eq!(key_order(&top["families"]), ["edges", "totalCount"]);
        let Value::Object(families) = &top["families"] else { unreachable!() };
        let Value::List(edges) = &families["edges"] else { unreachable!() };
        let Value::Object(edge) = &edges[0] else { unreachable!() };
        assert_eq!(key_order(&edge["node"]), ["id", "version", "name"]);
    }

    #[test]
    fn a_nullable_field_left_out_by_its_error_is_null_in_its_place() {
        let query = "{ viewer { subject } family(id: \"x\") { name } organizations { totalCount } }";
        let data = object(&[("viewer", object(&[("subject", "s".into())])), ("organizations", object(&[]))]);
        let mut response = Response::new(data);
        let mut error = async_graphql::ServerError::new("Family not found", None);
        error.path = vec![PathSegment::Field("family".into())];
        response.errors.push(error);
        reshape(query, None, &mut response);
        assert_eq!(key_order(&response.data), ["viewer", "family", "organizations"]);
        let Value::Object(top) = &response.data else { unreachable!() };
        assert_eq!(top["family"], Value::Null);
    }

    #[test]
    fn an_error_below_a_left_out_nullable_field_makes_that_field_null() {
        let mut response = Response::new(object(&[("viewer", object(&[]))]));
        let mut error = async_graphql::ServerError::new("gone", None);
        error.path = vec![PathSegment::Field("family".into()), PathSegment::Field("name".into())];
        response.errors.push(error);
        reshape("{ viewer { subject } family { name } }", None, &mut response);
        let Value::Object(top) = &response.data else { unreachable!() };
        assert_eq!(top["family"], Value::Null);
    }

    #[test]
    fn nullable_root_fields_that_all_failed_are_an_object_of_nulls_and_a_non_null_one_stays_null() {
        let failed = |paths: &[&str]| {
            let mut response = Response::new(Value::Null);
            for path in paths {
                let mut error = async_graphql::ServerError::new("gone", None);
                error.path = vec![PathSegment::Field((*path).into())];
                response.errors.push(error);
            }
            response
        };
        let mut response = failed(&["family", "placement"]);
        reshape("{ family(id: \"x\") { id } placement(id: \"y\") { id } }", None, &mut response);
        assert_eq!(key_order(&response.data), ["family", "placement"]);
        assert_eq!(response.data, object(&[("family", Value::Null), ("placement", Value::Null)]));
        // `families` is a non-null connection: its error nulls the whole answer.
        let mut response = failed(&["family", "families"]);
        reshape("{ family(id: \"x\") { id } families { totalCount } }", None, &mut response);
        assert_eq!(response.data, Value::Null);
    }

    #[test]
    fn an_error_below_a_nullable_root_field_nulls_that_field_and_a_query_that_does_not_parse_changes_nothing() {
        let mut response = Response::new(Value::Null);
        let mut error = async_graphql::ServerError::new("gone", None);
        error.path = vec![PathSegment::Field("family".into()), PathSegment::Field("name".into())];
        response.errors.push(error);
        reshape("{ family { name } }", None, &mut response);
        assert_eq!(response.data, object(&[("family", Value::Null)]));
        let mut unparsed = Response::new(object(&[("b", 1.into()), ("a", 2.into())]));
        reshape("{ a b", None, &mut unparsed);
        assert_eq!(key_order(&unparsed.data), ["b", "a"]);
    }
}
