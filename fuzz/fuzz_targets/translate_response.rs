//! Response translation: every translator on arbitrary whole responses,
//! error bodies and streamed responses cut into arbitrary chunks.
//!
//! Input: byte 0 picks the pair (`llm_gateway_fuzz::pairs`), byte 1 the
//! status, byte 2 the client request (bit 0: streamed, bit 1: with tools),
//! bytes 3..7 the chunk lengths of the stream (cycled, see
//! `llm_gateway_fuzz::chunks`); the rest is the provider's response, used
//! both as a whole body and as a stream.
//!
//! Checks, beyond "no panic":
//! * a stream translates to the same bytes and the same usage however it is
//!   cut into chunks (one chunk, the header's cuts, one byte at a time);
//! * every translated stream event's data is JSON (or OpenAI's `[DONE]`);
//! * an error status never reaches the stream path, and an error body
//!   becomes a JSON object in the client's format;
//! * a translated whole body is JSON, and a failure to translate one is
//!   the provider's fault (5xx), never the client's;
//! * a body parsed without its output (`llm_api::response`) is the whole
//!   parse less the output members, whenever the whole parse is an object.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_api::sse::SseParser;
use llm_api::{translator, ApiKind, LlmRequest, TranslateOptions, Translator, Usage};
use llm_gateway_fuzz::{chunks, header, pair};
use serde_json::{json, Value};

const STATUSES: [u16; 8] = [200, 200, 200, 201, 400, 429, 500, 529];

/// A small valid client request for `kind`, so that the translator holds
/// the state a real request leaves (stream flag, usage option, tool names).
fn client_request(kind: &ApiKind, stream: bool, tools: bool) -> Value {
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    match kind {
        ApiKind::AnthropicMessages => {
            let mut body = json!({"model": "m", "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": "Hi"}]});
            if tools {
                body["tools"] = json!([{"name": "get_weather",
                    "input_schema": {"type": "object", "properties": {}}}]);
            }
            body
        }
        ApiKind::Embeddings | ApiKind::AzureEmbeddings { .. } => {
            json!({"model": "m", "input": ["a", "b"]})
        }
        ApiKind::GeminiGenerate { .. } => {
            json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
        }
        ApiKind::GeminiEmbed { .. } => json!({"content": {"parts": [{"text": "Hi"}]}}),
        ApiKind::Responses => json!({"model": "m", "input": "Hi", "stream": stream}),
        _ => {
            let mut body = json!({"model": "m", "stream": stream,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "Hi"}]});
            if tools {
                body["tools"] = json!([tool]);
            }
            body
        }
    }
}

fn started(
    kind: &ApiKind,
    provider: llm_api::ProviderKind,
    request: &LlmRequest,
    status: u16,
) -> Box<dyn Translator> {
    let mut t = translator(kind, provider, "m", &TranslateOptions::default())
        .expect("no translator for a supported pair");
    let _ = t.request(request);
    t.response_headers(status);
    t
}

/// Runs a stream through a fresh translator in `pieces`; `None` when the
/// translator passes streams through.
fn stream(
    kind: &ApiKind,
    provider: llm_api::ProviderKind,
    request: &LlmRequest,
    status: u16,
    pieces: &[&[u8]],
) -> Option<(Vec<u8>, Option<Usage>)> {
    let mut t = started(kind, provider, request, status);
    let mut out = Vec::new();
    let mut passed = false;
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        match t.response_chunk(piece, i == last) {
            Some(bytes) => out.extend(bytes),
            None => passed = true,
        }
    }
    if pieces.is_empty() {
        passed |= t
            .response_chunk(b"", true)
            .map(|bytes| out.extend(bytes))
            .is_none();
    }
    assert!(
        !(passed && !out.is_empty()),
        "a translator both passed and rewrote a stream"
    );
    (!passed).then(|| (out, t.usage()))
}

fuzz_target!(|data: &[u8]| {
    let ([choice, status, shape, l0, l1, l2, l3], payload) = header::<7>(data);
    let (kind, provider) = pair(choice);
    let status = STATUSES[usize::from(status) % STATUSES.len()];
    let body = client_request(&kind, shape & 1 != 0, shape & 2 != 0);
    let Ok(request) = LlmRequest::parse(&kind, &serde_json::to_vec(&body).unwrap()) else {
        panic!("the canned request does not parse");
    };

    // The body as the accounting stages see it.
    if let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(payload) {
        members.retain(|name, _| !llm_api::response::OUTPUT_MEMBERS.contains(&name.as_str()));
        let kept = llm_api::response::without_output(payload)
            .map(|body| llm_api::with_json_body!(body, |v| llm_api::Json::to_value(v)));
        assert_eq!(
            kept,
            Some(Value::Object(members)),
            "parsed without its output"
        );
    }

    // A whole body.
    let mut t = started(&kind, provider, &request, status);
    match t.response_body(payload) {
        Ok(Some(bytes)) => {
            let value: Value = serde_json::from_slice(&bytes).expect("translated body is not JSON");
            if status >= 400 {
                assert!(value.is_object(), "error body is not an object");
            }
        }
        Ok(None) => {}
        Err(err) => {
            assert!(status < 400, "an error body failed to translate");
            assert!(
                err.status() >= 500,
                "a provider response blamed on the client: {}",
                err.status()
            );
        }
    }
    let _ = t.usage();
    if let Some(bytes) = t.error_body(status, payload) {
        let value: Value = serde_json::from_slice(&bytes).expect("error body is not JSON");
        assert!(value.is_object());
    }

    // The same bytes as a stream, cut three ways.
    if status >= 400 {
        let mut t = started(&kind, provider, &request, status);
        assert!(
            t.response_chunk(payload, true).is_none(),
            "an error status took the stream path"
        );
        return;
    }
    let Some((whole, usage)) = stream(&kind, provider, &request, status, &[payload]) else {
        return;
    };
    let cut = chunks(payload, &[l0, l1, l2, l3]);
    let (cut_out, cut_usage) = stream(&kind, provider, &request, status, &cut).unwrap();
    assert!(whole == cut_out, "the stream's cut changed the translation");
    assert_eq!(usage, cut_usage, "the stream's cut changed the usage");
    if payload.len() <= 4096 {
        let bytes: Vec<&[u8]> = payload.chunks(1).collect();
        let (byte_out, byte_usage) = stream(&kind, provider, &request, status, &bytes).unwrap();
        assert!(whole == byte_out, "byte-by-byte changed the translation");
        assert_eq!(usage, byte_usage);
    }
    let mut parser = SseParser::new();
    let mut events = parser.feed(&whole);
    events.extend(parser.finish());
    for event in events {
        if let Some(data) = &event.data {
            assert!(
                data == "[DONE]" || serde_json::from_str::<Value>(data).is_ok(),
                "a translated event's data is not JSON"
            );
        }
    }
});
