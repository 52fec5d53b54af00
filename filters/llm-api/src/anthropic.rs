//! Anthropic Messages' wire format: path, version header, stop reasons,
//! usage and stream events.

use crate::error::ErrorKind;
use crate::providers::{Operation, UpstreamCall};
use crate::sse::SseEvent;
use crate::usage::Usage;
use serde_json::{json, Value};

/// `/v1/messages`, streamed or not; Anthropic has no embeddings and no
/// Responses API.
pub(crate) fn upstream_path(call: &UpstreamCall) -> Option<String> {
    match call.operation {
        Operation::Generate => Some("/v1/messages".to_owned()),
        Operation::Embed { .. } | Operation::Responses => None,
    }
}

/// The `anthropic-version` header every request must carry; set by the
/// translator when the caller spoke another API (an Anthropic client's own
/// header is kept).
pub const API_VERSION: &str = "2023-06-01";

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`.
pub fn stop_reason_to_finish(reason: &str) -> &'static str {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn
        _ => "stop",
    }
}

/// Anthropic's `stop_reason` for OpenAI's `finish_reason`.
pub fn finish_to_stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// The kind of error an Anthropic `error.type` names (used for errors sent
/// inside a stream, which carry no HTTP status of their own).
pub fn error_kind(error_type: &str) -> ErrorKind {
    match error_type {
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::PayloadTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "overloaded_error" => ErrorKind::Unavailable,
        "invalid_request_error" => ErrorKind::InvalidRequest,
        _ => ErrorKind::Internal,
    }
}

/// Anthropic's `usage` object: `input_tokens` excludes cache reads, which are
/// reported apart.
pub fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input.saturating_sub(usage.cached_input).saturating_sub(usage.cache_creation_input),
        "output_tokens": usage.output,
        "cache_creation_input_tokens": usage.cache_creation_input,
        "cache_read_input_tokens": usage.cached_input,
    })
}

/// A stream event: Anthropic names every event after its data's `type`.
pub fn event(data: &Value) -> SseEvent {
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    SseEvent::named(name, data.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_both_ways() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
        ] {
            assert_eq!(stop_reason_to_finish(stop), finish);
            assert_eq!(finish_to_stop_reason(finish), stop);
        }
        assert_eq!(stop_reason_to_finish("stop_sequence"), "stop");
    }

    #[test]
    fn usage_splits_cache_reads_out_of_input() {
        let usage = Usage {
            input: 110,
            output: 5,
            total: 115,
            cached_input: 100,
            cache_creation_input: 0,
        };
        let json = usage_json(&usage);
        assert_eq!(json["input_tokens"], 10);
        assert_eq!(json["cache_read_input_tokens"], 100);
    }

    #[test]
    fn events_are_named_after_their_type() {
        let ev = event(&json!({"type": "message_stop"}));
        assert_eq!(ev.event.as_deref(), Some("message_stop"));
    }
}
