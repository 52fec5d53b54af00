//! The limits file in limitador's terms. limitador evaluates CEL conditions
//! and variables against a context; like Limitador's own Envoy server, each
//! request descriptor is bound as the list `descriptors`, here always one
//! descriptor at a time (so each gets its own status, as Envoy expects):
//!
//! - namespace = the limit's `domain`;
//! - conditions: the descriptor has exactly the limit's keys
//!   (`size(descriptors[0]) == N`), each fixed entry has its value
//!   (`descriptors[0]['model'] == 'm'`), each open entry is present
//!   (`'agent' in descriptors[0]`);
//! - variables: the open entries (`descriptors[0]['agent']`), so limitador
//!   keeps one counter per distinct value.

use crate::config::{LimitSpec, LimitsFile};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use limitador::limit::{Context, Expression, Limit, Predicate};
use std::collections::HashMap;

/// The name of the list binding the conditions and variables refer to.
const BINDING: &str = "descriptors";

/// The limitador limits for every limit of the file, in file order.
pub fn to_limitador(file: &LimitsFile) -> Result<Vec<Limit>, String> {
    file.limits
        .iter()
        .enumerate()
        .map(|(i, spec)| to_limit(spec).map_err(|e| format!("limits file: limits[{i}]: {e}")))
        .collect()
}

fn to_limit(spec: &LimitSpec) -> Result<Limit, String> {
    let entry = |key: &str| format!("{BINDING}[0][{}]", cel_string(key));
    let mut conditions = vec![format!("size({BINDING}[0]) == {}", spec.descriptor.len())];
    let mut variables = Vec::new();
    for e in &spec.descriptor {
        match &e.value {
            Some(value) => conditions.push(format!("{} == {}", entry(&e.key), cel_string(value))),
            None => {
                conditions.push(format!("{} in {BINDING}[0]", cel_string(&e.key)));
                variables.push(entry(&e.key));
            }
        }
    }
    let conditions = conditions
        .iter()
        .map(|c| Predicate::parse(c).map_err(|e| format!("condition {c}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let variables = variables
        .iter()
        .map(|v| Expression::parse(v).map_err(|e| format!("variable {v}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut limit = Limit::new(
        spec.domain.as_str(),
        spec.max_value,
        spec.seconds,
        conditions,
        variables,
    );
    if let Some(name) = &spec.name {
        limit.set_name(name.clone());
    }
    Ok(limit)
}

/// A CEL string literal for any text: single-quoted, with the characters
/// that would end or bend it escaped (config validation has already refused
/// control characters).
fn cel_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The context limitador evaluates one request descriptor in, or `None`
/// when the descriptor cannot be matched: the same key twice (only Envoy's
/// own config can produce that; a map would keep one of the two silently).
pub fn descriptor_context(descriptor: &RateLimitDescriptor) -> Option<Context<'static>> {
    let mut entries = HashMap::with_capacity(descriptor.entries.len());
    for entry in &descriptor.entries {
        if entries
            .insert(entry.key.clone(), entry.value.clone())
            .is_some()
        {
            return None;
        }
    }
    let mut context = Context::default();
    context.list_binding(BINDING.to_owned(), vec![entries]);
    Some(context)
}

/// A descriptor of `entries`, as Envoy sends it: what the unit tests decide
/// on.
#[cfg(test)]
pub(crate) fn descriptor(entries: &[(&str, &str)]) -> RateLimitDescriptor {
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: (*k).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(json: &str) -> Limit {
        let file = LimitsFile::parse(&format!(r#"{{"limits": [{json}]}}"#)).expect("valid");
        to_limitador(&file).expect("maps").remove(0)
    }

    fn applies(limit: &Limit, entries: &[(&str, &str)]) -> bool {
        let context = descriptor_context(&descriptor(entries)).expect("no duplicate keys");
        limit.applies(&context)
            && limit
                .resolve_variables(&context)
                .expect("evaluates")
                .is_some()
    }

    #[test]
    fn maps_fixed_and_open_entries_to_conditions_and_variables() {
        let limit = limit(
            r#"{"name": "n", "domain": "d", "descriptor": [{"key": "agent"}, {"key": "model", "value": "m"}], "max_value": 7, "seconds": 60}"#,
        );
        assert_eq!(limit.namespace().as_ref(), "d");
        assert_eq!(
            (limit.max_value(), limit.seconds(), limit.name()),
            (7, 60, Some("n"))
        );
        let mut conditions: Vec<String> = limit.conditions().into_iter().collect();
        conditions.sort();
        assert_eq!(
            conditions,
            [
                "'agent' in descriptors[0]",
                "descriptors[0]['model'] == 'm'",
                "size(descriptors[0]) == 2"
            ]
        );
        assert_eq!(
            limit.variables().into_iter().collect::<Vec<_>>(),
            ["descriptors[0]['agent']"]
        );
    }

    #[test]
    fn matches_exactly_the_configured_keys_in_any_order() {
        let limit = limit(
            r#"{"domain": "d", "descriptor": [{"key": "agent"}, {"key": "model", "value": "m"}], "max_value": 1, "seconds": 1}"#,
        );
        assert!(applies(&limit, &[("agent", "a"), ("model", "m")]));
        assert!(applies(&limit, &[("model", "m"), ("agent", "b")]));
        assert!(
            !applies(&limit, &[("agent", "a"), ("model", "other")]),
            "fixed value differs"
        );
        assert!(!applies(&limit, &[("agent", "a")]), "a key is missing");
        assert!(
            !applies(&limit, &[("model", "m"), ("user", "a")]),
            "the open key is missing"
        );
        assert!(
            !applies(&limit, &[("agent", "a"), ("model", "m"), ("route", "r")]),
            "an extra key"
        );
    }

    #[test]
    fn values_with_quotes_and_backslashes_match_literally() {
        let limit = limit(
            r#"{"domain": "d", "descriptor": [{"key": "k'ey", "value": "it's \\ 'quoted'"}], "max_value": 1, "seconds": 1}"#,
        );
        assert!(applies(&limit, &[("k'ey", r"it's \ 'quoted'")]));
        assert!(!applies(&limit, &[("k'ey", "it's")]));
    }

    #[test]
    fn a_descriptor_with_a_repeated_key_matches_nothing() {
        assert!(descriptor_context(&descriptor(&[("agent", "a"), ("agent", "b")])).is_none());
    }
}
