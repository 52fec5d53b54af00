//! Anthropic Messages client → OpenAI chat completions provider (OpenAI or
//! Azure OpenAI, which differ only in the path), and the first half of
//! Anthropic → Gemini, which continues with `openai_chat_to_gemini`.
//!
//! Request: `system` becomes the first, system message; user turns become
//! user messages, except `tool_result` blocks, which become `tool` messages
//! placed before the rest of the turn (OpenAI wants them right after the
//! assistant's tool calls); `image` blocks become `image_url` parts (base64
//! sources as data URLs); assistant `tool_use` blocks become `tool_calls`;
//! `thinking` blocks are dropped (OpenAI has no way to send them back);
//! `max_tokens` becomes `max_completion_tokens`, `stop_sequences` `stop`;
//! tools and `tool_choice` map one to one (`any` → `required`). Streams ask
//! for `stream_options.include_usage`, which Anthropic's `message_delta`
//! needs.
//!
//! Response and stream: a completion becomes a `message` with text and
//! `tool_use` blocks; a chunk stream becomes Anthropic's event sequence
//! (`message_start`, `content_block_start` / `_delta` / `_stop` per block,
//! `message_delta` with the stop reason and usage, `message_stop`).

use super::{copy_field, to_upstream, unsupported, HeaderEdits, Pair, Upstream, UpstreamRequest};
use crate::anthropic::{self, finish_to_stop_reason};
use crate::api::Dialect;
use crate::error::{ApiError, ErrorKind};
use crate::json::{Json, Kind};
use crate::openai;
use crate::providers::ProviderKind;
use crate::sse::SseEvent;
use crate::usage::Usage;
use serde_json::{json, Map, Value};

pub(super) struct MessagesToChat {
    upstream: Upstream,
    stream: EventStream,
}

/// The state of one translated stream.
#[derive(Default)]
struct EventStream {
    started: bool,
    finished: bool,
    /// An error event was sent, which ends the stream for the client.
    failed: bool,
    /// The content block being written, if any.
    open: Option<Block>,
    next_block: u64,
    /// OpenAI tool call index → Anthropic block index.
    tools: Vec<(u64, u64)>,
    stop_reason: Option<&'static str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text(u64),
    Tool(u64),
}

impl Block {
    fn index(self) -> u64 {
        match self {
            Block::Text(index) | Block::Tool(index) => index,
        }
    }
}

impl MessagesToChat {
    pub(super) fn new(upstream: Upstream) -> MessagesToChat {
        MessagesToChat {
            upstream,
            stream: EventStream::default(),
        }
    }
}

impl Pair for MessagesToChat {
    const CLIENT: Dialect = Dialect::Anthropic;
    const PROVIDER: Dialect = Dialect::OpenAi;

    fn request<J: Json>(&mut self, body: &J, stream: bool) -> Result<UpstreamRequest, ApiError> {
        let mut out = Map::new();
        out.insert("model".into(), json!(self.upstream.model));
        let mut messages = Vec::new();
        match body.field("system").map(Json::kind) {
            Some(Kind::String(system)) => {
                messages.push(json!({"role": "system", "content": system}))
            }
            Some(Kind::Array(blocks)) => {
                let parts: Vec<Value> = blocks
                    .iter()
                    .filter_map(|b| b.str_field("text"))
                    .map(|text| json!({"type": "text", "text": text}))
                    .collect();
                messages.push(json!({"role": "system", "content": parts}));
            }
            _ => {}
        }
        let Some(turns) = body.field("messages").and_then(Json::as_array) else {
            return Err(ApiError::invalid("'messages' must be an array.").with_param("messages"));
        };
        for (i, turn) in turns.iter().enumerate() {
            match turn.str_field("role") {
                Some("user") => user_messages(
                    turn.field("content"),
                    i,
                    self.upstream.provider,
                    &mut messages,
                )?,
                Some("assistant") => messages.push(assistant_message(turn.field("content"))),
                _ => {
                    return Err(
                        ApiError::invalid("Message roles must be user or assistant.")
                            .with_param(format!("messages.{i}.role")),
                    )
                }
            }
        }
        out.insert("messages".into(), Value::Array(messages));
        copy_field(body, "max_tokens", &mut out, "max_completion_tokens");
        copy_field(body, "stop_sequences", &mut out, "stop");
        for key in ["temperature", "top_p"] {
            copy_field(body, key, &mut out, key);
        }
        if stream {
            out.insert("stream".into(), json!(true));
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if let Some(tools) = body.field("tools").and_then(Json::as_array) {
            let tools: Vec<Value> = tools.iter().map(function_tool).collect();
            out.insert("tools".into(), Value::Array(tools));
        }
        tool_choice(body.field("tool_choice"), &mut out)?;
        if let Some(user) = body.field("metadata").and_then(|m| m.str_field("user_id")) {
            out.insert("user".into(), json!(user));
        }
        let headers = HeaderEdits {
            set: Vec::new(),
            remove: vec!["anthropic-version".into(), "anthropic-beta".into()],
        };
        Ok(to_upstream(self.upstream.paths.get(stream), headers, &out))
    }

    fn response(&mut self, body: Value, usage: Option<Usage>) -> Result<Value, ApiError> {
        let choice = body
            .get("choices")
            .and_then(|c| c.get(0))
            .unwrap_or(&Value::Null);
        let message = choice.get("message").unwrap_or(&Value::Null);
        let mut content = Vec::new();
        if let Some(text) = message
            .str_field("content")
            .or_else(|| message.str_field("refusal"))
            .filter(|t| !t.is_empty())
        {
            content.push(json!({"type": "text", "text": text}));
        }
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = call.get("function").unwrap_or(&Value::Null);
            let input = function
                .str_field("arguments")
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            content.push(json!({"type": "tool_use", "id": call.str_field("id"), "name": function.str_field("name"), "input": input}));
        }
        let stop_reason = choice
            .str_field("finish_reason")
            .map_or("end_turn", finish_to_stop_reason);
        Ok(json!({
            "id": body.str_field("id").unwrap_or_default(),
            "type": "message",
            "role": "assistant",
            "model": body.str_field("model").unwrap_or(&self.upstream.model),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": anthropic::usage_json(&usage.unwrap_or_default()),
        }))
    }

    fn event(
        &mut self,
        event: &SseEvent,
        data: Option<&Value>,
        usage: Option<Usage>,
        out: &mut Vec<SseEvent>,
    ) {
        // An Anthropic stream ends with its error event: nothing may follow
        // it (a provider, or a translator before this one, may still send
        // usage and `[DONE]` after its error).
        if self.stream.failed {
            return;
        }
        if event.data_str().trim() == openai::DONE {
            self.finish(usage, out);
            return;
        }
        let Some(chunk) = data else { return };
        if let Some(error) = chunk.get("error") {
            let message = error
                .str_field("message")
                .unwrap_or("The provider reported an error.");
            let body = ApiError::new(ErrorKind::Internal, message).body(Dialect::Anthropic);
            let value: Value = serde_json::from_slice(&body).unwrap_or_default();
            out.push(anthropic::event(&value));
            self.stream.failed = true;
            return;
        }
        let stream = &mut self.stream;
        if !stream.started {
            stream.started = true;
            let message = json!({"id": chunk.str_field("id").unwrap_or_default(), "type": "message", "role": "assistant",
                "model": chunk.str_field("model").unwrap_or(&self.upstream.model), "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}});
            out.push(anthropic::event(
                &json!({"type": "message_start", "message": message}),
            ));
        }
        // Anthropic messages have one choice; others are not representable.
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            })
        else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta
            .str_field("content")
            .or_else(|| delta.str_field("refusal"))
            .filter(|t| !t.is_empty())
        {
            let index = stream.open_text(out);
            out.push(anthropic::event(
                &json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tool_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let function = call.get("function").unwrap_or(&Value::Null);
            let known = stream
                .tools
                .iter()
                .find(|(t, _)| *t == tool_index)
                .map(|(_, b)| *b);
            let block = match known {
                Some(block) => block,
                None => stream.open_tool(
                    tool_index,
                    call.str_field("id"),
                    function.str_field("name"),
                    out,
                ),
            };
            if let Some(arguments) = function.str_field("arguments").filter(|a| !a.is_empty()) {
                out.push(anthropic::event(
                    &json!({"type": "content_block_delta", "index": block,
                    "delta": {"type": "input_json_delta", "partial_json": arguments}}),
                ));
            }
        }
        if let Some(reason) = choice.str_field("finish_reason") {
            stream.stop_reason = Some(finish_to_stop_reason(reason));
        }
    }

    fn end(&mut self, usage: Option<Usage>, out: &mut Vec<SseEvent>) {
        // A stream without `[DONE]` that reached a finish reason is complete.
        if self.stream.stop_reason.is_some() && !self.stream.failed {
            self.finish(usage, out);
        }
    }
}

impl MessagesToChat {
    /// Closes the message: `content_block_stop`, `message_delta`, `message_stop`.
    fn finish(&mut self, usage: Option<Usage>, out: &mut Vec<SseEvent>) {
        let stream = &mut self.stream;
        if !stream.started || stream.finished {
            return;
        }
        stream.finished = true;
        stream.close(out);
        let usage = anthropic::usage_json(&usage.unwrap_or_default());
        out.push(anthropic::event(&json!({"type": "message_delta",
            "delta": {"stop_reason": stream.stop_reason.unwrap_or("end_turn"), "stop_sequence": null}, "usage": usage})));
        out.push(anthropic::event(&json!({"type": "message_stop"})));
    }
}

impl EventStream {
    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some(block) = self.open.take() {
            out.push(anthropic::event(
                &json!({"type": "content_block_stop", "index": block.index()}),
            ));
        }
    }

    fn start(&mut self, block: Value, out: &mut Vec<SseEvent>) -> u64 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(anthropic::event(
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    /// The open text block's index, opening one if needed.
    fn open_text(&mut self, out: &mut Vec<SseEvent>) -> u64 {
        if let Some(Block::Text(index)) = self.open {
            return index;
        }
        let index = self.start(json!({"type": "text", "text": ""}), out);
        self.open = Some(Block::Text(index));
        index
    }

    fn open_tool(
        &mut self,
        tool_index: u64,
        id: Option<&str>,
        name: Option<&str>,
        out: &mut Vec<SseEvent>,
    ) -> u64 {
        let block = json!({"type": "tool_use", "id": id.unwrap_or_default(), "name": name.unwrap_or_default(), "input": {}});
        let index = self.start(block, out);
        self.open = Some(Block::Tool(index));
        self.tools.push((tool_index, index));
        index
    }
}

/// One Anthropic user turn as OpenAI messages: tool results first (as `tool`
/// messages), then the rest as one user message.
fn user_messages<J: Json>(
    content: Option<&J>,
    turn: usize,
    provider: ProviderKind,
    messages: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let blocks = match content.map(Json::kind) {
        Some(Kind::String(text)) => {
            messages.push(json!({"role": "user", "content": text}));
            return Ok(());
        }
        Some(Kind::Array(blocks)) => blocks,
        _ => {
            return Err(ApiError::invalid(
                "Message content must be a string or an array of blocks.",
            )
            .with_param(format!("messages.{turn}.content")))
        }
    };
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match block.str_field("type") {
            Some("text") => parts
                .push(json!({"type": "text", "text": block.str_field("text").unwrap_or_default()})),
            Some("image") => {
                let source = block.field("source");
                let source = |name: &str| source.and_then(|s| s.str_field(name));
                let url = match source("type") {
                    Some("base64") => openai::data_url(
                        source("media_type").unwrap_or("image/png"),
                        source("data").unwrap_or_default(),
                    ),
                    _ => source("url").unwrap_or_default().to_owned(),
                };
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            Some("tool_result") => {
                let content = match block.field("content").map(Json::kind) {
                    Some(Kind::Array(items)) => Value::Array(
                        items
                            .iter()
                            .filter(|b| b.str_field("type") == Some("text"))
                            .map(|b| json!({"type": "text", "text": b.str_field("text")}))
                            .collect(),
                    ),
                    Some(Kind::String(text)) => json!(text),
                    _ => json!(""),
                };
                messages.push(json!({"role": "tool", "tool_call_id": block.str_field("tool_use_id"), "content": content}));
            }
            _ => {
                return Err(unsupported(
                    format!("messages.{turn}.content.{j}.type"),
                    "this content block type",
                    provider,
                ))
            }
        }
    }
    if !parts.is_empty() {
        let only_text =
            parts.len() == 1 && parts.first().and_then(|p| p.str_field("type")) == Some("text");
        let content = if only_text {
            parts
                .first()
                .and_then(|p| p.get("text"))
                .cloned()
                .unwrap_or_default()
        } else {
            Value::Array(parts)
        };
        messages.push(json!({"role": "user", "content": content}));
    }
    Ok(())
}

/// One Anthropic assistant turn as an OpenAI assistant message.
fn assistant_message<J: Json>(content: Option<&J>) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    match content.map(Json::kind) {
        Some(Kind::String(s)) => text.push_str(s),
        Some(Kind::Array(blocks)) => {
            for block in blocks {
                match block.str_field("type") {
                    Some("text") => text.push_str(block.str_field("text").unwrap_or_default()),
                    Some("tool_use") => {
                        // Through an owned copy, so that a repeated name is
                        // written once whichever tree holds the request.
                        let input = block
                            .field("input")
                            .map_or_else(|| "{}".to_owned(), |i| i.to_value().to_string());
                        calls.push(json!({"id": block.str_field("id"), "type": "function",
                            "function": {"name": block.str_field("name"), "arguments": input}}));
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    Value::Object(message)
}

fn function_tool<J: Json>(tool: &J) -> Value {
    let mut function = Map::new();
    function.insert(
        "name".into(),
        tool.field("name").map(Json::to_value).unwrap_or_default(),
    );
    if let Some(description) = tool.str_field("description") {
        function.insert("description".into(), description.into());
    }
    function.insert(
        "parameters".into(),
        tool.field("input_schema")
            .map(Json::to_value)
            .unwrap_or_else(|| json!({"type": "object"})),
    );
    json!({"type": "function", "function": function})
}

fn tool_choice<J: Json>(choice: Option<&J>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let Some(choice) = choice.filter(|c| !c.is_null()) else {
        return Ok(());
    };
    let converted = match choice.str_field("type") {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            json!({"type": "function", "function": {"name": choice.str_field("name")}})
        }
        _ => {
            return Err(
                ApiError::invalid("'tool_choice.type' must be auto, any, tool or none.")
                    .with_param("tool_choice.type"),
            )
        }
    };
    out.insert("tool_choice".into(), converted);
    if choice
        .field("disable_parallel_tool_use")
        .and_then(Json::as_bool)
        == Some(true)
    {
        out.insert("parallel_tool_calls".into(), Value::Bool(false));
    }
    Ok(())
}
