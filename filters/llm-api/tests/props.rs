//! Property tests: no input panics, and the SSE parser does not care how a
//! stream is cut.
//!
//! The JSON generator draws keys and string values mostly from the
//! vocabulary of the LLM APIs, so that arbitrary documents reach deep into
//! the translators and walkers instead of being rejected at the top.
//!
//! Anthropic → Gemini, which chains two translators, also gets requests
//! shaped like Anthropic's and streams shaped like Gemini's, so that both
//! halves are exercised together, with checks of what must survive the
//! trip: the request's turn structure and stream flag, the stream's text,
//! tool calls and usage, and a well-formed Anthropic event sequence however
//! the provider's stream is cut.

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
    translator, ApiKind, Dialect, LlmRequest, ProviderKind, Role, TextKind, TranslateOptions,
    Usage, UsageAccumulator,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

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
            batch: true,
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

/// Blocks of an Anthropic user turn (text, images, tool results) or, with
/// `assistant`, of an assistant turn (text, tool uses, thinking); rarely
/// junk, so that most requests get through to the checks and some do not.
fn anthropic_blocks(assistant: bool) -> impl Strategy<Value = Value> {
    let id = || prop::sample::select(vec!["toolu_1", "toolu_2", "call_0"]);
    let text = ".{0,12}".prop_map(|text| json!({"type": "text", "text": text}));
    let junk = prop_oneof![
        Just(json!({"type": "document", "source": {"type": "text", "data": "d"}})),
        json_value(),
    ];
    let block = if assistant {
        prop_oneof![
            8 => text,
            4 => (id(), prop::sample::select(vec!["get_weather", "lookup"]), prop_oneof![8 => json_object().prop_map(Value::Object), 1 => json_value()])
                .prop_map(|(id, name, input)| json!({"type": "tool_use", "id": id, "name": name, "input": input})),
            1 => Just(json!({"type": "thinking", "thinking": "hmm", "signature": "s"})),
            1 => junk,
        ]
        .boxed()
    } else {
        prop_oneof![
            8 => text,
            2 => (prop::sample::select(vec!["image/png", "image/jpeg"]), "[A-Za-z0-9+/=]{0,12}").prop_map(
                |(media_type, data)| json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
            ),
            1 => "https://[a-z]{1,8}\\.com/[a-z]{1,8}\\.(png|jpg|webp|pdf)(\\?[a-z=]{0,6})?"
                .prop_map(|url| json!({"type": "image", "source": {"type": "url", "url": url}})),
            2 => (id(), prop_oneof![".{0,12}".prop_map(Value::String), json_value()])
                .prop_map(|(id, content)| json!({"type": "tool_result", "tool_use_id": id, "content": content})),
            1 => junk,
        ]
        .boxed()
    };
    prop_oneof![
        2 => ".{0,12}".prop_map(Value::String),
        16 => prop::collection::vec(block, 0..4).prop_map(Value::Array),
        1 => json_value(),
    ]
}

/// A Messages request: turns of blocks, a system prompt, tools, tool
/// choice, stop sequences, the stream flag and arbitrary extra fields.
fn anthropic_request() -> impl Strategy<Value = Map<String, Value>> {
    let turn = prop_oneof![
        15 => anthropic_blocks(false).prop_map(|content| json!({"role": "user", "content": content})),
        15 => anthropic_blocks(true).prop_map(|content| json!({"role": "assistant", "content": content})),
        1 => Just(json!({"role": "system", "content": "x"})),
    ];
    let system = prop_oneof![
        Just(None),
        ".{0,12}".prop_map(|s| Some(Value::String(s))),
        prop::collection::vec(
            ".{0,8}".prop_map(|t| json!({"type": "text", "text": t})),
            0..3
        )
        .prop_map(|blocks| Some(Value::Array(blocks))),
    ];
    let tool = (
        prop::sample::select(vec!["get_weather", "lookup"]),
        prop::option::of(json_value()),
    )
        .prop_map(|(name, schema)| match schema {
            Some(schema) => json!({"name": name, "description": "d", "input_schema": schema}),
            None => json!({"name": name}),
        });
    let tool_choice = prop_oneof![
        10 => Just(None),
        20 => prop::sample::select(vec!["auto", "any", "none", "tool"]).prop_map(|kind| Some(
            json!({"type": kind, "name": "lookup", "disable_parallel_tool_use": true})
        )),
        1 => Just(Some(json!({"type": "other"}))),
        1 => json_value().prop_map(Some),
    ];
    (
        prop::collection::vec(turn, 0..6),
        system,
        prop::option::of(prop::collection::vec(tool, 0..3)),
        tool_choice,
        prop::option::of(prop::collection::vec("[ -~]{0,6}", 0..3)),
        any::<bool>(),
        json_object(),
    )
        .prop_map(
            |(turns, system, tools, tool_choice, stops, stream, mut body)| {
                body.insert("model".into(), json!("claude-sonnet-4-5"));
                body.insert("max_tokens".into(), json!(256));
                body.insert("messages".into(), Value::Array(turns));
                body.insert("stream".into(), Value::Bool(stream));
                for (key, value) in [
                    ("system", system),
                    ("tools", tools.map(Value::Array)),
                    ("tool_choice", tool_choice),
                    ("stop_sequences", stops.map(|s| json!(s))),
                ] {
                    match value {
                        Some(value) => body.insert(key.into(), value),
                        None => body.remove(key),
                    };
                }
                body
            },
        )
}

/// One Gemini stream chunk: candidate 0 with text, thought and function
/// call parts, maybe a finish reason and cumulative usage; or an error.
fn gemini_chunk() -> impl Strategy<Value = Value> {
    let part = prop_oneof![
        3 => ".{0,10}".prop_map(|text| json!({"text": text})),
        1 => ".{0,10}".prop_map(|text| json!({"text": text, "thought": true})),
        1 => (prop::sample::select(vec!["get_weather", "lookup"]), json_object())
            .prop_map(|(name, args)| json!({"functionCall": {"name": name, "args": without_floats(Value::Object(args))}})),
    ];
    let candidate = (
        prop::collection::vec(part, 0..3),
        prop::option::of(prop::sample::select(vec![
            "STOP",
            "MAX_TOKENS",
            "SAFETY",
            "OTHER",
        ])),
    )
        .prop_map(|(parts, finish)| {
            let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
            if let Some(finish) = finish {
                candidate["finishReason"] = json!(finish);
            }
            candidate
        });
    prop_oneof![
        12 => (candidate, prop::option::of((0u64..1000, 0u64..1000))).prop_map(|(candidate, usage)| {
            let mut chunk = json!({"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
            if let Some((prompt, output)) = usage {
                chunk["usageMetadata"] = json!({"promptTokenCount": prompt, "candidatesTokenCount": output,
                    "totalTokenCount": prompt + output});
            }
            chunk
        }),
        1 => Just(json!({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}})),
    ]
}

/// `value` with its non-integer numbers replaced by integers: serde_json
/// (without its `float_roundtrip` feature) may read a long decimal back one
/// unit in the last place off, and arguments are read more than once on
/// their way through a chain.
fn without_floats(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => json!(n.as_f64().unwrap_or_default().trunc() as i64),
        Value::Array(items) => Value::Array(items.into_iter().map(without_floats).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, without_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Gemini's SSE bytes for `chunks` (it ends events with `\r\n\r\n`; `\n\n`
/// must work too).
fn gemini_sse(chunks: &[Value], crlf: bool) -> Vec<u8> {
    let end = if crlf { "\r\n\r\n" } else { "\n\n" };
    chunks
        .iter()
        .flat_map(|chunk| format!("data: {chunk}{end}").into_bytes())
        .collect()
}

fn anthropic_to_gemini() -> Box<dyn llm_api::Translator> {
    translator(
        &ApiKind::AnthropicMessages,
        ProviderKind::Gemini,
        "gemini-2.5-flash",
        &TranslateOptions::default(),
    )
    .unwrap()
}

/// Checks that `events` are a well-formed Anthropic stream: named after
/// their type; `message_start` first; blocks numbered from 0, opened,
/// written (with deltas of their kind) and closed one at a time; then
/// `message_delta` and `message_stop`, last; nothing after an `error`.
fn check_anthropic_stream(events: &[Value]) -> Result<(), String> {
    let mut started = false;
    let mut open: Option<(u64, String)> = None;
    let mut blocks = 0;
    let mut delta_seen = false;
    for (i, event) in events.iter().enumerate() {
        let kind = event["data"]["type"].as_str().unwrap_or_default();
        let fail = |why: &str| Err(format!("event {i} ({kind}): {why}"));
        if event["event"].as_str() != Some(kind) {
            return fail("event name differs from its type");
        }
        let index = event["data"]["index"].as_u64();
        match kind {
            "error" => {
                return if i + 1 == events.len() {
                    Ok(())
                } else {
                    fail("events follow an error")
                };
            }
            "message_start" if !started => started = true,
            _ if !started => return fail("before message_start"),
            "content_block_start" if open.is_none() && !delta_seen => {
                if index != Some(blocks) {
                    return fail("block index out of order");
                }
                let block = event["data"]["content_block"]["type"]
                    .as_str()
                    .unwrap_or_default();
                open = Some((blocks, block.to_owned()));
                blocks += 1;
            }
            "content_block_delta" => {
                let expected = match &open {
                    Some((open_index, block)) if index == Some(*open_index) => {
                        if block == "text" {
                            "text_delta"
                        } else {
                            "input_json_delta"
                        }
                    }
                    _ => return fail("delta outside its open block"),
                };
                if event["data"]["delta"]["type"].as_str() != Some(expected) {
                    return fail("delta of the wrong kind");
                }
            }
            "content_block_stop" if open.as_ref().map(|(o, _)| Some(*o)) == Some(index) => {
                open = None
            }
            "message_delta" if open.is_none() && !delta_seen => delta_seen = true,
            "message_stop" if delta_seen => {
                return if i + 1 == events.len() {
                    Ok(())
                } else {
                    fail("events follow message_stop")
                };
            }
            _ => return fail("out of place"),
        }
    }
    if events.is_empty() {
        Ok(())
    } else {
        Err("the stream does not end with message_stop".into())
    }
}

fn events_json(bytes: &[u8]) -> Vec<Value> {
    parse_chunks(&[bytes])
        .iter()
        .map(|e| json!({"event": e.event, "data": serde_json::from_str::<Value>(e.data_str()).unwrap_or(Value::Null)}))
        .collect()
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
        let body = Value::Object(body);
        let borrowed = serde_json_borrow::OwnedValue::from_string(body.to_string()).unwrap();
        for api in apis() {
            let mut texts = Vec::new();
            for_each_request_text(&api, &body, |f| texts.push((f.role, f.kind, f.text.to_owned())));
            let mut borrowed_texts = Vec::new();
            for_each_request_text(&api, &*borrowed, |f| borrowed_texts.push((f.role, f.kind, f.text.to_owned())));
            // JSON fields are visited as their text, and the two trees'
            // parsers may differ in a float's last digit: digits aside.
            let digitless = |texts: &[(Role, TextKind, String)]| -> Vec<(Role, TextKind, String)> {
                let mask = |t: &str| {
                    let mut out = String::new();
                    for c in t.chars() {
                        if !(c.is_ascii_digit() && out.ends_with('#')) {
                            out.push(if c.is_ascii_digit() { '#' } else { c });
                        }
                    }
                    out
                };
                texts.iter().map(|(r, k, t)| (*r, *k, mask(t))).collect()
            };
            prop_assert_eq!(digitless(&borrowed_texts), digitless(&texts), "the borrowed tree reads alike");
            let mut copy = body.clone();
            prop_assert!(!rewrite_request_text(&api, &mut copy, |f| Some(f.text.to_owned())));
            prop_assert_eq!(&copy, &body);
            let mut seen = 0;
            rewrite_request_text(&api, &mut copy, |_| { seen += 1; Some("[X]".to_owned()) });
            prop_assert_eq!(seen, texts.len());
            let value = body.clone();
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
                prop_assert_eq!(first.clone().ok(), t.request(&request).ok());
                // The body as sent and as a stage changed it (two trees,
                // llm_api::json) translate alike.
                let mut edited = request.clone();
                edited.body_mut();
                prop_assert_eq!(first, t.request(&edited));
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

    #[test]
    fn anthropic_requests_reach_gemini_as_alternating_turns(body in anthropic_request()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let request = LlmRequest::parse(&ApiKind::AnthropicMessages, &bytes).unwrap();
        let mut t = anthropic_to_gemini();
        let first = t.request(&request);
        // Pure: a retry translates the same way.
        prop_assert_eq!(first.clone().ok(), t.request(&request).ok());
        match first {
            // What the client sent is at fault, never the gateway.
            Err(err) => prop_assert_eq!(err.status(), 400, "{}", err.message),
            Ok(upstream) => {
                let method = if request.stream { ":streamGenerateContent?alt=sse" } else { ":generateContent" };
                prop_assert_eq!(upstream.path, format!("/v1beta/models/gemini-2.5-flash{method}"));
                let sent: Value = serde_json::from_slice(&upstream.body.unwrap()).unwrap();
                let roles: Vec<&str> = sent["contents"].as_array().unwrap().iter()
                    .map(|c| c["role"].as_str().unwrap()).collect();
                prop_assert!(roles.iter().all(|r| *r == "user" || *r == "model"), "{:?}", roles);
                prop_assert!(roles.windows(2).all(|w| w[0] != w[1]), "{:?}", roles);
                prop_assert!(sent["contents"].as_array().unwrap().iter()
                    .all(|c| c["parts"].as_array().is_some_and(|p| !p.is_empty())));
            }
        }
    }

    #[test]
    fn gemini_streams_reach_anthropic_clients_whole_however_cut(
        chunks in prop::collection::vec(gemini_chunk(), 0..10),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let request = LlmRequest::parse(&ApiKind::AnthropicMessages,
            br#"{"model":"m","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#).unwrap();
        let stream = gemini_sse(&chunks, crlf);
        let run = |pieces: &[&[u8]]| {
            let mut t = anthropic_to_gemini();
            t.request(&request).unwrap();
            t.response_headers(200);
            let mut out = Vec::new();
            for piece in pieces {
                out.extend(t.response_chunk(piece, false).unwrap());
            }
            out.extend(t.response_chunk(b"", true).unwrap());
            (out, t.usage())
        };
        let (whole, usage) = run(&[&stream]);
        let (cut_out, _) = run(&cut(&stream, &cuts));
        let events = events_json(&whole);
        prop_assert_eq!(&events_json(&cut_out), &events);
        if let Err(why) = check_anthropic_stream(&events) {
            prop_assert!(false, "{}\n{}", why, String::from_utf8_lossy(&whole));
        }

        // What the provider sent before any error survives: text and tool
        // calls; and the last usage it reported is the translator's (and,
        // without an error, the client's).
        let before_error: Vec<&Value> = chunks.iter().take_while(|c| c.get("error").is_none()).collect();
        let parts: Vec<&Value> = before_error.iter()
            .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().unwrap())
            .collect();
        let text: String = parts.iter()
            .filter(|p| p["thought"] != json!(true))
            .filter_map(|p| p["text"].as_str()).collect();
        let calls: Vec<(String, Value)> = parts.iter().filter_map(|p| p.get("functionCall"))
            .map(|c| (c["name"].as_str().unwrap().to_owned(), c["args"].clone())).collect();
        let mut sent_text = String::new();
        let mut sent_calls: Vec<(String, String)> = Vec::new();
        for event in &events {
            let data = &event["data"];
            match data["type"].as_str() {
                Some("content_block_start") if data["content_block"]["type"] == "tool_use" => {
                    sent_calls.push((data["content_block"]["name"].as_str().unwrap().to_owned(), String::new()));
                }
                Some("content_block_delta") => match data["delta"]["type"].as_str() {
                    Some("text_delta") => sent_text.push_str(data["delta"]["text"].as_str().unwrap()),
                    _ => sent_calls.last_mut().unwrap().1.push_str(data["delta"]["partial_json"].as_str().unwrap()),
                },
                _ => {}
            }
        }
        prop_assert_eq!(sent_text, text);
        let sent_calls: Vec<(String, Value)> = sent_calls.into_iter()
            .map(|(name, json)| (name, serde_json::from_str(&json).unwrap())).collect();
        prop_assert_eq!(sent_calls, calls);
        let reported = chunks.iter().rev().find_map(|c| c.get("usageMetadata"));
        if let Some(reported) = reported {
            let usage = usage.unwrap();
            prop_assert_eq!((usage.input, usage.output), (reported["promptTokenCount"].as_u64().unwrap(), reported["candidatesTokenCount"].as_u64().unwrap()));
            if before_error.len() == chunks.len() {
                let last_delta = events.iter().rev().find(|e| e["data"]["type"] == "message_delta").unwrap();
                prop_assert_eq!(&last_delta["data"]["usage"]["input_tokens"], &reported["promptTokenCount"]);
                prop_assert_eq!(&last_delta["data"]["usage"]["output_tokens"], &reported["candidatesTokenCount"]);
            }
        }
    }
}
