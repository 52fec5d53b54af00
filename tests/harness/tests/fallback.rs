//! Retries and cross-provider fallback through a real Envoy with the demo
//! configuration: `gpt-4o-mini` is served by OpenAI, then Azure OpenAI, then
//! Anthropic (`claude-haiku-4-5`), each attempt translated for the provider
//! it reaches and carrying only that provider's key.

use gateway_harness::client::post;
use gateway_harness::curl::{post_json, Response};
use gateway_harness::{Stack, StackOptions};
use serde_json::Value;

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}"#;

/// The paths of each provider in the demo.
const OPENAI: &str = "/v1/chat/completions";
const AZURE: &str = "/openai/deployments/gpt-4o-mini/chat/completions";
const ANTHROPIC: &str = "/v1/messages";

/// The headers that carry provider keys, and each demo provider's key.
const KEY_HEADERS: [&str; 4] = ["authorization", "api-key", "x-api-key", "x-goog-api-key"];

fn start(name: &str) -> Stack {
    Stack::start(StackOptions::demo(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The provider requests of this test, as (path without query, record).
fn upstream(stack: &Stack) -> Vec<(String, Value)> {
    let requests = stack.fake.requests().unwrap();
    requests
        .into_iter()
        .filter(|r| {
            !r["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/collector")
        })
        .map(|r| {
            (
                r["path"]
                    .as_str()
                    .unwrap_or_default()
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                r,
            )
        })
        .collect()
}

/// Asserts that `record` carries exactly one provider key: `header: value`.
fn assert_only_key(record: &Value, header: &str, value: &str) {
    let headers = record["headers"].as_object().unwrap();
    assert_eq!(
        headers.get(header).and_then(Value::as_str),
        Some(value),
        "{header} on {}",
        record["path"]
    );
    for other in KEY_HEADERS.iter().filter(|h| **h != header) {
        assert!(
            !headers.contains_key(*other),
            "{other} reached {}: {:?}",
            record["path"],
            headers.get(*other)
        );
    }
}

/// Queues `fault` for the next `count` requests to paths starting with
/// `path`.
fn queue_fault(stack: &Stack, fault: &str, count: u32, path: &str) {
    stack.fake.queue_fault(fault, count, path).unwrap();
}

fn sent_body(record: &Value) -> Value {
    serde_json::from_str(record["body"].as_str().unwrap()).unwrap()
}

fn chat(stack: &Stack, body: &str) -> Response {
    post(stack, "/v1/chat/completions", body, &[])
}

#[test]
fn a_5xx_is_retried_once_on_the_same_provider_and_translated_again() {
    let stack = start("fallback-retry");
    queue_fault(&stack, "status=503", 1, ANTHROPIC);
    let body = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}],"max_tokens":20}"#;
    let response = chat(&stack, body);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["object"],
        "chat.completion",
        "{}",
        response.text()
    );
    let attempts = upstream(&stack);
    assert_eq!(
        attempts.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [ANTHROPIC, ANTHROPIC]
    );
    for (_, record) in &attempts {
        assert_only_key(record, "x-api-key", "sk-demo-anthropic");
        let sent = sent_body(record);
        assert_eq!(
            (sent["model"].as_str(), sent["max_tokens"].as_u64()),
            (Some("claude-sonnet-4-5"), Some(20)),
            "an Anthropic body each time"
        );
    }
    // Two 503s in a row: one retry, then the provider's error, in OpenAI's format.
    queue_fault(&stack, "status=503", 2, ANTHROPIC);
    let response = chat(&stack, body);
    assert_eq!(response.status, 503);
    assert!(
        response.json()["error"]["message"].is_string(),
        "{}",
        response.text()
    );
    assert_eq!(upstream(&stack).len(), 4);
}

#[test]
fn a_failing_provider_falls_back_to_the_next_with_its_own_key() {
    let stack = start("fallback-azure");
    queue_fault(&stack, "status=503", 1, OPENAI);
    let response = chat(&stack, CHAT);
    assert_eq!(response.status, 200, "{}", response.text());
    let attempts = upstream(&stack);
    assert_eq!(
        attempts.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [OPENAI, AZURE]
    );
    assert_only_key(&attempts[0].1, "authorization", "Bearer sk-demo-openai");
    assert_only_key(&attempts[1].1, "api-key", "sk-demo-azure");
    assert!(attempts[1].1["path"]
        .as_str()
        .unwrap()
        .contains("api-version=2024-10-21"));
    // Without a fault, the chain's first provider serves.
    assert_eq!(chat(&stack, CHAT).status, 200);
    assert_eq!(upstream(&stack).last().unwrap().0, OPENAI);
}

#[test]
fn a_fallback_to_another_api_is_translated_for_it() {
    let stack = start("fallback-anthropic");
    for stream in [false, true] {
        queue_fault(&stack, "status=503", 1, OPENAI);
        queue_fault(&stack, "status=502", 1, "/openai/deployments");
        let request = CHAT.replace("\"model\"", &format!("\"stream\":{stream},\"model\""));
        let response = chat(&stack, &request);
        assert_eq!(response.status, 200, "{}", response.text());
        let attempts = upstream(&stack);
        let last = attempts.len() - 3;
        let paths: Vec<_> = attempts[last..].iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, [OPENAI, AZURE, ANTHROPIC], "stream={stream}");
        let anthropic = &attempts[last + 2].1;
        assert_only_key(anthropic, "x-api-key", "sk-demo-anthropic");
        assert!(anthropic["headers"]["anthropic-version"].is_string());
        let sent = sent_body(anthropic);
        assert_eq!(
            sent["model"], "claude-haiku-4-5",
            "the chain's name for the model on Anthropic"
        );
        assert_eq!(
            sent["system"], "Be brief.",
            "translated to Anthropic's format"
        );
        assert_eq!(sent["messages"][0]["role"], "user");
        if stream {
            let text = response.text();
            assert!(
                text.contains("\"object\":\"chat.completion.chunk\"")
                    && text.trim_end().ends_with("data: [DONE]"),
                "{text}"
            );
        } else {
            let json = response.json();
            assert_eq!(json["object"], "chat.completion");
            assert!(json["choices"][0]["message"]["content"].is_string());
            assert!(json["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn anthropic_clients_fall_back_from_openai_to_anthropic_itself() {
    let stack = start("fallback-reverse");
    queue_fault(&stack, "status=500", 1, OPENAI);
    queue_fault(&stack, "reset", 1, "/openai/deployments");
    let request = r#"{"model":"gpt-4o-mini","max_tokens":32,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#;
    let response = post(
        &stack,
        "/v1/messages",
        request,
        &["-H", "anthropic-version: 2023-06-01"],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["type"], "message", "{}", response.text());
    let attempts = upstream(&stack);
    assert_eq!(
        attempts.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [OPENAI, AZURE, ANTHROPIC]
    );
    assert_eq!(
        sent_body(&attempts[0].1)["messages"][0]["role"],
        "system",
        "OpenAI got the OpenAI format"
    );
    let last = sent_body(&attempts[2].1);
    assert_eq!(
        (last["model"].as_str(), last["system"].as_str()),
        (Some("claude-haiku-4-5"), Some("Be brief."))
    );
    assert_only_key(&attempts[2].1, "x-api-key", "sk-demo-anthropic");
}

#[test]
fn when_every_provider_fails_the_client_gets_the_last_error_in_its_format() {
    let stack = start("fallback-exhausted");
    queue_fault(&stack, "status=503", 1, OPENAI);
    queue_fault(&stack, "status=503", 1, "/openai/deployments");
    queue_fault(&stack, "status=529", 1, ANTHROPIC);
    let response = chat(&stack, CHAT);
    assert_eq!(response.status, 529, "{}", response.text());
    assert!(
        response.json()["error"]["message"].is_string(),
        "Anthropic's error in OpenAI's format: {}",
        response.text()
    );
    assert_eq!(
        upstream(&stack).len(),
        3,
        "one attempt per provider, no more"
    );
    // A 400 is the client's fault: no fallback.
    stack.fake.clear_requests().unwrap();
    let response = post(
        &stack,
        "/v1/chat/completions",
        CHAT,
        &["-H", "x-fake-fault: status=400"],
    );
    assert_eq!(response.status, 400);
    assert_eq!(upstream(&stack).len(), 1);
}

#[test]
fn a_stream_cut_after_it_started_is_not_retried() {
    let stack = start("fallback-stream-cut");
    queue_fault(&stack, "truncate=3", 1, OPENAI);
    let request = CHAT.replace("\"model\"", "\"stream\":true,\"model\"");
    // The client sees the events that were sent and then the cut, never a
    // second answer spliced onto the first.
    match chat_result(&stack, &request) {
        Err(cut) => assert!(cut.contains("curl"), "{cut}"),
        Ok(response) => assert!(!response.text().contains("[DONE]"), "{}", response.text()),
    }
    assert_eq!(
        upstream(&stack).len(),
        1,
        "no retry once the response has started"
    );
}

fn chat_result(stack: &Stack, body: &str) -> Result<Response, String> {
    post_json(&stack.url("/v1/chat/completions"), body, &["-N"])
}

#[test]
fn a_provider_that_keeps_failing_is_ejected_and_the_chain_starts_at_the_next() {
    let stack = start("fallback-outlier");
    // Five 5xx in a row from OpenAI (each call still served by Azure) eject
    // it from the chain (`consecutive_5xx: 5` in the demo).
    queue_fault(&stack, "status=503", 5, OPENAI);
    for _ in 0..5 {
        assert_eq!(chat(&stack, CHAT).status, 200);
    }
    stack.fake.clear_requests().unwrap();
    let response = chat(&stack, CHAT);
    assert_eq!(response.status, 200);
    let paths: Vec<_> = upstream(&stack).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [AZURE], "OpenAI is skipped while ejected");
    assert!(
        stack
            .envoy
            .stat("cluster.gpt-4o-mini-chain.outlier_detection.ejections_enforced_total")
            .unwrap()
            .unwrap_or(0)
            >= 1
    );
}

#[test]
fn a_provider_that_times_out_is_retried_then_the_client_gets_a_504_in_its_format() {
    let mut options = StackOptions::demo("fallback-timeout");
    options
        .vars
        .insert("PROVIDER_TRY_TIMEOUT".into(), "1s".into());
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    // A chain: OpenAI answers too late, so the attempt moves on to Azure.
    queue_fault(&stack, "delay=3s", 1, OPENAI);
    let started = std::time::Instant::now();
    let response = chat(&stack, CHAT);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the slow attempt was abandoned"
    );
    let paths: Vec<String> = upstream(&stack).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [OPENAI, AZURE]);
    // A single provider that stays too slow: one retry, then a 504 in the
    // caller's format (Anthropic's here).
    queue_fault(&stack, "delay=3s", 2, ANTHROPIC);
    let response = post(
        &stack,
        "/v1/messages",
        r#"{"model":"claude-sonnet-4-5","max_tokens":20,"messages":[{"role":"user","content":"Hi"}]}"#,
        &[],
    );
    assert_eq!(response.status, 504, "{}", response.text());
    let error = response.json();
    assert_eq!(
        error["type"],
        "error",
        "Anthropic's error shape: {}",
        response.text()
    );
    assert!(error["error"]["type"].is_string(), "{}", response.text());
}
