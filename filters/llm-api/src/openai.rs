//! OpenAI's wire format: paths, usage, image data URLs, base64 embeddings,
//! and the `chat.completion.chunk` stream that every provider's stream is
//! turned into for OpenAI clients.

use crate::providers::{Operation, UpstreamCall};
use crate::sse::SseEvent;
use crate::usage::Usage;
use serde_json::{json, Map, Value};

/// `/v1/chat/completions`, `/v1/embeddings` or `/v1/responses`: one path
/// per operation, whatever the model.
pub(crate) fn upstream_path(call: &UpstreamCall) -> Option<String> {
    Some(operation_path("/v1", call.operation))
}

/// The same calls under an OpenAI-compatible server's base path
/// (`/v1/chat/completions`, `/openai/v1/embeddings`, ...).
pub(crate) fn compatible_path(call: &UpstreamCall) -> Option<String> {
    Some(operation_path(call.base_path, call.operation))
}

/// OpenAI's path for `operation` under `base`.
fn operation_path(base: &str, operation: Operation) -> String {
    let operation = match operation {
        Operation::Generate => "chat/completions",
        Operation::Embed { .. } => "embeddings",
        Operation::Responses => "responses",
    };
    format!("{base}/{operation}")
}

/// The last event of every OpenAI stream.
pub const DONE: &str = "[DONE]";

/// OpenAI's chat `usage` object, cached prompt tokens included.
pub fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input},
    })
}

/// Splits `data:image/png;base64,AAAA` into (`image/png`, `AAAA`); `None` for
/// other URLs and for data URLs that are not base64.
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// Builds a data URL from a media type and base64 data.
pub fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// An embedding as OpenAI's `encoding_format: "base64"` sends it: the
/// little-endian `f32`s, base64-encoded. (The official Python SDK asks for
/// this format by default.)
pub fn embedding_base64(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for value in values {
        // Narrowing to f32 is the format's definition.
        #[allow(clippy::cast_possible_truncation)]
        bytes.extend_from_slice(&(*value as f32).to_le_bytes());
    }
    base64(&bytes)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol =
        |index: u32| char::from(ALPHABET.get((index & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(symbol(n >> 18));
        out.push(symbol(n >> 12));
        out.push(if group.len() > 1 { symbol(n >> 6) } else { '=' });
        out.push(if group.len() > 2 { symbol(n) } else { '=' });
    }
    out
}

/// Writes the `chat.completion.chunk` events of one translated stream; they
/// all share the id, model and creation time of the stream, so that part of
/// each chunk is rendered once per stream rather than once per event.
#[derive(Debug, Clone, Default)]
pub struct ChunkWriter {
    created: u64,
    model: String,
    /// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":`
    prefix: String,
}

impl ChunkWriter {
    pub fn new(id: &str, model: &str, created: u64) -> ChunkWriter {
        let mut writer = ChunkWriter {
            created,
            model: String::new(),
            prefix: String::new(),
        };
        writer.set_identity(id, model);
        writer
    }

    /// Sets the id and model the provider announced for the stream.
    pub fn set_identity(&mut self, id: &str, model: &str) {
        self.model = model.to_owned();
        self.prefix = format!(
            "{{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{},\"choices\":",
            Value::from(id),
            self.created,
            Value::from(model)
        );
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    /// A chunk with one choice carrying `delta` and, at the end, a finish reason.
    pub fn choice(&self, index: u64, delta: Value, finish_reason: Option<&str>) -> SseEvent {
        let finish = finish_reason.map_or(Value::Null, Value::from);
        let choice =
            json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": finish});
        SseEvent::data(format!("{}[{choice}]}}", self.prefix))
    }

    /// The usage chunk sent last when the client set `stream_options.include_usage`.
    pub fn usage(&self, usage: &Usage) -> SseEvent {
        SseEvent::data(format!(
            "{}[],\"usage\":{}}}",
            self.prefix,
            usage_json(usage)
        ))
    }

    /// `data: [DONE]`
    pub fn done(&self) -> SseEvent {
        SseEvent::data(DONE)
    }
}

/// An assistant message of a chat completion: `content` is null when the
/// answer is only tool calls, as OpenAI sends it.
pub(crate) fn assistant_message(text: String, tool_calls: Vec<Value>) -> Map<String, Value> {
    let mut message = Map::new();
    message.insert("role".into(), Value::String("assistant".into()));
    let content = if text.is_empty() && !tool_calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    message.insert("content".into(), content);
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/png;base64,iVBOR"),
            Some(("image/png", "iVBOR"))
        );
        assert_eq!(parse_data_url("https://x/y.png"), None);
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
        assert_eq!(data_url("image/jpeg", "AA"), "data:image/jpeg;base64,AA");
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
        // 1.0f32 little-endian is 00 00 80 3F.
        assert_eq!(embedding_base64(&[1.0]), "AACAPw==");
    }

    #[test]
    fn chunks_have_the_chunk_envelope() {
        let writer = ChunkWriter::new("c\"1", "m", 7);
        let event = writer.choice(0, json!({"content": "x"}), None);
        let value: Value = serde_json::from_str(event.data_str()).unwrap();
        assert_eq!(value["id"], "c\"1");
        assert_eq!(value["object"], "chat.completion.chunk");
        assert_eq!(value["choices"][0]["delta"]["content"], "x");
        assert!(value["choices"][0]["finish_reason"].is_null());
        let usage: Value =
            serde_json::from_str(writer.usage(&Usage::default()).data_str()).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 0);
    }
}
