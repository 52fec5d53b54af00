//! A request body parsed once for the whole filter chain, held as a
//! [`Body`]: read in place, owned once a stage changes it.

use crate::api::ApiKind;
use crate::body::{Body, BodyRef};
use crate::error::ApiError;
use crate::json::{Json, Kind};
use crate::with_json_body;
use serde_json::{Map, Value};
use serde_json_borrow::OwnedValue;
use std::borrow::Cow;

/// An LLM request body, parsed, with the facts every filter asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    /// Always a JSON object.
    body: Body,
    /// The model the client asked for: the body's `model`, else the model or
    /// deployment named in the path (Gemini, Azure).
    pub model: Option<String>,
    /// Whether the client asked for a streamed (SSE) response.
    pub stream: bool,
}

impl LlmRequest {
    /// Parses `bytes` as the body of a request of `kind`.
    ///
    /// Rejects what no provider would accept: an empty body, invalid JSON
    /// (including invalid UTF-8 and nesting deeper than serde_json's limit of
    /// 128, so no input can exhaust the stack) and JSON that is not an object.
    pub fn parse(kind: &ApiKind, bytes: &[u8]) -> Result<LlmRequest, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(invalid_json(
                "The request body is empty; expected a JSON object.",
            ));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| invalid_json("The request body is not valid UTF-8."))?;
        // serde_json's message names the line and column, never the input.
        let body = OwnedValue::from_string(text)
            .map_err(|e| invalid_json(format!("The request body is not valid JSON: {e}.")))?;
        if !body.is_object() {
            return Err(invalid_json("The request body must be a JSON object."));
        }
        let model = match body.field("model").map(Json::kind) {
            Some(Kind::String(model)) => Some(model.to_owned()),
            Some(Kind::Null) | None => kind.path_model().map(str::to_owned),
            Some(_) => {
                return Err(
                    ApiError::invalid("The 'model' field must be a string.").with_param("model")
                )
            }
        };
        let stream = match kind {
            ApiKind::GeminiGenerate { stream, .. } => *stream,
            _ => body.field("stream").and_then(Json::as_bool) == Some(true),
        };
        Ok(LlmRequest {
            body: Body::sent(body),
            model,
            stream,
        })
    }

    /// A request built by the gateway itself (a translation's skeleton).
    pub fn from_object(body: Map<String, Value>, model: Option<String>, stream: bool) -> Self {
        LlmRequest {
            body: Body::owned(Value::Object(body)),
            model,
            stream,
        }
    }

    /// The body, for reading with a walker generic over [`Json`]; usually
    /// through [`with_json_body!`](crate::with_json_body).
    pub fn body(&self) -> BodyRef<'_> {
        self.body.body()
    }

    /// The body as an owned object, for code that writes a changed copy of
    /// a request it may not change in place (the same-format translation
    /// that renames the model).
    pub fn object(&self) -> Cow<'_, Map<String, Value>> {
        self.body.object()
    }

    /// The body for a change, owned from now on (always a JSON object). A
    /// stage reaches it only through the glue's `Exchange::request_mut` or
    /// `edit_request`, so that the body is written back once, after the last
    /// stage.
    pub fn body_mut(&mut self) -> &mut Value {
        self.body.to_mut()
    }

    /// The member `name` of the body.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        with_json_body!(self, |body| body.str_field(name))
    }

    /// How many conversation turns the request carries, for records and
    /// metrics; `None` for APIs without turns (embeddings).
    pub fn message_count(&self, kind: &ApiKind) -> Option<usize> {
        let field = match kind {
            ApiKind::ChatCompletions
            | ApiKind::AzureChatCompletions { .. }
            | ApiKind::AnthropicMessages => "messages",
            ApiKind::GeminiGenerate { .. } => "contents",
            ApiKind::Responses => "input",
            _ => return None,
        };
        with_json_body!(self, |body| Some(turns(body.field(field))))
    }

    /// Serialises the body again, for filters that changed it.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.body.to_bytes()
    }
}

fn turns<J: Json>(value: Option<&J>) -> usize {
    match value.map(Json::kind) {
        Some(Kind::Array(items)) => items.len(),
        Some(Kind::String(_)) => 1,
        _ => 0,
    }
}

fn invalid_json(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message).with_code("invalid_json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> ApiKind {
        ApiKind::ChatCompletions
    }

    #[test]
    fn reads_model_stream_and_turns() {
        let req = LlmRequest::parse(
            &chat(),
            br#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(req.model.as_deref(), Some("gpt-4o-mini"));
        assert!(req.stream);
        assert_eq!(req.message_count(&chat()), Some(1));
    }

    #[test]
    fn path_model_fills_in_for_gemini_and_azure() {
        let gemini = ApiKind::classify(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        );
        let req =
            LlmRequest::parse(&gemini, br#"{"contents":[{"parts":[{"text":"x"}]},{}]}"#).unwrap();
        assert_eq!(req.model.as_deref(), Some("gemini-2.5-flash"));
        assert!(req.stream);
        assert_eq!(req.message_count(&gemini), Some(2));
    }

    #[test]
    fn rejects_empty_invalid_and_non_objects_with_400() {
        for body in [
            &b""[..],
            b"  \n",
            b"{",
            b"[1,2]",
            b"\"text\"",
            b"\xff\xfe",
            b"{\"model\": 5}",
        ] {
            let err = LlmRequest::parse(&chat(), body).unwrap_err();
            assert_eq!(err.status(), 400, "body {body:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        let body = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            LlmRequest::parse(&chat(), body.as_bytes())
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn a_name_sent_twice_reads_as_its_last_value_as_in_serde_json() {
        let input = br#"{"model":"a","stream":true,"messages":[],"model":"b","stream":false}"#;
        let req = LlmRequest::parse(&chat(), input).unwrap();
        assert_eq!((req.model.as_deref(), req.stream), (Some("b"), false));
        let oracle: Value = serde_json::from_slice(input).unwrap();
        assert_eq!(Value::Object(req.object().into_owned()), oracle);
        assert_eq!(req.str_field("model"), Some("b"));
    }

    #[test]
    fn an_edit_makes_the_body_owned_and_keeps_the_order() {
        let input = br#"{"zeta":1,"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let mut req = LlmRequest::parse(&chat(), input).unwrap();
        assert!(matches!(req.body(), BodyRef::Sent(_)));
        req.body_mut()["zeta"] = Value::from(2);
        assert!(matches!(req.body(), BodyRef::Edited(_)));
        assert_eq!(
            req.to_bytes(),
            br#"{"zeta":2,"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec()
        );
        assert_eq!(req.message_count(&chat()), Some(1));
    }

    #[test]
    fn unknown_fields_survive_a_round_trip_in_order() {
        let input = br#"{"zeta":1,"model":"m","custom":{"k":[1,2]},"alpha":null}"#;
        let req = LlmRequest::parse(&chat(), input).unwrap();
        assert_eq!(req.to_bytes(), input.to_vec());
    }
}
