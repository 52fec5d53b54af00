//! Every user-visible text field of a request or response, in every API
//! format, visited in document order.
//!
//! Token estimation reads these fields and PII scanning rewrites them, so
//! both go through one walker per format instead of each filter knowing JSON
//! paths. The walker is written once, generically over `Node`, and runs on
//! any [`Json`] tree for reading (the borrowed one a request is parsed into,
//! or serde_json's; no copies) and on `&mut Value` for rewriting in place
//! (every other field, and the order of all fields, stays as it was).
//!
//! Tool arguments that are JSON objects rather than strings (Anthropic
//! `tool_use.input`, Gemini `functionCall.args` and `functionResponse.response`)
//! are visited as their JSON text. A replacement for such a field is parsed
//! back as JSON; if it is no longer valid JSON it is stored as a JSON string,
//! so a rewrite meant to remove something never leaves the original behind.
//!
//! Text documents sent as base64 are visited decoded, and a rewrite is
//! encoded back (see [`crate::document`]); documents that cannot be read as
//! text are reported by [`for_each_request_content`], never passed over
//! silently.
//!
//! # A worked example
//!
//! A small chat request: a system prompt, a user turn with a text part and
//! an image, a tool and a caller identifier. The walker visits the four
//! pieces of text the model or the provider reads, in document order, and
//! nothing else: not the model name, the settings, the roles or the image.
//! The tool's definition is visited whole, as JSON text, since its
//! description and schema reach the model too.
//!
//! ```
//! use llm_api::{ApiKind, LlmRequest, Role, TextKind};
//!
//! let api = ApiKind::classify("POST", "/v1/chat/completions");
//! let body = br#"{
//!   "model": "gpt-4o-mini",
//!   "temperature": 0.2,
//!   "messages": [
//!     {"role": "system", "content": "Answer briefly."},
//!     {"role": "user", "content": [
//!       {"type": "text", "text": "Mail jane@example.com the summary."},
//!       {"type": "image_url", "image_url": {"url": "https://example.com/q3.png"}}
//!     ]}
//!   ],
//!   "tools": [{"type": "function", "function": {"name": "send_mail"}}],
//!   "user": "u-42"
//! }"#;
//! let mut request = LlmRequest::parse(&api, body)?;
//!
//! let mut visited = Vec::new();
//! request.for_each_text(&api, |field| {
//!     visited.push((field.role, field.kind, field.text.to_owned()))
//! });
//! assert_eq!(
//!     visited,
//!     [
//!         (Role::System, TextKind::Message, "Answer briefly.".to_owned()),
//!         (Role::User, TextKind::Message, "Mail jane@example.com the summary.".to_owned()),
//!         (
//!             Role::System,
//!             TextKind::ToolDefinition,
//!             r#"{"type":"function","function":{"name":"send_mail"}}"#.to_owned()
//!         ),
//!         (Role::User, TextKind::Identifier, "u-42".to_owned()),
//!     ]
//! );
//!
//! // Rewriting offers the same fields; what a stage returns replaces the
//! // text in place, and every other member keeps its value and its place.
//! let changed = request.rewrite_text(&api, |field| {
//!     field
//!         .text
//!         .contains("jane@example.com")
//!         .then(|| field.text.replace("jane@example.com", "[EMAIL]"))
//! });
//! assert!(changed);
//! let sent = String::from_utf8(request.to_bytes()).unwrap_or_default();
//! assert!(sent.starts_with(r#"{"model":"gpt-4o-mini","temperature":0.2,"messages""#));
//! assert!(sent.contains(r#""text":"Mail [EMAIL] the summary.""#));
//! # Ok::<(), llm_api::ApiError>(())
//! ```

use crate::api::ApiKind;
use crate::document::{self, Carrier, Class, Unreadability, Unreadable};
use crate::json::Json;
use crate::member;
use crate::request::LlmRequest;
use crate::with_json_body;
use serde_json::Value;

/// Who wrote a piece of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// System prompts, developer messages, Responses `instructions`, tool
    /// definitions and output schemas.
    System,
    User,
    Assistant,
    /// Tool (function) results sent back to the model.
    Tool,
}

/// What a piece of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TextKind {
    /// Conversation text: message content, system prompts, model output.
    Message,
    /// A participant name (OpenAI's message `name`).
    Name,
    /// Arguments of a tool call, as JSON text.
    ToolArguments,
    /// The result of a tool call.
    ToolResult,
    /// Text to embed.
    EmbeddingInput,
    /// A tool or function definition (name, description, parameter schema),
    /// as JSON text: descriptions, enums and examples reach the model.
    ToolDefinition,
    /// Caller identifiers the provider reads: `user`, `safety_identifier`,
    /// `metadata` (as JSON text).
    Identifier,
    /// Text in request settings that the model reads: output schemas
    /// (`response_format`, `text.format`, Gemini `responseSchema`),
    /// predicted output, prompt template variables.
    Setting,
    /// A document or search result given to the model (Anthropic
    /// `document` and `search_result` blocks: text, title, context).
    Document,
    /// Reasoning or thinking text (Anthropic `thinking` blocks, Responses
    /// reasoning items and summaries, `reasoning_content`, Gemini thought
    /// parts).
    Reasoning,
    /// A content part or item of a type the walker does not know, as JSON
    /// text: scanned rather than passed through unseen.
    Other,
    /// Log-probabilities of a response (OpenAI `logprobs`, Gemini
    /// `logprobsResult`), as JSON text. They repeat the output in token
    /// pieces, which no scan of one piece can judge, so they are offered to
    /// rewriting only (a stage that rewrites the output replaces them); the
    /// reading walkers skip them, as they are not text of their own.
    LogProbs,
}

/// One visited field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextField<'t> {
    pub role: Role,
    pub kind: TextKind,
    pub text: &'t str,
    /// Whether the field may be one piece of a streamed text (a stream
    /// event's delta, or any Gemini chunk's part), to be read on with the
    /// next piece of the same kind. Otherwise it holds a whole text: every
    /// request field, and the stream events that repeat a whole text
    /// (Responses `.done` events, finished items, the completed response).
    pub delta: bool,
}

/// The body shapes the walker knows; several [`ApiKind`]s share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OpenAiChat,
    OpenAiEmbeddings,
    OpenAiResponses,
    Anthropic,
    GeminiGenerate,
    GeminiEmbed,
    None,
}

impl Shape {
    fn of(api: &ApiKind) -> Shape {
        match api {
            ApiKind::ChatCompletions | ApiKind::AzureChatCompletions { .. } => Shape::OpenAiChat,
            ApiKind::Embeddings | ApiKind::AzureEmbeddings { .. } => Shape::OpenAiEmbeddings,
            ApiKind::Responses => Shape::OpenAiResponses,
            ApiKind::AnthropicMessages => Shape::Anthropic,
            ApiKind::GeminiGenerate { .. } => Shape::GeminiGenerate,
            ApiKind::GeminiEmbed { .. } => Shape::GeminiEmbed,
            ApiKind::Models | ApiKind::GatewayUsage | ApiKind::Other => Shape::None,
        }
    }
}

/// What the walker finds in a request: a text field, or a document it
/// cannot read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content<'t> {
    Text(TextField<'t>),
    Unreadable(Unreadable),
}

/// Calls `visit` for every text field of a request body of `api`, and for
/// every document in it that is not text (a binary type, or text in an
/// encoding that does not decode). Images, audio and video are not visited.
pub fn for_each_request_content<J: Json>(
    api: &ApiKind,
    body: &J,
    mut visit: impl FnMut(Content<'_>),
) {
    let shape = Shape::of(api);
    let mut sink = |place: Place, node: &J| read(place, node, &mut visit);
    request_root(shape, body.members(), &mut sink);
}

/// Calls `visit` for every text field of a request body of `api`.
pub fn for_each_request_text<J: Json>(
    api: &ApiKind,
    body: &J,
    mut visit: impl FnMut(TextField<'_>),
) {
    for_each_request_content(api, body, |content| {
        if let Content::Text(field) = content {
            visit(field)
        }
    });
}

/// Offers every text field of a request body of `api` to `rewrite`, which
/// returns the new text or `None` to keep it. Returns whether anything changed.
pub fn rewrite_request_text(
    api: &ApiKind,
    body: &mut Value,
    mut rewrite: impl FnMut(TextField<'_>) -> Option<String>,
) -> bool {
    let shape = Shape::of(api);
    let mut changed = false;
    let mut sink = |place: Place, node: &mut Value| changed |= write(place, node, &mut rewrite);
    request_root(
        shape,
        body.as_object_mut()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v)),
        &mut sink,
    );
    changed
}

/// Calls `visit` for every text field of a response body of `api` — a whole
/// JSON response or the data of one stream event (OpenAI chunk deltas,
/// Anthropic content block events, Gemini chunks, Responses API deltas and
/// the events that repeat a whole text). Log-probabilities are not visited
/// (see [`TextKind::LogProbs`]).
pub fn for_each_response_text<J: Json>(
    api: &ApiKind,
    body: &J,
    mut visit: impl FnMut(TextField<'_>),
) {
    let mut sink = |place: Place, node: &J| {
        if place.kind != TextKind::LogProbs {
            read(place, node, &mut |content| {
                if let Content::Text(field) = content {
                    visit(field)
                }
            })
        }
    };
    response_root(Shape::of(api), body, &mut sink);
}

/// Rewrites the text fields of a response body or stream event in place,
/// log-probabilities included; returns whether anything changed.
pub fn rewrite_response_text(
    api: &ApiKind,
    body: &mut Value,
    mut rewrite: impl FnMut(TextField<'_>) -> Option<String>,
) -> bool {
    let mut changed = false;
    let mut sink = |place: Place, node: &mut Value| changed |= write(place, node, &mut rewrite);
    response_root(Shape::of(api), body, &mut sink);
    changed
}

impl LlmRequest {
    /// See [`for_each_request_content`].
    pub fn for_each_content(&self, api: &ApiKind, visit: impl FnMut(Content<'_>)) {
        with_json_body!(self, |body| for_each_request_content(api, body, visit));
    }

    /// See [`for_each_request_text`].
    pub fn for_each_text(&self, api: &ApiKind, visit: impl FnMut(TextField<'_>)) {
        with_json_body!(self, |body| for_each_request_text(api, body, visit));
    }

    /// See [`rewrite_request_text`]. The body is owned from then on (see
    /// [`LlmRequest::body_mut`]), so a stage that rewrites only some
    /// requests reads with [`LlmRequest::for_each_text`] first.
    pub fn rewrite_text(
        &mut self,
        api: &ApiKind,
        rewrite: impl FnMut(TextField<'_>) -> Option<String>,
    ) -> bool {
        rewrite_request_text(api, self.body_mut(), rewrite)
    }
}

/// Where a visited node sits, and how it holds its text.
#[derive(Debug, Clone, Copy)]
struct Place {
    role: Role,
    kind: TextKind,
    form: Form,
    delta: bool,
}

/// How a visited node holds its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// A JSON string.
    Text,
    /// JSON, shown as its text.
    Json,
    /// A document string in `carrier` (`declared`: its media type says
    /// text), visited decoded.
    Encoded {
        carrier: Carrier,
        declared: bool,
        part: &'static str,
    },
    /// A binary document (the part), reported and not read.
    Binary { part: &'static str },
}

impl Place {
    fn text(role: Role, kind: TextKind) -> Place {
        Place {
            role,
            kind,
            form: Form::Text,
            delta: false,
        }
    }

    fn json(role: Role, kind: TextKind) -> Place {
        Place {
            form: Form::Json,
            ..Place::text(role, kind)
        }
    }

    /// The same place in a stream event's delta. JSON values (tool
    /// arguments as objects, parts of unknown types) are whole in any event.
    fn delta(self) -> Place {
        Place {
            delta: self.form == Form::Text,
            ..self
        }
    }

    /// The same place, holding the given kind of text.
    fn kind(self, kind: TextKind) -> Place {
        Place { kind, ..self }
    }
}

fn read(place: Place, node: &impl Json, visit: &mut impl FnMut(Content<'_>)) {
    let field = |text| {
        Content::Text(TextField {
            role: place.role,
            kind: place.kind,
            text,
            delta: place.delta,
        })
    };
    let unreadable = |part, reason| {
        Content::Unreadable(Unreadable {
            role: place.role,
            part,
            reason,
        })
    };
    match place.form {
        Form::Json => {
            if !node.is_null() {
                visit(field(&node.to_text()));
            }
        }
        Form::Text => {
            if let Some(text) = node.as_str() {
                visit(field(text));
            }
        }
        Form::Encoded {
            carrier,
            declared,
            part,
        } => match node
            .as_str()
            .map(|data| document::decode(carrier, data, declared))
        {
            Some(Ok(text)) => visit(field(&text)),
            Some(Err(reason)) => visit(unreadable(part, reason)),
            None => visit(unreadable(part, Unreadability::Invalid)),
        },
        Form::Binary { part } => visit(unreadable(part, Unreadability::Binary)),
    }
}

fn write(
    place: Place,
    node: &mut Value,
    rewrite: &mut impl FnMut(TextField<'_>) -> Option<String>,
) -> bool {
    let field = |text| TextField {
        role: place.role,
        kind: place.kind,
        text,
        delta: place.delta,
    };
    match place.form {
        Form::Binary { .. } => false,
        // What does not decode is not rewritten: readers see it as
        // unreadable, and a stage refuses it before it rewrites.
        Form::Encoded {
            carrier, declared, ..
        } => {
            let Value::String(data) = node else {
                return false;
            };
            let Ok(text) = document::decode(carrier, data, declared) else {
                return false;
            };
            match rewrite(field(&text)) {
                Some(new) if new != text => {
                    *data = document::encode(carrier, data, &new);
                    true
                }
                _ => false,
            }
        }
        Form::Json => {
            if node.is_null() {
                return false;
            }
            let text = node.to_string();
            let new = match rewrite(field(&text)) {
                Some(new) if new != text => new,
                _ => return false,
            };
            let new = serde_json::from_str(&new).unwrap_or(Value::String(new));
            let changed = *node != new;
            *node = new;
            changed
        }
        Form::Text => match node {
            Value::String(text) => match rewrite(field(text)) {
                Some(new) if new != *text => {
                    *text = new;
                    true
                }
                _ => false,
            },
            _ => false,
        },
    }
}

/// A JSON node, shared or exclusive: what lets one walker serve both reading
/// and rewriting.
trait Node<'a>: Sized + 'a {
    type Json: Json;
    fn value(&self) -> &Self::Json;
    fn field(self, key: &str) -> Option<Self>;
    fn elements(self) -> impl Iterator<Item = Self> + 'a;
    fn entries(self) -> impl Iterator<Item = (&'a str, Self)> + 'a;
}

impl<'a, J: Json + 'a> Node<'a> for &'a J {
    type Json = J;
    fn value(&self) -> &J {
        self
    }
    fn field(self, key: &str) -> Option<Self> {
        Json::field(self, key)
    }
    fn elements(self) -> impl Iterator<Item = Self> + 'a {
        Json::elements(self)
    }
    fn entries(self) -> impl Iterator<Item = (&'a str, Self)> + 'a {
        self.members()
    }
}

impl<'a> Node<'a> for &'a mut Value {
    type Json = Value;
    fn value(&self) -> &Value {
        self
    }
    fn field(self, key: &str) -> Option<Self> {
        member::field_mut(self, key)
    }
    fn elements(self) -> impl Iterator<Item = Self> + 'a {
        self.as_array_mut().into_iter().flatten()
    }
    fn entries(self) -> impl Iterator<Item = (&'a str, Self)> + 'a {
        self.as_object_mut()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
    }
}

type Sink<'s, N> = dyn FnMut(Place, N) + 's;

fn role_of(node: &impl Json, default: Role) -> Role {
    match node.str_field("role") {
        Some("system" | "developer") => Role::System,
        Some("user") => Role::User,
        Some("assistant" | "model") => Role::Assistant,
        Some("tool" | "function") => Role::Tool,
        _ => default,
    }
}

/// Each element of an array node (one tool definition each), or the node.
fn each<'a, N: Node<'a>>(node: N, place: Place, sink: &mut Sink<'_, N>) {
    if node.value().as_array().is_some() {
        for item in node.elements() {
            sink(place, item);
        }
    } else {
        sink(place, node);
    }
}

fn request_root<'a, N: Node<'a>>(
    shape: Shape,
    root: impl Iterator<Item = (&'a str, N)>,
    sink: &mut Sink<'_, N>,
) {
    let tools = Place::json(Role::System, TextKind::ToolDefinition);
    let setting = Place::json(Role::System, TextKind::Setting);
    let identifier = Place::text(Role::User, TextKind::Identifier);
    for (key, node) in root {
        match (shape, key) {
            (Shape::OpenAiChat | Shape::Anthropic, "messages") => {
                for message in node.elements() {
                    message_fields(message, Role::User, sink);
                }
            }
            (Shape::OpenAiEmbeddings, "input") => match node.value().as_array() {
                Some(_) => {
                    for item in node.elements() {
                        sink(Place::text(Role::User, TextKind::EmbeddingInput), item);
                    }
                }
                _ => sink(Place::text(Role::User, TextKind::EmbeddingInput), node),
            },
            (Shape::OpenAiResponses, "instructions") => match node.value().as_array() {
                Some(_) => {
                    for item in node.elements() {
                        responses_item(item, Role::System, sink);
                    }
                }
                _ => sink(Place::text(Role::System, TextKind::Message), node),
            },
            (Shape::OpenAiResponses, "input") => match node.value().as_array() {
                Some(_) => {
                    for item in node.elements() {
                        responses_item(item, Role::User, sink);
                    }
                }
                _ => sink(Place::text(Role::User, TextKind::Message), node),
            },
            (Shape::Anthropic, "system") => {
                content(node, Place::text(Role::System, TextKind::Message), sink)
            }
            (Shape::GeminiGenerate, "systemInstruction" | "system_instruction") => {
                gemini_content(node, Role::System, TextKind::Message, sink)
            }
            (Shape::GeminiGenerate, "contents") => {
                for item in node.elements() {
                    gemini_content(item, Role::User, TextKind::Message, sink);
                }
            }
            (Shape::GeminiGenerate, "generationConfig" | "generation_config") => {
                for (key, value) in node.entries() {
                    if matches!(
                        key,
                        "responseSchema"
                            | "response_schema"
                            | "responseJsonSchema"
                            | "response_json_schema"
                    ) {
                        sink(setting, value);
                    }
                }
            }
            (Shape::GeminiEmbed, "content") => {
                gemini_content(node, Role::User, TextKind::EmbeddingInput, sink)
            }
            (Shape::GeminiEmbed, "title") => {
                sink(Place::text(Role::User, TextKind::EmbeddingInput), node)
            }
            (Shape::GeminiEmbed, "requests") => {
                for request in node.elements() {
                    request_root(shape, request.entries(), sink);
                }
            }
            (
                Shape::OpenAiChat
                | Shape::OpenAiResponses
                | Shape::Anthropic
                | Shape::GeminiGenerate,
                "tools",
            )
            | (Shape::OpenAiChat, "functions") => each(node, tools, sink),
            (Shape::OpenAiChat, "response_format" | "prediction")
            | (Shape::OpenAiResponses, "text" | "prompt") => sink(setting, node),
            (
                Shape::OpenAiChat | Shape::OpenAiResponses | Shape::OpenAiEmbeddings,
                "user" | "safety_identifier",
            ) => sink(identifier, node),
            (Shape::OpenAiChat | Shape::OpenAiResponses | Shape::Anthropic, "metadata") => {
                sink(identifier.json_of(), node)
            }
            _ => {}
        }
    }
}

impl Place {
    /// The same place, holding JSON to be shown as text.
    fn json_of(self) -> Place {
        Place {
            form: Form::Json,
            ..self
        }
    }
}

fn response_root<'a, N: Node<'a>>(shape: Shape, body: N, sink: &mut Sink<'_, N>) {
    let logprobs = Place::json(Role::Assistant, TextKind::LogProbs);
    match shape {
        Shape::OpenAiChat => {
            if let Some(choices) = body.field("choices") {
                for choice in choices.elements() {
                    for (key, node) in choice.entries() {
                        match key {
                            "message" => message_fields(node, Role::Assistant, sink),
                            "delta" => message_fields(node, Role::Assistant, &mut |place, n| {
                                sink(place.delta(), n)
                            }),
                            "logprobs" => sink(logprobs, node),
                            _ => {}
                        }
                    }
                }
            }
        }
        Shape::OpenAiResponses => responses_output(body, sink),
        Shape::Anthropic => anthropic_response(body, sink),
        Shape::GeminiGenerate => {
            if let Some(candidates) = body.field("candidates") {
                for candidate in candidates.elements() {
                    for (key, node) in candidate.entries() {
                        match key {
                            // A whole response and a stream's chunk look
                            // alike; a chunk's parts are pieces of the text.
                            "content" => gemini_content(
                                node,
                                Role::Assistant,
                                TextKind::Message,
                                &mut |place, n| sink(place.delta(), n),
                            ),
                            "logprobsResult" | "logprobs_result" => sink(logprobs, node),
                            _ => {}
                        }
                    }
                }
            }
        }
        Shape::OpenAiEmbeddings | Shape::GeminiEmbed | Shape::None => {}
    }
}

/// An OpenAI chat message (or stream delta) or an Anthropic message.
fn message_fields<'a, N: Node<'a>>(message: N, default: Role, sink: &mut Sink<'_, N>) {
    let role = role_of(message.value(), default);
    let arguments = Place::text(Role::Assistant, TextKind::ToolArguments);
    let kind = if role == Role::Tool {
        TextKind::ToolResult
    } else {
        TextKind::Message
    };
    for (key, node) in message.entries() {
        match key {
            "content" => content(node, Place::text(role, kind), sink),
            "refusal" => sink(Place::text(role, TextKind::Message), node),
            "name" => sink(Place::text(role, TextKind::Name), node),
            "reasoning_content" | "reasoning" => {
                content(node, Place::text(role, TextKind::Reasoning), sink)
            }
            "audio" => field_at(
                node,
                "transcript",
                Place::text(role, TextKind::Message),
                sink,
            ),
            "tool_calls" => {
                for call in node.elements() {
                    for (key, value) in call.entries() {
                        match key {
                            "function" => field_at(value, "arguments", arguments, sink),
                            // Custom tools: free-form input.
                            "custom" => field_at(value, "input", arguments, sink),
                            _ => {}
                        }
                    }
                }
            }
            "function_call" => field_at(node, "arguments", arguments, sink),
            _ => {}
        }
    }
}

/// The member `key` of `node`, if any, at `place`.
fn field_at<'a, N: Node<'a>>(node: N, key: &str, place: Place, sink: &mut Sink<'_, N>) {
    if let Some(value) = node.field(key) {
        sink(place, value);
    }
}

/// A content field: a string, or an array of typed parts / blocks (OpenAI
/// parts, Responses parts, Anthropic blocks). A part of a type not known
/// here is visited as JSON text (kind [`TextKind::Other`]); only the types
/// known to carry media or opaque data alone are passed over.
fn content<'a, N: Node<'a>>(node: N, place: Place, sink: &mut Sink<'_, N>) {
    if node.value().as_str().is_some() {
        sink(place, node);
        return;
    }
    if node.value().is_object() {
        part(node, place, sink);
        return;
    }
    for item in node.elements() {
        if item.value().as_str().is_some() {
            sink(place, item);
        } else {
            part(item, place, sink);
        }
    }
}

/// One typed part or block of a content field.
fn part<'a, N: Node<'a>>(part: N, place: Place, sink: &mut Sink<'_, N>) {
    let Some(kind) = part.value().str_field("type") else {
        // Untyped: a Responses reasoning summary `{text}`, or unknown.
        match Json::field(part.value(), "text") {
            Some(_) => {
                if let Some(text) = part.field("text") {
                    sink(place, text);
                }
            }
            None => sink(place.kind(TextKind::Other).json_of(), part),
        }
        return;
    };
    let document = Place::text(place.role, TextKind::Document);
    match kind {
        "text" | "input_text" | "output_text" | "summary_text" | "reasoning_text" => {
            for (key, value) in part.entries() {
                match key {
                    "text" => sink(place, value),
                    "logprobs" => sink(Place::json(Role::Assistant, TextKind::LogProbs), value),
                    _ => {}
                }
            }
        }
        "refusal" => field_at(part, "refusal", place, sink),
        "thinking" => field_at(part, "thinking", place.kind(TextKind::Reasoning), sink),
        "tool_use" | "server_tool_use" | "mcp_tool_use" => field_at(
            part,
            "input",
            Place::json(Role::Assistant, TextKind::ToolArguments),
            sink,
        ),
        "tool_result" | "mcp_tool_result" => {
            if let Some(result) = part.field("content") {
                content(result, Place::text(Role::Tool, TextKind::ToolResult), sink);
            }
        }
        "document" | "search_result" => {
            for (key, value) in part.entries() {
                match key {
                    "title" | "context" => sink(document, value),
                    "content" => content(value, document, sink),
                    "source" => document_source(value, document, sink),
                    _ => {}
                }
            }
        }
        // OpenAI chat: `{"type": "file", "file": {"file_data", ...}}`.
        "file" => {
            if let Some(file) = part.field("file") {
                file_data(file, document, "file", sink);
            }
        }
        // Responses: `{"type": "input_file", "file_data", ...}`.
        "input_file" => file_data(part, document, "input_file", sink),
        // Media, and data only the provider can read (encrypted thinking).
        "image" | "image_url" | "input_image" | "input_audio" | "audio" | "redacted_thinking"
        | "container_upload" => {}
        _ => sink(place.kind(TextKind::Other).json_of(), part),
    }
}

/// An Anthropic document `source`: plain text, content blocks, or base64
/// data of its `media_type` (see [`document_place`]). A URL source is
/// fetched by the provider: not in the request.
fn document_source<'a, N: Node<'a>>(source: N, place: Place, sink: &mut Sink<'_, N>) {
    match source.value().str_field("type") {
        Some("base64") => {
            let class = document::class(source.value().str_field("media_type"));
            if let Some(place) = document_place(place, class, Carrier::Base64, "document") {
                field_at(source, "data", place, sink);
            }
        }
        Some("text") => {
            if let Some(data) = source.field("data") {
                sink(place, data);
            }
        }
        Some("content") => {
            if let Some(blocks) = source.field("content") {
                content(blocks, place, sink);
            }
        }
        // The search_result `source` is a string (a URL or a name).
        None if source.value().as_str().is_some() => sink(place, source),
        _ => {}
    }
}

/// Where a base64 document of `class` is visited: decoded when it is text
/// or of no declared type, reported when binary; media is passed over.
fn document_place(
    place: Place,
    class: Class,
    carrier: Carrier,
    part: &'static str,
) -> Option<Place> {
    let form = match class {
        Class::Text | Class::Undeclared => Form::Encoded {
            carrier,
            declared: class == Class::Text,
            part,
        },
        Class::Binary => Form::Binary { part },
        Class::Media => return None,
    };
    Some(Place {
        form,
        kind: TextKind::Document,
        ..place
    })
}

/// The `file_data` of an OpenAI file: a base64 `data:` URL of its media
/// type, or bare base64 of no declared type. A `data:` URL that is not
/// base64 does not decode, so it is reported as unreadable.
fn file_data<'a, N: Node<'a>>(file: N, place: Place, part: &'static str, sink: &mut Sink<'_, N>) {
    let Some(data) = file.value().str_field("file_data") else {
        return;
    };
    let place = match document::data_url(data) {
        Some((_, media_type, _)) => document_place(
            place,
            document::class(Some(media_type)),
            Carrier::DataUrl,
            part,
        ),
        None if data
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("data:")) =>
        {
            document_place(place, Class::Text, Carrier::DataUrl, part)
        }
        None => document_place(place, Class::Undeclared, Carrier::Base64, part),
    };
    if let Some(place) = place {
        field_at(file, "file_data", place, sink);
    }
}

/// One item of a Responses API `input` or `output`.
fn responses_item<'a, N: Node<'a>>(item: N, default: Role, sink: &mut Sink<'_, N>) {
    let arguments = Place::text(Role::Assistant, TextKind::ToolArguments);
    let result = Place::text(Role::Tool, TextKind::ToolResult);
    match item.value().str_field("type") {
        Some("function_call" | "custom_tool_call" | "mcp_call") => {
            for (key, value) in item.entries() {
                match key {
                    "arguments" | "input" => sink(arguments, value),
                    "output" => sink(result, value),
                    _ => {}
                }
            }
        }
        Some("function_call_output" | "custom_tool_call_output") => {
            if let Some(output) = item.field("output") {
                content(output, result, sink);
            }
        }
        Some("reasoning") => {
            let reasoning = Place::text(Role::Assistant, TextKind::Reasoning);
            for (key, value) in item.entries() {
                if key == "summary" || key == "content" {
                    content(value, reasoning, sink);
                }
            }
        }
        Some("message") | None => {
            let role = role_of(item.value(), default);
            if let Some(parts) = item.field("content") {
                content(parts, Place::text(role, TextKind::Message), sink);
            }
        }
        // No text: a reference to an earlier item, generated media, or a
        // screenshot (base64, which would only cost scanning and count as
        // text).
        Some("item_reference" | "image_generation_call" | "computer_call_output") => {}
        Some(_) => sink(Place::json(default, TextKind::Other), item),
    }
}

/// A Responses API response, or one of its stream events. Deltas are pieces
/// of a streamed text; `.done` events, finished parts and items and the
/// completed response repeat whole texts.
fn responses_output<'a, N: Node<'a>>(body: N, sink: &mut Sink<'_, N>) {
    let assistant = Place::text(Role::Assistant, TextKind::Message);
    let kind = match body.value().str_field("type") {
        Some("response.output_text.delta" | "response.refusal.delta") => Some(TextKind::Message),
        Some(
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta",
        ) => Some(TextKind::ToolArguments),
        Some(
            "response.reasoning_summary_text.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning.delta",
        ) => Some(TextKind::Reasoning),
        _ => None,
    };
    if let Some(kind) = kind {
        for (key, node) in body.entries() {
            match key {
                "delta" => sink(Place::text(Role::Assistant, kind).delta(), node),
                "logprobs" => sink(Place::json(Role::Assistant, TextKind::LogProbs), node),
                _ => {}
            }
        }
        return;
    }
    let done = match body.value().str_field("type") {
        Some("response.reasoning_summary_text.done" | "response.reasoning_text.done") => {
            assistant.kind(TextKind::Reasoning)
        }
        _ => assistant,
    };
    for (key, node) in body.entries() {
        match key {
            "output" => {
                for item in node.elements() {
                    responses_item(item, Role::Assistant, sink);
                }
            }
            "response" => responses_output(node, sink),
            "item" => responses_item(node, Role::Assistant, sink),
            "part" => content(node, done, sink),
            "text" | "refusal" => sink(done, node),
            "arguments" | "input" => sink(done.kind(TextKind::ToolArguments), node),
            "logprobs" => sink(Place::json(Role::Assistant, TextKind::LogProbs), node),
            _ => {}
        }
    }
}

/// An Anthropic message response, or one of its stream events.
fn anthropic_response<'a, N: Node<'a>>(body: N, sink: &mut Sink<'_, N>) {
    let assistant = Place::text(Role::Assistant, TextKind::Message);
    for (key, node) in body.entries() {
        match key {
            "content" => content(node, assistant, sink),
            // `message_start` and `content_block_start` open a text with
            // what is whole so far (mostly empty); deltas go on with it.
            "message" => anthropic_response(node, sink),
            "content_block" => content(node, assistant, sink),
            "delta" => {
                let place = match node.value().str_field("type") {
                    Some("text_delta") => Some(("text", assistant)),
                    Some("thinking_delta") => {
                        Some(("thinking", assistant.kind(TextKind::Reasoning)))
                    }
                    Some("input_json_delta") => {
                        Some(("partial_json", assistant.kind(TextKind::ToolArguments)))
                    }
                    _ => None,
                };
                if let Some((field, place)) = place {
                    if let Some(text) = node.field(field) {
                        sink(place.delta(), text);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A Gemini `Content`: `{role, parts: [...]}`; every part field in camelCase
/// and in snake_case, as the API accepts both. `text_kind` is the kind of
/// plain text parts (message or embedding input).
fn gemini_content<'a, N: Node<'a>>(
    node: N,
    default: Role,
    text_kind: TextKind,
    sink: &mut Sink<'_, N>,
) {
    let role = role_of(node.value(), default);
    let Some(parts) = node.field("parts") else {
        return;
    };
    for part in parts.elements() {
        let thought = Json::field(part.value(), "thought").and_then(Json::as_bool) == Some(true);
        let text = if thought {
            TextKind::Reasoning
        } else {
            text_kind
        };
        for (key, value) in part.entries() {
            match key {
                "text" => sink(Place::text(role, text), value),
                "functionCall" | "function_call" => {
                    if let Some(args) = value.field("args") {
                        sink(Place::json(Role::Assistant, TextKind::ToolArguments), args);
                    }
                }
                "functionResponse" | "function_response" => {
                    if let Some(response) = value.field("response") {
                        sink(Place::json(Role::Tool, TextKind::ToolResult), response);
                    }
                }
                "executableCode" | "executable_code" => {
                    sink(Place::json(role, TextKind::Message), value)
                }
                "codeExecutionResult" | "code_execution_result" => {
                    sink(Place::json(Role::Tool, TextKind::ToolResult), value)
                }
                "inlineData" | "inline_data" => {
                    let data = value.value();
                    let mime = data
                        .str_field("mimeType")
                        .or_else(|| data.str_field("mime_type"));
                    let place = document_place(
                        Place::text(role, TextKind::Document),
                        document::class(mime),
                        Carrier::Base64,
                        "inlineData",
                    );
                    if let Some(place) = place {
                        field_at(value, "data", place, sink);
                    }
                }
                // Files by reference (fetched by the provider), and part
                // metadata: no text.
                "fileData" | "file_data" | "thought" | "thoughtSignature" | "thought_signature"
                | "videoMetadata" | "video_metadata" | "mediaResolution" | "media_resolution" => {}
                _ => sink(Place::json(role, TextKind::Other), value),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fields visited in `body`, the same read through serde_json's
    /// tree and through the borrowed one a request is parsed into.
    fn collect(api: &ApiKind, body: Value) -> Vec<(Role, TextKind, String)> {
        fn walk<J: Json>(api: &ApiKind, body: &J) -> Vec<(Role, TextKind, String)> {
            let mut out = Vec::new();
            for_each_request_text(api, body, |f| out.push((f.role, f.kind, f.text.to_owned())));
            out
        }
        let borrowed = serde_json_borrow::OwnedValue::from_string(body.to_string()).unwrap();
        let out = walk(api, &body);
        assert_eq!(walk(api, &*borrowed), out, "the borrowed tree reads alike");
        out
    }

    fn collect_response(api: &ApiKind, body: Value) -> Vec<(Role, TextKind, String)> {
        let mut out = Vec::new();
        for_each_response_text(api, &body, |f| {
            out.push((f.role, f.kind, f.text.to_owned()))
        });
        out
    }

    use Role::*;
    use TextKind::*;

    fn t(role: Role, kind: TextKind, text: &str) -> (Role, TextKind, String) {
        (role, kind, text.to_owned())
    }

    /// Gemini's generate call for the model `m`.
    fn gemini(stream: bool) -> ApiKind {
        ApiKind::GeminiGenerate {
            model: "m".into(),
            stream,
        }
    }

    /// Gemini's batch embed call for the model `e`.
    fn gemini_batch_embed() -> ApiKind {
        ApiKind::GeminiEmbed {
            model: "e".into(),
            batch: true,
        }
    }

    #[test]
    fn openai_chat_request_fields() {
        let body = json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Dev rule."}]},
                {"role": "user", "name": "alice", "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"q\":\"x\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "result text"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": "Finds"}}]
        });
        assert_eq!(
            collect(&ApiKind::ChatCompletions, body),
            vec![
                t(System, Message, "Be brief."),
                t(System, Message, "Dev rule."),
                t(User, Name, "alice"),
                t(User, Message, "What is in this image?"),
                t(Assistant, ToolArguments, "{\"q\":\"x\"}"),
                t(Tool, ToolResult, "result text"),
                t(
                    System,
                    ToolDefinition,
                    r#"{"type":"function","function":{"name":"f","description":"Finds"}}"#
                ),
            ]
        );
    }

    #[test]
    fn responses_request_fields() {
        let api = ApiKind::Responses;
        assert_eq!(
            collect(&api, json!({"input": "Hello", "instructions": "Sys"})),
            vec![t(User, Message, "Hello"), t(System, Message, "Sys")]
        );
        let body = json!({"input": [
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "x"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "out"}
        ]});
        assert_eq!(
            collect(&api, body),
            vec![
                t(User, Message, "a"),
                t(Assistant, Message, "b"),
                t(Assistant, ToolArguments, "{}"),
                t(Tool, ToolResult, "out")
            ]
        );
    }

    #[test]
    fn embeddings_inputs_skip_token_arrays() {
        let api = ApiKind::Embeddings;
        assert_eq!(
            collect(&api, json!({"input": "one"})),
            vec![t(User, EmbeddingInput, "one")]
        );
        assert_eq!(collect(&api, json!({"input": ["a", "b"]})).len(), 2);
        assert!(collect(&api, json!({"input": [1, 2, 3]})).is_empty());
        assert!(collect(&api, json!({"input": [[1, 2], [3]]})).is_empty());
    }

    #[test]
    fn anthropic_request_fields() {
        let body = json!({
            "system": [{"type": "text", "text": "S1", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Calling"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "18C"}]},
                    {"type": "tool_result", "tool_use_id": "t2", "content": "plain"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
                ]}
            ]
        });
        assert_eq!(
            collect(&ApiKind::AnthropicMessages, body),
            vec![
                t(System, Message, "S1"),
                t(User, Message, "Hi"),
                t(Assistant, Message, "Calling"),
                t(Assistant, ToolArguments, "{\"city\":\"Paris\"}"),
                t(Tool, ToolResult, "18C"),
                t(Tool, ToolResult, "plain"),
            ]
        );
    }

    #[test]
    fn gemini_request_fields() {
        let api = gemini(false);
        let body = json!({
            "systemInstruction": {"parts": [{"text": "Sys"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Q"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": "ok"}}}]}
            ]
        });
        assert_eq!(
            collect(&api, body),
            vec![
                t(System, Message, "Sys"),
                t(User, Message, "Q"),
                t(Assistant, ToolArguments, "{\"a\":1}"),
                t(Tool, ToolResult, "{\"r\":\"ok\"}"),
            ]
        );
        let embed = gemini_batch_embed();
        let body =
            json!({"requests": [{"model": "models/e", "content": {"parts": [{"text": "x"}]}}]});
        assert_eq!(collect(&embed, body), vec![t(User, EmbeddingInput, "x")]);
    }

    #[test]
    fn response_fields_in_every_format() {
        let chat = json!({"choices": [{"message": {"role": "assistant", "content": "Hi",
            "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}}]});
        assert_eq!(
            collect_response(&ApiKind::ChatCompletions, chat),
            vec![
                t(Assistant, Message, "Hi"),
                t(Assistant, ToolArguments, "{}")
            ]
        );
        let chunk = json!({"choices": [{"delta": {"content": "He"}}]});
        assert_eq!(
            collect_response(&ApiKind::ChatCompletions, chunk),
            vec![t(Assistant, Message, "He")]
        );
        let responses = json!({"output": [{"type": "message", "content": [{"type": "output_text", "text": "R"}]}]});
        assert_eq!(
            collect_response(&ApiKind::Responses, responses),
            vec![t(Assistant, Message, "R")]
        );
        let delta = json!({"type": "response.output_text.delta", "delta": "d"});
        assert_eq!(
            collect_response(&ApiKind::Responses, delta),
            vec![t(Assistant, Message, "d")]
        );
        let anthropic = json!({"content": [{"type": "text", "text": "A"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {}}]});
        assert_eq!(
            collect_response(&ApiKind::AnthropicMessages, anthropic),
            vec![
                t(Assistant, Message, "A"),
                t(Assistant, ToolArguments, "{}")
            ]
        );
        let event = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a"}});
        assert_eq!(
            collect_response(&ApiKind::AnthropicMessages, event),
            vec![t(Assistant, ToolArguments, "{\"a")]
        );
        let candidate =
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "G"}]}}]});
        assert_eq!(
            collect_response(&gemini(true), candidate),
            vec![t(Assistant, Message, "G")]
        );
    }

    #[test]
    fn rewrite_changes_only_text_and_keeps_order() {
        let input = r#"{"z":1,"messages":[{"content":"mail bob@x.io","role":"user","extra":true},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"to":"bob@x.io"}}]}],"a":2}"#;
        let mut req = LlmRequest::parse(&ApiKind::AnthropicMessages, input.as_bytes()).unwrap();
        let changed = req.rewrite_text(&ApiKind::AnthropicMessages, |f| {
            f.text
                .contains("bob@x.io")
                .then(|| f.text.replace("bob@x.io", "[EMAIL]"))
        });
        assert!(changed);
        assert_eq!(
            String::from_utf8(req.to_bytes()).unwrap(),
            r#"{"z":1,"messages":[{"content":"mail [EMAIL]","role":"user","extra":true},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"to":"[EMAIL]"}}]}],"a":2}"#
        );
        assert!(!req.rewrite_text(&ApiKind::AnthropicMessages, |_| None));
        assert!(!req.rewrite_text(&ApiKind::AnthropicMessages, |f| Some(f.text.to_owned())));
    }

    #[test]
    fn json_replacement_that_is_not_json_becomes_a_string() {
        let mut body = json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"k": "v"}}}]}}]});
        let api = gemini(false);
        assert!(rewrite_response_text(&api, &mut body, |_| Some(
            "{broken".into()
        )));
        assert_eq!(
            body["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
            "{broken"
        );
    }

    /// One body per API format with a distinct marker (`zzNN`) in every
    /// field the model or the provider reads.
    fn every_field_bodies() -> Vec<(ApiKind, Value)> {
        let gemini = gemini(false);
        let embed = gemini_batch_embed();
        vec![
            (
                ApiKind::ChatCompletions,
                json!({"model": "m", "messages": [
                    {"role": "developer", "content": "zz01"},
                    {"role": "system", "content": [{"type": "text", "text": "zz02"}]},
                    {"role": "user", "name": "zz03", "content": [{"type": "text", "text": "zz04"}, {"type": "new_part", "data": "zz05"}]},
                    {"role": "assistant", "content": null, "reasoning_content": "zz06", "refusal": "zz09",
                     "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":\"zz07\"}"}}],
                     "function_call": {"name": "f", "arguments": "zz08"}},
                    {"role": "tool", "tool_call_id": "c", "content": "zz10"},
                    {"role": "function", "name": "f", "content": "zz11"}],
                 "tools": [{"type": "function", "function": {"name": "f", "description": "zz12",
                    "parameters": {"type": "object", "properties": {"a": {"type": "string", "description": "zz13", "enum": ["zz14"]}}}}}],
                 "functions": [{"name": "g", "description": "zz15"}],
                 "prediction": {"type": "content", "content": "zz16"},
                 "user": "zz17", "safety_identifier": "zz18", "metadata": {"k": "zz19"},
                 "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"description": "zz20"}}}}),
            ),
            (
                ApiKind::Responses,
                json!({"model": "m", "instructions": "zz21", "input": [
                    {"role": "user", "content": "zz22"},
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "zz23"}]},
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "zz24"}]},
                    {"type": "function_call", "call_id": "c", "name": "f", "arguments": "zz25"},
                    {"type": "function_call_output", "call_id": "c", "output": "zz26"},
                    {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": "zz27"}]},
                    {"type": "some_new_item", "x": "zz28"}],
                 "tools": [{"type": "function", "name": "f", "description": "zz29", "parameters": {}}],
                 "prompt": {"id": "p", "variables": {"v": "zz30"}},
                 "text": {"format": {"type": "json_schema", "name": "s", "schema": {"description": "zz31"}}},
                 "metadata": {"k": "zz32"}, "user": "zz33", "safety_identifier": "zz34"}),
            ),
            (
                ApiKind::Embeddings,
                json!({"model": "e", "input": ["zz35", "zz36"], "user": "zz37"}),
            ),
            (
                ApiKind::AnthropicMessages,
                json!({"model": "c", "max_tokens": 8, "system": [{"type": "text", "text": "zz38"}], "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "zz39"},
                        {"type": "document", "title": "zz40", "context": "zz41", "source": {"type": "text", "media_type": "text/plain", "data": "zz42"}},
                        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "zz43"}]}},
                        {"type": "search_result", "source": "zz44", "title": "t", "content": [{"type": "text", "text": "zz45"}]},
                        {"type": "new_block", "x": "zz46"}]},
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "zz47", "signature": "s"},
                        {"type": "tool_use", "id": "t", "name": "f", "input": {"q": "zz48"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "zz49"}]}]}],
                 "tools": [{"name": "f", "description": "zz50", "input_schema": {"type": "object", "properties": {"q": {"description": "zz51"}}}}],
                 "metadata": {"user_id": "zz52"}}),
            ),
            (
                gemini.clone(),
                json!({"system_instruction": {"parts": [{"text": "zz53"}]}, "contents": [
                    {"role": "user", "parts": [{"text": "zz54"}, {"newThing": {"x": "zz55"}}]},
                    {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"q": "zz56"}}}, {"text": "zz57", "thought": true}]},
                    {"role": "user", "parts": [{"function_response": {"name": "f", "response": {"r": "zz58"}}}]}],
                 "tools": [{"function_declarations": [{"name": "f", "description": "zz59", "parameters": {"type": "object"}}]}],
                 "generation_config": {"response_schema": {"description": "zz60"}}}),
            ),
            (
                gemini,
                json!({"systemInstruction": {"parts": [{"text": "zz61"}]},
                 "contents": [{"parts": [{"functionCall": {"name": "f", "args": {"q": "zz62"}}},
                    {"functionResponse": {"name": "f", "response": {"r": "zz63"}}}]}],
                 "tools": [{"functionDeclarations": [{"name": "f", "description": "zz64"}]}],
                 "generationConfig": {"responseSchema": {"description": "zz65"}}}),
            ),
            (
                embed.clone(),
                json!({"content": {"parts": [{"text": "zz66"}]}, "title": "zz67"}),
            ),
            (
                embed,
                json!({"requests": [{"model": "models/e", "content": {"parts": [{"text": "zz68"}]}, "title": "zz69"}]}),
            ),
        ]
    }

    /// The markers in `text`.
    fn markers(text: &str) -> Vec<String> {
        text.match_indices("zz")
            .filter_map(|(i, _)| text.get(i..i + 4))
            .filter(|m| m[2..].bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_field_is_visited_and_rewritten_in_every_format() {
        let mut seen = 0;
        for (api, body) in every_field_bodies() {
            let all = markers(&body.to_string());
            let visited: Vec<String> = collect(&api, body.clone())
                .iter()
                .flat_map(|(_, _, text)| markers(text))
                .collect();
            for marker in &all {
                assert!(
                    visited.contains(marker),
                    "{api:?}: {marker} not visited in {body}"
                );
            }
            let mut rewritten = body.clone();
            assert!(rewrite_request_text(&api, &mut rewritten, |f| {
                let mut text = f.text.to_owned();
                for m in markers(f.text) {
                    text = text.replace(&m, "--");
                }
                (text != f.text).then_some(text)
            }));
            assert!(
                markers(&rewritten.to_string()).is_empty(),
                "{api:?}: {rewritten}"
            );
            seen += all.len();
        }
        assert_eq!(seen, 69, "every marker of the table");
    }

    #[test]
    fn new_request_fields_have_their_kinds() {
        let kinds = |api: &ApiKind, body: Value| -> Vec<TextKind> {
            collect(api, body)
                .into_iter()
                .map(|(_, kind, _)| kind)
                .collect()
        };
        let bodies = every_field_bodies();
        let chat = kinds(&bodies[0].0, bodies[0].1.clone());
        for kind in [Other, Reasoning, ToolDefinition, Setting, Identifier] {
            assert!(chat.contains(&kind), "{kind:?}");
        }
        let anthropic = kinds(&bodies[3].0, bodies[3].1.clone());
        assert!(anthropic.contains(&Document) && anthropic.contains(&Reasoning));
        // Media and encrypted thinking carry no text to visit.
        let media = json!({"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}]}]});
        assert!(collect(&ApiKind::AnthropicMessages, media).is_empty());
        let screenshot = json!({"input": [{"type": "computer_call_output", "call_id": "c",
            "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"}}]});
        assert!(collect(&ApiKind::Responses, screenshot).is_empty());
    }

    #[test]
    fn response_fields_that_repeat_text_or_carry_reasoning() {
        let api = ApiKind::ChatCompletions;
        let chunk = json!({"choices": [{"delta": {"reasoning_content": "why"},
            "logprobs": {"content": [{"token": "jo", "bytes": [106, 111], "top_logprobs": []}]}}]});
        let fields = |api: &ApiKind, body: &Value| {
            let mut out = Vec::new();
            for_each_response_text(api, body, |f| {
                out.push((f.kind, f.text.to_owned(), f.delta))
            });
            out
        };
        assert_eq!(
            fields(&api, &chunk),
            vec![(Reasoning, "why".to_owned(), true)]
        );
        let mut rewritten = chunk.clone();
        rewrite_response_text(&api, &mut rewritten, |f| {
            (f.kind == LogProbs).then(|| "null".to_owned())
        });
        assert!(
            rewritten["choices"][0]["logprobs"].is_null(),
            "log-probabilities are offered to rewriting"
        );

        let responses = ApiKind::Responses;
        for (event, kind) in [
            (
                json!({"type": "response.output_text.done", "text": "T"}),
                Message,
            ),
            (
                json!({"type": "response.content_part.done", "part": {"type": "output_text", "text": "T"}}),
                Message,
            ),
            (
                json!({"type": "response.output_item.done", "item": {"type": "message", "content": [{"type": "output_text", "text": "T"}]}}),
                Message,
            ),
            (
                json!({"type": "response.completed", "response": {"output": [{"type": "message", "content": [{"type": "output_text", "text": "T"}]}]}}),
                Message,
            ),
            (
                json!({"type": "response.function_call_arguments.done", "arguments": "T"}),
                ToolArguments,
            ),
            (
                json!({"type": "response.reasoning_summary_text.done", "text": "T"}),
                Reasoning,
            ),
            (
                json!({"type": "response.output_item.done", "item": {"type": "reasoning", "summary": [{"type": "summary_text", "text": "T"}]}}),
                Reasoning,
            ),
        ] {
            assert_eq!(
                fields(&responses, &event),
                vec![(kind, "T".to_owned(), false)],
                "{event}"
            );
        }
        let delta = json!({"type": "response.reasoning_summary_text.delta", "delta": "d"});
        assert_eq!(
            fields(&responses, &delta),
            vec![(Reasoning, "d".to_owned(), true)]
        );

        let anthropic = ApiKind::AnthropicMessages;
        let thinking = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}});
        assert_eq!(
            fields(&anthropic, &thinking),
            vec![(Reasoning, "hm".to_owned(), true)]
        );
        let whole = json!({"content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "A"}]});
        assert_eq!(
            fields(&anthropic, &whole),
            vec![
                (Reasoning, "hm".to_owned(), false),
                (Message, "A".to_owned(), false)
            ]
        );

        let gemini = gemini(true);
        let chunk = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "t", "thought": true}, {"text": "a"}]},
            "logprobsResult": {"chosenCandidates": [{"token": "a"}]}}]});
        assert_eq!(
            fields(&gemini, &chunk),
            vec![
                (Reasoning, "t".to_owned(), true),
                (Message, "a".to_owned(), true)
            ]
        );
    }

    /// One body per shape of inline document, each holding `data` (base64
    /// of text) declared as `media_type`.
    fn document_bodies(media_type: &str, data: &str) -> Vec<(ApiKind, Value)> {
        let gemini = gemini(false);
        let url = format!("data:{media_type};base64,{data}");
        vec![
            (
                ApiKind::AnthropicMessages,
                json!({"messages": [{"role": "user", "content": [{"type": "document",
                    "source": {"type": "base64", "media_type": media_type, "data": data}}]}]}),
            ),
            (
                gemini.clone(),
                json!({"contents": [{"parts": [{"inlineData": {"mimeType": media_type, "data": data}}]}]}),
            ),
            (
                gemini,
                json!({"contents": [{"parts": [{"inline_data": {"mime_type": media_type, "data": data}}]}]}),
            ),
            (
                ApiKind::ChatCompletions,
                json!({"messages": [{"role": "user", "content": [{"type": "file",
                    "file": {"filename": "a", "file_data": url}}]}]}),
            ),
            (
                ApiKind::Responses,
                json!({"input": [{"role": "user", "content": [{"type": "input_file",
                    "filename": "a", "file_data": url}]}]}),
            ),
        ]
    }

    fn contents(api: &ApiKind, body: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for_each_request_content(api, body, |c| {
            out.push(match c {
                Content::Text(f) => format!("{:?} {:?} {}", f.role, f.kind, f.text),
                Content::Unreadable(u) => format!("{} {:?}", u.part, u.reason),
            })
        });
        out
    }

    #[test]
    fn text_documents_are_read_decoded_and_rewritten_encoded() {
        // "mail bob@x.io"
        for (api, body) in document_bodies("text/plain; charset=utf-8", "bWFpbCBib2JAeC5pbw==") {
            assert_eq!(
                collect(&api, body.clone()),
                vec![t(User, Document, "mail bob@x.io")],
                "{body}"
            );
            let mut rewritten = body.clone();
            assert!(rewrite_request_text(&api, &mut rewritten, |f| {
                Some(f.text.replace("bob@x.io", "[EMAIL]"))
            }));
            assert!(
                !rewritten.to_string().contains("bWFpbCBib2JAeC5pbw"),
                "{rewritten}"
            );
            assert_eq!(
                collect(&api, rewritten.clone()),
                vec![t(User, Document, "mail [EMAIL]")],
                "{rewritten}"
            );
            assert!(!rewrite_request_text(&api, &mut rewritten, |f| Some(
                f.text.to_owned()
            )));
        }
    }

    #[test]
    fn documents_that_are_not_text_are_reported_or_passed_over() {
        for (api, body) in document_bodies("application/pdf", "JVBERi0xLjQ=") {
            let part = contents(&api, &body);
            assert_eq!(part.len(), 1, "{body}");
            assert!(part[0].ends_with(" Binary"), "{part:?}");
            let mut copy = body.clone();
            assert!(!rewrite_request_text(&api, &mut copy, |_| Some("x".into())));
            assert_eq!(copy, body);
        }
        for (api, body) in document_bodies("text/plain", "not base64!") {
            assert!(contents(&api, &body)[0].ends_with(" Invalid"), "{body}");
            let mut copy = body.clone();
            assert!(!rewrite_request_text(&api, &mut copy, |_| Some("x".into())));
        }
        for (api, body) in document_bodies("image/png", "iVBORw0KGgo=") {
            assert!(contents(&api, &body).is_empty(), "{body}");
        }
        // No declared type: text if it decodes to UTF-8, binary otherwise.
        let bare = |data: &str| json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_data": data}]}]});
        assert_eq!(
            contents(&ApiKind::Responses, &bare("aGk=")),
            vec!["User Document hi"]
        );
        assert_eq!(
            contents(&ApiKind::Responses, &bare("//4=")),
            vec!["input_file Binary"]
        );
        // A data: URL that is not base64 is not read as text.
        assert_eq!(
            contents(&ApiKind::Responses, &bare("data:text/plain,bob%40x.io")),
            vec!["input_file Invalid"]
        );
    }
}
