//! Google Gemini's wire format: model-named paths and its vocabulary.

use crate::api::encode_segment;

/// `/v1beta/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` for a stream (without `alt=sse` Gemini
/// streams one JSON array, which is not SSE).
pub fn generate_path(model: &str, stream: bool) -> String {
    let model = encode_segment(model);
    if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    }
}

/// `/v1beta/models/{model}:batchEmbedContents`
pub fn batch_embed_path(model: &str) -> String {
    format!(
        "/v1beta/models/{}:batchEmbedContents",
        encode_segment(model)
    )
}

/// `/v1beta/models/{model}:{method}` for a Gemini client's own method.
pub fn method_path(model: &str, method: &str, stream: bool) -> String {
    let sse = if stream { "?alt=sse" } else { "" };
    format!("/v1beta/models/{}:{method}{sse}", encode_segment(model))
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
    fn paths() {
        assert_eq!(
            generate_path("gemini-2.5-flash", false),
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            generate_path("gemini-2.5-flash", true),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            batch_embed_path("text-embedding-004"),
            "/v1beta/models/text-embedding-004:batchEmbedContents"
        );
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason_to_openai("STOP"), "stop");
        assert_eq!(finish_reason_to_openai("MAX_TOKENS"), "length");
        assert_eq!(finish_reason_to_openai("SAFETY"), "content_filter");
    }
}
