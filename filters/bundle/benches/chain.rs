//! The whole chain natively, one 2 KB chat call end to end through the
//! bundle's pipeline (the demo's filter configuration, limits too high to
//! reach), over an in-memory host that counts host calls: what the stages
//! themselves cost per request, without Envoy or V8. Run it under callgrind
//! to see where a request's time goes:
//!
//! cargo bench -p llm-gateway-bundle --bench chain -- --warm-up-time 1 --measurement-time 3
//!
//! It also prints how many host calls one request makes, since each costs a
//! crossing into Envoy that the native figure does not show.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use std::hint::black_box;
use std::rc::Rc;
use wasm_glue::testing::MemoryHost;
use wasm_glue::{BodyNeed, Pipeline, Stages};

fn demo_config() -> Vec<u8> {
    let mut filters: Value =
        serde_json::from_str(include_str!("../../../envoy/filters/demo.json")).unwrap();
    for level in filters["token_limit"]["levels"].as_array_mut().unwrap() {
        level["limits"] = json!({"requests_per_minute": 1_000_000_000u64, "input_tokens_per_minute": 1_000_000_000_000u64});
    }
    serde_json::to_vec(&filters).unwrap()
}

/// The 2 KB request of `make bench` (bench/run.py `chat`).
fn request_2kb() -> Vec<u8> {
    let turn = "Could you summarise the attached quarterly report and list the three main risks it names? \
                Revenue grew 12% to 4.1M while costs grew faster; margins narrowed in Q3. ";
    let mut messages = vec![
        json!({"role": "system", "content": "You are a careful financial analyst. Answer in short bullet points."}),
    ];
    let mut i = 0;
    while serde_json::to_vec(&messages).unwrap().len() < 2048 - 200 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": format!("{turn}(part {i})")}));
        i += 1;
    }
    serde_json::to_vec(&json!({"model": "gpt-4o-mini", "messages": messages, "max_tokens": 256, "temperature": 0.3})).unwrap()
}

fn response() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_800_000_000u64, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Revenue grew; costs grew faster; margins narrowed."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 420, "completion_tokens": 12, "total_tokens": 432}
    }))
    .unwrap()
}

fn headers(body: &[u8]) -> Vec<(String, String)> {
    [
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "127.0.0.1:10000"),
        ("content-type", "application/json"),
        ("authorization", "Bearer demo-key"),
        ("x-client-id", "demo"),
        ("x-agent-id", "bench"),
        ("x-request-id", "6a1f0d52-2c4e-4d43-9d1e-1b1f3a3e4c55"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("content-length".to_owned(), body.len().to_string())])
    .collect()
}

/// One 2 KB chat call end to end, through the pipeline directly as the
/// adapter calls it: `wasm_glue::testing::Call` would add its own
/// bookkeeping (header maps per stream, copies of each body) to what is
/// measured.
fn call(stages: &Rc<Stages>, host: &mut MemoryHost, request: &[u8], response: &[u8]) {
    let mut pipeline = Pipeline::new(stages, headers(request));
    pipeline.on_request_headers(host, false);
    black_box(pipeline.on_request_body(host, request));
    pipeline.on_response_headers(host, Some(200), Some("application/json"));
    if pipeline.response_body_need(true) != BodyNeed::Nothing {
        black_box(pipeline.on_response_body(host, response, true));
    }
    pipeline.on_done(host);
}

fn chain(c: &mut Criterion) {
    let stages = Rc::new(llm_gateway_bundle::load(&demo_config()).unwrap());
    let mut host = MemoryHost::default();
    host.start(&stages);
    let (request, response) = (request_2kb(), response());
    host.calls.set(0);
    host.tracing.set(true);
    call(&stages, &mut host, &request, &response);
    host.tracing.set(false);
    println!("host calls per request: {}", host.calls.get());
    if std::env::var_os("CHAIN_TRACE").is_some() {
        for line in host.trace.borrow().iter() {
            println!("  {line}");
        }
    }
    c.bench_function("chain/2KB chat call, whole chain", |b| {
        b.iter(|| call(&stages, &mut host, &request, &response))
    });
}

criterion_group!(benches, chain);
criterion_main!(benches);
