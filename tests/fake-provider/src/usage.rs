//! Deterministic token accounting shared by every provider shape.
//!
//! Tests of the token-limit and audit filters compare the usage a provider
//! reports with what they expect, so the numbers must be predictable from the
//! request alone and identical in JSON and streaming answers:
//!
//! * prompt tokens = `ceil(C / 4) + 3 * M`, where `C` is the number of Unicode
//!   scalar values (Rust `chars()`) in all prompt text fields and `M` the number
//!   of messages. Text fields are: message `content` strings and the `text` of
//!   content parts (OpenAI chat, Anthropic, Responses API `input`), `parts[].text`
//!   (Gemini); a system prompt given outside the messages (Anthropic `system`,
//!   Gemini `systemInstruction`, Responses `instructions`) counts as one message.
//! * embedding prompt tokens = sum over inputs of `ceil(chars / 4)`; an input
//!   given as a token array counts its length.
//! * completion tokens = number of words in the reply text, or
//!   [`TOOL_CALL_TOKENS`] for a tool/function call.

/// Completion tokens reported for a tool call: one for the function name plus
/// one per streamed argument piece (`{` and `}`, see `reply::TOOL_ARGUMENT_PIECES`).
pub const TOOL_CALL_TOKENS: u64 = 3;

/// Accumulates prompt text as the provider modules walk a request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PromptText {
    chars: u64,
    messages: u64,
}

impl PromptText {
    /// Counts one message (or system prompt) without adding text.
    pub fn add_message(&mut self) {
        self.messages += 1;
    }

    /// Adds the characters of one text field.
    pub fn add_text(&mut self, text: &str) {
        self.chars += text.chars().count() as u64;
    }

    /// Adds the text of a `content` value that is either a string or an array
    /// of parts carrying `text` (OpenAI and Anthropic share this shape).
    pub fn add_content(&mut self, content: Option<&serde_json::Value>) {
        match content {
            Some(serde_json::Value::String(text)) => self.add_text(text),
            Some(serde_json::Value::Array(parts)) => {
                for part in parts {
                    if let Some(text) = part.get("text").and_then(|t| t.as_str()) {
                        self.add_text(text);
                    }
                }
            }
            _ => {}
        }
    }

    /// `ceil(chars / 4) + 3 * messages`.
    pub fn prompt_tokens(&self) -> u64 {
        self.chars.div_ceil(4) + 3 * self.messages
    }
}

/// Tokens of one embedding input string: `ceil(chars / 4)`.
pub fn embedding_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Completion tokens of a text reply: its word count.
pub fn completion_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_formula_is_ceil_chars_over_four_plus_three_per_message() {
        let mut p = PromptText::default();
        assert_eq!(p.prompt_tokens(), 0);
        p.add_message();
        p.add_text("hello"); // 5 chars
        assert_eq!(p.prompt_tokens(), 2 + 3);
        p.add_message();
        p.add_content(Some(
            &json!([{"type": "text", "text": "abc"}, {"type": "image"}]),
        ));
        // 8 chars -> 2, two messages -> 6
        assert_eq!(p.prompt_tokens(), 2 + 6);
    }

    #[test]
    fn counts_unicode_scalars_not_bytes() {
        let mut p = PromptText::default();
        p.add_text("ééééé"); // 5 chars, 10 bytes
        assert_eq!(p.prompt_tokens(), 2);
    }

    #[test]
    fn embedding_and_completion_counts() {
        assert_eq!(embedding_tokens(""), 0);
        assert_eq!(embedding_tokens("abcde"), 2);
        assert_eq!(completion_tokens("Hello from the fake openai provider."), 6);
    }
}
