//! Reading JSON in place, whichever way it was parsed.
//!
//! Bodies are parsed into a borrowed tree (`serde_json_borrow`: strings
//! point into the body, objects are vectors of members), about half the cost
//! of an owned `serde_json::Value` to build and to drop; a stage that changes
//! a body turns it into an owned `serde_json::Value` (see [`crate::body`]).
//! The walkers that read bodies (the text walker, token counting, the
//! message count, usage) are written once against [`Json`] and run on
//! either.
//!
//! Duplicate member names: serde_json keeps the last value of a name, and so
//! does every common JSON parser a provider runs, so [`Json::field`] returns
//! the last one in both trees. [`Json::members`] of a borrowed object lists
//! every member as sent, duplicates included, so a walker over the request
//! as it arrived sees every value it holds.

use crate::member::member;
use serde_json_borrow::Value as Borrowed;

/// What a JSON value is, with the payloads the walkers match on.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a, J> {
    Null,
    Bool(bool),
    Number,
    String(&'a str),
    Array(&'a [J]),
    Object,
}

/// A JSON value the walkers can read.
pub trait Json: Sized {
    /// What the value is.
    fn kind(&self) -> Kind<'_, Self>;
    /// The member `name` of an object (the last one of that name); `None`
    /// for anything else.
    fn field(&self, name: &str) -> Option<&Self>;
    /// The members of an object in document order; none for anything else.
    fn members(&self) -> impl Iterator<Item = (&str, &Self)>;
    /// The value as JSON text.
    fn to_text(&self) -> String;
    /// An owned copy, for a body being built from this one (a translation).
    fn to_value(&self) -> serde_json::Value;
    /// The value as an unsigned integer, when it is one.
    fn as_u64(&self) -> Option<u64>;

    fn is_null(&self) -> bool {
        matches!(self.kind(), Kind::Null)
    }

    fn is_object(&self) -> bool {
        matches!(self.kind(), Kind::Object)
    }

    fn as_str(&self) -> Option<&str> {
        match self.kind() {
            Kind::String(text) => Some(text),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self.kind() {
            Kind::Bool(value) => Some(value),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Self]> {
        match self.kind() {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The elements of an array; none for anything else.
    fn elements(&self) -> std::slice::Iter<'_, Self> {
        self.as_array().unwrap_or_default().iter()
    }

    /// The member `name` as a string.
    fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Json::as_str)
    }
}

impl Json for serde_json::Value {
    fn kind(&self) -> Kind<'_, Self> {
        use serde_json::Value as V;
        match self {
            V::Null => Kind::Null,
            V::Bool(value) => Kind::Bool(*value),
            V::Number(_) => Kind::Number,
            V::String(text) => Kind::String(text),
            V::Array(items) => Kind::Array(items),
            V::Object(_) => Kind::Object,
        }
    }

    fn field(&self, name: &str) -> Option<&Self> {
        self.as_object().and_then(|object| member(object, name))
    }

    fn members(&self) -> impl Iterator<Item = (&str, &Self)> {
        self.as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.as_str(), value))
    }

    fn to_text(&self) -> String {
        self.to_string()
    }

    fn to_value(&self) -> serde_json::Value {
        self.clone()
    }

    fn as_u64(&self) -> Option<u64> {
        serde_json::Value::as_u64(self)
    }
}

impl<'ctx> Json for Borrowed<'ctx> {
    fn kind(&self) -> Kind<'_, Self> {
        match self {
            Borrowed::Null => Kind::Null,
            Borrowed::Bool(value) => Kind::Bool(*value),
            Borrowed::Number(_) => Kind::Number,
            Borrowed::Str(text) => Kind::String(text),
            Borrowed::Array(items) => Kind::Array(items),
            Borrowed::Object(_) => Kind::Object,
        }
    }

    fn field(&self, name: &str) -> Option<&Self> {
        let object = self.as_object()?;
        object
            .iter()
            .filter(|(key, _)| *key == name)
            .last()
            .map(|(_, value)| value)
    }

    fn members(&self) -> impl Iterator<Item = (&str, &Self)> {
        self.as_object()
            .into_iter()
            .flat_map(|object| object.iter())
    }

    fn to_text(&self) -> String {
        // Serialising a parsed tree cannot fail: its numbers are finite.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn to_value(&self) -> serde_json::Value {
        self.into()
    }

    fn as_u64(&self) -> Option<u64> {
        Borrowed::as_u64(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json_borrow::OwnedValue;

    const BODY: &str = r#"{"a":"x","n":[1,"s",null,true],"o":{"k":"v"},"a":"last","e":"\u00e9"}"#;

    /// Reads one body through the trait, for both trees to be compared.
    fn summary<J: Json>(value: &J) -> Vec<String> {
        let mut out = vec![format!("{:?}", value.str_field("a"))];
        for item in value.field("n").map(Json::elements).into_iter().flatten() {
            out.push(match item.kind() {
                Kind::Null => "null".into(),
                Kind::Bool(b) => format!("bool {b}"),
                Kind::Number => format!("number {}", item.to_text()),
                Kind::String(s) => format!("string {s}"),
                Kind::Array(_) | Kind::Object => "nested".into(),
            });
        }
        out.push(format!(
            "{:?}",
            value.field("o").and_then(|o| o.str_field("k"))
        ));
        out.push(format!("{:?}", value.str_field("e")));
        out.push(value.field("o").map(Json::to_text).unwrap_or_default());
        out.push(format!(
            "{:?}",
            value.field("missing").is_none() && value.elements().len() == 0
        ));
        out
    }

    #[test]
    fn both_trees_read_alike_and_the_last_duplicate_wins() {
        let owned: serde_json::Value = serde_json::from_str(BODY).unwrap();
        let borrowed = OwnedValue::from_str(BODY).unwrap();
        assert_eq!(summary(&owned), summary(&*borrowed));
        assert_eq!(summary(&owned)[0], "Some(\"last\")");
    }

    #[test]
    fn a_borrowed_object_lists_every_member_as_sent() {
        let owned: serde_json::Value = serde_json::from_str(BODY).unwrap();
        let borrowed = OwnedValue::from_str(BODY).unwrap();
        fn names<J: Json>(value: &J) -> Vec<&str> {
            value.members().map(|(name, _)| name).collect()
        }
        assert_eq!(names(&owned), ["a", "n", "o", "e"]);
        assert_eq!(names(&*borrowed), ["a", "n", "o", "a", "e"]);
    }
}
