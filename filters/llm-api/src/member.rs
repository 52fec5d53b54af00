//! Looking up a member of a JSON object by name, on the hot paths that walk
//! every message of a request or every event of a stream.
//!
//! serde_json keeps object members in order (`preserve_order`: rewritten
//! bodies keep the client's key order), in an `IndexMap` that hashes the
//! name with SipHash for every lookup. The objects of an LLM body are small
//! (a message has two or three members, a content part two), and comparing
//! a few names costs a fraction of hashing one. Counting, scanning and
//! reading the usage of a 2 KB chat call made about 70 lookups, near a tenth
//! of the whole chain's instructions; comparing names instead took the
//! native chain from 29.3 to 26.9 µs a call (`cargo bench -p
//! llm-gateway-bundle --bench chain`). Larger objects use the map's index.

use serde_json::{Map, Value};

/// Up to this many members, names are compared in order rather than hashed.
const SCAN_UP_TO: usize = 8;

/// The member `name` of `object`.
pub fn member<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    if object.len() <= SCAN_UP_TO {
        object
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    } else {
        object.get(name)
    }
}

/// [`member`], mutably.
pub fn member_mut<'v>(object: &'v mut Map<String, Value>, name: &str) -> Option<&'v mut Value> {
    if object.len() <= SCAN_UP_TO {
        object
            .iter_mut()
            .find_map(|(key, value)| (key == name).then_some(value))
    } else {
        object.get_mut(name)
    }
}

/// The member `name` of `value`, if it is an object, mutably (reading goes
/// through [`crate::Json::field`]).
pub fn field_mut<'v>(value: &'v mut Value, name: &str) -> Option<&'v mut Value> {
    value
        .as_object_mut()
        .and_then(|object| member_mut(object, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;
    use serde_json::json;

    #[test]
    fn finds_members_of_small_and_large_objects_alike() {
        let small = json!({"role": "user", "content": "hi"});
        let large: Value = (0..20)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect::<Map<_, _>>()
            .into();
        assert_eq!(small.str_field("content"), Some("hi"));
        assert_eq!(small.field("name"), None);
        assert_eq!(large.field("k0"), Some(&json!(0)));
        assert_eq!(large.field("k19"), Some(&json!(19)));
        assert_eq!(large.field("k20"), None);
        assert_eq!(json!(["role"]).field("role"), None);
        assert_eq!(json!({"role": 1}).str_field("role"), None);
    }

    #[test]
    fn changes_members_in_place() {
        let mut small = json!({"a": 1, "b": 2});
        let mut large: Value = (0..20)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect::<Map<_, _>>()
            .into();
        *field_mut(&mut small, "b").unwrap() = json!(3);
        *field_mut(&mut large, "k7").unwrap() = json!("x");
        assert_eq!(small, json!({"a": 1, "b": 3}));
        assert_eq!(large["k7"], "x");
        assert!(field_mut(&mut small, "c").is_none());
    }
}
