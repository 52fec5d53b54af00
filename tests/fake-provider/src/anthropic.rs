//! Anthropic Messages API answers (`POST /v1/messages`), JSON and streamed
//! with the real event sequence: message_start, content_block_start, ping,
//! content_block_delta..., content_block_stop, message_delta, message_stop.

use crate::errors::ErrorFormat;
use crate::reply::{Answer, ProviderRequest, Reply, TOOL_ARGUMENT_PIECES};
use crate::sse;
use crate::usage::{PromptText, TOOL_CALL_TOKENS};
use bytes::Bytes;
use serde_json::{json, Value};

pub fn messages(req: &ProviderRequest) -> Reply {
    let Some(max_tokens) = req.u64_field("max_tokens").filter(|&m| m > 0) else {
        return ErrorFormat::Anthropic.bad_request("max_tokens: Field required");
    };
    let Some(messages) = req.body.get("messages").and_then(Value::as_array) else {
        return ErrorFormat::Anthropic.bad_request("messages: Field required");
    };
    let mut prompt = PromptText::default();
    if let Some(system) = req.body.get("system") {
        prompt.add_message();
        prompt.add_content(Some(system));
    }
    for message in messages {
        prompt.add_message();
        prompt.add_content(message.get("content"));
    }
    let reply = Message {
        id: req.id("msg_"),
        tool_id: req.id("toolu_"),
        model: req.model(),
        input_tokens: prompt.prompt_tokens(),
        tool: chosen_tool(&req.body, messages),
        answer: req.answer("anthropic", Some(max_tokens)),
    };
    if req.wants_stream() {
        Reply::sse(reply.stream())
    } else {
        Reply::ok(reply.message())
    }
}

/// Tool use only when tools are offered, the user spoke last with no
/// `tool_result` (else an agent loop would never end) and `tool_choice`
/// is not `{"type": "none"}`; `{"type": "tool", "name"}` picks the tool.
fn chosen_tool(body: &Value, messages: &[Value]) -> Option<String> {
    let tools = body.get("tools").and_then(Value::as_array)?;
    let last = messages.last()?;
    let has_tool_result = last
        .get("content")
        .and_then(Value::as_array)
        .is_some_and(|blocks| {
            blocks
                .iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        });
    if tools.is_empty()
        || last.get("role").and_then(Value::as_str) != Some("user")
        || has_tool_result
    {
        return None;
    }
    let choice = body.get("tool_choice");
    match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => None,
        Some("tool") => choice
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => tools[0]
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

struct Message<'a> {
    id: String,
    tool_id: String,
    model: &'a str,
    input_tokens: u64,
    tool: Option<String>,
    answer: Answer,
}

impl Message<'_> {
    fn output_tokens(&self) -> u64 {
        if self.tool.is_some() {
            TOOL_CALL_TOKENS
        } else {
            self.answer.completion_tokens()
        }
    }

    fn stop_reason(&self) -> &'static str {
        match (&self.tool, self.answer.hit_limit) {
            (Some(_), _) => "tool_use",
            (None, true) => "max_tokens",
            (None, false) => "end_turn",
        }
    }

    fn envelope(&self, content: Value, stop_reason: Value, output_tokens: u64) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {
                "input_tokens": self.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
            },
        })
    }

    fn message(&self) -> Value {
        let block = match &self.tool {
            Some(name) => {
                json!({"type": "tool_use", "id": self.tool_id, "name": name, "input": {}})
            }
            None => json!({"type": "text", "text": self.answer.text}),
        };
        self.envelope(
            json!([block]),
            json!(self.stop_reason()),
            self.output_tokens(),
        )
    }

    fn stream(&self) -> Vec<Bytes> {
        let mut events = vec![sse::named(
            "message_start",
            &json!({"type": "message_start", "message": self.envelope(json!([]), Value::Null, 1)}),
        )];
        let (start_block, deltas): (Value, Vec<Value>) = match &self.tool {
            Some(name) => (
                json!({"type": "tool_use", "id": self.tool_id, "name": name, "input": {}}),
                TOOL_ARGUMENT_PIECES
                    .iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect(),
            ),
            None => (
                json!({"type": "text", "text": ""}),
                self.answer
                    .pieces()
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect(),
            ),
        };
        events.push(sse::named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
        ));
        events.push(sse::named("ping", &json!({"type": "ping"})));
        for delta in deltas {
            events.push(sse::named(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
            ));
        }
        events.push(sse::named(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push(sse::named(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens()},
            }),
        ));
        events.push(sse::named("message_stop", &json!({"type": "message_stop"})));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::request;

    #[test]
    fn requires_max_tokens() {
        let reply = messages(&request(json!({"model": "c", "messages": []})));
        let Reply::Json { status, body, .. } = reply else {
            unreachable!("errors are JSON")
        };
        assert_eq!(status.as_u16(), 400);
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn tool_use_only_before_tool_result() {
        let tools = json!([{"name": "lookup", "input_schema": {"type": "object"}}]);
        let ask = request(json!({"model": "c", "max_tokens": 50, "tools": tools,
            "system": "sys", "messages": [{"role": "user", "content": "hi"}]}));
        let Reply::Json { body, .. } = messages(&ask) else {
            unreachable!("JSON")
        };
        assert_eq!(body["stop_reason"], "tool_use");
        assert_eq!(body["content"][0]["name"], "lookup");
        // "sys" + "hi" = 5 chars -> 2, two messages -> 6
        assert_eq!(body["usage"]["input_tokens"], 8);
        let answered = request(json!({"model": "c", "max_tokens": 50, "tools": tools,
            "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "42"}]}]}));
        let Reply::Json { body, .. } = messages(&answered) else {
            unreachable!("JSON")
        };
        assert_eq!(body["stop_reason"], "end_turn");
    }
}
