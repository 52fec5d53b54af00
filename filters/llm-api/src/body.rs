//! A JSON body parsed once for the whole filter chain, read in place until a
//! stage changes it: requests ([`crate::LlmRequest`]) and buffered responses
//! ([`crate::response`]) are both held this way.
//!
//! A body is parsed into a borrowed tree (see [`crate::json`]): most bodies
//! are only read (scanned, counted, accounted for), and building and
//! dropping an owned `serde_json::Value` was the largest single cost of the
//! chain after its host calls (docs/benchmarks.md). The first stage that
//! changes a body turns it into an owned `Value`, which keeps every member in
//! the sender's order, so that a body written back differs only where a
//! stage changed it.

use serde_json::{Map, Value};
use serde_json_borrow::OwnedValue;
use std::borrow::Cow;

/// A parsed JSON body, as sent or as changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// As it arrived (a borrowed tree over the body's own bytes), until a
    /// stage changes it.
    sent: Option<OwnedValue>,
    /// The body once changed, or built by the gateway; `Null` while `sent`
    /// holds it.
    edited: Value,
}

/// A body for reading: see [`with_json_body!`](crate::with_json_body).
#[derive(Debug, Clone, Copy)]
pub enum BodyRef<'a> {
    Sent(&'a serde_json_borrow::Value<'a>),
    Edited(&'a Value),
}

/// Evaluates `$body` with `$name` bound to a body as a [`Json`](crate::Json)
/// value, whichever tree holds it: the walkers are generic over `Json`, and
/// this is the one place that picks the tree. `$holder` is anything with a
/// `body()` returning a [`BodyRef`]: a [`Body`] or a
/// [`LlmRequest`](crate::LlmRequest).
#[macro_export]
macro_rules! with_json_body {
    ($holder:expr, |$name:ident| $body:expr) => {
        match $holder.body() {
            $crate::BodyRef::Sent($name) => $body,
            $crate::BodyRef::Edited($name) => $body,
        }
    };
}

impl Body {
    /// A body as it arrived, parsed into a borrowed tree.
    pub fn sent(tree: OwnedValue) -> Body {
        Body {
            sent: Some(tree),
            edited: Value::Null,
        }
    }

    /// A body that is owned from the start: built by the gateway, or parsed
    /// for a stage that will change it anyway.
    pub fn owned(value: Value) -> Body {
        Body {
            sent: None,
            edited: value,
        }
    }

    /// `bytes` as JSON, parsed into a borrowed tree; `None` if they are not
    /// valid UTF-8 or not valid JSON.
    pub fn parse(bytes: &[u8]) -> Option<Body> {
        let text = String::from_utf8(bytes.to_vec()).ok()?;
        OwnedValue::from_string(text).ok().map(Body::sent)
    }

    /// The tree that holds the body, for a walker generic over
    /// [`Json`](crate::Json); usually through [`with_json_body!`](crate::with_json_body).
    pub fn body(&self) -> BodyRef<'_> {
        match &self.sent {
            Some(sent) => BodyRef::Sent(sent),
            None => BodyRef::Edited(&self.edited),
        }
    }

    /// The body as an owned object (empty if it is not one), for code that
    /// writes a changed copy of a body it may not change in place. Readers
    /// use [`body`](Self::body), which copies nothing.
    pub fn object(&self) -> Cow<'_, Map<String, Value>> {
        match (&self.sent, &self.edited) {
            (Some(sent), _) => Cow::Owned(owned_object(sent)),
            (None, Value::Object(object)) => Cow::Borrowed(object),
            (None, _) => Cow::Owned(Map::new()),
        }
    }

    /// The body for a change, owned from now on.
    pub fn to_mut(&mut self) -> &mut Value {
        if let Some(sent) = self.sent.take() {
            self.edited = Value::from(sent.get_value());
        }
        &mut self.edited
    }

    /// The body serialised again.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A parsed tree always serialises: its numbers are finite.
        match &self.sent {
            Some(sent) => serde_json::to_vec(sent.get_value()).unwrap_or_default(),
            None => serde_json::to_vec(&self.edited).unwrap_or_default(),
        }
    }
}

/// An owned copy of a borrowed object; the last of duplicate names wins, as
/// in serde_json's own parse.
fn owned_object(value: &serde_json_borrow::Value<'_>) -> Map<String, Value> {
    value.as_object().map(Map::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Json;

    #[test]
    fn a_body_reads_in_place_until_changed_and_keeps_its_order() {
        let input = br#"{"zeta":1,"model":"m","list":[1,"a",null]}"#;
        let mut body = Body::parse(input).unwrap();
        assert!(matches!(body.body(), BodyRef::Sent(_)));
        assert_eq!(with_json_body!(body, |b| b.str_field("model")), Some("m"));
        assert_eq!(body.to_bytes(), input.to_vec());
        body.to_mut()["zeta"] = Value::from(2);
        assert!(matches!(body.body(), BodyRef::Edited(_)));
        assert_eq!(
            body.to_bytes(),
            br#"{"zeta":2,"model":"m","list":[1,"a",null]}"#.to_vec()
        );
    }

    #[test]
    fn any_json_value_is_a_body_and_invalid_input_is_none() {
        let mut list = Body::parse(b"[1,2]").unwrap();
        assert_eq!(list.object().len(), 0);
        assert_eq!(*list.to_mut(), serde_json::json!([1, 2]));
        for input in [&b""[..], b"{", b"\xff", b"{\"a\":1} x"] {
            assert_eq!(Body::parse(input), None, "{input:?}");
        }
    }
}
