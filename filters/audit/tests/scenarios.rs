//! The audit stage driven through its module's pipeline with Envoy in
//! memory (`wasm_glue::testing`): the record of each outcome, the facts and
//! metrics it publishes, and delivery to the collector. What needs Envoy
//! itself (the access log, a real collector outage) is in
//! tests/harness/tests/audit.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::rc::Rc;
use std::time::Duration;
use wasm_glue::config::single_stage;
use wasm_glue::testing::{Call, ClientRequest, MemoryHost, Outcome, ProviderResponse};
use wasm_glue::Stages;

const PROMPT: &str = "Summarise the quarterly figures for Jane";

fn module(config: Value) -> (Rc<Stages>, MemoryHost) {
    let stages = single_stage(audit::NAME, config.to_string().as_bytes(), audit::stage).unwrap();
    let mut host = MemoryHost::default();
    host.start(&stages);
    (Rc::new(stages), host)
}

/// A chat request from client `demo`, with what the stages after the audit
/// publish in the separate-modules layout (route, limits, PII).
fn chat(model: &str, stream: bool) -> ClientRequest {
    ClientRequest::post("/v1/chat/completions")
        .header("x-client-id", "demo")
        .header("x-agent-id", "bot-7")
        .header("x-request-id", "client-chosen-id")
        .header("authorization", "Bearer sk-client-secret")
        .json(&json!({"model": model, "stream": stream, "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]}))
        .fact("llm.provider", "openai")
        .fact("llm.cluster", "openai")
        .fact("llm.model.upstream", model)
        .fact("llm.ratelimit.key", "client=demo")
        .fact("llm.ratelimit.remaining", "1200")
        .fact("llm.tokens.input_estimated", "20")
        .fact("llm.pii.findings", "EMAIL:redact:1")
}

/// The records waiting for the collector: the full slots of the rings in
/// shared data (`audit::delivery`).
fn waiting(host: &MemoryHost) -> usize {
    host.shared
        .iter()
        .filter(|(key, (value, _))| key.contains(" s") && !value.is_empty())
        .count()
}

fn record(out: &Outcome) -> Value {
    serde_json::from_str(out.fact("llm.audit.record").expect("a record")).unwrap()
}

/// Nothing of the prompt, the completion or the client's key in what the
/// stage left behind.
fn assert_no_content(host: &MemoryHost, out: &Outcome) {
    let mut kept: Vec<String> = out.facts.values().cloned().collect();
    kept.extend(host.log_lines());
    kept.extend(
        host.shared
            .values()
            .map(|(v, _)| String::from_utf8_lossy(v).into_owned()),
    );
    for text in kept {
        for secret in [PROMPT, "Jane", "sk-client-secret", "Revenue grew"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn a_call_leaves_one_record_with_its_usage_cost_timings_and_policies() {
    let (stages, mut host) = module(json!({"teams": {"platform": {"clients": ["demo"]}}}));
    let mut call = Call::start(&stages, &mut host, &chat("gpt-4o-mini", false));
    let upstream = call.upstream().unwrap().clone();
    host.advance(Duration::from_millis(120));
    call.respond(
        &mut host,
        &ProviderResponse::json(
            200,
            &json!({"id": "c1", "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Revenue grew."}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}}),
        ),
    );
    host.advance(Duration::from_millis(30));
    let out = call.finish(&mut host);

    let id = upstream.header("x-request-id").unwrap();
    assert_ne!(id, "client-chosen-id", "the gateway's own id goes upstream");
    let record = record(&out);
    assert_eq!(record["schema_version"], 1);
    assert_eq!(record["request_id"], id);
    assert_eq!(record["client_request_id"], "client-chosen-id");
    assert_eq!(record["timestamp"], "2027-01-15T08:00:00.000Z");
    assert_eq!(
        record["client"],
        json!({"id": "demo", "team": "platform", "x-agent-id": "bot-7"})
    );
    assert_eq!(
        (&record["api"], &record["stream"], &record["messages"]),
        (&json!("chat_completions"), &json!(false), &json!(2))
    );
    assert_eq!(
        record["model"],
        json!({"requested": "gpt-4o-mini", "upstream": "gpt-4o-mini", "served": "gpt-4o-mini-2024-07-18"})
    );
    assert_eq!(
        record["tokens"],
        json!({"input_estimated": 20, "usage": {"input": 1000, "output": 500, "total": 1500, "cached_input": 0}})
    );
    assert_eq!(
        (&record["provider"], &record["upstream_cluster"]),
        (&json!("openai"), &json!("openai"))
    );
    assert_eq!(
        record["ratelimit"],
        json!({"key": "client=demo", "remaining_tokens": 1200})
    );
    assert_eq!(
        record["pii"],
        json!([{"entity": "EMAIL", "action": "redact", "count": 1}])
    );
    assert_eq!(
        (&record["status"], &record["error_type"]),
        (&json!(200), &Value::Null)
    );
    assert_eq!(record["duration_ms"], 150);
    assert_eq!(record["time_to_first_byte_ms"], 120);
    // gpt-4o-mini at its list price: $0.15 and $0.60 per million tokens.
    assert_eq!(record["cost_usd"], 0.00045);
    assert_eq!(out.fact("llm.cost_usd"), Some("0.000450000"));
    assert_eq!(out.fact("llm.usage.prompt"), Some("1000"));
    assert_eq!(out.fact("llm.usage.completion"), Some("500"));
    assert_eq!(out.fact("llm.api"), Some("chat_completions"));
    assert_eq!(out.fact("llm.model.requested"), Some("gpt-4o-mini"));

    let tags = "provider.openai.model.gpt-4o-mini";
    let who = "team.platform.client.demo.model.gpt-4o-mini";
    assert_eq!(
        host.counter(&format!(
            "llm_gateway.gen_ai.requests.provider.openai.status.200.{who}"
        )),
        1
    );
    assert_eq!(
        host.counter(&format!(
            "llm_gateway.gen_ai.client.token.usage.token_type.input.provider.openai.{who}"
        )),
        1000
    );
    assert_eq!(
        host.counter(&format!(
            "llm_gateway.gen_ai.cost_micro_usd.provider.openai.{who}"
        )),
        450
    );
    assert_eq!(
        host.histograms[&format!("llm_gateway.gen_ai.client.operation.duration_ms.{tags}")],
        [150]
    );
    assert_eq!(host.counter("llm_gateway.audit.requests"), 1);
    assert_eq!(host.counter("llm_gateway.audit.records"), 1);
    assert_eq!(out.body, b"{\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Revenue grew.\"}}],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500}}", "the answer passes untouched");
    assert_no_content(&host, &out);
}

#[test]
fn a_stream_is_recorded_with_its_usage_and_time_to_first_token() {
    let (stages, mut host) = module(json!({}));
    let sse = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Revenue \"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"grew.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":2,\"total_tokens\":32}}\n\n",
        "data: [DONE]\n\n"
    );
    let mut call = Call::start(&stages, &mut host, &chat("gpt-4o-mini", true));
    host.advance(Duration::from_millis(40));
    call.respond(&mut host, &ProviderResponse::sse(sse).in_chunks(7));
    host.advance(Duration::from_millis(10));
    let out = call.finish(&mut host);
    assert_eq!(out.text(), sse, "the stream passes untouched");
    let record = record(&out);
    assert_eq!(record["stream"], true);
    assert_eq!(
        record["tokens"]["usage"],
        json!({"input": 30, "output": 2, "total": 32, "cached_input": 0})
    );
    assert_eq!(record["time_to_first_token_ms"], 40);
    assert_eq!(record["duration_ms"], 50);
    assert_eq!(
        host.histograms
            ["llm_gateway.gen_ai.server.time_to_first_token_ms.provider.openai.model.gpt-4o-mini"],
        [40]
    );
    assert_no_content(&host, &out);
}

#[test]
fn usage_is_read_in_each_providers_format_whole_and_streamed() {
    let (stages, mut host) = module(json!({}));
    let anthropic = ClientRequest::post("/v1/messages").json(&json!({
        "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]}));
    let sse = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    );
    let out = host.call(
        &stages,
        &anthropic,
        &ProviderResponse::sse(sse).in_chunks(13),
    );
    let usage = &record(&out)["tokens"]["usage"];
    assert_eq!((&usage["input"], &usage["output"]), (&json!(12), &json!(9)));
    assert_eq!(record(&out)["api"], "anthropic_messages");

    let gemini = ClientRequest::post("/v1beta/models/gemini-2.5-flash:generateContent")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}));
    let answer = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
        "modelVersion": "gemini-2.5-flash"});
    let out = host.call(&stages, &gemini, &ProviderResponse::json(200, &answer));
    let record = record(&out);
    assert_eq!(
        record["tokens"]["usage"],
        json!({"input": 7, "output": 3, "total": 10, "cached_input": 0})
    );
    assert_eq!(
        record["model"]["requested"], "gemini-2.5-flash",
        "the model from the path"
    );
    assert_eq!(record["api"], "gemini_generate_content");
}

#[test]
fn errors_rejections_and_aborts_each_leave_a_record() {
    let (stages, mut host) = module(json!({}));
    let error = json!({"error": {"message": "boom", "type": "server_error"}});
    let out = host.call(
        &stages,
        &chat("gpt-4o-mini", false),
        &ProviderResponse::json(503, &error),
    );
    let upstream_error = record(&out);
    assert_eq!(
        (&upstream_error["status"], &upstream_error["error_type"]),
        (&json!(503), &json!("server_error"))
    );
    assert_eq!(upstream_error["tokens"]["usage"], Value::Null);
    assert_eq!(
        host.counter(
            "llm_gateway.gen_ai.requests.provider.openai.status.503.team.none.client.other.model.gpt-4o-mini"
        ),
        1
    );

    // Gemini names its errors by `status`.
    let gemini = ClientRequest::post("/v1beta/models/gemini-2.5-flash:generateContent")
        .json(&json!({"contents": [{"parts": [{"text": "Hi"}]}]}));
    let quota = json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}});
    let out = host.call(&stages, &gemini, &ProviderResponse::json(429, &quota));
    assert_eq!(record(&out)["error_type"], "RESOURCE_EXHAUSTED");

    // The pipeline's own 400 for a body that is not JSON, in the caller's
    // (Anthropic's) format: recorded with the error the client got.
    let bad = ClientRequest::post("/v1/messages")
        .header("x-client-id", "demo")
        .body("{not json");
    let out = host.call(&stages, &bad, &ProviderResponse::new(200));
    assert!(out.replied && out.upstream.is_none());
    assert_eq!(out.status, Some(400));
    assert_eq!(out.json()["type"], "error", "Anthropic's error shape");
    let rejected = record(&out);
    assert_eq!(
        (&rejected["status"], &rejected["error_type"]),
        (&json!(400), &json!("invalid_request_error"))
    );
    assert_eq!(rejected["api"], "anthropic_messages");

    // The client leaves before any answer.
    let call = Call::start(&stages, &mut host, &chat("gpt-4o-mini", false));
    let out = call.finish(&mut host);
    let aborted = record(&out);
    assert_eq!(
        (&aborted["status"], &aborted["error_type"]),
        (&Value::Null, &json!("client_aborted"))
    );
    assert_eq!(host.counter("llm_gateway.audit.records"), 4);
}

#[test]
fn client_values_are_cut_to_256_bytes_and_unconfigured_models_count_as_other() {
    let (stages, mut host) = module(json!({}));
    let long = "m".repeat(10_000);
    let request = ClientRequest::post("/v1/chat/completions")
        .header("x-client-id", "demo")
        .header("x-agent-id", &"a".repeat(5_000))
        .header("x-request-id", &"r".repeat(1_000))
        .json(&json!({"model": long, "messages": [{"role": "user", "content": "Hi"}]}))
        .fact("llm.provider", "openai");
    let out = host.call(
        &stages,
        &request,
        &ProviderResponse::json(200, &json!({"choices": []})),
    );
    let record = record(&out);
    for value in [
        &record["model"]["requested"],
        &record["client"]["x-agent-id"],
        &record["client_request_id"],
    ] {
        let text = value.as_str().unwrap();
        assert_eq!(text.len(), 256, "{}", &text[..20]);
        assert!(text.ends_with('…'));
    }
    assert_eq!(out.fact("llm.model.requested").unwrap().len(), 256);
    assert_eq!(
        record["client"]["team"],
        Value::Null,
        "a client no team names has none"
    );
    assert_eq!(
        host.counter(
            "llm_gateway.gen_ai.requests.provider.openai.status.200.team.none.client.other.model.other"
        ),
        1
    );
}

#[test]
fn records_reach_the_collector_in_batches_and_a_failed_batch_is_retried() {
    let collector = json!({"collector": {"cluster": "audit_collector", "bearer_token": "collector-token",
        "flush_interval_ms": 500, "max_batch": 2}});
    let (stages, mut host) = module(collector);
    assert_eq!(
        stages.iter().next().unwrap().tick_period(),
        Some(Duration::from_millis(500))
    );
    for _ in 0..3 {
        host.call(
            &stages,
            &chat("gpt-4o-mini", false),
            &ProviderResponse::json(
                200,
                &json!({"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
            ),
        );
    }
    assert_eq!(waiting(&host), 3, "written into Envoy's shared data");

    host.tick(&stages);
    let first = host.http_calls.last().unwrap().clone();
    assert_eq!(first.cluster, "audit_collector");
    let header = |name: &str| {
        first
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header(":path"), Some("/collector/records"));
    assert_eq!(header("authorization"), Some("Bearer collector-token"));
    assert_eq!(header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = String::from_utf8(first.body.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one batch of max_batch records");
    assert!(lines.iter().all(|r| r["client"]["id"] == "demo"));

    // The collector fails: the batch goes back to shared data, and the next
    // attempt waits a second.
    host.http_call_response(&stages, first.token, Some(503));
    assert_eq!(host.counter("llm_gateway.audit.records_retried"), 2);
    assert_eq!(waiting(&host), 3);
    host.tick(&stages);
    assert_eq!(host.http_calls.len(), 1, "backing off");
    host.advance(Duration::from_millis(1_000));
    host.tick(&stages);
    let retry = host.http_calls.last().unwrap().clone();
    assert_eq!(retry.token, 2);
    // Delivered, and the batch was full: the next goes at once, without
    // waiting for the tick.
    host.http_call_response(&stages, retry.token, Some(200));
    assert_eq!(host.counter("llm_gateway.audit.records_sent"), 2);
    assert_eq!(host.http_calls.len(), 3);
    host.tick(&stages);
    assert_eq!(host.http_calls.len(), 3, "one batch in flight");
    let last = host.http_calls.last().unwrap().clone();
    assert_eq!(last.token, 3);
    host.http_call_response(&stages, last.token, Some(204));
    assert_eq!(host.counter("llm_gateway.audit.records_sent"), 3);
    assert_eq!(waiting(&host), 0);
    assert_eq!(host.counter("llm_gateway.audit.records_dropped"), 0);
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    let err = single_stage(
        audit::NAME,
        br#"{"collector": {"cluster": "c", "flush_interval_ms": 5}}"#,
        audit::stage,
    )
    .err()
    .unwrap();
    assert_eq!(err.field, "collector.flush_interval_ms", "{err}");
}
