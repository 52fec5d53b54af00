//! The most output a request asks for, in its dialect: what admission
//! reserves against output, total-token and cost limits.

use crate::count::Format;
use llm_api::Json;

/// The request's own cap on output tokens, if it sets one: OpenAI chat's
/// `max_completion_tokens` or `max_tokens`, the Responses API's
/// `max_output_tokens`, Anthropic's `max_tokens`, Gemini's
/// `generationConfig.maxOutputTokens` (either spelling). Embeddings produce
/// no output tokens.
pub fn requested_max_output<J: Json>(format: Format, body: &J) -> Option<u64> {
    let first = |names: &[&str], node: &J| {
        names
            .iter()
            .find_map(|name| node.field(name).and_then(Json::as_u64))
    };
    match format {
        Format::OpenAiChat => first(&["max_completion_tokens", "max_tokens"], body),
        Format::OpenAiResponses => first(&["max_output_tokens"], body),
        Format::AnthropicMessages => first(&["max_tokens"], body),
        Format::GeminiGenerate => ["generationConfig", "generation_config"]
            .iter()
            .find_map(|name| body.field(name))
            .and_then(|config| first(&["maxOutputTokens", "max_output_tokens"], config)),
        Format::OpenAiEmbeddings => Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_dialect_names_its_cap() {
        let cases = [
            (Format::OpenAiChat, json!({"max_tokens": 10}), Some(10)),
            (
                Format::OpenAiChat,
                json!({"max_completion_tokens": 20, "max_tokens": 10}),
                Some(20),
            ),
            (
                Format::OpenAiResponses,
                json!({"max_output_tokens": 30}),
                Some(30),
            ),
            (
                Format::AnthropicMessages,
                json!({"max_tokens": 40}),
                Some(40),
            ),
            (
                Format::GeminiGenerate,
                json!({"generationConfig": {"maxOutputTokens": 50}}),
                Some(50),
            ),
            (
                Format::GeminiGenerate,
                json!({"generation_config": {"max_output_tokens": 60}}),
                Some(60),
            ),
            (Format::OpenAiEmbeddings, json!({"input": "x"}), Some(0)),
            (Format::OpenAiChat, json!({"max_tokens": "many"}), None),
            (Format::OpenAiChat, json!({"max_tokens": -1}), None),
            (Format::AnthropicMessages, json!({}), None),
        ];
        for (format, body, expected) in cases {
            assert_eq!(
                requested_max_output(format, &body),
                expected,
                "{format:?} {body}"
            );
        }
    }
}
