//! PII scanning through a real Envoy: the demo redacts every entity type;
//! other policies come from a filters file of the test's own.

use gateway_harness::client::{last_upstream, post};
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::{json, Value};

fn upstream_text(stack: &Stack) -> String {
    last_upstream(stack)["body"].as_str().unwrap().to_owned()
}

/// The demo with `pii_scan` replaced by `policy`, its filters written into `dir`.
fn with_pii_policy(name: &str, dir: &RunDir, policy: Value) -> StackOptions {
    StackOptions::demo_with_filters(name, dir, |filters| filters["pii_scan"] = policy).unwrap()
}

#[test]
fn the_demo_redacts_every_type_in_every_api_format() {
    let stack = Stack::start(StackOptions::demo("pii-redact")).unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Mail jane.doe@example.com, SSN 123-45-6789, card 4111 1111 1111 1111"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("x-pii-detected"),
        Some("CREDIT_CARD,EMAIL,US_SSN")
    );
    let sent = upstream_text(&stack);
    for value in ["jane.doe@example.com", "123-45-6789", "4111 1111 1111 1111"] {
        assert!(
            !sent.contains(value),
            "{value} reached the provider: {sent}"
        );
    }
    assert!(
        sent.contains("[EMAIL_REDACTED]") && sent.contains("[US_SSN_REDACTED]"),
        "{sent}"
    );

    // Anthropic format: system prompt and messages alike.
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"system":"Key: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD","messages":[{"role":"user","content":"Call +1 415-555-0100"}]}"#;
    let response = post(&stack, "/v1/messages", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-pii-detected"), Some("PHONE,SECRET"));
    let sent = upstream_text(&stack);
    assert!(
        !sent.contains("415-555-0100") && !sent.contains("sk-proj-abcdefghij"),
        "{sent}"
    );

    // A member name sent twice: the provider reads the last value, and the
    // earlier one, which held an address, does not reach it either.
    let twice = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Mail jane.doe@example.com","content":"hello"}]}"#;
    let response = post(&stack, "/v1/chat/completions", twice, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = upstream_text(&stack);
    assert!(
        !sent.contains("jane.doe@example.com") && sent.contains("hello"),
        "{sent}"
    );

    // Clean requests pass untouched and carry no header.
    let clean =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is 2 + 2?"}]}"#;
    let response = post(&stack, "/v1/chat/completions", clean, &[]);
    assert!(response.header("x-pii-detected").is_none());
    assert_eq!(
        upstream_text(&stack),
        clean,
        "an unchanged body is not rewritten"
    );
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.llm_gateway.pii_scan.findings.EMAIL.redact")
            .unwrap(),
        Some(1)
    );
}

#[test]
fn a_blocked_type_is_rejected_naming_the_type_never_the_value() {
    let dir = RunDir::new("pii-block-filters").unwrap();
    let options = with_pii_policy(
        "pii-block",
        &dir,
        json!({"default_action": "redact", "entities": {"US_SSN": "block"}}),
    );
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let body =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"My SSN is 123-45-6789"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &[]);
    assert_eq!(response.status, 400);
    let error = &response.json()["error"];
    assert_eq!(error["code"], "pii_blocked");
    assert!(error["message"].as_str().unwrap().contains("US_SSN"));
    assert!(
        !response.text().contains("123-45-6789"),
        "the value must never be echoed"
    );
    let anthropic = post(
        &stack,
        "/v1/messages",
        r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"SSN 123-45-6789"}]}"#,
        &[],
    );
    assert_eq!(anthropic.status, 400);
    assert_eq!(anthropic.json()["type"], "error");
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "blocked requests never reach a provider"
    );
}

#[test]
fn tokenized_values_never_reach_the_provider_and_the_same_value_keeps_its_placeholder() {
    let dir = RunDir::new("pii-tokenize-filters").unwrap();
    let options = with_pii_policy("pii-tokenize", &dir, json!({"default_action": "tokenize"}));
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write to jane@example.com"},{"role":"assistant","content":"OK"},{"role":"user","content":"Also bob@example.org and again jane@example.com"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let sent: Value = serde_json::from_str(&upstream_text(&stack)).unwrap();
    assert_eq!(sent["messages"][0]["content"], "Write to <EMAIL_1>");
    assert_eq!(
        sent["messages"][2]["content"],
        "Also <EMAIL_2> and again <EMAIL_1>"
    );
}

/// The text of a streamed OpenAI chat response: its deltas joined.
fn streamed_text(response: &gateway_harness::curl::Response) -> String {
    response
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn responses_are_scanned_whole_and_streamed_with_values_split_across_events() {
    let dir = RunDir::new("pii-response-filters").unwrap();
    // Requests only detected (so the values reach the model); the model's
    // output redacted. The fake model echoes the prompt, word by word when
    // streaming, so the card number spans four events.
    let policy = json!({"default_action": "detect", "response": {"default_action": "redact", "entities": {"PHONE": "detect"}}});
    let options = with_pii_policy("pii-response", &dir, policy);
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let prompt = "Card 4111 1111 1111 1111 mail jane.doe@example.com call +1 415 555 0100 ok";
    let body = |stream: bool| {
        format!(
            r#"{{"model":"gpt-4o-mini","stream":{stream},"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
        )
    };
    let echo = ["-H", "x-fake-echo: last-user", "-N"];
    let whole = post(&stack, "/v1/chat/completions", &body(false), &echo);
    assert_eq!(whole.status, 200, "{}", whole.text());
    let text = whole.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let expected = "Card [CREDIT_CARD_REDACTED] mail [EMAIL_REDACTED] call +1 415 555 0100 ok";
    assert_eq!(
        text, expected,
        "redacted in the answer; PHONE only detected"
    );
    let streamed = post(&stack, "/v1/chat/completions", &body(true), &echo);
    assert_eq!(streamed.status, 200);
    assert_eq!(
        streamed_text(&streamed),
        expected,
        "the same whatever the chunking: {}",
        streamed.text()
    );
    assert!(
        !streamed.text().contains("1111"),
        "no piece of the card number leaks"
    );
    for (entity, action, n) in [
        ("CREDIT_CARD", "redact", 2),
        ("EMAIL", "redact", 2),
        ("PHONE", "detect", 2),
    ] {
        let stat = format!("wasmcustom.llm_gateway.pii_scan.response_findings.{entity}.{action}");
        assert_eq!(stack.envoy.stat(&stat).unwrap(), Some(n), "{stat}");
    }
}

#[test]
fn custom_detectors_and_the_route_action_come_from_the_filter_config() {
    let dir = RunDir::new("pii-custom-filters").unwrap();
    let policy = json!({
        "default_action": "redact",
        "custom": [{"name": "EMPLOYEE_ID", "regex": "\\bE-\\d{6}\\b"}, {"name": "PROJECT", "keywords": ["Bluebird"]}],
        "entities": {"PROJECT": "route", "EMPLOYEE_ID": "redact"},
        "labels": {"EMPLOYEE_ID": "<employee>"},
        "route_to": {"provider": "anthropic", "model": "claude-haiku-4-5"}
    });
    let options = with_pii_policy("pii-custom", &dir, policy);
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let body =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Badge E-123456 asks"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-pii-detected"), Some("EMPLOYEE_ID"));
    assert!(
        upstream_text(&stack).contains("Badge <employee> asks"),
        "{}",
        upstream_text(&stack)
    );
    // A prompt naming the confidential project goes to the configured
    // provider and model instead, untouched, in its API.
    let body =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Status of Bluebird?"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["object"], "chat.completion");
    let sent = last_upstream(&stack);
    assert_eq!(sent["path"], "/v1/messages");
    let upstream: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(upstream["model"], "claude-haiku-4-5");
    assert_eq!(upstream["messages"][0]["content"], "Status of Bluebird?");
}
