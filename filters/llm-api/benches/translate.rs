//! Translation costs on the hot path (docs/benchmarks.md: a 2 KB request, a
//! 100-event stream), for every pair that rewrites bodies, including
//! Anthropic → Gemini, which chains Anthropic → OpenAI and OpenAI → Gemini
//! (so its figures sit beside those of its two halves).
//!
//! Request figures include making the translator; stream figures are the
//! stream alone (the translator is made and the request translated in the
//! untimed setup), fed in 1500-byte chunks as from the network.
//!
//! cargo bench -p llm-api --bench translate -- --warm-up-time 1 --measurement-time 3

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use llm_api::sse::SseParser;
use llm_api::{translator, ApiKind, LlmRequest, ProviderKind, TranslateOptions, Translator};
use serde_json::{json, Value};
use std::hint::black_box;

/// The system prompt of both 2 KB requests.
const SYSTEM: &str = "You are a careful financial analyst. Answer in short bullet points.";

/// The conversation of both 2 KB requests after the system prompt: six
/// exchanges and a last question, each answer's text as `answer` puts it.
fn turns(answer: impl Fn(String) -> Value) -> Vec<Value> {
    let turn = "Could you summarise the attached quarterly report and list the three main risks it names? ";
    let mut messages = Vec::new();
    for i in 0..6 {
        messages.push(json!({"role": "user", "content": format!("{turn}(part {i})")}));
        messages.push(json!({"role": "assistant", "content": answer(format!("Here is part {i} of the summary: revenue grew, costs grew faster, margins narrowed."))}));
    }
    messages.push(json!({"role": "user", "content": "Now the risks, please."}));
    messages
}

/// `body` as bytes, which must be about 2 KB.
fn about_2kb(body: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    assert!(
        (1800..2400).contains(&bytes.len()),
        "request is {} bytes",
        bytes.len()
    );
    bytes
}

/// A realistic chat request of about 2 KB: system prompt, a few turns, one tool.
fn request_2kb() -> Vec<u8> {
    let mut messages = vec![json!({"role": "system", "content": SYSTEM})];
    messages.extend(turns(Value::from));
    about_2kb(&json!({
        "model": "gpt-4o-mini", "messages": messages, "temperature": 0.3, "max_tokens": 512, "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "lookup_ticker", "description": "Look up a stock ticker",
            "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}}]
    }))
}

/// The same conversation as an Anthropic Messages request (about 2 KB).
fn anthropic_request_2kb() -> Vec<u8> {
    let messages = turns(|text| json!([{"type": "text", "text": text}]));
    about_2kb(&json!({
        "model": "claude-sonnet-4-5", "system": SYSTEM,
        "messages": messages, "temperature": 0.3, "max_tokens": 512, "stream": true, "stop_sequences": ["END"],
        "tools": [{"name": "lookup_ticker", "description": "Look up a stock ticker",
            "input_schema": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}]
    }))
}

/// A Gemini `streamGenerateContent?alt=sse` stream of 100 events: 99 text
/// chunks and a last one with the finish reason, each with the cumulative
/// `usageMetadata`, model version and response id, as Gemini sends them.
fn gemini_stream_100() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..100 {
        let mut candidate = json!({"content": {"parts": [{"text": format!("token {i} of the answer ")}], "role": "model"}, "index": 0});
        let mut usage = json!({"promptTokenCount": 512, "totalTokenCount": 512 + 3 * i, "candidatesTokenCount": 3 * i,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 512}]});
        if i == 99 {
            candidate["finishReason"] = json!("STOP");
            usage["candidatesTokenCount"] = json!(300);
            usage["totalTokenCount"] = json!(812);
        }
        let chunk = json!({"candidates": [candidate], "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash", "responseId": "Tc8oaKSWBYqE1dkPpq7S4Q8"});
        out.extend_from_slice(format!("data: {chunk}\r\n\r\n").as_bytes());
    }
    out
}

/// An OpenAI chat completion stream of 100 events: a role chunk, 96 text
/// deltas, a finish chunk, the usage chunk and `[DONE]`.
fn openai_stream_100() -> Vec<u8> {
    let chunk = |choices: Value, usage: Value| {
        json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_694_268_190,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_44709d6fcb", "choices": choices, "usage": usage})
    };
    let mut events = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
        Value::Null,
    )];
    for i in 0..96 {
        events.push(chunk(
            json!([{"index": 0, "delta": {"content": format!("token {i} of the answer ")}, "logprobs": null, "finish_reason": null}]),
            Value::Null,
        ));
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
        Value::Null,
    ));
    events.push(chunk(
        json!([]),
        json!({"prompt_tokens": 512, "completion_tokens": 300, "total_tokens": 812}),
    ));
    let mut out: Vec<u8> = events
        .iter()
        .flat_map(|data| format!("data: {data}\n\n").into_bytes())
        .collect();
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

/// A translator for `api` → `provider` that has translated `request` and
/// seen a 200: ready for the stream.
fn streaming_translator(
    api: &ApiKind,
    provider: ProviderKind,
    request: &LlmRequest,
) -> Box<dyn Translator> {
    let options = TranslateOptions::default();
    let mut t =
        translator(api, provider, "upstream-model", &options).unwrap_or_else(|e| panic!("{e}"));
    t.request(request).unwrap_or_else(|e| panic!("{e}"));
    t.response_headers(200);
    t
}

/// Feeds `stream` in 1500-byte chunks; the bytes the client receives.
fn feed(mut t: Box<dyn Translator>, stream: &[u8]) -> usize {
    let chunks: Vec<&[u8]> = stream.chunks(1500).collect();
    let mut out = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        out += t
            .response_chunk(chunk, i + 1 == chunks.len())
            .map_or(0, |o| o.len());
    }
    out
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

    let anthropic = ApiKind::AnthropicMessages;
    let anthropic_bytes = anthropic_request_2kb();
    let anthropic_request =
        LlmRequest::parse(&anthropic, &anthropic_bytes).unwrap_or_else(|e| panic!("{e}"));

    let mut group = c.benchmark_group("request_2kb");
    // (name, client API, its request and the request's size, provider,
    // upstream model)
    let requests = [
        (
            "openai_to_anthropic",
            &api,
            &request,
            bytes.len(),
            ProviderKind::Anthropic,
            "claude-sonnet-4-5",
        ),
        (
            "openai_to_gemini",
            &api,
            &request,
            bytes.len(),
            ProviderKind::Gemini,
            "gemini-2.5-flash",
        ),
        (
            "openai_to_openai_model_rewrite",
            &api,
            &request,
            bytes.len(),
            ProviderKind::Openai,
            "gpt-4o-mini-2024-07-18",
        ),
        (
            "anthropic_to_openai",
            &anthropic,
            &anthropic_request,
            anthropic_bytes.len(),
            ProviderKind::Openai,
            "gpt-4o-mini",
        ),
        (
            "anthropic_to_gemini",
            &anthropic,
            &anthropic_request,
            anthropic_bytes.len(),
            ProviderKind::Gemini,
            "gemini-2.5-flash",
        ),
    ];
    for (name, client, client_request, size, provider, model) in requests {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut t =
                    translator(client, provider, model, &options).unwrap_or_else(|e| panic!("{e}"));
                black_box(
                    t.request(black_box(client_request))
                        .map(|r| r.body.map(|b| b.len())),
                )
            })
        });
    }
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse_and_text_visit", |b| {
        b.iter(|| {
            let request =
                LlmRequest::parse(&api, black_box(&bytes)).unwrap_or_else(|e| panic!("{e}"));
            let mut chars = 0;
            request.for_each_text(&api, |f| chars += f.text.len());
            black_box(chars)
        })
    });
    group.finish();

    let stream = anthropic_stream_100();
    let gemini_stream = gemini_stream_100();
    let openai_stream = openai_stream_100();
    let mut group = c.benchmark_group("stream_100_events");
    // (name, client API, its request, provider, provider stream)
    let streams = [
        (
            "anthropic_to_openai_chunks_1500b",
            &api,
            &request,
            ProviderKind::Anthropic,
            &stream,
        ),
        (
            "gemini_to_openai_chunks_1500b",
            &api,
            &request,
            ProviderKind::Gemini,
            &gemini_stream,
        ),
        (
            "openai_to_anthropic_events_1500b",
            &anthropic,
            &anthropic_request,
            ProviderKind::Openai,
            &openai_stream,
        ),
        (
            "gemini_to_anthropic_events_1500b",
            &anthropic,
            &anthropic_request,
            ProviderKind::Gemini,
            &gemini_stream,
        ),
    ];
    for (name, client, client_request, provider, provider_stream) in streams {
        // Measure the real path, not an error: every text event gets through.
        let mut t = streaming_translator(client, provider, client_request);
        let out = t.response_chunk(provider_stream, true).unwrap_or_default();
        let text_events = SseParser::new()
            .feed(&out)
            .iter()
            .filter(|e| e.data_str().contains("token "))
            .count();
        assert!(text_events >= 94, "{name}: {text_events} text events");
        group.throughput(Throughput::Bytes(provider_stream.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || streaming_translator(client, provider, client_request),
                |t| black_box(feed(t, provider_stream)),
                BatchSize::SmallInput,
            )
        });
    }
    group.throughput(Throughput::Bytes(stream.len() as u64));
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
