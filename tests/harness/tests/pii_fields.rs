//! PII in every field the model or the provider reads, in every API format,
//! through a real Envoy running the demo (which redacts every entity type):
//! one case per field per format, each with its own address, checking what
//! the fake provider received.

use gateway_harness::client::{last_upstream, post};
use gateway_harness::curl::post_json;
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";
const AZURE: &str = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21";
const RESPONSES: &str = "/v1/responses";
const EMBEDDINGS: &str = "/v1/embeddings";
const MESSAGES: &str = "/v1/messages";
const GEMINI: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const GEMINI_EMBED: &str = "/v1beta/models/text-embedding-004:embedContent";
const GEMINI_BATCH: &str = "/v1beta/models/text-embedding-004:batchEmbedContents";

/// One field: its name (which is also the address's local part), the path,
/// and the body with `ADDR` where the address goes.
struct Case {
    name: &'static str,
    path: &'static str,
    body: &'static str,
    headers: &'static [&'static str],
}

const fn case(name: &'static str, path: &'static str, body: &'static str) -> Case {
    Case {
        name,
        path,
        body,
        headers: &[],
    }
}

/// The demo routes no Gemini embedding model by name: the client names the
/// provider.
const fn gemini_embed(name: &'static str, path: &'static str, body: &'static str) -> Case {
    Case {
        name,
        path,
        body,
        headers: &["-H", "x-llm-provider: gemini"],
    }
}

/// Wraps one chat message, or top-level members, in a chat request.
macro_rules! chat {
    (message: $m:literal) => {
        concat!(
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"},"#,
            $m,
            "]}"
        )
    };
    (top: $t:literal) => {
        concat!(
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"#,
            $t,
            "}"
        )
    };
}

macro_rules! responses {
    ($t:literal) => {
        concat!(r#"{"model":"gpt-4o-mini","#, $t, "}")
    };
}

macro_rules! anthropic {
    (message: $m:literal) => {
        concat!(r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"},"#, $m, "]}")
    };
    (top: $t:literal) => {
        concat!(r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}],"#, $t, "}")
    };
}

macro_rules! gemini {
    (content: $c:literal) => {
        concat!(
            r#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]},"#,
            $c,
            "]}"
        )
    };
    (top: $t:literal) => {
        concat!(
            r#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"#,
            $t,
            "}"
        )
    };
}

const CASES: &[Case] = &[
    // OpenAI chat completions.
    case(
        "chat-developer",
        CHAT,
        chat!(message: r#"{"role":"developer","content":"Reply to ADDR"}"#),
    ),
    case(
        "chat-system-parts",
        CHAT,
        chat!(message: r#"{"role":"system","content":[{"type":"text","text":"Owner ADDR"}]}"#),
    ),
    case(
        "chat-name",
        CHAT,
        chat!(message: r#"{"role":"user","name":"ADDR","content":"Hello"}"#),
    ),
    case(
        "chat-text-part",
        CHAT,
        chat!(message: r#"{"role":"user","content":[{"type":"text","text":"Mail ADDR"}]}"#),
    ),
    case(
        "chat-unknown-part",
        CHAT,
        chat!(message: r#"{"role":"user","content":[{"type":"future_part","note":"Mail ADDR"}]}"#),
    ),
    case(
        "chat-reasoning",
        CHAT,
        chat!(message: r#"{"role":"assistant","content":"ok","reasoning_content":"User is ADDR"}"#),
    ),
    case(
        "chat-refusal",
        CHAT,
        chat!(message: r#"{"role":"assistant","content":null,"refusal":"Not for ADDR"}"#),
    ),
    case(
        "chat-tool-call",
        CHAT,
        chat!(message: r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"send","arguments":"{\"to\":\"ADDR\"}"}}]}"#),
    ),
    case(
        "chat-function-call",
        CHAT,
        chat!(message: r#"{"role":"assistant","content":null,"function_call":{"name":"send","arguments":"{\"to\":\"ADDR\"}"}}"#),
    ),
    case(
        "chat-tool-result",
        CHAT,
        chat!(message: r#"{"role":"tool","tool_call_id":"c1","content":"Sent to ADDR"}"#),
    ),
    case(
        "chat-tool-result-parts",
        CHAT,
        chat!(message: r#"{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"Sent to ADDR"}]}"#),
    ),
    case(
        "chat-tools-description",
        CHAT,
        chat!(top: r#""tools":[{"type":"function","function":{"name":"send","description":"Mails ADDR"}}]"#),
    ),
    case(
        "chat-tools-schema",
        CHAT,
        chat!(top: r#""tools":[{"type":"function","function":{"name":"send","parameters":{"type":"object","properties":{"to":{"type":"string","enum":["ADDR"],"description":"d"}}}}}]"#),
    ),
    case(
        "chat-functions",
        CHAT,
        chat!(top: r#""functions":[{"name":"send","description":"Mails ADDR","parameters":{}}]"#),
    ),
    case(
        "chat-prediction",
        CHAT,
        chat!(top: r#""prediction":{"type":"content","content":"Dear ADDR"}"#),
    ),
    case("chat-user", CHAT, chat!(top: r#""user":"ADDR""#)),
    case(
        "chat-safety-identifier",
        CHAT,
        chat!(top: r#""safety_identifier":"ADDR""#),
    ),
    case(
        "chat-metadata",
        CHAT,
        chat!(top: r#""store":true,"metadata":{"owner":"ADDR"}"#),
    ),
    case(
        "chat-response-format",
        CHAT,
        chat!(top: r#""response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","description":"For ADDR"}}}"#),
    ),
    // Azure OpenAI: the chat shape on its own path.
    case(
        "azure-system",
        AZURE,
        r#"{"messages":[{"role":"system","content":"Owner ADDR"},{"role":"user","content":"Hi"}]}"#,
    ),
    case(
        "azure-tools",
        AZURE,
        r#"{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"send","description":"Mails ADDR"}}]}"#,
    ),
    // OpenAI Responses.
    case(
        "responses-instructions",
        RESPONSES,
        responses!(r#""instructions":"Owner ADDR","input":"Hi""#),
    ),
    case(
        "responses-input-string",
        RESPONSES,
        responses!(r#""input":"Mail ADDR""#),
    ),
    case(
        "responses-input-text",
        RESPONSES,
        responses!(
            r#""input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Mail ADDR"}]}]"#
        ),
    ),
    case(
        "responses-output-text",
        RESPONSES,
        responses!(
            r#""input":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Mailed ADDR"}]},{"role":"user","content":"ok"}]"#
        ),
    ),
    case(
        "responses-function-call",
        RESPONSES,
        responses!(
            r#""input":[{"type":"function_call","call_id":"c1","name":"send","arguments":"{\"to\":\"ADDR\"}"}]"#
        ),
    ),
    case(
        "responses-function-output",
        RESPONSES,
        responses!(
            r#""input":[{"type":"function_call_output","call_id":"c1","output":"Sent to ADDR"}]"#
        ),
    ),
    case(
        "responses-reasoning",
        RESPONSES,
        responses!(
            r#""input":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"User is ADDR"}]},{"role":"user","content":"ok"}]"#
        ),
    ),
    case(
        "responses-unknown-item",
        RESPONSES,
        responses!(
            r#""input":[{"type":"future_item","note":"Mail ADDR"},{"role":"user","content":"ok"}]"#
        ),
    ),
    case(
        "responses-tools",
        RESPONSES,
        responses!(
            r#""input":"Hi","tools":[{"type":"function","name":"send","description":"Mails ADDR","parameters":{}}]"#
        ),
    ),
    case(
        "responses-prompt-variables",
        RESPONSES,
        responses!(r#""input":"Hi","prompt":{"id":"pmpt_1","variables":{"customer":"ADDR"}}"#),
    ),
    case(
        "responses-text-format",
        RESPONSES,
        responses!(
            r#""input":"Hi","text":{"format":{"type":"json_schema","name":"s","schema":{"description":"For ADDR"}}}"#
        ),
    ),
    case(
        "responses-metadata",
        RESPONSES,
        responses!(r#""input":"Hi","metadata":{"owner":"ADDR"}"#),
    ),
    case(
        "responses-user",
        RESPONSES,
        responses!(r#""input":"Hi","user":"ADDR""#),
    ),
    case(
        "responses-safety-identifier",
        RESPONSES,
        responses!(r#""input":"Hi","safety_identifier":"ADDR""#),
    ),
    // OpenAI embeddings.
    case(
        "embeddings-input",
        EMBEDDINGS,
        r#"{"model":"text-embedding-3-small","input":"Mail ADDR"}"#,
    ),
    case(
        "embeddings-input-array",
        EMBEDDINGS,
        r#"{"model":"text-embedding-3-small","input":["ok","Mail ADDR"]}"#,
    ),
    case(
        "embeddings-user",
        EMBEDDINGS,
        r#"{"model":"text-embedding-3-small","input":"Hi","user":"ADDR"}"#,
    ),
    // Anthropic Messages.
    case(
        "anthropic-system",
        MESSAGES,
        anthropic!(top: r#""system":"Owner ADDR""#),
    ),
    case(
        "anthropic-system-blocks",
        MESSAGES,
        anthropic!(top: r#""system":[{"type":"text","text":"Owner ADDR"}]"#),
    ),
    case(
        "anthropic-text-block",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":[{"type":"text","text":"Mailed ADDR"}]}"#),
    ),
    case(
        "anthropic-document-text",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"Contract with ADDR"}}]}"#),
    ),
    case(
        "anthropic-document-content",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"text","text":"Contract with ADDR"}]}}]}"#),
    ),
    case(
        "anthropic-document-title",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"document","title":"ADDR","source":{"type":"text","media_type":"text/plain","data":"x"}}]}"#),
    ),
    case(
        "anthropic-document-context",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"document","context":"From ADDR","source":{"type":"text","media_type":"text/plain","data":"x"}}]}"#),
    ),
    case(
        "anthropic-search-result",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"search_result","source":"https://x.test","title":"t","content":[{"type":"text","text":"Contact ADDR"}]}]}"#),
    ),
    case(
        "anthropic-unknown-block",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"future_block","note":"Mail ADDR"}]}"#),
    ),
    case(
        "anthropic-thinking",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":[{"type":"thinking","thinking":"User is ADDR","signature":"sig"},{"type":"text","text":"ok"}]}"#),
    ),
    case(
        "anthropic-tool-use",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"send","input":{"to":"ADDR"}}]}"#),
    ),
    case(
        "anthropic-tool-result",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"send","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"Sent to ADDR"}]}"#),
    ),
    case(
        "anthropic-tool-result-blocks",
        MESSAGES,
        anthropic!(message: r#"{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"send","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"Sent to ADDR"}]}]}"#),
    ),
    case(
        "anthropic-tools-description",
        MESSAGES,
        anthropic!(top: r#""tools":[{"name":"send","description":"Mails ADDR","input_schema":{"type":"object"}}]"#),
    ),
    case(
        "anthropic-tools-schema",
        MESSAGES,
        anthropic!(top: r#""tools":[{"name":"send","input_schema":{"type":"object","properties":{"to":{"type":"string","description":"Default ADDR"}}}}]"#),
    ),
    case(
        "anthropic-metadata",
        MESSAGES,
        anthropic!(top: r#""metadata":{"user_id":"ADDR"}"#),
    ),
    // Gemini generateContent, camelCase and snake_case.
    case(
        "gemini-system-instruction",
        GEMINI,
        gemini!(top: r#""systemInstruction":{"parts":[{"text":"Owner ADDR"}]}"#),
    ),
    case(
        "gemini-system-instruction-snake",
        GEMINI,
        gemini!(top: r#""system_instruction":{"parts":[{"text":"Owner ADDR"}]}"#),
    ),
    case(
        "gemini-text",
        GEMINI,
        gemini!(content: r#"{"role":"model","parts":[{"text":"Mailed ADDR"}]}"#),
    ),
    case(
        "gemini-thought",
        GEMINI,
        gemini!(content: r#"{"role":"model","parts":[{"text":"User is ADDR","thought":true},{"text":"ok"}]}"#),
    ),
    case(
        "gemini-function-call",
        GEMINI,
        gemini!(content: r#"{"role":"model","parts":[{"functionCall":{"name":"send","args":{"to":"ADDR"}}}]}"#),
    ),
    case(
        "gemini-function-call-snake",
        GEMINI,
        gemini!(content: r#"{"role":"model","parts":[{"function_call":{"name":"send","args":{"to":"ADDR"}}}]}"#),
    ),
    case(
        "gemini-function-response",
        GEMINI,
        gemini!(content: r#"{"role":"user","parts":[{"functionResponse":{"name":"send","response":{"sent":"ADDR"}}}]}"#),
    ),
    case(
        "gemini-function-response-snake",
        GEMINI,
        gemini!(content: r#"{"role":"user","parts":[{"function_response":{"name":"send","response":{"sent":"ADDR"}}}]}"#),
    ),
    case(
        "gemini-unknown-part",
        GEMINI,
        gemini!(content: r#"{"role":"user","parts":[{"futurePart":{"note":"Mail ADDR"}}]}"#),
    ),
    case(
        "gemini-tools",
        GEMINI,
        gemini!(top: r#""tools":[{"functionDeclarations":[{"name":"send","description":"Mails ADDR"}]}]"#),
    ),
    case(
        "gemini-tools-snake",
        GEMINI,
        gemini!(top: r#""tools":[{"function_declarations":[{"name":"send","parameters":{"type":"object","properties":{"to":{"type":"string","description":"Default ADDR"}}}}]}]"#),
    ),
    case(
        "gemini-response-schema",
        GEMINI,
        gemini!(top: r#""generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"object","description":"For ADDR"}}"#),
    ),
    case(
        "gemini-response-schema-snake",
        GEMINI,
        gemini!(top: r#""generation_config":{"response_schema":{"type":"object","description":"For ADDR"}}"#),
    ),
    // Gemini embeddings, one text and a batch.
    gemini_embed(
        "gemini-embed-content",
        GEMINI_EMBED,
        r#"{"content":{"parts":[{"text":"Mail ADDR"}]},"title":"Notes"}"#,
    ),
    gemini_embed(
        "gemini-embed-title",
        GEMINI_EMBED,
        r#"{"content":{"parts":[{"text":"Hi"}]},"taskType":"RETRIEVAL_DOCUMENT","title":"ADDR"}"#,
    ),
    gemini_embed(
        "gemini-batch-embed-title",
        GEMINI_BATCH,
        r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"Hi"}]},"taskType":"RETRIEVAL_DOCUMENT","title":"ADDR"}]}"#,
    ),
    gemini_embed(
        "gemini-batch-embed",
        GEMINI_BATCH,
        r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"Mail ADDR"}]}}]}"#,
    ),
];

#[test]
fn every_field_of_every_format_is_redacted_before_the_provider() {
    let stack = Stack::start(StackOptions::demo("pii-fields")).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for case in CASES {
        let address = format!("f-{}@example.com", case.name);
        let body = case.body.replace("ADDR", &address);
        let before = stack.fake.requests().unwrap().len();
        let response = post(&stack, case.path, &body, case.headers);
        let requests = stack.fake.requests().unwrap();
        if response.status != 200 || requests.len() != before + 1 {
            failures.push(format!(
                "{}: status {}, not forwarded: {}",
                case.name,
                response.status,
                response.text()
            ));
            continue;
        }
        let sent = requests
            .last()
            .and_then(|r| r["body"].as_str())
            .unwrap_or_default()
            .to_owned();
        if sent.contains(&address) || !sent.contains("[EMAIL_REDACTED]") {
            failures.push(format!("{}: the provider received {sent}", case.name));
        }
        if response.header("x-pii-detected") != Some("EMAIL") {
            failures.push(format!(
                "{}: x-pii-detected {:?}",
                case.name,
                response.header("x-pii-detected")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fields:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// The demo with a pii_scan policy that tokenizes requests and redacts the
/// model's output.
fn tokenize_and_scan_output(name: &str, dir: &RunDir) -> StackOptions {
    let policy = json!({"default_action": "tokenize", "response": {"default_action": "redact"}});
    StackOptions::demo_with_filters(name, dir, |filters| filters["pii_scan"] = policy).unwrap()
}

/// `-H x-fake-reply: <reply>` for curl: the fake provider sends `reply`.
fn scripted(reply: &Value) -> [String; 2] {
    ["-H".to_owned(), format!("x-fake-reply: {reply}")]
}

/// What the client received, or the failure to report.
fn exchange(stack: &Stack, path: &str, body: &str, reply: &Value) -> Result<String, String> {
    let [flag, header] = scripted(reply);
    let response = post_json(&stack.url(path), body, &[&flag, &header, "-N"])?;
    let text = response.text();
    if response.status != 200 {
        return Err(format!("status {}: {text}", response.status));
    }
    // Whatever was held back goes out before the event that ends the stream.
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    let last = data.last().copied().unwrap_or_default();
    let ends = ["[DONE]", r#"{"type":"message_stop"}"#];
    match data
        .iter()
        .position(|d| ends.contains(d) || d.starts_with(r#"{"type":"response.completed""#))
    {
        Some(end) if data[end] != last => {
            Err(format!("events after the end of the stream: {text}"))
        }
        _ => Ok(text.to_owned()),
    }
}

/// Output fields the model writes that repeat or carry text beside the
/// message: log-probabilities, reasoning and thinking, whole texts repeated
/// by stream events. The address each one carries never reaches the client.
#[test]
fn output_fields_beside_the_message_are_scanned_too() {
    let dir = RunDir::new("pii-fields-output-filters").unwrap();
    let stack = Stack::start(tokenize_and_scan_output("pii-fields-output", &dir))
        .unwrap_or_else(|e| panic!("{e}"));
    let chat = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let chat_stream =
        r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let responses = r#"{"model":"gpt-4o-mini","stream":true,"input":"Hi"}"#;
    let anthropic = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;
    let anthropic_stream = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let gemini_stream = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let gemini = r#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}"#;
    let logprob = |token: &str| json!({"token": token, "logprob": -0.1, "bytes": token.as_bytes(), "top_logprobs": [{"token": token, "logprob": -0.1, "bytes": token.as_bytes()}]});
    let chat_reply = |message: Value, logprobs: Value| {
        json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "stop"}]})
    };
    let chunk = |delta: Value, logprobs: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": null}]})
    };
    let completed_output = |text: &str| {
        json!([{"type": "message", "id": "m1", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}]}])
    };
    let cases: Vec<(&str, &str, &str, Value)> = vec![
        (
            "chat-logprobs",
            CHAT,
            chat,
            chat_reply(
                json!({"role": "assistant", "content": "ok"}),
                json!({"content": [logprob("ADDR")], "refusal": null}),
            ),
        ),
        (
            "chat-reasoning",
            CHAT,
            chat,
            chat_reply(
                json!({"role": "assistant", "content": "ok", "reasoning_content": "User is ADDR"}),
                Value::Null,
            ),
        ),
        (
            "chat-refusal",
            CHAT,
            chat,
            chat_reply(
                json!({"role": "assistant", "content": null, "refusal": "Not for ADDR"}),
                Value::Null,
            ),
        ),
        (
            "chat-stream-logprobs",
            CHAT,
            chat_stream,
            json!([
                chunk(
                    json!({"role": "assistant", "content": "ok "}),
                    json!({"content": [logprob("ADDR")]})
                ),
                chunk(json!({"content": "done"}), Value::Null),
                "[DONE]"
            ]),
        ),
        (
            "chat-stream-reasoning",
            CHAT,
            chat_stream,
            json!([
                chunk(
                    json!({"role": "assistant", "reasoning_content": "User is "}),
                    Value::Null
                ),
                chunk(json!({"reasoning_content": "ADDR now"}), Value::Null),
                chunk(json!({"content": "ok"}), Value::Null),
                "[DONE]"
            ]),
        ),
        (
            "responses-done-events",
            RESPONSES,
            responses,
            json!([
            {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "Mail "},
            {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "ADDR ok"},
            {"type": "response.output_text.done", "item_id": "m1", "output_index": 0, "content_index": 0, "text": "Mail ADDR ok"},
            {"type": "response.content_part.done", "item_id": "m1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "Mail ADDR ok", "annotations": []}},
            {"type": "response.output_item.done", "output_index": 0, "item": completed_output("Mail ADDR ok")[0]},
            {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed", "output": completed_output("Mail ADDR ok")}}]),
        ),
        (
            "responses-reasoning",
            RESPONSES,
            responses,
            json!([
            {"type": "response.reasoning_summary_text.delta", "item_id": "rs1", "output_index": 0, "summary_index": 0, "delta": "User is ADDR"},
            {"type": "response.reasoning_summary_text.done", "item_id": "rs1", "output_index": 0, "summary_index": 0, "text": "User is ADDR"},
            {"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "id": "rs1", "summary": [{"type": "summary_text", "text": "User is ADDR"}]}},
            {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed", "output": completed_output("ok")}}]),
        ),
        (
            "responses-logprobs",
            RESPONSES,
            responses,
            json!([
            {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "ok", "logprobs": [logprob("ADDR")]},
            {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed", "output": completed_output("ok")}}]),
        ),
        (
            "anthropic-thinking",
            MESSAGES,
            anthropic,
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "thinking", "thinking": "User is ADDR", "signature": "sig"}, {"type": "text", "text": "ok"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 5}}),
        ),
        (
            "anthropic-stream-thinking",
            MESSAGES,
            anthropic_stream,
            json!([
            {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "User is "}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "ADDR ok"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
            {"type": "message_stop"}]),
        ),
        (
            "gemini-thought-and-logprobs",
            GEMINI,
            gemini,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "User is ADDR", "thought": true}, {"text": "ok"}]},
            "logprobsResult": {"chosenCandidates": [{"token": "ADDR", "logProbability": -0.1}], "topCandidates": []}, "finishReason": "STOP"}]}),
        ),
        (
            "gemini-stream-thought",
            gemini_stream,
            gemini,
            json!([
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "User is ", "thought": true}]}}]},
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "ADDR ok", "thought": true}]}}]},
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}]),
        ),
    ];
    let mut failures = Vec::new();
    for (name, path, body, reply) in cases {
        let address = format!("out-{name}@example.com");
        let reply: Value =
            serde_json::from_str(&reply.to_string().replace("ADDR", &address)).unwrap();
        match exchange(&stack, path, body, &reply) {
            Ok(text) if text.contains(&address) || text.contains(&address[..address.len() - 4]) => {
                failures.push(format!("{name}: the client received {text}"))
            }
            Ok(text) if !text.contains("[EMAIL_REDACTED]") && !name.contains("logprobs") => {
                failures.push(format!("{name}: nothing redacted in {text}"))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} fields:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A tokenized value is restored alike in the deltas and in every event that
/// repeats the whole text, split placeholder or not.
#[test]
fn tokenized_values_are_restored_in_the_events_that_repeat_the_text() {
    let dir = RunDir::new("pii-fields-restore-filters").unwrap();
    let stack = Stack::start(tokenize_and_scan_output("pii-fields-restore", &dir))
        .unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"model":"gpt-4o-mini","stream":true,"input":"Write to jane.roe@example.com"}"#;
    let output = json!([{"type": "message", "id": "m1", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": "Sent to <EMAIL_1>.", "annotations": []}]}]);
    let reply = json!([
        {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "Sent to <EMA"},
        {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "IL_1>."},
        {"type": "response.output_text.done", "item_id": "m1", "output_index": 0, "content_index": 0, "text": "Sent to <EMAIL_1>."},
        {"type": "response.content_part.done", "item_id": "m1", "output_index": 0, "content_index": 0, "part": output[0]["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": output[0]},
        {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed", "output": output}}]);
    let text = exchange(&stack, RESPONSES, body, &reply).unwrap_or_else(|e| panic!("{e}"));
    let sent = last_upstream(&stack)["body"].as_str().unwrap().to_owned();
    assert!(
        sent.contains("Write to <EMAIL_1>") && !sent.contains("jane.roe"),
        "{sent}"
    );
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let deltas: String = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert_eq!(deltas, "Sent to jane.roe@example.com.", "{text}");
    let whole = [
        &events
            .iter()
            .find(|e| e["type"] == "response.output_text.done")
            .unwrap()["text"],
        &events
            .iter()
            .find(|e| e["type"] == "response.content_part.done")
            .unwrap()["part"]["text"],
        &events
            .iter()
            .find(|e| e["type"] == "response.output_item.done")
            .unwrap()["item"]["content"][0]["text"],
        &events
            .iter()
            .find(|e| e["type"] == "response.completed")
            .unwrap()["response"]["output"][0]["content"][0]["text"],
    ];
    for text in whole {
        assert_eq!(text, "Sent to jane.roe@example.com.", "{events:?}");
    }
    assert!(!text.contains("<EMAIL_1>"), "{text}");

    // A client that types thousands of placeholders beside thousands of
    // values: issuing placeholders stays linear (it searched the whole text
    // once per candidate number: minutes in the VM at this size).
    let typed: String = (1..=100_000).map(|k| format!("<EMAIL_{k}> ")).collect();
    let values: String = (0..2_000).map(|k| format!("u{k}@example.com ")).collect();
    let body = json!({"model": "gpt-4o-mini", "input": format!("{typed}{values}")}).to_string();
    let file = dir.path.join("typed-placeholders.json");
    std::fs::write(&file, &body).unwrap();
    let started = std::time::Instant::now();
    let response = post(
        &stack,
        RESPONSES,
        &format!("@{}", file.display()),
        &["--max-time", "60"],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.header("x-pii-detected"), Some("EMAIL"));
    // Too large for the fake provider to record as text: its length tells.
    // Each `uK@example.com` became a placeholder numbered past the typed ones.
    let placeholders: usize = (100_001..=102_000)
        .map(|k| format!("<EMAIL_{k}>").len())
        .sum();
    let expected =
        body.len() - values.trim_end().split(' ').map(str::len).sum::<usize>() + placeholders;
    let sent = last_upstream(&stack);
    assert_eq!(
        sent["body_len"], expected,
        "every value tokenized, none reusing a typed number"
    );
}
