//! Translation costs on the hot path (DESIGN.md budgets: a 2 KB request, a
//! 100-event stream).
//!
//! cargo bench -p llm-api --bench translate -- --warm-up-time 1 --measurement-time 3

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llm_api::sse::SseParser;
use llm_api::text::for_each_request_text;
use llm_api::{translator, ApiKind, LlmRequest, ProviderKind, TranslateOptions};
use serde_json::json;
use std::hint::black_box;

/// A realistic chat request of about 2 KB: system prompt, a few turns, one tool.
fn request_2kb() -> Vec<u8> {
    let turn = "Could you summarise the attached quarterly report and list the three main risks it names? ";
    let mut messages = vec![
        json!({"role": "system", "content": "You are a careful financial analyst. Answer in short bullet points."}),
    ];
    for i in 0..6 {
        messages.push(json!({"role": "user", "content": format!("{turn}(part {i})")}));
        messages.push(json!({"role": "assistant", "content": format!("Here is part {i} of the summary: revenue grew, costs grew faster, margins narrowed.")}));
    }
    messages.push(json!({"role": "user", "content": "Now the risks, please."}));
    let body = json!({
        "model": "gpt-4o-mini", "messages": messages, "temperature": 0.3, "max_tokens": 512, "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "lookup_ticker", "description": "Look up a stock ticker",
            "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}}]
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    assert!(
        (1800..2400).contains(&bytes.len()),
        "request is {} bytes",
        bytes.len()
    );
    bytes
}

/// An Anthropic stream of 100 events: start, block start, 94 text deltas, a
/// ping, block stop, message delta, message stop.
fn anthropic_stream_100() -> Vec<u8> {
    let mut events = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 512, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    for i in 0..94 {
        events.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": format!("token {i} of the answer ")}}),
        ));
    }
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": 300}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    assert_eq!(events.len(), 100);
    events
        .iter()
        .flat_map(|(name, data)| format!("event: {name}\ndata: {data}\n\n").into_bytes())
        .collect()
}

fn bench(c: &mut Criterion) {
    let options = TranslateOptions::default();
    let api = ApiKind::ChatCompletions;
    let bytes = request_2kb();
    let request = LlmRequest::parse(&api, &bytes).unwrap_or_else(|e| panic!("{e}"));

    let mut group = c.benchmark_group("request_2kb");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    for (name, provider, model) in [
        (
            "openai_to_anthropic",
            ProviderKind::Anthropic,
            "claude-sonnet-4-5",
        ),
        ("openai_to_gemini", ProviderKind::Gemini, "gemini-2.5-flash"),
        (
            "openai_to_openai_model_rewrite",
            ProviderKind::Openai,
            "gpt-4o-mini-2024-07-18",
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut t =
                    translator(&api, provider, model, &options).unwrap_or_else(|e| panic!("{e}"));
                black_box(
                    t.request(black_box(&request))
                        .map(|r| r.body.map(|b| b.len())),
                )
            })
        });
    }
    group.bench_function("parse_and_text_visit", |b| {
        b.iter(|| {
            let request =
                LlmRequest::parse(&api, black_box(&bytes)).unwrap_or_else(|e| panic!("{e}"));
            let mut chars = 0;
            for_each_request_text(&api, &request.body, |f| chars += f.text.len());
            black_box(chars)
        })
    });
    group.finish();

    let stream = anthropic_stream_100();
    let mut group = c.benchmark_group("stream_100_events");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("anthropic_to_openai_chunks_1500b", |b| {
        b.iter(|| {
            let mut t = translator(&api, ProviderKind::Anthropic, "claude-sonnet-4-5", &options)
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = t.request(&request);
            t.response_headers(200);
            let chunks: Vec<&[u8]> = stream.chunks(1500).collect();
            let mut out = 0;
            for (i, chunk) in chunks.iter().enumerate() {
                out += t
                    .response_chunk(chunk, i + 1 == chunks.len())
                    .map_or(0, |o| o.len());
            }
            black_box(out)
        })
    });
    group.bench_function("sse_parse_only", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            black_box(
                stream
                    .chunks(1500)
                    .map(|chunk| parser.feed(chunk).len())
                    .sum::<usize>(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
