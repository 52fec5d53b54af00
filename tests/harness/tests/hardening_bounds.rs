//! Client- and upstream-controlled values stay bounded through a real Envoy:
//! the audit record's request id is the gateway's own (the client's kept
//! apart), long model names and header values are cut in records and facts,
//! a model name can neither mint a metric label nor forge a stat tag, and a
//! stream event that never ends is cut off with an error event in the
//! caller's format.

use gateway_harness::client::post;
use gateway_harness::curl::post_json;
use gateway_harness::{Stack, StackOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The records' bound on a client-controlled value (`audit::record::MAX_VALUE`).
const MAX_VALUE: usize = 256;

fn chat(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

#[test]
fn client_values_are_bounded_in_records_metrics_and_streams() {
    let stack =
        Stack::start(StackOptions::demo("hardening-bounds")).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let same_id = ["-H", "x-request-id: client-chosen"];
    let first = post_json(&url, &chat("gpt-4o-mini", false), &same_id).unwrap();
    let second = post_json(&url, &chat("gpt-4o-mini", false), &same_id).unwrap();
    let long_model = "m".repeat(100_000);
    let long_agent = format!("x-agent-id: {}", "a".repeat(10_000));
    let long = post_json(&url, &chat(&long_model, false), &["-H", &long_agent]).unwrap();
    let forged = post_json(&url, &chat("evil.status.503", false), &[]).unwrap();
    // 6 MB in one event that no blank line ends, after the first chunk.
    let huge = post_json(
        &url,
        &chat("gpt-4o-mini", true),
        &["-N", "-H", "x-fake-huge-event: 6000000"],
    )
    .unwrap();
    // The same through the upstream translator: an Anthropic client, an
    // OpenAI provider.
    let messages = r#"{"model":"gpt-4o-mini","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let translated = post(
        &stack,
        "/v1/messages",
        messages,
        &["-N", "-H", "x-fake-huge-event: 6000000"],
    );
    assert_eq!(
        [&first, &second, &long, &forged, &huge, &translated].map(|r| r.status),
        [200, 200, 400, 400, 200, 200]
    );

    let records: BTreeMap<String, Value> = stack
        .fake
        .collected_records(6, Duration::from_secs(20))
        .unwrap()
        .into_iter()
        .map(|r| (r["request_id"].as_str().unwrap().to_owned(), r))
        .collect();
    assert_eq!(
        records.len(),
        6,
        "six distinct request ids: {:?}",
        records.keys()
    );

    // The same client-sent id twice: two gateway ids, each the one the
    // client got back, and the client's id kept apart.
    assert_ne!(first.request_id(), second.request_id());
    for response in [&first, &second] {
        let record = &records[&response.request_id()];
        assert_eq!(record["client_request_id"], "client-chosen");
    }
    assert!(!records.contains_key("client-chosen"));

    // Long values are cut and marked, in the record and in the access log.
    let record = &records[&long.request_id()];
    let requested = record["model"]["requested"].as_str().unwrap();
    assert!(
        requested.len() <= MAX_VALUE && requested.ends_with('…'),
        "{}",
        requested.len()
    );
    let agent = record["client"]["x-agent-id"].as_str().unwrap();
    assert!(
        agent.len() <= MAX_VALUE && agent.ends_with('…'),
        "{}",
        agent.len()
    );
    let logged = stack
        .access_log_records(6, Duration::from_secs(10))
        .unwrap();
    assert!(
        logged.iter().all(|r| r.to_string().len() < 4 * 1024),
        "every access-log record is small"
    );
    let envoy_log = stack.envoy.log();
    assert!(
        !envoy_log.contains(&"m".repeat(MAX_VALUE + 1)),
        "the long model name reached Envoy's log"
    );

    // A model no configuration names is counted as `other`: it mints no
    // label and cannot add a `status` tag.
    let prometheus = stack.envoy.prometheus().unwrap();
    assert!(
        !prometheus.contains("evil") && !prometheus.contains("mmmm"),
        "a client's model became a label"
    );
    assert!(
        prometheus.contains(
            r#"llm_gateway_gen_ai_requests{provider="none",status="400",team="platform",client="demo",model="other"} 2"#
        ),
        "{prometheus}"
    );
    assert!(
        prometheus.contains(r#"model="gpt-4o-mini""#),
        "configured models keep their label"
    );

    // The endless event: the stream ends with an error event in OpenAI's
    // format, and the rest of the provider's stream is not passed on.
    let text = huge.text();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let error: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap_or(last))
        .unwrap_or_else(|e| panic!("{e}: {last:.200}"));
    assert_eq!(error["error"]["type"], "server_error");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("stream event over"));
    assert!(
        huge.body.len() < 6_000_000,
        "the rest of the event was dropped: {} bytes",
        huge.body.len()
    );
    assert!(!text.contains("[DONE]"), "nothing after the error event");
    assert_eq!(records[&huge.request_id()]["status"], 200);
    let text = translated.text();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(
        last.starts_with("event: error\n"),
        "Anthropic's error event: {last:.200}"
    );
    let error: Value = serde_json::from_str(last.rsplit_once("data: ").unwrap().1).unwrap();
    assert_eq!(
        (error["type"].as_str(), error["error"]["type"].as_str()),
        (Some("error"), Some("api_error"))
    );
    assert!(
        translated.body.len() < 1_000_000,
        "the translator passed nothing of the event: {} bytes",
        translated.body.len()
    );
}
