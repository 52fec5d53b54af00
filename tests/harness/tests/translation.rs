//! One endpoint, any provider: requests translated per upstream attempt into
//! the provider's API and responses (whole and streamed) back into the
//! caller's, through a real Envoy and the fake providers.

use gateway_harness::client::{last_upstream, post};
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::{json, Value};

/// OpenAI's chat completions, the path most tests call the gateway on.
const COMPLETIONS: &str = "/v1/chat/completions";

fn start(name: &str) -> Stack {
    Stack::start(StackOptions::demo(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn upstream_body(stack: &Stack) -> Value {
    serde_json::from_str(last_upstream(stack)["body"].as_str().unwrap()).unwrap()
}

fn chat(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","stream":{stream},"stream_options":{{"include_usage":{stream}}},"messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"Hi"}}]}}"#
    )
}

#[test]
fn openai_chat_to_anthropic_and_back() {
    let stack = start("translate-anthropic");
    let response = post(&stack, COMPLETIONS, &chat("claude-sonnet-4-5", false), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let reply = response.json();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Hello from the fake anthropic provider."
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert!(reply["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let sent = last_upstream(&stack);
    assert_eq!(sent["path"], "/v1/messages");
    assert!(sent["headers"]["anthropic-version"].is_string());
    let body = upstream_body(&stack);
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(
        body["max_tokens"].as_u64().unwrap() > 0,
        "Anthropic requires max_tokens"
    );

    let response = post(
        &stack,
        COMPLETIONS,
        &chat("claude-sonnet-4-5", true),
        &["-N"],
    );
    assert_eq!(response.status, 200);
    let chunks = response.sse_data();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"),
        "{}",
        response.text()
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from the fake anthropic provider.");
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0,
        "the usage chunk"
    );
    assert!(response.text().trim_end().ends_with("data: [DONE]"));
}

#[test]
fn openai_chat_to_gemini_whole_and_streamed() {
    let stack = start("translate-gemini");
    let response = post(&stack, COMPLETIONS, &chat("gemini-2.5-flash", false), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["choices"][0]["message"]["content"],
        "Hello from the fake gemini provider."
    );
    assert_eq!(
        last_upstream(&stack)["path"],
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        upstream_body(&stack)["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );

    let response = post(
        &stack,
        COMPLETIONS,
        &chat("gemini-2.5-flash", true),
        &["-N"],
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        last_upstream(&stack)["path"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let chunks = response.sse_data();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from the fake gemini provider.");
    assert!(
        chunks.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn anthropic_clients_reach_an_openai_provider() {
    let stack = start("translate-reverse");
    let body = r#"{"model":"gpt-4o-mini","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#;
    let response = post(&stack, "/v1/messages", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let message = response.json();
    assert_eq!(message["type"], "message");
    assert_eq!(
        message["content"][0]["text"],
        "Hello from the fake openai provider."
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(last_upstream(&stack)["path"], "/v1/chat/completions");
    assert_eq!(upstream_body(&stack)["messages"][0]["role"], "system");

    let stream = body.replacen('{', r#"{"stream":true,"#, 1);
    let response = post(&stack, "/v1/messages", &stream, &["-N"]);
    assert_eq!(response.status, 200);
    let text = response.text();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::trim)
        .collect();
    assert_eq!(
        events.first(),
        Some(&"message_start"),
        "{}",
        response.text()
    );
    assert_eq!(events.last(), Some(&"message_stop"));
    assert!(events.contains(&"content_block_delta") && events.contains(&"message_delta"));
}

#[test]
fn a_model_mapped_to_an_azure_deployment_uses_its_path() {
    let stack = start("translate-azure");
    let response = post(&stack, COMPLETIONS, &chat("gpt-4o-mini-azure", false), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = last_upstream(&stack);
    assert_eq!(
        sent["path"],
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent["headers"]["api-key"], "sk-demo-azure");
}

#[test]
fn tool_calls_cross_formats_both_ways() {
    let stack = start("translate-tools");
    let openai_tools = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Weather?"}],
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}}]}"#;
    let reply = post(&stack, COMPLETIONS, openai_tools, &[]).json();
    assert_eq!(
        reply["choices"][0]["finish_reason"], "tool_calls",
        "{reply}"
    );
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(upstream_body(&stack)["tools"][0]["name"], "get_weather");

    let anthropic_tools = r#"{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Weather?"}],
        "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{}}}]}"#;
    let message = post(&stack, "/v1/messages", anthropic_tools, &[]).json();
    assert_eq!(message["stop_reason"], "tool_use", "{message}");
    let block = message["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(block["name"], "get_weather");
    assert_eq!(
        upstream_body(&stack)["tools"][0]["function"]["name"],
        "get_weather"
    );
}

#[test]
fn embeddings_reach_gemini_by_prefix() {
    let stack = start("translate-embeddings");
    let body = r#"{"model":"gemini/text-embedding-004","input":["one","two"]}"#;
    let response = post(&stack, "/v1/embeddings", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let list = response.json();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        last_upstream(&stack)["path"],
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
}

/// A Gemini client's own embedding calls reach Gemini on the method it
/// called, chosen by header or by the model table: `:embedContent` with its
/// single request (answered with one `embedding`), `:batchEmbedContents`
/// with its batch.
#[test]
fn gemini_embed_content_reaches_gemini_as_embed_content() {
    let dir = RunDir::new("translate-gemini-embed-filters").unwrap();
    let options = StackOptions::demo_with_filters("translate-gemini-embed", &dir, |filters| {
        filters["route_translate"]["models"]
            .as_array_mut()
            .unwrap()
            .push(json!({"match": "text-embedding-004", "to": [{"provider": "gemini"}]}));
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let single = r#"{"content":{"parts":[{"text":"Hello"}]},"taskType":"RETRIEVAL_QUERY"}"#;
    for (how, extra) in [
        ("by header", &["-H", "x-llm-provider: gemini"][..]),
        ("by model", &[][..]),
    ] {
        let response = post(
            &stack,
            "/v1beta/models/text-embedding-004:embedContent",
            single,
            extra,
        );
        assert_eq!(response.status, 200, "{how}: {}", response.text());
        let values = response.json()["embedding"]["values"].clone();
        assert!(
            values.as_array().is_some_and(|v| !v.is_empty()),
            "{how}: embedContent's shape: {}",
            response.text()
        );
        let sent = last_upstream(&stack);
        assert_eq!(
            sent["path"], "/v1beta/models/text-embedding-004:embedContent",
            "{how}"
        );
        assert_eq!(
            upstream_body(&stack)["content"]["parts"][0]["text"],
            "Hello",
            "{how}: the single request as sent"
        );
    }
    let batch = r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}},{"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]}}]}"#;
    let response = post(
        &stack,
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        batch,
        &[],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(
        last_upstream(&stack)["path"],
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
}

#[test]
fn provider_errors_reach_the_caller_in_its_own_format() {
    let stack = start("translate-errors");
    let response = post(
        &stack,
        COMPLETIONS,
        &chat("claude-sonnet-4-5", false),
        &["-H", "x-fake-fault: status=429"],
    );
    assert_eq!(response.status, 429);
    let error = &response.json()["error"];
    assert!(
        error["message"].is_string() && error["type"].is_string(),
        "OpenAI error shape: {}",
        response.text()
    );

    let body =
        r#"{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}"#;
    let response = post(
        &stack,
        "/v1/messages",
        body,
        &["-H", "x-fake-fault: status=400"],
    );
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["type"],
        "error",
        "Anthropic error shape: {}",
        response.text()
    );
}

#[test]
fn the_responses_api_reaches_openai_and_azure() {
    let stack = start("translate-responses");
    let body = r#"{"model":"gpt-4o-mini","input":"Hi"}"#;
    let response = post(&stack, "/v1/responses", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["object"], "response");
    assert_eq!(last_upstream(&stack)["path"], "/v1/responses");

    let body = r#"{"model":"gpt-4o-mini-azure","input":"Hi"}"#;
    let response = post(&stack, "/v1/responses", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = last_upstream(&stack);
    assert!(
        sent["path"]
            .as_str()
            .unwrap()
            .starts_with("/openai/responses?api-version="),
        "{sent}"
    );
    assert_eq!(
        upstream_body(&stack)["model"],
        "gpt-4o-mini",
        "the deployment stands in for the model"
    );
    assert_eq!(sent["headers"]["api-key"], "sk-demo-azure");
}

#[test]
fn a_weighted_split_sends_a_model_to_both_providers() {
    let dir = gateway_harness::RunDir::new("translate-split-filters").unwrap();
    let options = StackOptions::demo_with_filters("translate-split", &dir, |filters| {
        filters["route_translate"]["models"][0] = serde_json::json!(
            {"match": "gpt-4o-mini", "to": [{"provider": "openai", "weight": 1}, {"provider": "azure", "weight": 1}]}
        );
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let (mut openai, mut azure) = (0, 0);
    for _ in 0..40 {
        assert_eq!(
            post(&stack, COMPLETIONS, &chat("gpt-4o-mini", false), &[]).status,
            200
        );
        match last_upstream(&stack)["path"].as_str().unwrap() {
            "/v1/chat/completions" => openai += 1,
            path if path.starts_with("/openai/deployments/gpt-4o-mini/") => azure += 1,
            other => panic!("unexpected upstream path {other}"),
        }
    }
    // Each request id (generated by Envoy) picks one side; 1:1 weights.
    assert!(openai >= 8 && azure >= 8, "openai {openai}, azure {azure}");
}

/// A 1x1 PNG, base64.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

#[test]
fn image_parts_reach_each_provider_in_its_format() {
    let stack = start("translate-images");
    let content = format!(
        r#"[{{"type":"text","text":"What is in these?"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{PNG}"}}}},{{"type":"image_url","image_url":{{"url":"https://example.com/cat.jpg"}}}}]"#
    );
    let request = |model: &str| {
        format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":{content}}}]}}"#)
    };

    let response = post(&stack, COMPLETIONS, &request("claude-sonnet-4-5"), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = upstream_body(&stack)["messages"][0]["content"].clone();
    assert_eq!(
        parts[0],
        serde_json::json!({"type": "text", "text": "What is in these?"})
    );
    assert_eq!(
        parts[1]["source"],
        serde_json::json!({"type": "base64", "media_type": "image/png", "data": PNG})
    );
    assert_eq!(
        parts[2]["source"],
        serde_json::json!({"type": "url", "url": "https://example.com/cat.jpg"})
    );
    assert!(parts.as_array().unwrap()[1..]
        .iter()
        .all(|p| p["type"] == "image"));

    let response = post(&stack, COMPLETIONS, &request("gemini-2.5-flash"), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = upstream_body(&stack)["contents"][0]["parts"].clone();
    assert_eq!(parts[0]["text"], "What is in these?");
    assert_eq!(
        parts[1]["inlineData"],
        serde_json::json!({"mimeType": "image/png", "data": PNG})
    );
    assert_eq!(
        parts[2]["fileData"],
        serde_json::json!({"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"})
    );

    // An Anthropic client's image, sent to OpenAI as a data URL.
    let body = format!(
        r#"{{"model":"gpt-4o-mini","max_tokens":32,"messages":[{{"role":"user","content":[{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{PNG}"}}}},{{"type":"text","text":"What is this?"}}]}}]}}"#
    );
    let response = post(&stack, "/v1/messages", &body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = upstream_body(&stack)["messages"][0]["content"].clone();
    assert_eq!(
        parts[0]["image_url"]["url"],
        format!("data:image/png;base64,{PNG}")
    );
    assert_eq!(
        parts[1],
        serde_json::json!({"type": "text", "text": "What is this?"})
    );
}
