//! OpenAI-shaped answers: chat completions (JSON and `chat.completion.chunk`
//! streams, including tool calls), embeddings, the model list and the
//! Responses API. Azure OpenAI reuses these with the deployment as model.

use crate::embedding;
use crate::errors::ErrorFormat;
use crate::reply::{Answer, ProviderRequest, Reply, CREATED, TOOL_ARGUMENT_PIECES};
use crate::sse;
use crate::usage::{embedding_tokens, PromptText, TOOL_CALL_TOKENS};
use bytes::Bytes;
use serde_json::{json, Value};

/// `POST /v1/chat/completions`; `model` is the request's model (or the Azure
/// deployment), `provider` names the provider in the reply sentence.
pub fn chat_completions(req: &ProviderRequest, model: &str, provider: &str) -> Reply {
    let Some(messages) = req.body.get("messages").and_then(Value::as_array) else {
        return ErrorFormat::OpenAi.bad_request("Missing required parameter: 'messages'.");
    };
    let mut prompt = PromptText::default();
    for message in messages {
        prompt.add_message();
        prompt.add_content(message.get("content"));
    }
    let limit = req
        .u64_field("max_completion_tokens")
        .or_else(|| req.u64_field("max_tokens"));
    let answer = req.answer(provider, limit);
    let chat = Chat {
        id: req.id("chatcmpl-"),
        call_id: req.id("call_"),
        model,
        prompt_tokens: prompt.prompt_tokens(),
        tool: chosen_tool(&req.body, messages),
        answer,
    };
    if req.wants_stream() {
        let include_usage = req
            .body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        Reply::sse(chat.stream(include_usage))
    } else {
        Reply::ok(chat.completion())
    }
}

/// The function to call: only when tools are offered, the user spoke last and
/// `tool_choice` is not "none"; a named `tool_choice` wins over the first tool.
fn chosen_tool(body: &Value, messages: &[Value]) -> Option<String> {
    let tools = body.get("tools").and_then(Value::as_array)?;
    let last_role = messages.last()?.get("role").and_then(Value::as_str);
    if tools.is_empty() || last_role != Some("user") {
        return None;
    }
    match body.get("tool_choice") {
        Some(Value::String(choice)) if choice == "none" => None,
        Some(choice @ Value::Object(_)) if choice.pointer("/function/name").is_some() => choice
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => tools[0]
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

struct Chat<'a> {
    id: String,
    call_id: String,
    model: &'a str,
    prompt_tokens: u64,
    tool: Option<String>,
    answer: Answer,
}

impl Chat<'_> {
    fn completion_tokens(&self) -> u64 {
        if self.tool.is_some() {
            TOOL_CALL_TOKENS
        } else {
            self.answer.completion_tokens()
        }
    }

    fn finish_reason(&self) -> &'static str {
        match (&self.tool, self.answer.hit_limit) {
            (Some(_), _) => "tool_calls",
            (None, true) => "length",
            (None, false) => "stop",
        }
    }

    fn usage(&self) -> Value {
        let completion = self.completion_tokens();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        })
    }

    fn completion(&self) -> Value {
        let message = match &self.tool {
            Some(name) => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": self.call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": TOOL_ARGUMENT_PIECES.concat()},
                }],
                "refusal": null,
            }),
            None => json!({"role": "assistant", "content": self.answer.text, "refusal": null}),
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": self.finish_reason(),
            }],
            "usage": self.usage(),
            "system_fingerprint": "fp_fake",
        })
    }

    /// Role chunk, delta chunks, finish chunk, optional usage chunk, `[DONE]`.
    fn stream(&self, include_usage: bool) -> Vec<Bytes> {
        let chunk = |delta: Value, finish: Value| {
            let mut c = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            });
            if include_usage {
                c["usage"] = Value::Null;
            }
            sse::data(&c)
        };
        let mut events = Vec::new();
        match &self.tool {
            Some(name) => {
                events.push(chunk(
                    json!({"role": "assistant", "content": null, "tool_calls": [{
                        "index": 0, "id": self.call_id, "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}),
                    Value::Null,
                ));
                for piece in TOOL_ARGUMENT_PIECES {
                    events.push(chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        Value::Null,
                    ));
                }
            }
            None => {
                events.push(chunk(
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                ));
                for piece in self.answer.pieces() {
                    events.push(chunk(json!({"content": piece}), Value::Null));
                }
            }
        }
        events.push(chunk(json!({}), json!(self.finish_reason())));
        if include_usage {
            events.push(sse::data(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": self.usage(),
            })));
        }
        events.push(sse::done());
        events
    }
}

/// `POST /v1/embeddings`: `input` as a string, strings, a token array or
/// token arrays.
pub fn embeddings(req: &ProviderRequest, model: &str) -> Reply {
    // (text the vector is derived from, tokens it counts for)
    let token_array = |tokens: &Vec<Value>| -> Option<(String, u64)> {
        let ids: Option<Vec<u64>> = tokens.iter().map(Value::as_u64).collect();
        let ids = ids?;
        let key = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        Some((key, ids.len() as u64))
    };
    let inputs: Option<Vec<(String, u64)>> = match req.body.get("input") {
        Some(Value::String(s)) => Some(vec![(s.clone(), embedding_tokens(s))]),
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_number) => {
            token_array(items).map(|t| vec![t])
        }
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some((s.clone(), embedding_tokens(s))),
                Value::Array(tokens) => token_array(tokens),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    let Some(inputs) = inputs else {
        return ErrorFormat::OpenAi.bad_request(
            "'input' must be a non-empty string, array of strings, or array of token arrays.",
        );
    };
    let base64 = req.body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let tokens: u64 = inputs.iter().map(|(_, t)| t).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (text, _))| {
            json!({
                "object": "embedding",
                "index": index,
                "embedding": embedding::openai_value(&embedding::vector(text), base64),
            })
        })
        .collect();
    Reply::ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

/// `GET /v1/models`.
pub fn models() -> Reply {
    let model =
        |id: &str| json!({"id": id, "object": "model", "created": CREATED, "owned_by": "system"});
    Reply::ok(json!({
        "object": "list",
        "data": [model("gpt-4o-mini"), model("gpt-4o"), model("text-embedding-3-small")],
    }))
}

/// `POST /v1/responses`: one output message; streamed with the Responses API
/// event names when `"stream": true`.
pub fn responses(req: &ProviderRequest) -> Reply {
    let mut prompt = PromptText::default();
    if let Some(instructions) = req.body.get("instructions").and_then(Value::as_str) {
        prompt.add_message();
        prompt.add_text(instructions);
    }
    match req.body.get("input") {
        Some(Value::String(text)) => {
            prompt.add_message();
            prompt.add_text(text);
        }
        Some(Value::Array(items)) => {
            for item in items {
                prompt.add_message();
                prompt.add_content(item.get("content"));
            }
        }
        _ => return ErrorFormat::OpenAi.bad_request("Missing required parameter: 'input'."),
    }
    let answer = req.answer("openai", req.u64_field("max_output_tokens"));
    let input_tokens = prompt.prompt_tokens();
    let output_tokens = answer.completion_tokens();
    let message_id = req.id("msg_");
    let text_part = json!({"type": "output_text", "text": answer.text, "annotations": []});
    let message = json!({
        "type": "message",
        "id": message_id,
        "status": "completed",
        "role": "assistant",
        "content": [text_part],
    });
    let response = |status: &str, output: Value, usage: Value| {
        let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
        json!({
            "id": req.id("resp_"),
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "error": null,
            "incomplete_details": incomplete,
            "model": req.model(),
            "output": output,
            "usage": usage,
        })
    };
    let final_status = if answer.hit_limit {
        "incomplete"
    } else {
        "completed"
    };
    let usage = json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    });
    let done = response(final_status, json!([message]), usage);
    if !req.wants_stream() {
        return Reply::ok(done);
    }
    let mut sequence = 0u64;
    let mut events = Vec::new();
    let mut push = |name: &str, mut event: Value| {
        event["type"] = json!(name);
        event["sequence_number"] = json!(sequence);
        sequence += 1;
        events.push(sse::named(name, &event));
    };
    let in_progress_item = json!({
        "type": "message", "id": message_id, "status": "in_progress",
        "role": "assistant", "content": [],
    });
    let part_at = |event: Value| {
        let mut e = event;
        e["item_id"] = json!(message_id);
        e["output_index"] = json!(0);
        e["content_index"] = json!(0);
        e
    };
    push(
        "response.created",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    );
    push(
        "response.output_item.added",
        json!({"output_index": 0, "item": in_progress_item}),
    );
    push(
        "response.content_part.added",
        part_at(json!({"part": {"type": "output_text", "text": "", "annotations": []}})),
    );
    for piece in answer.pieces() {
        push(
            "response.output_text.delta",
            part_at(json!({"delta": piece})),
        );
    }
    push(
        "response.output_text.done",
        part_at(json!({"text": answer.text})),
    );
    push(
        "response.content_part.done",
        part_at(json!({"part": text_part})),
    );
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": message}),
    );
    push(
        &format!("response.{final_status}"),
        json!({"response": done}),
    );
    Reply::sse(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::request;

    fn json_of(reply: Reply) -> Value {
        match reply {
            Reply::Json { body, .. } => body,
            _ => unreachable!("expected JSON"),
        }
    }

    #[test]
    fn completion_usage_and_no_prompt_echo() {
        let req = request(json!({"model": "m", "messages": [
            {"role": "system", "content": "secret prompt words"},
            {"role": "user", "content": [{"type": "text", "text": "tell me"}]},
        ]}));
        let body = json_of(chat_completions(&req, "m", "openai"));
        // 19 + 7 = 26 chars -> 7, two messages -> 6
        assert_eq!(body["usage"]["prompt_tokens"], 13);
        assert_eq!(body["usage"]["completion_tokens"], 6);
        assert_eq!(body["usage"]["total_tokens"], 19);
        assert!(!body.to_string().contains("secret"));
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn tool_calls_unless_none() {
        let mut body = json!({"model": "m",
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            "messages": [{"role": "user", "content": "x"}]});
        let out = json_of(chat_completions(&request(body.clone()), "m", "openai"));
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
        body["tool_choice"] = json!("none");
        let out = json_of(chat_completions(&request(body), "m", "openai"));
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn embeddings_accept_every_input_form() {
        for (input, tokens) in [
            (json!("abcd"), 1),
            (json!(["abcd", "abcde"]), 3),
            (json!([1, 2, 3]), 3),
            (json!([[1, 2], [3]]), 3),
        ] {
            let out = json_of(embeddings(
                &request(json!({"model": "e", "input": input})),
                "e",
            ));
            assert_eq!(out["usage"]["prompt_tokens"], tokens);
            assert_eq!(
                out["data"][0]["embedding"].as_array().map(Vec::len),
                Some(8)
            );
        }
        let out = json_of(embeddings(&request(json!({"input": 5})), "e"));
        assert!(out["error"]["message"].is_string());
    }
}
