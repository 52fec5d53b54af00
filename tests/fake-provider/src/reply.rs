//! What a fake answer is made of: the request as the provider modules see it,
//! the reply they produce (before transport framing and faults), and the
//! deterministic reply text.
//!
//! The reply text is a fixed sentence naming the provider and NEVER contains
//! prompt text: tests elsewhere assert that prompt text does not leak into
//! logs, so anything echoed from the request would make those tests lie.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::Value;

/// Fixed `created` timestamp so identical requests give identical bytes.
pub const CREATED: u64 = 1_700_000_000;

/// How a tool call's `{}` arguments are streamed, piece by piece.
pub const TOOL_ARGUMENT_PIECES: [&str; 2] = ["{", "}"];

/// Words per streamed content delta.
const WORDS_PER_PIECE: usize = 2;

/// SHA-256 of a request body. ring (already linked for TLS) rather than a
/// pure-Rust hash: its assembly stays fast in unoptimized test builds, where
/// hashing a 64 MiB body would otherwise take seconds.
pub fn sha256(raw: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, raw).as_ref());
    out
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A request of `body` with no test headers, as the unit tests answer it.
#[cfg(test)]
pub(crate) fn request(body: Value) -> ProviderRequest {
    let raw = body.to_string();
    ProviderRequest::new(body, sha256(raw.as_bytes()), None, false)
}

/// A parsed provider request: the JSON body plus the facts derived from it.
pub struct ProviderRequest {
    pub body: Value,
    sha256: [u8; 32],
    /// `x-fake-reply-words`: exact number of reply words wanted (benchmarks
    /// use it for long answers).
    pub reply_words: Option<usize>,
    /// `x-fake-echo: last-user`: answer with the last user message's text,
    /// for tests of what the gateway does to text on the way back (e.g. PII
    /// tokens restored). Off by default: replies never echo prompts otherwise.
    pub echo: bool,
}

impl ProviderRequest {
    /// `sha256` is the digest of the raw body (computed once per request:
    /// bodies can be tens of MiB).
    pub fn new(body: Value, sha256: [u8; 32], reply_words: Option<usize>, echo: bool) -> Self {
        Self {
            body,
            sha256,
            reply_words,
            echo,
        }
    }

    /// The answer to this request: the fixed sentence (see [`Answer::new`]),
    /// or with `echo` the last user message's text.
    pub fn answer(&self, provider: &str, limit: Option<u64>) -> Answer {
        match self.echo.then(|| last_user_text(&self.body)).flatten() {
            Some(text) => Answer {
                text,
                hit_limit: false,
            },
            None => Answer::new(provider, self.reply_words, limit),
        }
    }

    /// A deterministic id: `prefix` + 24 hex chars of the body hash.
    pub fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", hex(&self.sha256[..12]))
    }

    /// The `"stream": true` flag of OpenAI and Anthropic bodies.
    pub fn wants_stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// The request's `model` string, or "" when absent.
    pub fn model(&self) -> &str {
        self.body.get("model").and_then(Value::as_str).unwrap_or("")
    }

    /// A positive integer field such as `max_tokens`.
    pub fn u64_field(&self, name: &str) -> Option<u64> {
        self.body.get(name).and_then(Value::as_u64)
    }
}

/// A handler's answer, before faults and SSE write splitting are applied.
pub enum Reply {
    Json {
        status: StatusCode,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// A streamed answer: one entry per event, already framed.
    Stream {
        content_type: &'static str,
        events: Vec<Bytes>,
    },
    Text(StatusCode, &'static str),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json {
            status: StatusCode::OK,
            body,
            headers: Vec::new(),
        }
    }

    pub fn sse(events: Vec<Bytes>) -> Self {
        Reply::Stream {
            content_type: "text/event-stream",
            events,
        }
    }
}

/// The text of the last user turn in OpenAI/Anthropic `messages` (string or
/// text parts) or Gemini `contents` (`parts[].text`).
fn last_user_text(body: &Value) -> Option<String> {
    let turns = body
        .get("messages")
        .or_else(|| body.get("contents"))?
        .as_array()?;
    let turn = turns.iter().rev().find(|t| {
        t.get("role")
            .and_then(Value::as_str)
            .is_none_or(|r| r == "user")
    })?;
    let parts = match turn.get("content") {
        Some(Value::String(text)) => return Some(text.clone()),
        Some(Value::Array(parts)) => parts,
        _ => turn.get("parts")?.as_array()?,
    };
    let text: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    (!text.is_empty()).then(|| text.join(""))
}

/// The text of an answer and whether the token limit cut it short.
pub struct Answer {
    pub text: String,
    pub hit_limit: bool,
}

impl Answer {
    /// `Hello from the fake {provider} provider.` repeated and cut to the
    /// requested word count (default: one sentence), then cut to `limit`
    /// (the request's max tokens; at least one word is always produced).
    pub fn new(provider: &str, requested_words: Option<usize>, limit: Option<u64>) -> Self {
        let sentence = format!("Hello from the fake {provider} provider.");
        let sentence_words: Vec<&str> = sentence.split(' ').collect();
        let wanted = requested_words.unwrap_or(sentence_words.len()).max(1);
        let capped = match limit {
            Some(limit) => wanted.min(usize::try_from(limit).unwrap_or(usize::MAX).max(1)),
            None => wanted,
        };
        let text = sentence_words
            .iter()
            .cycle()
            .take(capped)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        Answer {
            text,
            hit_limit: capped < wanted,
        }
    }

    /// Content deltas of a few words each; concatenated they give `text`.
    pub fn pieces(&self) -> Vec<String> {
        let words: Vec<&str> = self.text.split(' ').collect();
        words
            .chunks(WORDS_PER_PIECE)
            .enumerate()
            .map(|(i, chunk)| {
                let joined = chunk.join(" ");
                if i == 0 {
                    joined
                } else {
                    format!(" {joined}")
                }
            })
            .collect()
    }

    pub fn completion_tokens(&self) -> u64 {
        crate::usage::completion_tokens(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_answer_is_one_sentence() {
        let a = Answer::new("openai", None, None);
        assert_eq!(a.text, "Hello from the fake openai provider.");
        assert!(!a.hit_limit);
        assert_eq!(a.completion_tokens(), 6);
        assert_eq!(a.pieces().concat(), a.text);
        assert_eq!(a.pieces().len(), 3);
    }

    #[test]
    fn requested_words_repeat_the_sentence_and_limit_cuts() {
        let a = Answer::new("gemini", Some(8), None);
        assert_eq!(a.text, "Hello from the fake gemini provider. Hello from");
        let b = Answer::new("gemini", Some(8), Some(3));
        assert_eq!(b.text, "Hello from the");
        assert!(b.hit_limit);
        assert_eq!(b.completion_tokens(), 3);
    }

    #[test]
    fn ids_are_deterministic() {
        let a = ProviderRequest::new(Value::Null, sha256(b"x"), None, false);
        let b = ProviderRequest::new(Value::Null, sha256(b"x"), None, false);
        assert_eq!(a.id("msg_"), b.id("msg_"));
        assert_ne!(
            a.id("msg_"),
            ProviderRequest::new(Value::Null, sha256(b"y"), None, false).id("msg_")
        );
        assert_eq!(a.id("msg_").len(), 4 + 24);
    }
}

#[cfg(test)]
mod echo_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn echo_answers_with_the_last_user_turn_in_every_format() {
        let ask = |body: Value| {
            ProviderRequest::new(body, sha256(b"x"), None, true)
                .answer("openai", None)
                .text
        };
        let chat = json!({"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "second"}]});
        assert_eq!(ask(chat), "second");
        let parts = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]});
        assert_eq!(ask(parts), "ab");
        let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "gem"}]}]});
        assert_eq!(ask(gemini), "gem");
        let without = ProviderRequest::new(json!({}), sha256(b"x"), None, true)
            .answer("openai", None)
            .text;
        assert_eq!(
            without, "Hello from the fake openai provider.",
            "nothing to echo falls back to the sentence"
        );
    }
}
