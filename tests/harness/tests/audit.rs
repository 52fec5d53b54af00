//! Audit records through a real Envoy: exactly one per request whatever the
//! outcome, delivered to the demo's collector, surviving a collector outage,
//! and never holding prompt text, keys or PII values.

use gateway_harness::curl::{curl, post_json, Response};
use gateway_harness::{Stack, StackOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Text that must never appear in a record or a log line.
const CANARY: &str = "PROMPT-CANARY-7731";
const EMAIL: &str = "jane.canary@example.com";

fn chat(model: &str) -> String {
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"{CANARY} mail {EMAIL}"}}]}}"#)
}

/// Waits until the collector holds `n` records and returns them by request id.
fn records(stack: &Stack, n: usize) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&stack.fake.collector_file).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.len() >= n || Instant::now() > deadline {
            assert_eq!(lines.len(), n, "records: {text}");
            return lines.into_iter().map(|r| (r["request_id"].as_str().unwrap().to_owned(), r)).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn id(response: &Response) -> String {
    response.header("x-request-id").expect("x-request-id returned to the client").to_owned()
}

#[test]
fn one_record_per_request_whatever_the_outcome_and_no_content() {
    let stack = Stack::start(StackOptions::demo("audit-outcomes")).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let ok = post_json(&url, &chat("gpt-4o-mini"), &["-H", "x-agent-id: agent-7"]).unwrap();
    let streamed = post_json(
        &stack.url("/v1/messages"),
        &format!(r#"{{"model":"claude-sonnet-4-5","max_tokens":32,"stream":true,"messages":[{{"role":"user","content":"{CANARY}"}}]}}"#),
        &["-N"],
    )
    .unwrap();
    let unknown = post_json(&url, &chat("gpt-9"), &[]).unwrap();
    let upstream_error = post_json(&url, &chat("gpt-4o-mini"), &["-H", "x-fake-fault: status=400"]).unwrap();
    assert_eq!((ok.status, streamed.status, unknown.status, upstream_error.status), (200, 200, 400, 400));

    let records = records(&stack, 4);
    let ok_record = &records[&id(&ok)];
    assert_eq!(ok_record["status"], 200);
    assert_eq!(ok_record["provider"], "openai");
    assert_eq!(ok_record["model"]["requested"], "gpt-4o-mini");
    assert_eq!(ok_record["client"]["id"], "demo");
    assert_eq!(ok_record["client"]["x-agent-id"], "agent-7");
    assert!(ok_record["tokens"]["usage"]["total"].as_u64().unwrap() > 0);
    assert!(ok_record["tokens"]["input_estimated"].as_u64().unwrap() > 0);
    assert_eq!(ok_record["pii"][0]["entity"], "EMAIL");
    assert_eq!(ok_record["schema_version"], 1);
    assert!(ok_record["duration_ms"].is_u64() && ok_record["timestamp"].as_str().unwrap().ends_with('Z'));

    let stream_record = &records[&id(&streamed)];
    assert_eq!(stream_record["stream"], true);
    assert_eq!(stream_record["api"], "anthropic_messages");
    assert!(stream_record["tokens"]["usage"]["output"].as_u64().unwrap() > 0, "usage from the stream");
    assert!(stream_record["time_to_first_token_ms"].is_u64());

    assert_eq!(records[&id(&unknown)]["status"], 400);
    assert_eq!(records[&id(&unknown)]["error_type"], "invalid_request_error");
    assert_eq!(records[&id(&upstream_error)]["status"], 400);

    let everything = [
        std::fs::read_to_string(&stack.fake.collector_file).unwrap(),
        stack.envoy.log(),
        std::fs::read_to_string(stack.fake.process.log_path().unwrap()).unwrap(),
    ]
    .concat();
    for secret in [CANARY, EMAIL, "demo-key", "sk-demo-openai"] {
        assert!(!everything.contains(secret), "{secret} appears in a record or a log");
    }
    assert_eq!(stack.envoy.stat("wasmcustom.llm_gateway.audit.records_sent").unwrap(), Some(4));
}

#[test]
fn records_survive_a_collector_outage() {
    let stack = Stack::start(StackOptions::demo("audit-outage")).unwrap_or_else(|e| panic!("{e}"));
    // The collector fails its next 3 deliveries.
    stack.fake.queue_fault("status=503", 3, "/collector").unwrap();
    let ids: Vec<String> = (0..5)
        .map(|_| id(&post_json(&stack.url("/v1/chat/completions"), &chat("gpt-4o-mini"), &[]).unwrap()))
        .collect();
    let records = records(&stack, 5);
    for id in &ids {
        assert!(records.contains_key(id), "record {id} lost");
    }
    assert!(stack.envoy.stat("wasmcustom.llm_gateway.audit.records_retried").unwrap().unwrap_or(0) > 0);
    assert_eq!(stack.envoy.stat("wasmcustom.llm_gateway.audit.records_sent").unwrap(), Some(5));
    assert_eq!(stack.envoy.stat("wasmcustom.llm_gateway.audit.records_dropped").unwrap(), None);
    let unused = curl(&[&stack.fake.url("/__collector")]).unwrap();
    assert_eq!(unused.json()["records"], 5);
}
