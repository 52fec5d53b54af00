//! A request body parsed once for the whole filter chain.
//!
//! The parsed value keeps every field (known or not) in the client's order, so
//! that a filter which rewrites one text field writes back a body that differs
//! only there.

use crate::api::ApiKind;
use crate::error::ApiError;
use crate::member::member;
use serde_json::{Map, Value};

/// An LLM request body, parsed, with the facts every filter asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    /// The whole body; filters that change it must say so (see the glue's
    /// exchange), so that it is serialised again at most once.
    pub body: Map<String, Value>,
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
            return Err(
                ApiError::invalid("The request body is empty; expected a JSON object.")
                    .with_code("invalid_json"),
            );
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's message names the line and column, never the input.
            ApiError::invalid(format!("The request body is not valid JSON: {e}."))
                .with_code("invalid_json")
        })?;
        let Value::Object(body) = value else {
            return Err(ApiError::invalid("The request body must be a JSON object.")
                .with_code("invalid_json"));
        };
        let model = match member(&body, "model") {
            Some(Value::String(model)) => Some(model.clone()),
            Some(Value::Null) | None => kind.path_model().map(str::to_owned),
            Some(_) => {
                return Err(
                    ApiError::invalid("The 'model' field must be a string.").with_param("model")
                )
            }
        };
        let stream = match kind {
            ApiKind::GeminiGenerate { stream, .. } => *stream,
            _ => matches!(member(&body, "stream"), Some(Value::Bool(true))),
        };
        Ok(LlmRequest {
            body,
            model,
            stream,
        })
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
        match member(&self.body, field) {
            Some(Value::Array(items)) => Some(items.len()),
            Some(Value::String(_)) => Some(1),
            _ => Some(0),
        }
    }

    /// Serialises the body again, for filters that changed it.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A map of `Value`s always serialises.
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
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
    fn unknown_fields_survive_a_round_trip_in_order() {
        let input = br#"{"zeta":1,"model":"m","custom":{"k":[1,2]},"alpha":null}"#;
        let req = LlmRequest::parse(&chat(), input).unwrap();
        assert_eq!(req.to_bytes(), input.to_vec());
    }
}
