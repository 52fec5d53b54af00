//! A buffered response body parsed for what the gateway reads of it when no
//! stage reads the model's output: usage, the served model, an error.
//!
//! Most of a response is its output (choices, content blocks, candidates,
//! embedding vectors), which the stages that only account for the call
//! (limits, audit) never look at. Those members are skipped while parsing,
//! still checked as JSON syntax but not their strings' UTF-8 (the client gets
//! the bytes as the provider sent them either way). The other members are
//! copied as they were sent into a compact body, which is parsed into a
//! borrowed [`Body`] like a request: a tree of the whole response would
//! parse every number of an embedding and allocate for every object of the
//! output, and an owned `serde_json::Value` of the kept members alone
//! allocates for every name and string (about twice the time, natively).
//! Readers of usage, model or error see the same values as in the whole body.

use crate::body::Body;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json_borrow::OwnedValue;
use std::borrow::Cow;
use std::fmt;

/// Top-level members that hold a response's output in some API: OpenAI chat
/// `choices`, Responses `output`, embeddings `data`; Anthropic `content`;
/// Gemini `candidates`, `embedding` and `embeddings`.
pub const OUTPUT_MEMBERS: [&str; 7] = [
    "choices",
    "output",
    "data",
    "content",
    "candidates",
    "embedding",
    "embeddings",
];

/// `bytes` parsed as a JSON object without its [`OUTPUT_MEMBERS`]; `None`
/// when it is not valid JSON or not an object.
pub fn without_output(bytes: &[u8]) -> Option<Body> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let kept = deserializer.deserialize_map(WithoutOutput).ok()?;
    // Trailing characters other than whitespace make it invalid, as for a
    // whole parse.
    deserializer.end().ok()?;
    // What was kept is valid JSON text by construction.
    OwnedValue::from_string(kept).ok().map(Body::sent)
}

/// Writes the members of an object other than its output into a new JSON
/// object's text, each value as it was sent.
struct WithoutOutput;

impl<'de> Visitor<'de> for WithoutOutput {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = String::from("{");
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            if OUTPUT_MEMBERS.contains(&name.as_ref()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value::<&'de RawValue>()?;
            if kept.len() > 1 {
                kept.push(',');
            }
            match name {
                // serde_json borrows a name only when it holds no escapes.
                Cow::Borrowed(name) => {
                    kept.push('"');
                    kept.push_str(name);
                    kept.push('"');
                }
                Cow::Owned(name) => kept.push_str(&serde_json::Value::String(name).to_string()),
            }
            kept.push(':');
            kept.push_str(value.get());
        }
        kept.push('}');
        Ok(kept)
    }
}

/// A member name, borrowed from the input unless it holds escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(name)))
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(name.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{with_json_body, Json};
    use serde_json::Value;

    fn value(body: Option<Body>) -> Option<Value> {
        body.map(|body| with_json_body!(body, |b| b.to_value()))
    }

    /// The whole body's parse with the output members removed.
    fn expected(bytes: &[u8]) -> Option<Value> {
        let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(bytes) else {
            return None;
        };
        members.retain(|name, _| !OUTPUT_MEMBERS.contains(&name.as_str()));
        Some(Value::Object(members))
    }

    #[test]
    fn keeps_usage_model_and_error_and_skips_the_output_of_every_api() {
        let bodies: [&[u8]; 6] = [
            br#"{"id":"c1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello \"there\""}}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2}}}"#,
            br#"{"id":"r1","object":"response","model":"gpt-4o","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":5,"output_tokens":1}}"#,
            br#"{"object":"list","data":[{"object":"embedding","embedding":[0.1,-2e-3,3]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#,
            br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":9,"output_tokens":2}}"#,
            br#"{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1},"modelVersion":"gemini-2.5-flash"}"#,
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down","choices":[1]}}"#,
        ];
        for body in bodies {
            let parsed = value(without_output(body)).unwrap();
            assert_eq!(
                Some(&parsed),
                expected(body).as_ref(),
                "{}",
                String::from_utf8_lossy(body)
            );
            for name in OUTPUT_MEMBERS {
                assert!(parsed.get(name).is_none(), "{name} skipped");
            }
        }
        let chat = value(without_output(bodies[0])).unwrap();
        assert_eq!(chat["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
        assert_eq!(chat["model"], "gpt-4o-mini-2024-07-18");
        let error = value(without_output(bodies[5])).unwrap();
        assert_eq!(
            error["error"]["choices"],
            serde_json::json!([1]),
            "only top-level members are skipped"
        );
    }

    #[test]
    fn invalid_json_and_non_objects_are_none_as_for_a_whole_parse() {
        for body in [
            &b""[..],
            b"[1,2]",
            b"\"text\"",
            b"null",
            b"{\"usage\":",
            b"{\"choices\":[1,}",
            b"{\"usage\":\"\xff\"}",
            b"{\"a\":1} x",
            b"{\"a\":1}{}",
        ] {
            assert_eq!(
                without_output(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            value(without_output(b" {\"a\":1}\n")),
            expected(b" {\"a\":1}\n")
        );
        assert_eq!(
            value(without_output(b"{\"choices\":\"\xff\",\"usage\":{}}")),
            Some(serde_json::json!({"usage": {}})),
            "a skipped string's UTF-8 is not checked"
        );
    }

    #[test]
    fn kept_members_keep_escapes_duplicates_and_spacing_of_values() {
        let body = br#"{ "na\u006de" : "a\"b" , "q\"x":[1, 2], "choices":[{"x":"\u00e9"}], "m":1, "m":2 }"#;
        let kept = without_output(body).unwrap();
        assert_eq!(value(Some(kept.clone())), expected(body));
        assert_eq!(with_json_body!(kept, |b| b.str_field("name")), Some("a\"b"));
        assert_eq!(
            with_json_body!(kept, |b| b.field("m").and_then(Json::as_u64)),
            Some(2),
            "the last duplicate wins"
        );
        assert_eq!(
            with_json_body!(kept, |b| b.members().count()),
            4,
            "every kept member, duplicates too"
        );
        assert_eq!(value(without_output(b"{}")), Some(serde_json::json!({})));
        assert_eq!(
            value(without_output(b"{\"data\":[]}")),
            Some(serde_json::json!({}))
        );
    }
}
