//! The input tokens of a whole request body, by the API's rules, with any
//! per-text counter (exact or estimate).
//!
//! OpenAI chat follows OpenAI's published counting (the cookbook's
//! `num_tokens_from_messages`): 3 tokens per message, plus 1 for a `name`,
//! plus 3 priming the reply. Tool definitions are counted by the widely
//! used approximation (hmarr/openai-chat-tokens) of how OpenAI renders them
//! to the model: a TypeScript-like `namespace functions { ... }` block,
//! plus 9 tokens, minus 4 when a system message exists. Its deviation from
//! the API's `prompt_tokens` cannot be measured offline here; the authors
//! report exact agreement on their test cases, and reconciliation with the
//! reported usage corrects any difference after the response.
//!
//! Anthropic Messages and Gemini bodies are walked for their text (system,
//! message text blocks, tool results, tool definitions), with the same
//! per-message overhead as OpenAI (an assumption; their framing is not
//! published).
//!
//! Every other field the model reads is found by llm-api's text walker, the
//! one pii_scan rewrites through, and counted as its text: reasoning and
//! thinking sent back, documents, output schemas, predictions, prompt
//! variables, content parts of unknown types, and per format the tool
//! definitions, calls and results the rules above do not frame. Caller
//! identifiers (`user`, `metadata`) are not model input and are not counted.

use super::image::{image_tokens, Detail};
use llm_api::json::{Json, Kind};
use llm_api::text::for_each_request_text;
use llm_api::{ApiKind, TextKind};

/// The request formats counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAiChat,
    OpenAiEmbeddings,
    OpenAiResponses,
    AnthropicMessages,
    GeminiGenerate,
}

impl Format {
    pub fn of(kind: &llm_api::ApiKind) -> Option<Format> {
        use llm_api::ApiKind as K;
        Some(match kind {
            K::ChatCompletions | K::AzureChatCompletions { .. } => Format::OpenAiChat,
            K::Embeddings | K::AzureEmbeddings { .. } => Format::OpenAiEmbeddings,
            K::Responses => Format::OpenAiResponses,
            K::AnthropicMessages => Format::AnthropicMessages,
            K::GeminiGenerate { .. } | K::GeminiEmbed { .. } => Format::GeminiGenerate,
            K::Models | K::GatewayUsage | K::Other => return None,
        })
    }

    /// The API whose body shape the format counts, for the text walker.
    fn api(self) -> ApiKind {
        match self {
            Format::OpenAiChat => ApiKind::ChatCompletions,
            Format::OpenAiEmbeddings => ApiKind::Embeddings,
            Format::OpenAiResponses => ApiKind::Responses,
            Format::AnthropicMessages => ApiKind::AnthropicMessages,
            Format::GeminiGenerate => ApiKind::GeminiGenerate {
                model: String::new(),
                stream: false,
            },
        }
    }

    /// Whether the text walker's fields of `kind` are counted as plain text,
    /// apart from the format's own rules (which frame the rest).
    fn counts_apart(self, kind: TextKind) -> bool {
        match kind {
            TextKind::Identifier | TextKind::LogProbs => false,
            TextKind::Setting | TextKind::Other | TextKind::Document => true,
            // Gemini's thought parts are `text` parts, which its rule counts.
            TextKind::Reasoning => self != Format::GeminiGenerate,
            TextKind::ToolDefinition => {
                matches!(self, Format::OpenAiResponses | Format::GeminiGenerate)
            }
            TextKind::ToolArguments | TextKind::ToolResult => self == Format::GeminiGenerate,
            TextKind::Message | TextKind::Name | TextKind::EmbeddingInput => false,
        }
    }
}

const PER_MESSAGE: u64 = 3;
const PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;

/// Tokens of `body` in `format`; `count` counts one text. `model` picks the
/// image rule. The body is either tree a request may be held in
/// (`llm_api::with_json_body!`).
pub fn request_tokens<J: Json>(
    format: Format,
    body: &J,
    model: &str,
    count: &mut dyn FnMut(&str) -> u64,
) -> u64 {
    let framed = match format {
        Format::OpenAiChat => chat(body, model, count),
        Format::OpenAiEmbeddings => embeddings(body.field("input"), count),
        Format::OpenAiResponses => responses(body, model, count),
        Format::AnthropicMessages => anthropic(body, count),
        Format::GeminiGenerate => gemini(body, count),
    };
    framed + counted_apart(format, body, count)
}

/// The text of the fields the format's rules do not frame.
fn counted_apart<J: Json>(format: Format, body: &J, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = 0;
    for_each_request_text(&format.api(), body, |field| {
        if format.counts_apart(field.kind) {
            total += count(field.text);
        }
    });
    total
}

fn chat<J: Json>(body: &J, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let messages = body
        .field("messages")
        .and_then(Json::as_array)
        .unwrap_or_default();
    let tools = tool_functions(body);
    let mut total = REPLY_PRIMING;
    let mut padded_system = false;
    for m in messages {
        total += PER_MESSAGE;
        let role = m.str_field("role").unwrap_or_default();
        total += count(role);
        if let Some(name) = m.str_field("name") {
            total += count(name) + PER_NAME;
        }
        if let Some(content) = m.field("content") {
            match content.kind() {
                // The approximation renders a newline after the system
                // message when tools are present.
                Kind::String(s) if role == "system" && !tools.is_empty() && !padded_system => {
                    padded_system = true;
                    total += count(&format!("{s}\n"));
                }
                _ => total += content_tokens(content, model, count),
            }
        }
        for call in m.field("tool_calls").into_iter().flat_map(Json::elements) {
            if let Some(f) = call.field("function") {
                total += count(f.str_field("name").unwrap_or_default())
                    + count(f.str_field("arguments").unwrap_or_default())
                    + 3;
            }
        }
        if let Some(f) = m.field("function_call") {
            total += count(f.str_field("name").unwrap_or_default())
                + count(f.str_field("arguments").unwrap_or_default())
                + 3;
        }
    }
    if !tools.is_empty() {
        total += count(&render_functions(&tools)) + 9;
        if messages
            .iter()
            .any(|m| m.str_field("role") == Some("system"))
        {
            total = total.saturating_sub(4);
        }
    }
    total
}

/// Text and image parts of a chat `content` (string or array of parts).
fn content_tokens<J: Json>(content: &J, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    match content.kind() {
        Kind::String(s) => count(s),
        Kind::Array(parts) => parts
            .iter()
            .map(|p| match p.str_field("type") {
                Some("text") | Some("input_text") | Some("output_text") => {
                    count(p.str_field("text").unwrap_or_default())
                }
                Some("image_url") | Some("input_image") => {
                    let detail = p
                        .field("image_url")
                        .and_then(|i| i.str_field("detail"))
                        .or_else(|| p.str_field("detail"));
                    image_tokens(model, Detail::parse(detail), None)
                }
                // Audio and files: not counted before the response; usage corrects it.
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// `tools[].function` (and the older `functions`).
fn tool_functions<J: Json>(body: &J) -> Vec<&J> {
    let tools = body
        .field("tools")
        .into_iter()
        .flat_map(Json::elements)
        .filter_map(|t| t.field("function"));
    let functions = body.field("functions").into_iter().flat_map(Json::elements);
    tools.chain(functions).collect()
}

fn render_functions<J: Json>(functions: &[&J]) -> String {
    let mut lines = vec!["namespace functions {".to_owned(), String::new()];
    for f in functions {
        if let Some(d) = f.str_field("description") {
            lines.push(format!("// {d}"));
        }
        let name = f.str_field("name").unwrap_or_default();
        let params = f.field("parameters");
        let has_props = params
            .and_then(|p| p.field("properties"))
            .is_some_and(|p| p.members().next().is_some());
        match params {
            Some(p) if has_props => {
                lines.push(format!("type {name} = (_: {{"));
                lines.push(render_properties(p, 0, 0));
                lines.push("}) => any;".to_owned());
            }
            _ => lines.push(format!("type {name} = () => any;")),
        }
        lines.push(String::new());
    }
    lines.push("} // namespace functions".to_owned());
    lines.join("\n")
}

/// Nesting is capped so that a hostile schema cannot recurse deeply (serde
/// already caps JSON depth at 128).
fn render_properties<J: Json>(schema: &J, indent: usize, depth: usize) -> String {
    let required: Vec<&str> = schema
        .field("required")
        .into_iter()
        .flat_map(Json::elements)
        .filter_map(Json::as_str)
        .collect();
    let mut lines = Vec::new();
    for (name, p) in schema
        .field("properties")
        .into_iter()
        .flat_map(Json::members)
    {
        if let (Some(d), true) = (p.str_field("description"), indent < 2) {
            lines.push(format!("// {d}"));
        }
        let opt = if required.contains(&name) { "" } else { "?" };
        lines.push(format!("{name}{opt}: {},", render_type(p, indent, depth)));
    }
    let pad = " ".repeat(indent);
    lines
        .iter()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_type<J: Json>(p: &J, indent: usize, depth: usize) -> String {
    if depth > 16 {
        return "any".to_owned();
    }
    let enum_of = |quote: bool| {
        p.field("enum").and_then(Json::as_array).map(|e| {
            e.iter()
                .map(|v| match v.kind() {
                    Kind::String(s) if quote => format!("\"{s}\""),
                    _ => v.to_text(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
    };
    match p.str_field("type") {
        Some("string") => enum_of(true).unwrap_or_else(|| "string".to_owned()),
        Some("number") | Some("integer") => enum_of(false).unwrap_or_else(|| "number".to_owned()),
        Some("boolean") => "boolean".to_owned(),
        Some("null") => "null".to_owned(),
        Some("object") => format!("{{\n{}\n}}", render_properties(p, indent + 2, depth + 1)),
        Some("array") => match p.field("items") {
            Some(items) => format!("{}[]", render_type(items, indent, depth + 1)),
            None => "any[]".to_owned(),
        },
        _ => String::new(),
    }
}

/// A string, an array of strings, or pre-tokenized arrays (counted as their
/// length).
fn embeddings<J: Json>(input: Option<&J>, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    match input.map(Json::kind) {
        Some(Kind::String(s)) => count(s),
        Some(Kind::Array(items)) => items
            .iter()
            .map(|i| match i.kind() {
                Kind::String(s) => count(s),
                Kind::Number => 1,
                Kind::Array(tokens) => tokens.len() as u64,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// Responses API: `instructions` plus `input` (a string or chat-like
/// items), framed like chat messages.
fn responses<J: Json>(body: &J, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = REPLY_PRIMING;
    if let Some(i) = body.str_field("instructions") {
        total += PER_MESSAGE + count(i);
    }
    match body.field("input").map(Json::kind) {
        Some(Kind::String(s)) => total += PER_MESSAGE + count(s),
        Some(Kind::Array(items)) => {
            for item in items {
                total += PER_MESSAGE + count(item.str_field("role").unwrap_or_default());
                total += item
                    .field("content")
                    .map_or(0, |c| content_tokens(c, model, count));
                total += item.str_field("output").map_or(0, &mut *count)
                    + item.str_field("arguments").map_or(0, &mut *count);
            }
        }
        _ => {}
    }
    total
}

fn anthropic<J: Json>(body: &J, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = REPLY_PRIMING;
    match body.field("system").map(Json::kind) {
        Some(Kind::String(s)) => total += PER_MESSAGE + count(s),
        Some(Kind::Array(blocks)) => {
            total += PER_MESSAGE
                + blocks
                    .iter()
                    .map(|b| b.str_field("text").map_or(0, &mut *count))
                    .sum::<u64>()
        }
        _ => {}
    }
    for m in body.field("messages").into_iter().flat_map(Json::elements) {
        total += PER_MESSAGE + anthropic_content(m.field("content"), count, 0);
    }
    for tool in body.field("tools").into_iter().flat_map(Json::elements) {
        total += count(&tool.to_text());
    }
    total
}

fn anthropic_content<J: Json>(
    content: Option<&J>,
    count: &mut dyn FnMut(&str) -> u64,
    depth: usize,
) -> u64 {
    match content.map(Json::kind) {
        Some(Kind::String(s)) => count(s),
        Some(Kind::Array(blocks)) if depth < 4 => blocks
            .iter()
            .map(|b| match b.str_field("type") {
                Some("text") => count(b.str_field("text").unwrap_or_default()),
                Some("tool_result") => anthropic_content(b.field("content"), count, depth + 1),
                Some("tool_use") => {
                    count(b.str_field("name").unwrap_or_default())
                        + b.field("input").map_or(0, |i| count(&i.to_text()))
                }
                // Anthropic's image rule: (width × height) / 750, at most ~1600
                // tokens; without the size, that maximum.
                Some("image") => 1600,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

fn gemini<J: Json>(body: &J, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = REPLY_PRIMING;
    let parts = |c: &J, count: &mut dyn FnMut(&str) -> u64| -> u64 {
        c.field("parts")
            .into_iter()
            .flat_map(Json::elements)
            .map(|p| p.str_field("text").map_or(0, &mut *count))
            .sum()
    };
    if let Some(s) = body
        .field("systemInstruction")
        .or_else(|| body.field("system_instruction"))
    {
        total += PER_MESSAGE + parts(s, count);
    }
    for c in body.field("contents").into_iter().flat_map(Json::elements) {
        total += PER_MESSAGE + parts(c, count);
    }
    // embedContent
    if let Some(c) = body.field("content") {
        total += parts(c, count);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Tokens of `body` with one token per byte, to see which text counts.
    fn bytes(format: Format, body: &Value) -> u64 {
        request_tokens(format, body, "gpt-4o", &mut |text| text.len() as u64)
    }

    /// Each field adds its text to the count: the request with the field
    /// counts more than the same request without it, by at least its text.
    #[test]
    fn every_field_the_model_reads_is_counted() {
        let long = "x".repeat(1000);
        let cases = [
            (
                Format::OpenAiChat,
                json!({"messages": [{"role": "assistant", "content": "a", "reasoning_content": long}]}),
            ),
            (
                Format::OpenAiChat,
                json!({"messages": [{"role": "user", "content": [{"type": "new_part", "x": long}]}]}),
            ),
            (
                Format::OpenAiChat,
                json!({"messages": [], "response_format": {"type": "json_schema", "json_schema": {"schema": {"description": long}}}}),
            ),
            (
                Format::OpenAiChat,
                json!({"messages": [], "prediction": {"type": "content", "content": long}}),
            ),
            (
                Format::OpenAiResponses,
                json!({"input": "a", "tools": [{"type": "function", "name": "f", "description": long}]}),
            ),
            (
                Format::OpenAiResponses,
                json!({"input": [{"type": "reasoning", "summary": [{"type": "summary_text", "text": long}]}]}),
            ),
            (
                Format::OpenAiResponses,
                json!({"input": "a", "prompt": {"id": "p", "variables": {"v": long}}}),
            ),
            (
                Format::OpenAiResponses,
                json!({"input": "a", "text": {"format": {"type": "json_schema", "schema": {"description": long}}}}),
            ),
            (
                Format::AnthropicMessages,
                json!({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": long}}]}]}),
            ),
            (
                Format::AnthropicMessages,
                json!({"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": long, "signature": "s"}]}]}),
            ),
            (
                Format::GeminiGenerate,
                json!({"contents": [{"parts": [{"functionCall": {"name": "f", "args": {"q": long}}}]}]}),
            ),
            (
                Format::GeminiGenerate,
                json!({"contents": [{"parts": [{"function_response": {"name": "f", "response": {"r": long}}}]}]}),
            ),
            (
                Format::GeminiGenerate,
                json!({"contents": [], "tools": [{"function_declarations": [{"name": "f", "description": long}]}]}),
            ),
            (
                Format::GeminiGenerate,
                json!({"contents": [], "generationConfig": {"responseSchema": {"description": long}}}),
            ),
        ];
        for (format, body) in cases {
            let with = bytes(format, &body);
            let without = bytes(format, &json!({}));
            assert!(
                with >= without + 1000,
                "{format:?} {body}: {with} against {without}"
            );
        }
    }

    /// Fields the rules frame are not counted twice, and identifiers are
    /// not counted at all.
    #[test]
    fn framed_fields_and_identifiers_count_once_or_not_at_all() {
        let plain = json!({"messages": [{"role": "user", "content": "hello"}]});
        let with_id = json!({"messages": [{"role": "user", "content": "hello"}], "user": "u-1", "metadata": {"k": "v"}});
        assert_eq!(
            bytes(Format::OpenAiChat, &plain),
            bytes(Format::OpenAiChat, &with_id)
        );
        // 3 priming + 3 per message + "user" + "hello".
        assert_eq!(bytes(Format::OpenAiChat, &plain), 3 + 3 + 4 + 5);
        let gemini = json!({"contents": [{"parts": [{"text": "hello"}, {"text": "think", "thought": true}]}]});
        assert_eq!(bytes(Format::GeminiGenerate, &gemini), 3 + 3 + 5 + 5);
    }
}
