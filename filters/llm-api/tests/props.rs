//! Property tests: no input panics, and the SSE parser does not care how a
//! stream is cut.
//!
//! The JSON generator draws keys and string values mostly from the
//! vocabulary of the LLM APIs, so that arbitrary documents reach deep into
//! the translators and walkers instead of being rejected at the top.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use llm_api::sse::{write_events, SseEvent, SseParser};
use llm_api::text::{
    for_each_request_text, for_each_response_text, rewrite_request_text, rewrite_response_text,
};
use llm_api::{
    translator, ApiKind, Dialect, LlmRequest, ProviderKind, TranslateOptions, Usage,
    UsageAccumulator,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "tool_calls",
    "function",
    "arguments",
    "name",
    "id",
    "image_url",
    "url",
    "tools",
    "tool_choice",
    "parameters",
    "system",
    "input",
    "instructions",
    "output",
    "contents",
    "parts",
    "functionCall",
    "functionResponse",
    "args",
    "response",
    "systemInstruction",
    "candidates",
    "choices",
    "delta",
    "message",
    "usage",
    "usageMetadata",
    "index",
    "content_block",
    "stop_reason",
    "finish_reason",
    "finishReason",
    "partial_json",
    "tool_use_id",
    "tool_call_id",
    "source",
    "data",
    "media_type",
    "max_tokens",
    "stop",
    "stream",
    "stream_options",
    "include_usage",
    "n",
    "embeddings",
    "values",
    "requests",
    "error",
    "prompt_tokens",
    "input_tokens",
    "output_tokens",
    "promptTokenCount",
    "encoding_format",
    "dimensions",
    "parallel_tool_calls",
    "disable_parallel_tool_use",
    "refusal",
    "thought",
    "responseId",
    "modelVersion",
];

const STRINGS: &[&str] = &[
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "model",
    "function",
    "text",
    "tool_use",
    "tool_result",
    "image_url",
    "image",
    "base64",
    "url",
    "input_text",
    "output_text",
    "function_call",
    "function_call_output",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "message_delta",
    "message_stop",
    "error",
    "text_delta",
    "input_json_delta",
    "auto",
    "none",
    "required",
    "any",
    "stop",
    "length",
    "STOP",
    "MAX_TOKENS",
    "end_turn",
    "tool_use",
    "data:image/png;base64,iVBOR",
    "data:,",
    "[DONE]",
    "{}",
    "{\"a\":1}",
    "",
    "base64",
    "response.output_text.delta",
    "response.completed",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..5).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(STRINGS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS), json_value()), 0..8).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    })
}

/// A request shaped like a conversation (chat, Anthropic or Gemini), with
/// arbitrary values inside, so that the translators get past their checks.
fn conversation() -> impl Strategy<Value = Map<String, Value>> {
    let roles = prop::sample::select(vec![
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
        "model",
        "x",
    ]);
    let message = (roles, json_value(), json_value(), prop::sample::select(vec!["call_0", "toolu_1", "x"])).prop_map(
        |(role, content, calls, id)| {
            serde_json::json!({"role": role, "content": content, "parts": content, "tool_calls": calls, "tool_call_id": id})
        },
    );
    (prop::collection::vec(message, 0..6), json_object()).prop_map(|(messages, mut extra)| {
        extra.insert("messages".into(), Value::Array(messages.clone()));
        extra.insert("contents".into(), Value::Array(messages));
        extra
    })
}

fn apis() -> Vec<ApiKind> {
    vec![
        ApiKind::ChatCompletions,
        ApiKind::Embeddings,
        ApiKind::Responses,
        ApiKind::AnthropicMessages,
        ApiKind::GeminiGenerate {
            model: "gemini-2.5-flash".into(),
            stream: true,
        },
        ApiKind::GeminiEmbed {
            model: "text-embedding-004".into(),
        },
        ApiKind::AzureChatCompletions {
            deployment: "d".into(),
        },
        ApiKind::AzureEmbeddings {
            deployment: "d".into(),
        },
        ApiKind::Models,
    ]
}

/// Every client API with every provider (unsupported pairs are skipped).
fn translators() -> Vec<(ApiKind, Box<dyn llm_api::Translator>)> {
    let options = TranslateOptions::default();
    let mut all = Vec::new();
    for api in apis() {
        for provider in ProviderKind::ALL {
            if let Ok(t) = translator(&api, provider, "upstream-model", &options) {
                all.push((api.clone(), t));
            }
        }
    }
    all
}

/// Cuts `bytes` at the given fractions of its length.
fn cut<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points {
        chunks.push(&bytes[start..point]);
        start = point;
    }
    chunks.push(&bytes[start..]);
    chunks
}

fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed_into(chunk, &mut events);
    }
    events.extend(parser.finish());
    events
}

fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "(data|event|id|retry|: ?|data:|x)(: ?)?[a-z0-9 {}\":,\\[\\]]{0,10}"
            .prop_map(String::into_bytes),
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..6),
    ];
    let ending = prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\r"]);
    prop::collection::vec((line, ending), 0..24).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(mut line, end)| {
                line.extend_from_slice(end);
                line
            })
            .collect()
    })
}

fn sse_event() -> impl Strategy<Value = SseEvent> {
    (
        prop::option::of("[a-z_]{1,12}"),
        prop::option::of("[ -~]{0,20}(\n[ -~]{0,10}){0,3}"),
        prop::option::of("[0-9a-z]{1,6}"),
        prop::option::of(0u64..100_000),
        prop::collection::vec("[ -~]{0,10}", 0..2),
    )
        .prop_filter("an event has at least one line", |(e, d, i, r, c)| {
            e.is_some() || d.is_some() || i.is_some() || r.is_some() || !c.is_empty()
        })
        .prop_map(|(event, data, id, retry, comments)| SseEvent {
            event,
            data,
            id,
            retry,
            comments,
        })
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES=N` runs more.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn sse_chunking_never_changes_the_events(bytes in sse_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let whole = parse_chunks(&[&bytes]);
        prop_assert_eq!(parse_chunks(&cut(&bytes, &cuts)), whole.clone());
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(parse_chunks(&single), whole);
    }

    #[test]
    fn sse_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        prop_assert_eq!(parse_chunks(&cut(&bytes, &cuts)), parse_chunks(&[&bytes]));
    }

    #[test]
    fn sse_written_events_parse_back(events in prop::collection::vec(sse_event(), 0..8), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let bytes = write_events(&events);
        prop_assert_eq!(parse_chunks(&cut(&bytes, &cuts)), events.clone());
        // Canonical bytes survive a parse and a write unchanged.
        prop_assert_eq!(write_events(&parse_chunks(&[&bytes])), bytes);
    }

    #[test]
    fn text_visitor_never_panics_and_rewrites_consistently(body in prop_oneof![json_object(), conversation()]) {
        for api in apis() {
            let mut count = 0;
            for_each_request_text(&api, &body, |_| count += 1);
            let mut copy = body.clone();
            prop_assert!(!rewrite_request_text(&api, &mut copy, |f| Some(f.text.to_owned())));
            prop_assert_eq!(&copy, &body);
            let mut seen = 0;
            rewrite_request_text(&api, &mut copy, |_| { seen += 1; Some("[X]".to_owned()) });
            prop_assert_eq!(seen, count);
            let value = Value::Object(body.clone());
            for_each_response_text(&api, &value, |_| {});
            let mut value = value;
            rewrite_response_text(&api, &mut value, |_| Some(String::new()));
        }
    }

    #[test]
    fn usage_readers_never_panic(value in json_value(), events in prop::collection::vec(json_value(), 0..6)) {
        for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini] {
            let _ = Usage::from_json(dialect, &value);
            let mut acc = UsageAccumulator::new(dialect);
            for event in &events {
                acc.feed_json(event);
                acc.feed(&SseEvent::data(event.to_string()));
            }
            if let Some(usage) = acc.usage() {
                prop_assert!(usage.cached_input <= usage.input || dialect != Dialect::Anthropic);
            }
        }
    }

    #[test]
    fn translators_never_panic_on_requests(body in prop_oneof![json_object(), conversation()]) {
        let bytes = serde_json::to_vec(&body).unwrap();
        for (api, mut t) in translators() {
            if let Ok(request) = LlmRequest::parse(&api, &bytes) {
                let first = t.request(&request);
                // Pure: a retry translates the same way.
                prop_assert_eq!(first.ok(), t.request(&request).ok());
            }
        }
    }

    #[test]
    fn translators_never_panic_on_responses(
        request in json_object(),
        response in json_value(),
        events in prop::collection::vec(json_value(), 0..8),
        raw in prop::collection::vec(any::<u8>(), 0..64),
        status in prop::sample::select(vec![200u16, 400, 429, 500, 529]),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let request_bytes = serde_json::to_vec(&request).unwrap();
        let mut stream = Vec::new();
        for (i, event) in events.iter().enumerate() {
            if i % 2 == 0 {
                stream.extend_from_slice(format!("event: {}\n", event.get("type").and_then(Value::as_str).unwrap_or("x")).as_bytes());
            }
            stream.extend_from_slice(format!("data: {event}\n\n").as_bytes());
        }
        stream.extend_from_slice(&raw);
        stream.extend_from_slice(b"data: [DONE]\n\n");
        for (api, mut t) in translators() {
            if let Ok(parsed) = LlmRequest::parse(&api, &request_bytes) {
                let _ = t.request(&parsed);
            }
            t.response_headers(status);
            let _ = t.response_body(&serde_json::to_vec(&response).unwrap());
            let _ = t.response_body(&raw);
            let _ = t.error_body(status, &raw);
            let chunks = cut(&stream, &cuts);
            for (i, chunk) in chunks.iter().enumerate() {
                let _ = t.response_chunk(chunk, i + 1 == chunks.len());
            }
            let _ = t.usage();
        }
    }
}
