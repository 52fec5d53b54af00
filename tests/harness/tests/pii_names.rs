//! Person names and street addresses through a real Envoy: the demo's
//! configuration, which does not name PERSON or ADDRESS, passes them as
//! sent; a configuration that names them protects them before the provider
//! sees the request.

use gateway_harness::client::{last_upstream, post};
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::{json, Value};

const PROMPT: &str = "Dear Mr. Okafor,\nplease ship the order to 12 Oak Street, Springfield, IL 62704 or to Hauptstraße 5, 10115 Berlin.\n\nBest regards,\nEmily Thompson";

fn body() -> String {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}).to_string()
}

/// The content of the first message the provider received.
fn sent_content(stack: &Stack) -> String {
    let sent: Value = serde_json::from_str(last_upstream(stack)["body"].as_str().unwrap()).unwrap();
    sent["messages"][0]["content"].as_str().unwrap().to_owned()
}

#[test]
fn the_default_configuration_passes_names_and_addresses_unchanged() {
    let stack =
        Stack::start(StackOptions::demo("pii-names-default")).unwrap_or_else(|e| panic!("{e}"));
    let response = post(&stack, "/v1/chat/completions", &body(), &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.header("x-pii-detected").is_none());
    assert_eq!(
        last_upstream(&stack)["body"].as_str().unwrap(),
        body(),
        "the body is not rewritten"
    );
}

#[test]
fn configured_names_are_redacted_and_addresses_tokenized_before_the_provider() {
    let dir = RunDir::new("pii-names-filters").unwrap();
    let policy = json!({"default_action": "redact", "entities": {"PERSON": "redact", "ADDRESS": "tokenize"}});
    let options =
        StackOptions::demo_with_filters("pii-names", &dir, |filters| filters["pii_scan"] = policy)
            .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let echo = ["-H", "x-fake-echo: last-user"];
    let response = post(&stack, "/v1/chat/completions", &body(), &echo);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-pii-detected"), Some("ADDRESS,PERSON"));
    assert_eq!(
        sent_content(&stack),
        "Dear Mr. [PERSON_REDACTED],\nplease ship the order to <ADDRESS_1> or to <ADDRESS_2>.\n\nBest regards,\n[PERSON_REDACTED]"
    );
    // The model's echo gets the addresses back; the names stay redacted.
    let answer = response.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        answer,
        PROMPT
            .replace("Okafor", "[PERSON_REDACTED]")
            .replace("Emily Thompson", "[PERSON_REDACTED]")
    );
    for (entity, action, n) in [("PERSON", "redact", 2), ("ADDRESS", "tokenize", 2)] {
        let stat = format!("wasmcustom.llm_gateway.pii_scan.findings.{entity}.{action}");
        assert_eq!(stack.envoy.stat(&stat).unwrap(), Some(n), "{stat}");
    }
}
