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

use super::image::{image_tokens, Detail};
use llm_api::member::{field, member, str_field as str_of};
use serde_json::{Map, Value};

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
            K::Models | K::Other => return None,
        })
    }
}

const PER_MESSAGE: u64 = 3;
const PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;

/// Tokens of `body` in `format`; `count` counts one text. `model` picks the
/// image rule.
pub fn request_tokens(format: Format, body: &Map<String, Value>, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    match format {
        Format::OpenAiChat => chat(body, model, count),
        Format::OpenAiEmbeddings => embeddings(member(body, "input"), count),
        Format::OpenAiResponses => responses(body, model, count),
        Format::AnthropicMessages => anthropic(body, count),
        Format::GeminiGenerate => gemini(body, count),
    }
}

fn chat(body: &Map<String, Value>, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let messages = member(body, "messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let tools = tool_functions(body);
    let mut total = REPLY_PRIMING;
    let mut padded_system = false;
    for m in messages {
        total += PER_MESSAGE;
        let role = str_of(m, "role").unwrap_or_default();
        total += count(role);
        if let Some(name) = str_of(m, "name") {
            total += count(name) + PER_NAME;
        }
        match field(m, "content") {
            // The approximation renders a newline after the system message
            // when tools are present.
            Some(Value::String(s)) if role == "system" && !tools.is_empty() && !padded_system => {
                padded_system = true;
                total += count(&format!("{s}\n"));
            }
            Some(content) => total += content_tokens(content, model, count),
            None => {}
        }
        for call in field(m, "tool_calls").and_then(Value::as_array).into_iter().flatten() {
            if let Some(f) = field(call, "function") {
                total += count(str_of(f, "name").unwrap_or_default()) + count(str_of(f, "arguments").unwrap_or_default()) + 3;
            }
        }
        if let Some(f) = field(m, "function_call") {
            total += count(str_of(f, "name").unwrap_or_default()) + count(str_of(f, "arguments").unwrap_or_default()) + 3;
        }
    }
    if !tools.is_empty() {
        total += count(&render_functions(&tools)) + 9;
        if messages.iter().any(|m| str_of(m, "role") == Some("system")) {
            total = total.saturating_sub(4);
        }
    }
    total
}

/// Text and image parts of a chat `content` (string or array of parts).
fn content_tokens(content: &Value, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    match content {
        Value::String(s) => count(s),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match str_of(p, "type") {
                Some("text") | Some("input_text") | Some("output_text") => count(str_of(p, "text").unwrap_or_default()),
                Some("image_url") | Some("input_image") => {
                    let detail = field(p, "image_url").and_then(|i| str_of(i, "detail")).or_else(|| str_of(p, "detail"));
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
fn tool_functions(body: &Map<String, Value>) -> Vec<&Value> {
    let tools = member(body, "tools").and_then(Value::as_array).into_iter().flatten().filter_map(|t| field(t, "function"));
    let functions = member(body, "functions").and_then(Value::as_array).into_iter().flatten();
    tools.chain(functions).collect()
}

fn render_functions(functions: &[&Value]) -> String {
    let mut lines = vec!["namespace functions {".to_owned(), String::new()];
    for f in functions {
        if let Some(d) = str_of(f, "description") {
            lines.push(format!("// {d}"));
        }
        let name = str_of(f, "name").unwrap_or_default();
        let params = field(f, "parameters");
        let has_props = params.and_then(|p| field(p, "properties")).and_then(Value::as_object).is_some_and(|p| !p.is_empty());
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
fn render_properties(schema: &Value, indent: usize, depth: usize) -> String {
    let required: Vec<&str> = field(schema, "required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut lines = Vec::new();
    for (name, p) in field(schema, "properties").and_then(Value::as_object).into_iter().flatten() {
        if let (Some(d), true) = (str_of(p, "description"), indent < 2) {
            lines.push(format!("// {d}"));
        }
        let opt = if required.contains(&name.as_str()) { "" } else { "?" };
        lines.push(format!("{name}{opt}: {},", render_type(p, indent, depth)));
    }
    let pad = " ".repeat(indent);
    lines.iter().map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n")
}

fn render_type(p: &Value, indent: usize, depth: usize) -> String {
    if depth > 16 {
        return "any".to_owned();
    }
    let enum_of = |quote: bool| {
        field(p, "enum").and_then(Value::as_array).map(|e| {
            e.iter().map(|v| match v {
                Value::String(s) if quote => format!("\"{s}\""),
                v => v.to_string(),
            }).collect::<Vec<_>>().join(" | ")
        })
    };
    match str_of(p, "type") {
        Some("string") => enum_of(true).unwrap_or_else(|| "string".to_owned()),
        Some("number") | Some("integer") => enum_of(false).unwrap_or_else(|| "number".to_owned()),
        Some("boolean") => "boolean".to_owned(),
        Some("null") => "null".to_owned(),
        Some("object") => format!("{{\n{}\n}}", render_properties(p, indent + 2, depth + 1)),
        Some("array") => match field(p, "items") {
            Some(items) => format!("{}[]", render_type(items, indent, depth + 1)),
            None => "any[]".to_owned(),
        },
        _ => String::new(),
    }
}

/// A string, an array of strings, or pre-tokenized arrays (counted as their
/// length).
fn embeddings(input: Option<&Value>, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    match input {
        Some(Value::String(s)) => count(s),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => count(s),
                Value::Number(_) => 1,
                Value::Array(tokens) => tokens.len() as u64,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// Responses API: `instructions` plus `input` (a string or chat-like
/// items), framed like chat messages.
fn responses(body: &Map<String, Value>, model: &str, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = REPLY_PRIMING;
    if let Some(i) = member(body, "instructions").and_then(Value::as_str) {
        total += PER_MESSAGE + count(i);
    }
    match member(body, "input") {
        Some(Value::String(s)) => total += PER_MESSAGE + count(s),
        Some(Value::Array(items)) => {
            for item in items {
                total += PER_MESSAGE + count(str_of(item, "role").unwrap_or_default());
                total += field(item, "content").map_or(0, |c| content_tokens(c, model, count));
                total += str_of(item, "output").map_or(0, &mut *count) + str_of(item, "arguments").map_or(0, &mut *count);
            }
        }
        _ => {}
    }
    total
}

fn anthropic(body: &Map<String, Value>, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = REPLY_PRIMING;
    match member(body, "system") {
        Some(Value::String(s)) => total += PER_MESSAGE + count(s),
        Some(Value::Array(blocks)) => total += PER_MESSAGE + blocks.iter().map(|b| str_of(b, "text").map_or(0, &mut *count)).sum::<u64>(),
        _ => {}
    }
    for m in member(body, "messages").and_then(Value::as_array).into_iter().flatten() {
        total += PER_MESSAGE + anthropic_content(field(m, "content"), count, 0);
    }
    for tool in member(body, "tools").and_then(Value::as_array).into_iter().flatten() {
        total += count(&tool.to_string());
    }
    total
}

fn anthropic_content(content: Option<&Value>, count: &mut dyn FnMut(&str) -> u64, depth: usize) -> u64 {
    match content {
        Some(Value::String(s)) => count(s),
        Some(Value::Array(blocks)) if depth < 4 => blocks
            .iter()
            .map(|b| match str_of(b, "type") {
                Some("text") => count(str_of(b, "text").unwrap_or_default()),
                Some("tool_result") => anthropic_content(field(b, "content"), count, depth + 1),
                Some("tool_use") => count(str_of(b, "name").unwrap_or_default()) + field(b, "input").map_or(0, |i| count(&i.to_string())),
                // Anthropic's image rule: (width × height) / 750, at most ~1600
                // tokens; without the size, that maximum.
                Some("image") => 1600,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

fn gemini(body: &Map<String, Value>, count: &mut dyn FnMut(&str) -> u64) -> u64 {
    let mut total = REPLY_PRIMING;
    let parts = |c: &Value, count: &mut dyn FnMut(&str) -> u64| -> u64 {
        field(c, "parts").and_then(Value::as_array).into_iter().flatten().map(|p| str_of(p, "text").map_or(0, &mut *count)).sum()
    };
    if let Some(s) = member(body, "systemInstruction").or_else(|| member(body, "system_instruction")) {
        total += PER_MESSAGE + parts(s, count);
    }
    for c in member(body, "contents").and_then(Value::as_array).into_iter().flatten() {
        total += PER_MESSAGE + parts(c, count);
    }
    // embedContent
    if let Some(c) = member(body, "content") {
        total += parts(c, count);
    }
    total
}
