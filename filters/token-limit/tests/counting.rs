//! Counting against tiktoken: published strings, tiktoken-rs's counts of
//! the corpus and of texts that stress the merges, OpenAI's message-overhead
//! rules (tiktoken-rs's cookbook port as the oracle), and no input panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{json, Value};
use token_limit::count::{estimate, exact, request_tokens, Encoding, EncodingMap, Family, Format};

#[test]
fn published_strings() {
    // tiktoken's README: "tiktoken is great!" is 6 cl100k tokens.
    assert_eq!(exact::count(Encoding::Cl100kBase, "tiktoken is great!"), 6);
    assert_eq!(exact::count(Encoding::Cl100kBase, "hello world"), 2);
    assert_eq!(exact::count(Encoding::O200kBase, "hello world"), 2);
    assert_eq!(
        exact::count(Encoding::Cl100kBase, "antidisestablishmentarianism"),
        6
    );
}

fn tiktoken(encoding: Encoding, text: &str) -> usize {
    let bpe = match encoding {
        Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
    };
    bpe.encode_ordinary(text).len()
}

/// The corpus files whole and cut into windows of 7 to 1,000 characters at
/// many offsets (cuts inside words, numbers, whitespace runs and scripts),
/// and texts whose pieces are long (the heap merge) or pathological.
#[test]
fn counts_equal_tiktoken_rs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/corpus");
    let mut texts: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let chars: Vec<char> = text.chars().collect();
        for window in [7usize, 31, 200, 1000] {
            for start in (0..chars.len()).step_by(window / 2 + 7) {
                texts.push(
                    chars[start..(start + window).min(chars.len())]
                        .iter()
                        .collect(),
                );
            }
        }
        texts.push(text);
    }
    texts.extend([
        "=".repeat(5000),
        "=-".repeat(2000) + "!?",
        "ab".repeat(3000),
        "\u{1F600}\u{1F9D1}\u{200D}\u{1F4BB}".repeat(300),
        "  \n\n  x  \t\r\n ".repeat(300),
        " ".repeat(10_000) + "x",
        "0123456789".repeat(500),
        (0..3000)
            .filter_map(|i| char::from_u32(0x4e00 + (i * 7919) % 20000))
            .collect(),
        (0..5000)
            .map(|i| char::from(33 + (i * 37 % 90) as u8))
            .collect(),
        "<|endoftext|> and <|fim_prefix|> as text".into(),
    ]);
    for text in &texts {
        for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
            assert_eq!(
                exact::count(encoding, text),
                tiktoken(encoding, text),
                "{encoding:?} on {:?}",
                &text[..text.floor_char_boundary(80)]
            );
        }
    }
    assert!(texts.len() > 1000, "{} texts", texts.len());
}

fn cookbook_messages() -> Value {
    json!([
        {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
        {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
    ])
}

fn oracle(model: &str, messages: &Value) -> usize {
    let msgs: Vec<tiktoken_rs::ChatCompletionRequestMessage> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| tiktoken_rs::ChatCompletionRequestMessage {
            role: m["role"].as_str().unwrap().to_owned(),
            content: m["content"].as_str().map(str::to_owned),
            name: m["name"].as_str().map(str::to_owned),
            ..Default::default()
        })
        .collect();
    tiktoken_rs::num_tokens_from_messages(model, &msgs).unwrap()
}

fn chat_count(model: &str, body: &Value) -> u64 {
    let encoding = EncodingMap::default().lookup(model).unwrap();
    let mut count = |t: &str| exact::count(encoding, t) as u64;
    request_tokens(Format::OpenAiChat, body, model, &mut count)
}

#[test]
fn message_overhead_matches_the_cookbook() {
    for model in ["gpt-4o", "gpt-4o-mini", "gpt-4", "gpt-3.5-turbo"] {
        let messages = cookbook_messages();
        let ours = chat_count(model, &json!({"model": model, "messages": messages}));
        assert_eq!(ours as usize, oracle(model, &messages), "{model}");
    }
    // The cookbook's published figure for gpt-3.5-turbo / gpt-4 is 129.
    assert_eq!(
        chat_count("gpt-4", &json!({"messages": cookbook_messages()})),
        129
    );
}

#[test]
fn tools_and_images() {
    let body = json!({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
        ]}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}]
    });
    let without_tools = {
        let mut b = body.clone();
        b.as_object_mut().unwrap().remove("tools");
        chat_count("gpt-4o", &b)
    };
    let with_tools = chat_count("gpt-4o", &body);
    let rendered = "namespace functions {\n\n// Weather for a city\ntype get_weather = (_: {\n// City name\ncity: string,\nunit?: \"c\" | \"f\",\n}) => any;\n\n} // namespace functions";
    // The system message gains a newline, then +9, -4 (system present).
    let newline = exact::count(Encoding::O200kBase, "Be brief.\n")
        - exact::count(Encoding::O200kBase, "Be brief.");
    assert_eq!(
        with_tools,
        without_tools + (exact::count(Encoding::O200kBase, rendered) + newline) as u64 + 9 - 4
    );
    // The low-detail image costs 85.
    let text_only = json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is in this image?"}]});
    assert_eq!(without_tools, chat_count("gpt-4o", &text_only) + 85);
}

#[test]
fn other_formats() {
    let mut est = |t: &str| estimate(Family::Anthropic, t);
    let anthropic = json!({"system": "Be brief.", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"},
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42 degrees"}]}]}]});
    assert!(
        request_tokens(
            Format::AnthropicMessages,
            &anthropic,
            "claude-sonnet-4-5",
            &mut est
        ) > 9
    );
    let gemini = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]});
    let mut g = |t: &str| estimate(Family::Gemini, t);
    assert!(request_tokens(Format::GeminiGenerate, &gemini, "gemini-2.5-flash", &mut g) > 9);
    let emb = json!({"input": ["hello world", "tiktoken is great!"]});
    let mut e = |t: &str| exact::count(Encoding::Cl100kBase, t) as u64;
    assert_eq!(
        request_tokens(
            Format::OpenAiEmbeddings,
            &emb,
            "text-embedding-3-small",
            &mut e
        ),
        8
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "role",
            "content",
            "text",
            "image_url",
            "type",
            "system",
            "tools",
            "function",
            "parameters",
            "properties",
            "items",
            "array",
            "object",
            "string",
            "enum",
            "low"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "messages",
                        "content",
                        "role",
                        "name",
                        "type",
                        "text",
                        "image_url",
                        "detail",
                        "tools",
                        "function",
                        "parameters",
                        "properties",
                        "required",
                        "items",
                        "enum",
                        "input",
                        "contents",
                        "parts",
                        "system",
                        "tool_calls",
                        "arguments",
                        "instructions",
                        "systemInstruction"
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_text_panics(text in any::<String>()) {
        for family in [Family::OpenAiO200k, Family::OpenAiCl100k, Family::Anthropic, Family::Gemini] {
            let e = estimate(family, &text);
            prop_assert!(text.is_empty() || e >= 1);
        }
        let full = exact::count(Encoding::O200kBase, &text);
        prop_assert_eq!(full, tiktoken(Encoding::O200kBase, &text));
        prop_assert_eq!(exact::count_up_to(Encoding::O200kBase, &text, usize::MAX), Ok(full));
    }

    /// No body panics, and the borrowed tree a request is parsed into
    /// counts what serde_json's counts.
    #[test]
    fn no_body_panics_and_both_trees_count_alike(body in arb_json()) {
        let borrowed = serde_json_borrow::OwnedValue::from_string(body.to_string()).unwrap();
        let mut count = |t: &str| estimate(Family::OpenAiO200k, t);
        for format in [Format::OpenAiChat, Format::OpenAiEmbeddings, Format::OpenAiResponses, Format::AnthropicMessages, Format::GeminiGenerate] {
            let owned = request_tokens(format, &body, "gpt-4o", &mut count);
            prop_assert_eq!(request_tokens(format, &*borrowed, "gpt-4o", &mut count), owned);
        }
    }
}
