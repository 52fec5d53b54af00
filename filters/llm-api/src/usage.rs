//! Token usage as each provider reports it, in one shape.
//!
//! Limits are reconciled and costs computed from what the provider says it
//! used, so every format's usage block is read here: OpenAI chat completions,
//! embeddings and Responses (whole bodies and stream chunks), Anthropic
//! messages and their `message_start` / `message_delta` events, and Gemini's
//! `usageMetadata`. The format of a body is told by its [`Dialect`]; within
//! OpenAI's the shape (chat, embeddings, Responses) is recognised by its fields.

use crate::api::Dialect;
use crate::json::Json;
use crate::sse::SseEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Tokens used by one exchange. Serialisable, so that a stage can hand it to
/// another as a fact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens, including those read from or written to a cache
    /// (Anthropic reports these apart; they are added in here).
    pub input: u64,
    /// Generated tokens, reasoning ("thinking") tokens included.
    pub output: u64,
    /// As reported, else `input + output`.
    pub total: u64,
    /// Prompt tokens served from the provider's cache (a subset of `input`).
    pub cached_input: u64,
    /// Prompt tokens written to the cache (Anthropic; a subset of `input`).
    pub cache_creation_input: u64,
}

/// The fields of a usage block, each present or not, so that stream events
/// that report only part of it can be merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reported {
    /// Prompt tokens excluding cache reads/writes (Anthropic) or including
    /// them (everyone else); see `input_excludes_cache`.
    input: Option<u64>,
    output: Option<u64>,
    total: Option<u64>,
    cached_input: Option<u64>,
    cache_creation_input: Option<u64>,
    input_excludes_cache: bool,
}

impl Reported {
    fn is_empty(&self) -> bool {
        self.input.is_none() && self.output.is_none() && self.total.is_none()
    }

    fn merge(&mut self, later: Reported) {
        self.input = later.input.or(self.input);
        self.output = later.output.or(self.output);
        self.total = later.total.or(self.total);
        self.cached_input = later.cached_input.or(self.cached_input);
        self.cache_creation_input = later.cache_creation_input.or(self.cache_creation_input);
        self.input_excludes_cache |= later.input_excludes_cache;
    }

    fn usage(&self) -> Usage {
        let cached_input = self.cached_input.unwrap_or(0);
        let cache_creation_input = self.cache_creation_input.unwrap_or(0);
        let mut input = self.input.unwrap_or(0);
        if self.input_excludes_cache {
            input = input
                .saturating_add(cached_input)
                .saturating_add(cache_creation_input);
        }
        let output = self.output.unwrap_or(0);
        Usage {
            input,
            output,
            total: self.total.unwrap_or(input.saturating_add(output)),
            cached_input,
            cache_creation_input,
        }
    }
}

fn count<J: Json>(value: &J, key: &str) -> Option<u64> {
    value.field(key).and_then(J::as_u64)
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// OpenAI's `usage` object: chat/embeddings (`prompt_tokens`) or Responses
/// (`input_tokens`).
fn openai_usage<J: Json>(usage: &J) -> Reported {
    let details = |key: &str| usage.field(key).and_then(|d| count(d, "cached_tokens"));
    Reported {
        input: count(usage, "prompt_tokens").or_else(|| count(usage, "input_tokens")),
        output: count(usage, "completion_tokens").or_else(|| count(usage, "output_tokens")),
        total: count(usage, "total_tokens"),
        cached_input: details("prompt_tokens_details").or_else(|| details("input_tokens_details")),
        ..Reported::default()
    }
}

fn anthropic_usage<J: Json>(usage: &J) -> Reported {
    Reported {
        input: count(usage, "input_tokens"),
        output: count(usage, "output_tokens"),
        total: None,
        cached_input: count(usage, "cache_read_input_tokens"),
        cache_creation_input: count(usage, "cache_creation_input_tokens"),
        input_excludes_cache: true,
    }
}

fn gemini_usage<J: Json>(meta: &J) -> Reported {
    Reported {
        input: sum(
            count(meta, "promptTokenCount"),
            count(meta, "toolUsePromptTokenCount"),
        ),
        output: sum(
            count(meta, "candidatesTokenCount"),
            count(meta, "thoughtsTokenCount"),
        ),
        total: count(meta, "totalTokenCount"),
        cached_input: count(meta, "cachedContentTokenCount"),
        ..Reported::default()
    }
}

/// Whatever usage one JSON body or stream event of `dialect` reports.
fn reported<J: Json>(dialect: Dialect, body: &J) -> Reported {
    let found = match dialect {
        Dialect::OpenAi => body
            .field("usage")
            .or_else(|| body.field("response").and_then(|r| r.field("usage")))
            .filter(|u| u.is_object())
            .map(openai_usage),
        Dialect::Anthropic => body
            .field("usage")
            .or_else(|| body.field("message").and_then(|m| m.field("usage")))
            .filter(|u| u.is_object())
            .map(anthropic_usage),
        Dialect::Gemini => body
            .field("usageMetadata")
            .filter(|u| u.is_object())
            .map(gemini_usage),
    };
    found.unwrap_or_default()
}

impl Usage {
    /// The usage in a whole (non-streamed) response body, if it has one.
    pub fn from_json<J: Json>(dialect: Dialect, body: &J) -> Option<Usage> {
        let reported = reported(dialect, body);
        (!reported.is_empty()).then(|| reported.usage())
    }

    /// Like [`from_json`](Self::from_json), from raw bytes.
    pub fn from_bytes(dialect: Dialect, body: &[u8]) -> Option<Usage> {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|body| Self::from_json(dialect, &body))
    }
}

/// Collects usage from the events of one stream, as they pass.
///
/// OpenAI reports it once, in the last chunk (when the request set
/// `stream_options.include_usage`) or in `response.completed`; Anthropic in
/// `message_start` (input) and `message_delta` (cumulative output); Gemini
/// in every chunk, cumulatively. Later reports override earlier ones field by
/// field, which is right for all three.
#[derive(Debug, Clone)]
pub struct UsageAccumulator {
    dialect: Dialect,
    seen: Reported,
}

impl UsageAccumulator {
    pub fn new(dialect: Dialect) -> UsageAccumulator {
        UsageAccumulator {
            dialect,
            seen: Reported::default(),
        }
    }

    /// Takes note of one event's data, already parsed.
    pub fn feed_json(&mut self, data: &Value) {
        self.seen.merge(reported(self.dialect, data));
    }

    /// Takes note of one event; data that is not JSON (`[DONE]`) is skipped,
    /// and so is data that cannot hold usage, which spares parsing every
    /// text delta.
    pub fn feed(&mut self, event: &SseEvent) {
        let data = event.data_str();
        if may_report_usage(data) {
            if let Ok(value) = serde_json::from_str::<Value>(data) {
                self.feed_json(&value);
            }
        }
    }

    /// The usage seen so far, if any event reported some.
    pub fn usage(&self) -> Option<Usage> {
        (!self.seen.is_empty()).then(|| self.seen.usage())
    }
}

/// Whether event data may report usage: some `usage` (or `usageMetadata`)
/// followed by a value that is not `null`. A stream that asked for OpenAI's
/// usage chunk carries `"usage":null` in every other chunk; those, like
/// plain text deltas, need no parse. Text that merely contains the word
/// only costs a parse that finds nothing.
///
/// A key may also be written with escapes (`"\u0075sage"`), which no
/// literal `usage` finds: data holding an escape that spells one of its
/// letters is parsed too. Escaped non-ASCII text (`caf\u00e9`), common in
/// deltas, spells none and keeps the fast path.
fn may_report_usage(data: &str) -> bool {
    let escaped_letter = data.match_indices("\\u00").any(|(at, _)| {
        matches!(
            data.get(at + 4..at + 6),
            Some("75" | "73" | "61" | "67" | "65")
        )
    });
    escaped_letter
        || data.match_indices("usage").any(|(at, _)| {
            data.get(at..)
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(_, value)| !value.trim_start().starts_with("null"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;
    use serde_json::json;

    #[test]
    fn only_data_that_may_hold_usage_is_parsed() {
        assert!(!may_report_usage(
            r#"{"choices":[{"delta":{"content":"Hi"}}],"usage":null}"#
        ));
        assert!(!may_report_usage(
            r#"{"choices":[{"delta":{"content":"Hi"}}], "usage" : null}"#
        ));
        assert!(!may_report_usage(
            r#"{"type":"content_block_delta","delta":{"text":"Hi"}}"#
        ));
        assert!(may_report_usage(
            r#"{"choices":[],"usage":{"prompt_tokens":9}}"#
        ));
        assert!(may_report_usage(
            r#"{"candidates":[],"usageMetadata": {"promptTokenCount":3}}"#
        ));
        // The word in text before a real report: the report still counts.
        assert!(may_report_usage(
            r#"{"delta":{"text":"usage"},"refusal":null,"usage":{"output_tokens":2}}"#
        ));
        // Escaped text that spells no letter of `usage` keeps the fast path.
        assert!(!may_report_usage(
            r#"{"delta":{"content":"caf\u00e9 \u4f60"},"usage":null}"#
        ));
    }

    /// fuzz/regressions/sse/usage_key_escaped: a key spelled with an escape
    /// holds no literal `usage`, and `feed` skipped what `feed_json` reads.
    #[test]
    fn usage_keys_spelled_with_escapes_are_read() {
        let stream = br#"data: {"\u0075sage":{"prompt_tokens":5,"completion_tokens":2}}

data: {"usage":null,"us\u0061ge":{"prompt_tokens":6}}

data: {"candidates":[],"\u0075sag\u0065Metadata":{"promptTokenCount":3}}

"#;
        let events = SseParser::new().feed(stream);
        for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini] {
            let (mut fed, mut parsed) = (
                UsageAccumulator::new(dialect),
                UsageAccumulator::new(dialect),
            );
            for event in &events {
                fed.feed(event);
                parsed.feed_json(&serde_json::from_str(event.data_str()).unwrap());
            }
            assert_eq!(fed.usage(), parsed.usage(), "{dialect:?}");
            let expected = match dialect {
                Dialect::OpenAi => Some((6, 2, 8)),
                Dialect::Anthropic => None,
                Dialect::Gemini => Some((3, 0, 3)),
            };
            assert_eq!(fed.usage().map(|u| (u.input, u.output, u.total)), expected);
        }
    }

    #[test]
    fn openai_chat_and_embeddings() {
        let chat = json!({"usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 6}}});
        assert_eq!(
            Usage::from_json(Dialect::OpenAi, &chat),
            Some(Usage {
                input: 19,
                output: 10,
                total: 29,
                cached_input: 6,
                cache_creation_input: 0
            })
        );
        let emb = json!({"object": "list", "usage": {"prompt_tokens": 8, "total_tokens": 8}});
        assert_eq!(
            Usage::from_json(Dialect::OpenAi, &emb).map(|u| (u.input, u.output, u.total)),
            Some((8, 0, 8))
        );
        assert_eq!(
            Usage::from_json(Dialect::OpenAi, &json!({"usage": null})),
            None
        );
    }

    #[test]
    fn openai_responses_body_and_completed_event() {
        let usage = json!({"input_tokens": 36, "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 87, "total_tokens": 123});
        let expected = Usage {
            input: 36,
            output: 87,
            total: 123,
            cached_input: 4,
            cache_creation_input: 0,
        };
        assert_eq!(
            Usage::from_json(
                Dialect::OpenAi,
                &json!({"object": "response", "usage": usage})
            ),
            Some(expected)
        );
        let event = json!({"type": "response.completed", "response": {"usage": usage}});
        assert_eq!(Usage::from_json(Dialect::OpenAi, &event), Some(expected));
    }

    #[test]
    fn openai_stream_last_chunk() {
        let mut acc = UsageAccumulator::new(Dialect::OpenAi);
        let mut parser = SseParser::new();
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n";
        for event in parser.feed(stream) {
            acc.feed(&event);
        }
        assert_eq!(
            acc.usage().map(|u| (u.input, u.output, u.total)),
            Some((5, 2, 7))
        );
    }

    #[test]
    fn anthropic_message_counts_cache_as_input() {
        let body = json!({"type": "message", "usage": {"input_tokens": 10, "output_tokens": 20,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5}});
        assert_eq!(
            Usage::from_json(Dialect::Anthropic, &body),
            Some(Usage {
                input: 115,
                output: 20,
                total: 135,
                cached_input: 100,
                cache_creation_input: 5
            })
        );
    }

    #[test]
    fn anthropic_stream_merges_start_and_delta() {
        let mut acc = UsageAccumulator::new(Dialect::Anthropic);
        acc.feed_json(
            &json!({"type": "message_start", "message": {"usage": {"input_tokens": 25,
            "output_tokens": 1, "cache_read_input_tokens": 3}}}),
        );
        acc.feed_json(
            &json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}),
        );
        acc.feed_json(
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 15}}),
        );
        assert_eq!(
            acc.usage(),
            Some(Usage {
                input: 28,
                output: 15,
                total: 43,
                cached_input: 3,
                cache_creation_input: 0
            })
        );
    }

    #[test]
    fn gemini_usage_metadata() {
        let body = json!({"usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 30,
            "thoughtsTokenCount": 8, "totalTokenCount": 50, "cachedContentTokenCount": 4}});
        assert_eq!(
            Usage::from_json(Dialect::Gemini, &body),
            Some(Usage {
                input: 12,
                output: 38,
                total: 50,
                cached_input: 4,
                cache_creation_input: 0
            })
        );
        let mut acc = UsageAccumulator::new(Dialect::Gemini);
        acc.feed_json(&json!({"usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}}));
        acc.feed_json(&json!({"usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 21}}));
        assert_eq!(
            acc.usage().map(|u| (u.input, u.output, u.total)),
            Some((12, 9, 21))
        );
    }

    #[test]
    fn nothing_reported_is_none() {
        assert_eq!(Usage::from_bytes(Dialect::Gemini, b"not json"), None);
        assert_eq!(UsageAccumulator::new(Dialect::OpenAi).usage(), None);
    }
}
