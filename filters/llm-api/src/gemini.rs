//! Google Gemini's wire format: model-named paths and its vocabulary.

use crate::api::encode_segment;
use crate::providers::{Operation, UpstreamCall};

/// `/v1beta/models/{model}:{method}`: `generateContent`, or
/// `streamGenerateContent?alt=sse` for a stream (without `alt=sse` Gemini
/// streams one JSON array, which is not SSE); `embedContent`, or
/// `batchEmbedContents` for a batch. Gemini has no Responses API.
pub(crate) fn upstream_path(call: &UpstreamCall) -> Option<String> {
    let method = match call.operation {
        Operation::Generate if call.stream => "streamGenerateContent?alt=sse",
        Operation::Generate => "generateContent",
        Operation::Embed { batch: false } => "embedContent",
        Operation::Embed { batch: true } => "batchEmbedContents",
        Operation::Responses => return None,
    };
    Some(format!(
        "/v1beta/models/{}:{method}",
        encode_segment(call.model)
    ))
}

/// OpenAI's `finish_reason` for a Gemini `finishReason`.
pub fn finish_reason_to_openai(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => "tool_calls",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason_to_openai("STOP"), "stop");
        assert_eq!(finish_reason_to_openai("MAX_TOKENS"), "length");
        assert_eq!(finish_reason_to_openai("SAFETY"), "content_filter");
    }
}
