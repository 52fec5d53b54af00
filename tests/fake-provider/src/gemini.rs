//! Gemini API answers: `models/{model}:generateContent`,
//! `:streamGenerateContent` (SSE with `?alt=sse`, else a streamed JSON array
//! like the real service), `:embedContent` and `:batchEmbedContents`.

use crate::embedding;
use crate::errors::ErrorFormat;
use crate::reply::{ProviderRequest, Reply};
use crate::sse;
use crate::usage::{PromptText, TOOL_CALL_TOKENS};
use bytes::Bytes;
use serde_json::{json, Value};

/// How a streamed answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Json,
    Sse,
    JsonArray,
}

/// `generateContent` (`Framing::Json`) and `streamGenerateContent`.
pub fn generate(req: &ProviderRequest, model: &str, framing: Framing) -> Reply {
    let Some(contents) = req.body.get("contents").and_then(Value::as_array) else {
        return ErrorFormat::Gemini
            .bad_request("* GenerateContentRequest.contents: contents is not specified");
    };
    let mut prompt = PromptText::default();
    if let Some(system) = req.body.get("systemInstruction") {
        prompt.add_message();
        add_parts(&mut prompt, system);
    }
    for content in contents {
        prompt.add_message();
        add_parts(&mut prompt, content);
    }
    let limit = req
        .body
        .pointer("/generationConfig/maxOutputTokens")
        .and_then(Value::as_u64);
    let answer = req.answer("gemini", limit);
    let prompt_tokens = prompt.prompt_tokens();
    let response_id = req.id("");
    let (chunks, completion_tokens): (Vec<Value>, u64) = match chosen_function(&req.body, contents)
    {
        Some(name) => (
            vec![json!([{"functionCall": {"name": name, "args": {}}}])],
            TOOL_CALL_TOKENS,
        ),
        None => {
            let pieces = match framing {
                Framing::Json => vec![answer.text.clone()],
                _ => answer.pieces(),
            };
            let parts = pieces.into_iter().map(|p| json!([{ "text": p }])).collect();
            (parts, answer.completion_tokens())
        }
    };
    let finish_reason = if answer.hit_limit {
        "MAX_TOKENS"
    } else {
        "STOP"
    };
    let last = chunks.len() - 1;
    let responses: Vec<Value> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, parts)| {
            let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
            let mut response = json!({"modelVersion": model, "responseId": response_id});
            if i == last {
                candidate["finishReason"] = json!(finish_reason);
                response["usageMetadata"] = json!({
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": completion_tokens,
                    "totalTokenCount": prompt_tokens + completion_tokens,
                });
            }
            response["candidates"] = json!([candidate]);
            response
        })
        .collect();
    match framing {
        Framing::Json => Reply::ok(responses.into_iter().next().unwrap_or_default()),
        Framing::Sse => Reply::sse(responses.iter().map(sse::data).collect()),
        Framing::JsonArray => {
            let events = responses
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let lead = if i == 0 { "[" } else { ",\r\n" };
                    let tail = if i == last { "]" } else { "" };
                    Bytes::from(format!("{lead}{r}{tail}"))
                })
                .collect();
            Reply::Stream {
                content_type: "application/json",
                events,
            }
        }
    }
}

fn add_parts(prompt: &mut PromptText, content: &Value) {
    for part in content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            prompt.add_text(text);
        }
    }
}

/// A function call only when declarations exist, the user spoke last without
/// a `functionResponse`, and `toolConfig` mode is not NONE; the first of
/// `allowedFunctionNames` wins over the first declaration.
fn chosen_function(body: &Value, contents: &[Value]) -> Option<String> {
    let first_declared = body
        .get("tools")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
        .flatten()
        .find_map(|d| d.get("name").and_then(Value::as_str))?;
    let last = contents.last()?;
    let role = last.get("role").and_then(Value::as_str).unwrap_or("user");
    let answered = last
        .get("parts")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()));
    let config = body.pointer("/toolConfig/functionCallingConfig");
    let mode = config.and_then(|c| c.get("mode")).and_then(Value::as_str);
    if role != "user" || answered || mode == Some("NONE") {
        return None;
    }
    let allowed = config
        .and_then(|c| c.pointer("/allowedFunctionNames/0"))
        .and_then(Value::as_str);
    Some(allowed.unwrap_or(first_declared).to_owned())
}

fn content_text(content: Option<&Value>) -> Option<String> {
    let parts = content?.get("parts")?.as_array()?;
    Some(
        parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
    )
}

/// `:embedContent` → `{"embedding": {"values": [...]}}`.
pub fn embed(req: &ProviderRequest) -> Reply {
    match content_text(req.body.get("content")) {
        Some(text) => Reply::ok(json!({"embedding": {"values": embedding::vector(&text)}})),
        None => ErrorFormat::Gemini
            .bad_request("* EmbedContentRequest.content: content is not specified"),
    }
}

/// `:batchEmbedContents` → `{"embeddings": [{"values": [...]}, ...]}`.
pub fn batch_embed(req: &ProviderRequest) -> Reply {
    let texts: Option<Vec<String>> =
        req.body
            .get("requests")
            .and_then(Value::as_array)
            .and_then(|requests| {
                requests
                    .iter()
                    .map(|r| content_text(r.get("content")))
                    .collect()
            });
    match texts {
        Some(texts) => {
            let embeddings: Vec<Value> = texts
                .iter()
                .map(|t| json!({"values": embedding::vector(t)}))
                .collect();
            Reply::ok(json!({ "embeddings": embeddings }))
        }
        None => ErrorFormat::Gemini
            .bad_request("* BatchEmbedContentsRequest.requests: each request needs content"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::request;

    #[test]
    fn json_answer_with_usage() {
        let req = request(json!({"contents": [{"role": "user", "parts": [{"text": "abcdefgh"}]}]}));
        let Reply::Json { body, .. } = generate(&req, "gemini-2.5-flash", Framing::Json) else {
            unreachable!("JSON")
        };
        assert_eq!(body["candidates"][0]["finishReason"], "STOP");
        assert_eq!(body["usageMetadata"]["promptTokenCount"], 5);
        assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 6);
        assert_eq!(body["modelVersion"], "gemini-2.5-flash");
    }

    #[test]
    fn function_call_and_array_stream() {
        let req = request(json!({
            "contents": [{"parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"name": "find"}]}],
        }));
        let Reply::Json { body, .. } = generate(&req, "g", Framing::Json) else {
            unreachable!("JSON")
        };
        assert_eq!(
            body["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
            "find"
        );
        let plain = request(json!({"contents": [{"parts": [{"text": "x"}]}]}));
        let Reply::Stream { events, .. } = generate(&plain, "g", Framing::JsonArray) else {
            unreachable!("stream")
        };
        let joined = String::from_utf8(events.concat()).unwrap();
        let parsed: Value = serde_json::from_str(&joined).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn embeddings() {
        let one = request(json!({"content": {"parts": [{"text": "a"}]}}));
        let Reply::Json { body, .. } = embed(&one) else {
            unreachable!("JSON")
        };
        assert_eq!(
            body["embedding"]["values"].as_array().map(Vec::len),
            Some(8)
        );
        let batch = request(json!({"requests": [
            {"model": "models/e", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/e", "content": {"parts": [{"text": "b"}]}},
        ]}));
        let Reply::Json { body, .. } = batch_embed(&batch) else {
            unreachable!("JSON")
        };
        assert_eq!(body["embeddings"].as_array().map(Vec::len), Some(2));
    }
}
