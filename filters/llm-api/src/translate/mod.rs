//! Translation between the API a client speaks and the API its provider
//! speaks: one translator per (client API, provider) pair, made per request,
//! holding that request's streaming state.
//!
//! A translator runs on the upstream side of the gateway, once per attempt,
//! so that a retry or a fallback to another provider is translated for the
//! provider it actually reaches. That is why [`Translator::request`] takes
//! the parsed client request by reference and is pure: running it again gives
//! the same upstream request.
//!
//! The call sequence for one attempt:
//!
//! 1. [`request`](Translator::request) → path, header edits and body to send;
//! 2. [`response_headers`](Translator::response_headers) with the status;
//! 3. either [`response_body`](Translator::response_body) with the whole body
//!    (non-streamed responses, and every error response, which providers
//!    send as one JSON document even for streamed requests), or
//!    [`response_chunk`](Translator::response_chunk) for each chunk of an
//!    event stream as it arrives, the last one with `end_of_stream`.
//!
//! A translator is chosen by the client's API and the provider's dialect,
//! and takes its upstream paths from the provider's descriptor
//! ([`crate::providers`]), so every provider of one dialect shares them.
//! Translators for same-format pairs (OpenAI → OpenAI, Anthropic →
//! Anthropic, Gemini → Gemini, OpenAI → Azure) only set the path and the
//! upstream model and leave responses untouched. Pairs without a translator
//! of their own go through OpenAI chat completions, chaining two translators
//! (Anthropic → Gemini), so each mapping exists once.
//!
//! A pair's translator lives in `<client-api>_to_<provider>.rs`, the name of
//! its golden tests' directory (`testdata/golden`); `identity.rs` holds the
//! same-format pairs and `chained.rs` the composition of two translators.
//! What several translators read alike from OpenAI requests (tools,
//! `tool_choice`, user content parts, tool call arguments) is read here once.

mod anthropic_to_openai;
mod chained;
mod identity;
mod openai_chat_to_anthropic;
mod openai_chat_to_gemini;
mod openai_embeddings_to_gemini;

use crate::api::{ApiKind, Dialect};
use crate::azure;
use crate::error::{ApiError, ErrorKind};
use crate::json::{Json, Kind};
use crate::providers::{Operation, ProviderKind, UpstreamCall};
use crate::request::LlmRequest;
use crate::sse::{write_events, SseEvent, SseParser};
use crate::usage::{Usage, UsageAccumulator};
use serde_json::{Map, Value};

/// Settings a route gives its translators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateOptions {
    /// `max_tokens` sent to Anthropic when the client set neither `max_tokens`
    /// nor `max_completion_tokens`: Anthropic requires it and OpenAI does
    /// not. Default 4096, which every current Claude model accepts.
    pub default_max_tokens: u64,
    /// Azure's `api-version` query parameter.
    pub azure_api_version: String,
    /// The Azure deployment; the upstream model name when `None`.
    pub azure_deployment: Option<String>,
    /// The base path of a provider that takes one; its descriptor's default
    /// when `None`.
    pub base_path: Option<String>,
    /// Unix time (seconds) written as `created` in translated OpenAI
    /// responses. The caller supplies it because library code has no clock.
    pub created: u64,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            default_max_tokens: 4096,
            azure_api_version: azure::DEFAULT_API_VERSION.to_owned(),
            azure_deployment: None,
            base_path: None,
            created: 0,
        }
    }
}

/// Headers to set (replacing any value) and to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// What to send upstream instead of the client's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The new `:path`, query included.
    pub path: String,
    pub headers: HeaderEdits,
    /// The new body; `None` sends the client's body unchanged.
    pub body: Option<Vec<u8>>,
}

/// One request's translation between a client API and a provider API.
pub trait Translator {
    /// The upstream request for `request`. Pure: a retry calls it again.
    fn request(&mut self, request: &LlmRequest) -> Result<UpstreamRequest, ApiError>;

    /// The response status has arrived. Returns header edits (the body's
    /// `content-length` goes when the body will be rewritten).
    fn response_headers(&mut self, status: u16) -> HeaderEdits;

    /// A whole response body: a success is translated into the client's
    /// format, an error (status >= 400) into the client's error format.
    /// `Ok(None)` keeps the body as it is.
    fn response_body(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, ApiError>;

    /// One chunk of a streamed (SSE) success response; returns the bytes to
    /// send instead (possibly none yet, while an event is incomplete), or
    /// `None` to pass the chunk through. Only the unfinished tail of the
    /// stream is held between calls.
    fn response_chunk(&mut self, chunk: &[u8], end_of_stream: bool) -> Option<Vec<u8>>;

    /// A provider error body rewritten in the client's error format (the
    /// status stays as the provider sent it); `None` when the formats match.
    fn error_body(&self, status: u16, body: &[u8]) -> Option<Vec<u8>>;

    /// The usage the provider reported, in whatever format, once the
    /// response (or stream) has been seen. `None` from pass-through
    /// translators, which do not parse responses: read the client-format
    /// body with [`Usage::from_json`] instead.
    fn usage(&self) -> Option<Usage>;
}

/// The translator for requests of `client`'s API sent to a `provider`
/// under the name `upstream_model`. Chosen by the provider's dialect, with
/// its paths from its descriptor ([`crate::providers`]), so providers that
/// speak one dialect share its translators.
pub fn translator(
    client: &ApiKind,
    provider: ProviderKind,
    upstream_model: &str,
    options: &TranslateOptions,
) -> Result<Box<dyn Translator>, ApiError> {
    use Operation as Op;
    let descriptor = provider.descriptor();
    let refused = || {
        ApiError::invalid(format!(
            "Requests to the {} API cannot be sent to a provider of kind '{provider}'.",
            client.name()
        ))
        .with_code("unsupported_provider")
    };
    // The name the provider's paths give the model.
    let addressed = match &options.azure_deployment {
        Some(deployment) if descriptor.deployments => deployment.as_str(),
        _ => upstream_model,
    };
    let paths = |operation| {
        let path = |stream| {
            descriptor.upstream_path(&UpstreamCall {
                operation,
                model: addressed,
                stream,
                api_version: &options.azure_api_version,
                base_path: options
                    .base_path
                    .as_deref()
                    .or(descriptor.base_path)
                    .unwrap_or_default(),
            })
        };
        match (path(false), path(true)) {
            (Some(whole), Some(streamed)) => Ok(Paths { whole, streamed }),
            _ => Err(refused()),
        }
    };
    let model = upstream_model.to_owned();
    let upstream = |operation| {
        Ok::<_, ApiError>(Upstream {
            provider,
            paths: paths(operation)?,
            model: model.clone(),
        })
    };
    // Same-format bodies name the provider's model, except where the path
    // names the deployment that serves.
    let body_model = (!descriptor.deployments).then(|| model.clone());
    let translator: Box<dyn Translator> = match (client, descriptor.dialect) {
        (ApiKind::ChatCompletions | ApiKind::AzureChatCompletions { .. }, Dialect::OpenAi) => {
            identity::Identity::boxed(paths(Op::Generate)?, body_model)
        }
        (ApiKind::ChatCompletions | ApiKind::AzureChatCompletions { .. }, Dialect::Anthropic) => {
            Translation::boxed(openai_chat_to_anthropic::ChatToAnthropic::new(
                upstream(Op::Generate)?,
                options,
            ))
        }
        (ApiKind::ChatCompletions | ApiKind::AzureChatCompletions { .. }, Dialect::Gemini) => {
            Translation::boxed(openai_chat_to_gemini::ChatToGemini::new(
                upstream(Op::Generate)?,
                options,
            ))
        }
        (ApiKind::Embeddings | ApiKind::AzureEmbeddings { .. }, Dialect::OpenAi) => {
            identity::Identity::boxed(paths(Op::Embed { batch: true })?, body_model)
        }
        (ApiKind::Embeddings | ApiKind::AzureEmbeddings { .. }, Dialect::Gemini) => {
            Translation::boxed(openai_embeddings_to_gemini::EmbeddingsToGemini::new(
                upstream(Op::Embed { batch: true })?,
            ))
        }
        // The Responses API names the deployment in the body, not the path.
        (ApiKind::Responses, Dialect::OpenAi) => {
            identity::Identity::boxed(paths(Op::Responses)?, Some(addressed.to_owned()))
        }
        (ApiKind::AnthropicMessages, Dialect::Anthropic) => {
            identity::Identity::boxed(paths(Op::Generate)?, body_model)
        }
        (ApiKind::AnthropicMessages, Dialect::OpenAi) => Translation::boxed(
            anthropic_to_openai::MessagesToChat::new(upstream(Op::Generate)?),
        ),
        // Through OpenAI chat completions; the chain sends the second
        // translator's path, so the first has none.
        (ApiKind::AnthropicMessages, Dialect::Gemini) => {
            let second = upstream(Op::Generate)?;
            let first = Upstream {
                paths: Paths::default(),
                ..second.clone()
            };
            chained::Chained::boxed(
                Translation::new(anthropic_to_openai::MessagesToChat::new(first)),
                ApiKind::ChatCompletions,
                Translation::new(openai_chat_to_gemini::ChatToGemini::new(second, options)),
            )
        }
        // The model is in the path alone.
        (ApiKind::GeminiGenerate { .. }, Dialect::Gemini) => {
            identity::Identity::boxed(paths(Op::Generate)?, None)
        }
        (ApiKind::GeminiEmbed { batch, .. }, Dialect::Gemini) => {
            identity::Identity::gemini_embed(paths(Op::Embed { batch: *batch })?, model, *batch)
        }
        _ => return Err(refused()),
    };
    Ok(translator)
}

/// Where a translator that rewrites bodies sends them.
#[derive(Debug, Clone)]
struct Upstream {
    /// The provider the request finally reaches, named in errors about what
    /// it cannot take.
    provider: ProviderKind,
    paths: Paths,
    /// The provider's name for the model.
    model: String,
}

/// A provider's path for one operation, for a whole and for a streamed
/// response (Gemini streams from another method).
#[derive(Debug, Clone, Default)]
struct Paths {
    whole: String,
    streamed: String,
}

impl Paths {
    fn get(&self, stream: bool) -> String {
        if stream { &self.streamed } else { &self.whole }.clone()
    }
}

/// What differs between the pairs that rewrite bodies; [`Translation`]
/// does the rest (status, SSE parsing, usage, errors) once for all.
trait Pair {
    /// The client's format, for errors.
    const CLIENT: Dialect;
    /// The provider's format, for reading its usage and errors.
    const PROVIDER: Dialect;

    /// The provider's request from the client's `body`, read in place
    /// whichever tree holds it (see [`crate::json`]): the upstream side
    /// would otherwise copy every request it translates.
    fn request<J: Json>(&mut self, body: &J, stream: bool) -> Result<UpstreamRequest, ApiError>;

    /// A whole success body, and the usage read from it.
    fn response(&mut self, body: Value, usage: Option<Usage>) -> Result<Value, ApiError>;

    /// One provider stream event (`data` is its parsed JSON, when it is
    /// JSON), with the usage reported so far.
    fn event(
        &mut self,
        event: &SseEvent,
        data: Option<&Value>,
        usage: Option<Usage>,
        out: &mut Vec<SseEvent>,
    );

    /// The provider's stream has ended.
    fn end(&mut self, usage: Option<Usage>, out: &mut Vec<SseEvent>);
}

struct Translation<P> {
    pair: P,
    status: u16,
    parser: SseParser,
    usage: UsageAccumulator,
}

impl<P: Pair + 'static> Translation<P> {
    fn new(pair: P) -> Translation<P> {
        Translation {
            pair,
            status: 200,
            parser: SseParser::new(),
            usage: UsageAccumulator::new(P::PROVIDER),
        }
    }

    fn boxed(pair: P) -> Box<dyn Translator> {
        Box::new(Translation::new(pair))
    }

    fn event(&mut self, event: &SseEvent, out: &mut Vec<SseEvent>) {
        let data = serde_json::from_str::<Value>(event.data_str()).ok();
        if let Some(data) = &data {
            self.usage.feed_json(data);
        }
        self.pair
            .event(event, data.as_ref(), self.usage.usage(), out);
    }
}

impl<P: Pair + 'static> Translator for Translation<P> {
    fn request(&mut self, request: &LlmRequest) -> Result<UpstreamRequest, ApiError> {
        crate::with_json_body!(request, |body| self.pair.request(body, request.stream))
    }

    fn response_headers(&mut self, status: u16) -> HeaderEdits {
        self.status = status;
        HeaderEdits {
            set: Vec::new(),
            remove: vec!["content-length".to_owned()],
        }
    }

    fn response_body(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
        if self.status >= 400 {
            return Ok(self.error_body(self.status, body));
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            ApiError::new(
                ErrorKind::BadGateway,
                "The upstream provider's response is not valid JSON.",
            )
        })?;
        self.usage.feed_json(&value);
        let translated = self.pair.response(value, self.usage.usage())?;
        Ok(Some(serde_json::to_vec(&translated).unwrap_or_default()))
    }

    fn response_chunk(&mut self, chunk: &[u8], end_of_stream: bool) -> Option<Vec<u8>> {
        if self.status >= 400 {
            return None;
        }
        let failed_before = self.parser.overflowed();
        let mut out = Vec::new();
        for event in self.parser.feed(chunk) {
            self.event(&event, &mut out);
        }
        // An event over the parser's cap ends the stream (`crate::sse`).
        if failed_before {
            return Some(Vec::new());
        }
        if self.parser.overflowed() {
            out.push(crate::sse::error_event(
                P::CLIENT,
                &crate::sse::oversized_event_error(),
            ));
            return Some(write_events(&out));
        }
        if end_of_stream {
            if let Some(event) = self.parser.finish() {
                self.event(&event, &mut out);
            }
            self.pair.end(self.usage.usage(), &mut out);
        }
        Some(write_events(&out))
    }

    fn error_body(&self, status: u16, body: &[u8]) -> Option<Vec<u8>> {
        Some(ApiError::from_provider(P::PROVIDER, status, body).body(P::CLIENT))
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.usage()
    }
}

/// Conversation turns being assembled for providers that want alternating
/// roles (Anthropic, Gemini): consecutive content of one role shares a turn.
struct Turns(Vec<(&'static str, Vec<Value>)>);

impl Turns {
    fn push(&mut self, role: &'static str, content: Vec<Value>) {
        if content.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(content),
            _ => self.0.push((role, content)),
        }
    }
}

/// Copies `from[key]` to `to[new_key]` when present and not null.
fn copy_field<J: Json>(from: &J, key: &str, to: &mut Map<String, Value>, new_key: &str) {
    if let Some(value) = from.field(key).filter(|v| !v.is_null()) {
        to.insert(new_key.to_owned(), value.to_value());
    }
}

/// `stop` (a string or an array of strings) as an array.
fn stop_sequences<J: Json>(body: &J) -> Option<Value> {
    let stop = body.field("stop")?;
    match stop.kind() {
        Kind::String(stop) => Some(Value::Array(vec![Value::String(stop.to_owned())])),
        Kind::Array(_) => Some(stop.to_value()),
        _ => None,
    }
}

/// Whether the client set `stream_options.include_usage`.
fn include_usage<J: Json>(body: &J) -> bool {
    body.field("stream_options")
        .and_then(|o| o.field("include_usage"))
        .and_then(Json::as_bool)
        == Some(true)
}

/// A 400 for a request field the provider cannot express. The message names
/// the field and the provider, never the client's text.
fn unsupported(param: impl Into<String>, what: &str, provider: ProviderKind) -> ApiError {
    let param = param.into();
    ApiError::invalid(format!(
        "'{param}': {what} is not supported by {provider} providers."
    ))
    .with_param(param)
    .with_code("unsupported_parameter")
}

/// One OpenAI function tool, as every provider's translator reads it.
struct FunctionTool<'v, J> {
    name: Value,
    /// The description, when it is a string.
    description: Option<&'v str>,
    /// The JSON Schema of the arguments, when it is an object.
    parameters: Option<&'v J>,
}

/// Reads OpenAI `tools`: an array of `{"type": "function", "function": ...}`;
/// any other tool type is a 400 naming the field and `provider`.
fn function_tools<J: Json>(
    tools: &J,
    provider: ProviderKind,
) -> Result<Vec<FunctionTool<'_, J>>, ApiError> {
    let Some(tools) = tools.as_array() else {
        return Err(ApiError::invalid("'tools' must be an array.").with_param("tools"));
    };
    tools
        .iter()
        .enumerate()
        .map(
            |(i, tool)| match (tool.str_field("type"), tool.field("function")) {
                (Some("function"), Some(function)) => Ok(FunctionTool {
                    name: function
                        .field("name")
                        .map(Json::to_value)
                        .unwrap_or_default(),
                    description: function.str_field("description"),
                    parameters: function
                        .field("parameters")
                        .filter(|p| matches!(p.kind(), Kind::Object)),
                }),
                _ => Err(unsupported(
                    format!("tools[{i}].type"),
                    "tools other than functions",
                    provider,
                )),
            },
        )
        .collect()
}

/// OpenAI's `tool_choice`, as every provider's translator reads it.
enum ToolChoice<'v> {
    Auto,
    None,
    Required,
    /// `{"type": "function", "function": {"name": ...}}`
    Function(&'v str),
}

/// Reads `tool_choice`: `None` when absent or null, a 400 naming the field
/// when it is neither a mode nor a named function.
fn read_tool_choice<J: Json>(choice: Option<&J>) -> Result<Option<ToolChoice<'_>>, ApiError> {
    let choice = match choice.map(Json::kind) {
        None | Some(Kind::Null) => return Ok(None),
        Some(Kind::String("auto")) => ToolChoice::Auto,
        Some(Kind::String("none")) => ToolChoice::None,
        Some(Kind::String("required")) => ToolChoice::Required,
        Some(Kind::String(_)) => {
            return Err(ApiError::invalid(
                "'tool_choice' must be auto, none, required or a named function.",
            )
            .with_param("tool_choice"))
        }
        Some(_) => match choice
            .and_then(|c| c.field("function"))
            .and_then(|f| f.str_field("name"))
        {
            Some(name) => ToolChoice::Function(name),
            None => {
                return Err(
                    ApiError::invalid("'tool_choice' names no function.").with_param("tool_choice")
                )
            }
        },
    };
    Ok(Some(choice))
}

/// A part of an OpenAI user message, as every provider's translator reads it.
enum UserPart<'v> {
    /// Text, never empty.
    Text(&'v str),
    /// An image by URL: a `data:` URL or another.
    Image(&'v str),
}

/// The parts of an OpenAI user message's content array (`param`), empty
/// text dropped; a part of another type is a 400 naming it and `provider`.
fn user_parts<'v, J: Json>(
    parts: &'v [J],
    param: &str,
    provider: ProviderKind,
) -> Result<Vec<UserPart<'v>>, ApiError> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        match part.str_field("type") {
            Some("text") => {
                if let Some(text) = part.str_field("text").filter(|t| !t.is_empty()) {
                    out.push(UserPart::Text(text));
                }
            }
            Some("image_url") => out.push(UserPart::Image(image_url(part))),
            _ => {
                return Err(unsupported(
                    format!("{param}[{j}].type"),
                    "this content part type (only text and image_url)",
                    provider,
                ))
            }
        }
    }
    Ok(out)
}

fn to_upstream(path: String, headers: HeaderEdits, body: &Map<String, Value>) -> UpstreamRequest {
    UpstreamRequest {
        path,
        headers,
        body: Some(serde_json::to_vec(body).unwrap_or_default()),
    }
}

/// A tool call's `arguments` string as the JSON object Anthropic and Gemini
/// want; an empty string (a call without arguments) is `{}`.
fn arguments_object<J: Json>(
    arguments: Option<&J>,
    param: impl FnOnce() -> String,
) -> Result<Value, ApiError> {
    let text = arguments.and_then(Json::as_str).unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => {
            Err(ApiError::invalid("Tool call arguments must be a JSON object.").with_param(param()))
        }
    }
}

/// The URL of an OpenAI `image_url` content part: the part's `image_url`
/// as a string, or its `url` member; empty when neither is there.
fn image_url<J: Json>(part: &J) -> &str {
    part.field("image_url")
        .and_then(|image| image.as_str().or_else(|| image.str_field("url")))
        .unwrap_or_default()
}

/// The text of an OpenAI content value: a string, or the `text` of its text
/// parts joined with newlines (tool results and system prompts).
fn joined_text<J: Json>(content: Option<&J>) -> String {
    match content.map(Json::kind) {
        Some(Kind::String(text)) => text.to_owned(),
        Some(Kind::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.str_field("text"))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_pairs_are_400_naming_the_pair() {
        let err = match translator(
            &ApiKind::Embeddings,
            ProviderKind::Anthropic,
            "m",
            &TranslateOptions::default(),
        ) {
            Err(err) => err,
            Ok(_) => panic!("embeddings to anthropic must be refused"),
        };
        assert_eq!(err.status(), 400);
        assert!(
            err.message.contains("embeddings") && err.message.contains("anthropic"),
            "{}",
            err.message
        );
        assert!(translator(
            &ApiKind::Models,
            ProviderKind::Openai,
            "m",
            &TranslateOptions::default()
        )
        .is_err());
    }
}
