//! OpenAI chat completions client → Anthropic Messages provider.
//!
//! Request: system and developer messages (wherever they appear) become
//! `system`; user, assistant and tool messages become alternating turns
//! (tool results are `tool_result` blocks in a user turn; consecutive turns
//! of one role merge); image parts become `image` blocks (base64 data URLs →
//! `base64` source, other URLs → `url` source); tools and `tool_choice`
//! map one to one (`required` → `any`); `max_tokens` is required by
//! Anthropic and comes from `max_completion_tokens`, `max_tokens` or the
//! route's default. `temperature` passes through unchanged (Anthropic
//! accepts 0–1 and rejects more, which the client then sees); `top_k` is
//! passed when a client sends it. OpenAI-only sampling options
//! (`frequency_penalty`, `presence_penalty`, `logit_bias`, `seed`,
//! `logprobs`, `response_format`, ...) have no Anthropic equivalent and are
//! dropped; `n` > 1 is refused.
//!
//! Response and stream: Anthropic's message and events become a
//! `chat.completion` and `chat.completion.chunk`s; `stop_reason` maps to
//! `finish_reason`; the usage chunk is sent only when the client asked for
//! it (`stream_options.include_usage`).

use super::{
    arguments_object, copy_field, function_tools, include_usage, joined_text, read_tool_choice,
    stop_sequences, to_upstream, unsupported, user_parts, HeaderEdits, Pair, ToolChoice,
    TranslateOptions, Turns, Upstream, UpstreamRequest, UserPart,
};
use crate::anthropic::{self, stop_reason_to_finish};
use crate::api::Dialect;
use crate::error::{ApiError, ErrorKind};
use crate::json::{Json, Kind};
use crate::openai::{self, ChunkWriter};
use crate::providers::ProviderKind;
use crate::sse::{error_event, SseEvent};
use crate::usage::Usage;
use serde_json::{json, Map, Value};

pub(super) struct ChatToAnthropic {
    upstream: Upstream,
    default_max_tokens: u64,
    include_usage: bool,
    stream: ChunkStream,
}

/// The state of one translated stream.
#[derive(Default)]
struct ChunkStream {
    writer: ChunkWriter,
    /// Anthropic content block index → OpenAI tool call index.
    tool_blocks: Vec<(u64, u64)>,
    done: bool,
}

impl ChatToAnthropic {
    pub(super) fn new(upstream: Upstream, options: &TranslateOptions) -> ChatToAnthropic {
        let writer = ChunkWriter::new("", &upstream.model, options.created);
        ChatToAnthropic {
            upstream,
            default_max_tokens: options.default_max_tokens,
            include_usage: false,
            stream: ChunkStream {
                writer,
                ..ChunkStream::default()
            },
        }
    }
}

impl Pair for ChatToAnthropic {
    const CLIENT: Dialect = Dialect::OpenAi;
    const PROVIDER: Dialect = Dialect::Anthropic;

    fn request<J: Json>(&mut self, body: &J, stream: bool) -> Result<UpstreamRequest, ApiError> {
        self.include_usage = include_usage(body);
        if body
            .field("n")
            .and_then(Json::as_u64)
            .is_some_and(|n| n > 1)
        {
            return Err(unsupported(
                "n",
                "more than one choice",
                self.upstream.provider,
            ));
        }
        let mut out = Map::new();
        out.insert("model".into(), json!(self.upstream.model));
        let (system, messages) = messages(body.field("messages"), self.upstream.provider)?;
        if let Some(system) = system {
            out.insert("system".into(), system);
        }
        out.insert("messages".into(), messages);
        let max_tokens = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|key| body.field(key).and_then(Json::as_u64))
            .unwrap_or(self.default_max_tokens);
        out.insert("max_tokens".into(), json!(max_tokens));
        if let Some(stop) = stop_sequences(body) {
            out.insert("stop_sequences".into(), stop);
        }
        for key in ["temperature", "top_p", "top_k"] {
            copy_field(body, key, &mut out, key);
        }
        if stream {
            out.insert("stream".into(), json!(true));
        }
        if let Some(tools) = body.field("tools").filter(|t| !t.is_null()) {
            out.insert("tools".into(), tools_of(tools, self.upstream.provider)?);
        }
        if let Some(choice) = tool_choice(body)? {
            out.insert("tool_choice".into(), choice);
        }
        if let Some(user) = body.str_field("user") {
            out.insert("metadata".into(), json!({"user_id": user}));
        }
        let headers = HeaderEdits {
            set: vec![("anthropic-version".into(), anthropic::API_VERSION.into())],
            remove: Vec::new(),
        };
        Ok(to_upstream(self.upstream.paths.get(stream), headers, &out))
    }

    fn response(&mut self, body: Value, usage: Option<Usage>) -> Result<Value, ApiError> {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in body
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match block.str_field("type") {
                Some("text") => text.push_str(block.str_field("text").unwrap_or_default()),
                Some("tool_use") => tool_calls.push(tool_call(block)),
                _ => {}
            }
        }
        let message = openai::assistant_message(text, tool_calls);
        let finish = body
            .str_field("stop_reason")
            .map_or("stop", stop_reason_to_finish);
        Ok(json!({
            "id": body.str_field("id").unwrap_or_default(),
            "object": "chat.completion",
            "created": self.stream.writer.created(),
            "model": body.str_field("model").unwrap_or(&self.upstream.model),
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": openai::usage_json(&usage.unwrap_or_default()),
        }))
    }

    fn event(
        &mut self,
        _event: &SseEvent,
        data: Option<&Value>,
        usage: Option<Usage>,
        out: &mut Vec<SseEvent>,
    ) {
        let Some(data) = data else { return };
        let stream = &mut self.stream;
        match data.str_field("type") {
            Some("message_start") => {
                let message = data.get("message").unwrap_or(&Value::Null);
                let model = message.str_field("model").unwrap_or(&self.upstream.model);
                stream
                    .writer
                    .set_identity(message.str_field("id").unwrap_or_default(), model);
                out.push(stream.writer.choice(
                    0,
                    json!({"role": "assistant", "content": ""}),
                    None,
                ));
            }
            Some("content_block_start") => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                match block.str_field("type") {
                    Some("tool_use") => {
                        let tool_index = stream.tool_blocks.len() as u64;
                        stream.tool_blocks.push((index, tool_index));
                        let call = json!({"index": tool_index, "id": block.str_field("id"), "type": "function",
                            "function": {"name": block.str_field("name"), "arguments": ""}});
                        out.push(stream.writer.choice(0, json!({"tool_calls": [call]}), None));
                    }
                    Some("text") => {
                        if let Some(text) = block.str_field("text").filter(|t| !t.is_empty()) {
                            out.push(stream.writer.choice(0, json!({"content": text}), None));
                        }
                    }
                    _ => {}
                }
            }
            Some("content_block_delta") => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                match delta.str_field("type") {
                    Some("text_delta") => {
                        out.push(stream.writer.choice(
                            0,
                            json!({"content": delta.str_field("text")}),
                            None,
                        ));
                    }
                    Some("input_json_delta") => {
                        let partial = delta.str_field("partial_json").unwrap_or_default();
                        let tool = stream.tool_blocks.iter().find(|(block, _)| *block == index);
                        if let (Some((_, tool_index)), false) = (tool, partial.is_empty()) {
                            let call =
                                json!({"index": tool_index, "function": {"arguments": partial}});
                            out.push(stream.writer.choice(0, json!({"tool_calls": [call]}), None));
                        }
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                let reason = data
                    .get("delta")
                    .and_then(|d| d.str_field("stop_reason"))
                    .map_or("stop", stop_reason_to_finish);
                out.push(stream.writer.choice(0, json!({}), Some(reason)));
            }
            Some("message_stop") if !stream.done => {
                if self.include_usage {
                    out.push(stream.writer.usage(&usage.unwrap_or_default()));
                }
                out.push(stream.writer.done());
                stream.done = true;
            }
            Some("error") => {
                let kind = data
                    .get("error")
                    .and_then(|e| e.str_field("type"))
                    .map_or(ErrorKind::Internal, anthropic::error_kind);
                let message = data
                    .get("error")
                    .and_then(|e| e.str_field("message"))
                    .unwrap_or("The provider reported an error.");
                out.push(error_event(Dialect::OpenAi, &ApiError::new(kind, message)));
            }
            // ping, content_block_stop: nothing to say to an OpenAI client.
            _ => {}
        }
    }

    fn end(&mut self, _usage: Option<Usage>, _out: &mut Vec<SseEvent>) {
        // A stream cut before `message_stop` gets no `[DONE]`, so the client
        // can tell it was truncated.
    }
}

/// An Anthropic `tool_use` block as an OpenAI tool call.
fn tool_call(block: &Value) -> Value {
    let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
    json!({"id": block.str_field("id"), "type": "function",
        "function": {"name": block.str_field("name"), "arguments": input.to_string()}})
}

/// Anthropic messages; a turn of a single plain text block is written as a
/// string, as clients usually write it.
fn into_messages(turns: Turns) -> Value {
    let messages = turns.0.into_iter().map(|(role, blocks)| {
        let content = match blocks.as_slice() {
            [block]
                if block.as_object().is_some_and(|b| b.len() == 2)
                    && block.str_field("type") == Some("text") =>
            {
                block.get("text").cloned().unwrap_or_default()
            }
            _ => Value::Array(blocks),
        };
        json!({"role": role, "content": content})
    });
    Value::Array(messages.collect())
}

/// `(system, messages)` for Anthropic from OpenAI's `messages`.
fn messages<J: Json>(
    messages: Option<&J>,
    provider: ProviderKind,
) -> Result<(Option<Value>, Value), ApiError> {
    let Some(messages) = messages.and_then(Json::as_array) else {
        return Err(ApiError::invalid("'messages' must be an array.").with_param("messages"));
    };
    let mut system = Vec::new();
    let mut turns = Turns(Vec::new());
    for (i, message) in messages.iter().enumerate() {
        let param = |field: &str| format!("messages[{i}].{field}");
        match message.str_field("role") {
            Some("system" | "developer") => system.extend(text_blocks(
                message.field("content"),
                &param("content"),
                provider,
            )?),
            Some("user") => turns.push(
                "user",
                user_blocks(message.field("content"), &param("content"), provider)?,
            ),
            Some("assistant") => {
                let mut blocks =
                    text_blocks(message.field("content"), &param("content"), provider)?;
                for (j, call) in message
                    .field("tool_calls")
                    .map(Json::elements)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let function = call.field("function");
                    let input =
                        arguments_object(function.and_then(|f| f.field("arguments")), || {
                            param(&format!("tool_calls[{j}].function.arguments"))
                        })?;
                    blocks.push(json!({"type": "tool_use", "id": call.str_field("id"),
                        "name": function.and_then(|f| f.str_field("name")), "input": input}));
                }
                turns.push("assistant", blocks);
            }
            Some("tool") => {
                let content = message.field("content");
                let content = match content.map(Json::kind) {
                    Some(Kind::Array(_)) => {
                        Value::Array(text_blocks(content, &param("content"), provider)?)
                    }
                    Some(Kind::String(text)) => json!(text),
                    None => json!(""),
                    Some(_) => json!(joined_text(content)),
                };
                turns.push(
                    "user",
                    vec![json!({"type": "tool_result",
                    "tool_use_id": message.str_field("tool_call_id"), "content": content})],
                );
            }
            _ => return Err(unsupported(param("role"), "this message role", provider)),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [only] => only.get("text").cloned(),
        _ => Some(Value::Array(system)),
    };
    Ok((system, into_messages(turns)))
}

/// Text content (a string or text parts) as text blocks; empty text is
/// dropped because Anthropic rejects empty text blocks.
fn text_blocks<J: Json>(
    content: Option<&J>,
    param: &str,
    provider: ProviderKind,
) -> Result<Vec<Value>, ApiError> {
    let text = |t: &str| json!({"type": "text", "text": t});
    match content.map(Json::kind) {
        None | Some(Kind::Null) => Ok(Vec::new()),
        Some(Kind::String(s)) => Ok(if s.is_empty() {
            Vec::new()
        } else {
            vec![text(s)]
        }),
        Some(Kind::Array(parts)) => parts
            .iter()
            .enumerate()
            .filter(|(_, part)| {
                part.str_field("text").or_else(|| part.str_field("refusal")) != Some("")
            })
            .map(|(j, part)| {
                match (
                    part.str_field("type"),
                    part.str_field("text").or_else(|| part.str_field("refusal")),
                ) {
                    (Some("text" | "refusal"), Some(t)) => Ok(text(t)),
                    _ => Err(unsupported(
                        format!("{param}[{j}].type"),
                        "this content part type here (only text)",
                        provider,
                    )),
                }
            })
            .collect(),
        Some(_) => Err(
            ApiError::invalid("Message content must be a string or an array of parts.")
                .with_param(param),
        ),
    }
}

/// User content: text and image parts.
fn user_blocks<J: Json>(
    content: Option<&J>,
    param: &str,
    provider: ProviderKind,
) -> Result<Vec<Value>, ApiError> {
    let Some(parts) = content.and_then(Json::as_array) else {
        return text_blocks(content, param, provider);
    };
    let blocks = user_parts(parts, param, provider)?
        .into_iter()
        .map(|part| match part {
            UserPart::Text(text) => json!({"type": "text", "text": text}),
            UserPart::Image(url) => {
                let source = match openai::parse_data_url(url) {
                    Some((media_type, data)) => {
                        json!({"type": "base64", "media_type": media_type, "data": data})
                    }
                    None => json!({"type": "url", "url": url}),
                };
                json!({"type": "image", "source": source})
            }
        });
    Ok(blocks.collect())
}

/// OpenAI function tools as Anthropic tools.
fn tools_of<J: Json>(tools: &J, provider: ProviderKind) -> Result<Value, ApiError> {
    let tools = function_tools(tools, provider)?
        .into_iter()
        .map(|tool| {
            let mut converted = Map::new();
            converted.insert("name".into(), tool.name);
            if let Some(description) = tool.description {
                converted.insert("description".into(), description.into());
            }
            let schema = tool
                .parameters
                .map(Json::to_value)
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            converted.insert("input_schema".into(), schema);
            Value::Object(converted)
        })
        .collect();
    Ok(Value::Array(tools))
}

/// `tool_choice` (and `parallel_tool_calls: false`) in Anthropic's form.
fn tool_choice<J: Json>(body: &J) -> Result<Option<Value>, ApiError> {
    let mut choice = read_tool_choice(body.field("tool_choice"))?.map(|choice| match choice {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
    });
    if body.field("parallel_tool_calls").and_then(Json::as_bool) == Some(false) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if let Some(choice) = choice
            .as_object_mut()
            .filter(|c| c.get("type") != Some(&json!("none")))
        {
            choice.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
    }
    Ok(choice)
}
