//! OpenAI chat completions client → Gemini `generateContent` provider.
//!
//! Request: system and developer messages become `systemInstruction`;
//! user/assistant messages become `contents` with roles `user`/`model`
//! (consecutive turns of one role merge); image parts become `inlineData`
//! (data URLs) or `fileData` (other URLs, MIME type guessed from the file
//! extension, else `image/jpeg`); assistant tool calls become `functionCall`
//! parts and tool messages `functionResponse` parts (named after the call
//! they answer; a result that is a JSON object is sent as is, anything else
//! as `{"content": ...}`); sampling options go to `generationConfig`; tools
//! become `functionDeclarations` with their JSON Schema as
//! `parametersJsonSchema` (which, unlike `parameters`, accepts full JSON
//! Schema such as `additionalProperties`). The model and streaming are in
//! the path.
//!
//! Response and stream: candidates become choices; `functionCall` parts
//! become tool calls with ids `call_{n}` (Gemini has none unless it sends
//! `id`); `usageMetadata` becomes `usage`. Gemini streams have no final
//! event, so the usage chunk and `[DONE]` are written at the end of the
//! stream.

use super::{
    arguments_object, copy_field, function_tools, include_usage, joined_text, read_tool_choice,
    stop_sequences, to_upstream, unsupported, user_parts, HeaderEdits, Pair, ToolChoice,
    TranslateOptions, Turns, Upstream, UpstreamRequest, UserPart,
};
use crate::api::Dialect;
use crate::error::{ApiError, ErrorKind};
use crate::gemini::finish_reason_to_openai;
use crate::json::{Json, Kind};
use crate::openai::{self, ChunkWriter};
use crate::providers::ProviderKind;
use crate::sse::{error_event, SseEvent};
use crate::usage::Usage;
use serde_json::{json, Map, Value};

pub(super) struct ChatToGemini {
    upstream: Upstream,
    include_usage: bool,
    writer: ChunkWriter,
    /// Whether the stream's id and model were taken from its first event.
    identified: bool,
    /// Per candidate index: tool calls seen so far in the stream.
    tool_calls: Vec<(u64, u64)>,
    /// Candidate indexes whose first chunk (with the role) was sent.
    started: Vec<u64>,
}

impl ChatToGemini {
    pub(super) fn new(upstream: Upstream, options: &TranslateOptions) -> ChatToGemini {
        let writer = ChunkWriter::new("", &upstream.model, options.created);
        ChatToGemini {
            upstream,
            include_usage: false,
            writer,
            identified: false,
            tool_calls: Vec::new(),
            started: Vec::new(),
        }
    }
}

impl Pair for ChatToGemini {
    const CLIENT: Dialect = Dialect::OpenAi;
    const PROVIDER: Dialect = Dialect::Gemini;

    fn request<J: Json>(&mut self, body: &J, stream: bool) -> Result<UpstreamRequest, ApiError> {
        self.include_usage = include_usage(body);
        let mut out = Map::new();
        let (system, contents) = contents(body.field("messages"), self.upstream.provider)?;
        out.insert("contents".into(), contents);
        if let Some(system) = system {
            out.insert("systemInstruction".into(), system);
        }
        if let Some(tools) = body.field("tools").filter(|t| !t.is_null()) {
            out.insert("tools".into(), tools_of(tools, self.upstream.provider)?);
        }
        if let Some(config) = tool_config(body.field("tool_choice"))? {
            out.insert("toolConfig".into(), config);
        }
        let config = generation_config(body);
        if !config.is_empty() {
            out.insert("generationConfig".into(), Value::Object(config));
        }
        Ok(to_upstream(
            self.upstream.paths.get(stream),
            HeaderEdits::default(),
            &out,
        ))
    }

    fn response(&mut self, body: Value, usage: Option<Usage>) -> Result<Value, ApiError> {
        let mut choices = Vec::new();
        for (index, candidate) in candidates(&body) {
            let (text, calls) = candidate_parts(candidate, None);
            let finish = finish_reason(candidate, !calls.is_empty()).unwrap_or("stop");
            let message = openai::assistant_message(text, calls);
            choices.push(json!({"index": index, "message": message, "logprobs": null, "finish_reason": finish}));
        }
        if choices.is_empty() {
            // A prompt blocked by safety filters has no candidates.
            choices.push(
                json!({"index": 0, "message": {"role": "assistant", "content": null},
                "logprobs": null, "finish_reason": "content_filter"}),
            );
        }
        Ok(json!({
            "id": body.str_field("responseId").unwrap_or_default(),
            "object": "chat.completion",
            "created": self.writer.created(),
            "model": body.str_field("modelVersion").unwrap_or(&self.upstream.model),
            "choices": choices,
            "usage": usage_json(&body, &usage.unwrap_or_default()),
        }))
    }

    fn event(
        &mut self,
        _event: &SseEvent,
        data: Option<&Value>,
        _usage: Option<Usage>,
        out: &mut Vec<SseEvent>,
    ) {
        let Some(data) = data else { return };
        if let Some(error) = data.get("error") {
            let message = error
                .str_field("message")
                .unwrap_or("The provider reported an error.");
            let code = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok());
            let kind = code.map_or(ErrorKind::Internal, ErrorKind::from_status);
            out.push(error_event(Dialect::OpenAi, &ApiError::new(kind, message)));
            return;
        }
        if !self.identified {
            self.identified = true;
            let model = data
                .str_field("modelVersion")
                .unwrap_or(&self.upstream.model);
            self.writer
                .set_identity(data.str_field("responseId").unwrap_or_default(), model);
        }
        for (index, candidate) in candidates(data) {
            let seen_calls = self
                .tool_calls
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(0, |(_, n)| *n);
            let (text, calls) = candidate_parts(candidate, Some(seen_calls));
            let mut delta = Map::new();
            if !self.started.contains(&index) {
                self.started.push(index);
                delta.insert("role".into(), json!("assistant"));
            }
            if !text.is_empty() || delta.contains_key("role") {
                delta.insert("content".into(), json!(text));
            }
            let total_calls = seen_calls + calls.len() as u64;
            if !calls.is_empty() {
                delta.insert("tool_calls".into(), Value::Array(calls));
                match self.tool_calls.iter_mut().find(|(i, _)| *i == index) {
                    Some(entry) => entry.1 = total_calls,
                    None => self.tool_calls.push((index, total_calls)),
                }
            }
            let finish = finish_reason(candidate, total_calls > 0);
            if !delta.is_empty() || finish.is_some() {
                out.push(self.writer.choice(index, Value::Object(delta), finish));
            }
        }
    }

    fn end(&mut self, usage: Option<Usage>, out: &mut Vec<SseEvent>) {
        if self.include_usage {
            out.push(self.writer.usage(&usage.unwrap_or_default()));
        }
        out.push(self.writer.done());
    }
}

/// A candidate's text (joined) and its function calls as OpenAI tool calls,
/// numbered from `stream_index` with an `index` in streams, from 0 without
/// one in whole responses. Thought parts (`"thought": true`) are the model's
/// reasoning, not its answer.
/// A response's (or stream chunk's) candidates with their index: the one
/// Gemini gives, else their position.
fn candidates(body: &Value) -> impl Iterator<Item = (u64, &Value)> {
    body.get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(position, candidate)| {
            (
                candidate
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(position as u64),
                candidate,
            )
        })
}

fn candidate_parts(candidate: &Value, stream_index: Option<u64>) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = candidate
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array);
    for part in parts.into_iter().flatten() {
        if part.get("thought") == Some(&Value::Bool(true)) {
            continue;
        }
        if let Some(t) = part.str_field("text") {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            let n = stream_index.unwrap_or(0) + calls.len() as u64;
            let id = call
                .str_field("id")
                .map_or_else(|| format!("call_{n}"), str::to_owned);
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            let mut tool_call = Map::new();
            if stream_index.is_some() {
                tool_call.insert("index".into(), json!(n));
            }
            tool_call.insert("id".into(), json!(id));
            tool_call.insert("type".into(), json!("function"));
            tool_call.insert(
                "function".into(),
                json!({"name": call.str_field("name"), "arguments": args.to_string()}),
            );
            calls.push(Value::Object(tool_call));
        }
    }
    (text, calls)
}

/// OpenAI's finish reason for a candidate, `tool_calls` when it called tools.
fn finish_reason(candidate: &Value, called_tools: bool) -> Option<&'static str> {
    let reason = finish_reason_to_openai(candidate.str_field("finishReason")?);
    Some(if called_tools && reason == "stop" {
        "tool_calls"
    } else {
        reason
    })
}

/// OpenAI usage, with Gemini's reasoning tokens reported as such.
fn usage_json(body: &Value, usage: &Usage) -> Value {
    let mut json = openai::usage_json(usage);
    let thoughts = body
        .get("usageMetadata")
        .and_then(|m| m.get("thoughtsTokenCount"))
        .and_then(Value::as_u64);
    if let (Some(thoughts), Some(object)) = (thoughts, json.as_object_mut()) {
        object.insert(
            "completion_tokens_details".into(),
            json!({"reasoning_tokens": thoughts}),
        );
    }
    json
}

/// `(systemInstruction, contents)` from OpenAI's `messages`.
fn contents<J: Json>(
    messages: Option<&J>,
    provider: ProviderKind,
) -> Result<(Option<Value>, Value), ApiError> {
    let Some(messages) = messages.and_then(Json::as_array) else {
        return Err(ApiError::invalid("'messages' must be an array.").with_param("messages"));
    };
    let mut system = Vec::new();
    let mut turns = Turns(Vec::new());
    // Gemini answers a call by function name; OpenAI by call id.
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let param = |field: &str| format!("messages[{i}].{field}");
        match message.str_field("role") {
            Some("system" | "developer") => {
                let text = joined_text(message.field("content"));
                if !text.is_empty() {
                    system.push(json!({"text": text}));
                }
            }
            Some("user") => turns.push(
                "user",
                user_content(message.field("content"), &param("content"), provider)?,
            ),
            Some("assistant") => {
                let mut parts = Vec::new();
                let text = joined_text(message.field("content"));
                if !text.is_empty() {
                    parts.push(json!({"text": text}));
                }
                for (j, call) in message
                    .field("tool_calls")
                    .map(Json::elements)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let function = call.field("function");
                    let name = function
                        .and_then(|f| f.str_field("name"))
                        .unwrap_or_default();
                    if let Some(id) = call.str_field("id") {
                        call_names.push((id, name));
                    }
                    let args =
                        arguments_object(function.and_then(|f| f.field("arguments")), || {
                            param(&format!("tool_calls[{j}].function.arguments"))
                        })?;
                    parts.push(json!({"functionCall": {"name": name, "args": args}}));
                }
                turns.push("model", parts);
            }
            Some("tool") => {
                let id = message.str_field("tool_call_id").unwrap_or_default();
                let name = call_names
                    .iter()
                    .rev()
                    .find(|(call, _)| *call == id)
                    .map(|(_, name)| *name);
                let Some(name) = name else {
                    return Err(
                        ApiError::invalid("A tool message answers no earlier tool call.")
                            .with_param(param("tool_call_id")),
                    );
                };
                let text = joined_text(message.field("content"));
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(object @ Value::Object(_)) => object,
                    Ok(other) => json!({"content": other}),
                    Err(_) => json!({"content": text}),
                };
                turns.push(
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                );
            }
            _ => return Err(unsupported(param("role"), "this message role", provider)),
        }
    }
    let system = (!system.is_empty()).then(|| json!({"parts": system}));
    let contents = turns
        .0
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}));
    Ok((system, Value::Array(contents.collect())))
}

/// User content: text and image parts.
fn user_content<J: Json>(
    content: Option<&J>,
    param: &str,
    provider: ProviderKind,
) -> Result<Vec<Value>, ApiError> {
    let parts = match content.map(Json::kind) {
        Some(Kind::String(text)) if !text.is_empty() => return Ok(vec![json!({"text": text})]),
        Some(Kind::Array(parts)) => parts,
        Some(Kind::String(_) | Kind::Null) | None => return Ok(Vec::new()),
        Some(_) => {
            return Err(
                ApiError::invalid("Message content must be a string or an array of parts.")
                    .with_param(param),
            )
        }
    };
    let parts = user_parts(parts, param, provider)?
        .into_iter()
        .map(|part| match part {
            UserPart::Text(text) => json!({"text": text}),
            UserPart::Image(url) => match openai::parse_data_url(url) {
                Some((mime, data)) => json!({"inlineData": {"mimeType": mime, "data": data}}),
                None => json!({"fileData": {"mimeType": mime_from_url(url), "fileUri": url}}),
            },
        });
    Ok(parts.collect())
}

/// The image type a URL's extension suggests (Gemini's `fileData` needs one).
fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("heic") => "image/heic",
        Some("pdf") => "application/pdf",
        _ => "image/jpeg",
    }
}

/// OpenAI function tools as Gemini function declarations (the schema as
/// `parametersJsonSchema`, which takes full JSON Schema).
fn tools_of<J: Json>(tools: &J, provider: ProviderKind) -> Result<Value, ApiError> {
    let declarations: Vec<Value> = function_tools(tools, provider)?
        .into_iter()
        .map(|tool| {
            let mut declaration = Map::new();
            declaration.insert("name".into(), tool.name);
            if let Some(description) = tool.description {
                declaration.insert("description".into(), description.into());
            }
            if let Some(parameters) = tool.parameters {
                declaration.insert("parametersJsonSchema".into(), parameters.to_value());
            }
            Value::Object(declaration)
        })
        .collect();
    Ok(json!([{"functionDeclarations": declarations}]))
}

fn tool_config<J: Json>(choice: Option<&J>) -> Result<Option<Value>, ApiError> {
    let config = read_tool_choice(choice)?.map(|choice| {
        let config = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Function(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        json!({"functionCallingConfig": config})
    });
    Ok(config)
}

fn generation_config<J: Json>(body: &J) -> Map<String, Value> {
    let mut config = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
        ("max_tokens", "maxOutputTokens"),
        ("max_completion_tokens", "maxOutputTokens"),
    ] {
        copy_field(body, from, &mut config, to);
    }
    if let Some(stop) = stop_sequences(body) {
        config.insert("stopSequences".into(), stop);
    }
    if let Some(format) = body.field("response_format") {
        match format.str_field("type") {
            Some("json_object") => {
                config.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                config.insert("responseMimeType".into(), json!("application/json"));
                if let Some(schema) = format.field("json_schema").and_then(|s| s.field("schema")) {
                    config.insert("responseJsonSchema".into(), schema.to_value());
                }
            }
            _ => {}
        }
    }
    config
}
