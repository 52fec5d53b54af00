//! Request parsing: `ApiKind::classify` on an arbitrary method and path,
//! `LlmRequest::parse` of an arbitrary body as every API, the text walker
//! and the request token counter over what parses.
//!
//! Input: `METHOD PATH\n` then the body (a seed is a golden request.json
//! behind its request line).
//!
//! Checks, beyond "no panic":
//! * classification ignores the query string and a trailing slash, and a
//!   model named by the path is a part of the path;
//! * a body parses iff it is a JSON object (serde_json the oracle) whose
//!   `model` is a string, null or absent; every rejection is a 400 whose
//!   body is valid JSON in all three dialects;
//! * the borrowed tree a request is parsed into, made owned, is serde_json's
//!   parse (the last of duplicate names wins); a parsed request serialises
//!   and parses back to itself;
//! * the borrowed tree visits every text the owned one does (and more only
//!   for duplicate names), and counts at least as many tokens;
//! * rewriting no text, or every text as itself, changes nothing;
//!   rewriting every text field visits exactly the fields the visitor sees,
//!   and afterwards the visitor sees only the replacement;
//! * the request token count is monotone in the per-text count.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_api::text::{for_each_request_text, rewrite_request_text};
use llm_api::{with_json_body, ApiKind, Dialect, LlmRequest};
use llm_gateway_fuzz::json_eq;
use serde_json::Value;
use token_limit::count::{request_tokens, Format};

/// Every API a body can be parsed as (the path-derived ones with a model).
fn kinds() -> [ApiKind; 9] {
    [
        ApiKind::ChatCompletions,
        ApiKind::Embeddings,
        ApiKind::Responses,
        ApiKind::AnthropicMessages,
        ApiKind::GeminiGenerate {
            model: "gemini-2.5-flash".into(),
            stream: false,
        },
        ApiKind::GeminiGenerate {
            model: "gemini-2.5-flash".into(),
            stream: true,
        },
        ApiKind::GeminiEmbed {
            model: "text-embedding-004".into(),
            batch: false,
        },
        ApiKind::AzureChatCompletions {
            deployment: "dep".into(),
        },
        ApiKind::AzureEmbeddings {
            deployment: "dep".into(),
        },
    ]
}

fn check_classify(line: &str) {
    let (method, path) = line.split_once(' ').unwrap_or((line, ""));
    let kind = ApiKind::classify(method, path);
    let bare = path.split(['?', '#']).next().unwrap_or_default();
    assert_eq!(
        ApiKind::classify(method, bare),
        kind,
        "query changes the class"
    );
    assert_eq!(
        ApiKind::classify(method, &format!("{bare}?x=1")),
        kind,
        "an added query changes the class"
    );
    if !bare.ends_with('/') {
        assert_eq!(
            ApiKind::classify(method, &format!("{bare}/")),
            kind,
            "trailing slash"
        );
    }
    if let Some(model) = kind.path_model() {
        assert!(
            !model.is_empty() && bare.contains(model),
            "path model not in path"
        );
    }
    let _ = (kind.dialect(), kind.has_json_body(), kind.name());
}

fn check_parse(kind: &ApiKind, body: &[u8]) {
    let oracle: Option<Value> = serde_json::from_slice(body).ok();
    let parsed = LlmRequest::parse(kind, body);
    let request = match parsed {
        Err(err) => {
            assert_eq!(err.status(), 400, "rejection is not a 400: {}", err.message);
            for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini] {
                let rendered: Value =
                    serde_json::from_slice(&err.body(dialect)).expect("error body is not JSON");
                assert!(rendered.is_object());
            }
            if let Some(Value::Object(map)) = &oracle {
                assert!(
                    matches!(map.get("model"), Some(m) if !m.is_string() && !m.is_null()),
                    "a JSON object with a valid model was rejected"
                );
            }
            return;
        }
        Ok(request) => request,
    };
    let Some(Value::Object(map)) = oracle else {
        panic!("accepted a body that is not a JSON object");
    };
    assert_eq!(
        *request.object(),
        map,
        "the borrowed tree made owned is not serde_json's parse"
    );
    if let Some(model) = &request.model {
        assert!(
            map.get("model").and_then(Value::as_str) == Some(model.as_str())
                || kind.path_model() == Some(model.as_str())
        );
    }
    let owned = Value::Object(map);
    let again =
        LlmRequest::parse(kind, &request.to_bytes()).expect("serialised request does not parse");
    assert_eq!(
        (&again.model, again.stream),
        (&request.model, request.stream)
    );
    assert!(
        json_eq(&Value::Object(again.object().into_owned()), &owned),
        "the body does not survive a serialise and parse"
    );
    let _ = request.message_count(kind);

    // The text walker: the borrowed tree as sent sees every text the owned
    // one does; once a stage takes the body to change it, exactly those.
    let mut texts = Vec::new();
    for_each_request_text(kind, &owned, |f| texts.push(f.text.to_owned()));
    let mut sent = Vec::new();
    request.for_each_text(kind, |f| sent.push(f.text.to_owned()));
    let mut missing = texts.clone();
    for text in &sent {
        if let Some(at) = missing.iter().position(|t| t == text) {
            missing.swap_remove(at);
        }
    }
    assert!(
        missing.is_empty(),
        "the borrowed tree missed a text the owned one holds"
    );
    let mut edited = request.clone();
    let _ = edited.body_mut();
    let mut after_edit = Vec::new();
    edited.for_each_text(kind, |f| after_edit.push(f.text.to_owned()));
    assert_eq!(
        after_edit, texts,
        "the owned body reads unlike serde_json's"
    );

    // Reading and rewriting agree.
    let seen = texts.len();
    let mut copy = owned.clone();
    assert!(!rewrite_request_text(kind, &mut copy, |_| None));
    assert_eq!(copy, owned, "a rewrite of nothing changed the body");
    rewrite_request_text(kind, &mut copy, |f| Some(f.text.to_owned()));
    assert!(
        json_eq(&copy, &owned),
        "rewriting text as itself changed the body"
    );
    let mut offered = 0usize;
    rewrite_request_text(kind, &mut copy, |_| {
        offered += 1;
        Some("[X]".to_owned())
    });
    assert_eq!(offered, seen, "rewrite and visit disagree on the fields");
    let mut after = 0usize;
    for_each_request_text(kind, &copy, |f| {
        after += 1;
        // A JSON-valued field that is no longer JSON is stored as a string,
        // and so visited as that string's JSON text.
        assert!(
            f.text == "[X]" || f.text == "\"[X]\"",
            "text survived a rewrite of every field"
        );
    });
    assert_eq!(after, seen, "a rewrite changed which fields are text");

    // Token counting of the request: monotone in the per-text count.
    if let Some(format) = Format::of(kind) {
        let model = request.model.as_deref().unwrap_or("gpt-4o");
        let zero = request_tokens(format, &owned, model, &mut |_| 0);
        let bytes = request_tokens(format, &owned, model, &mut |t| t.len() as u64);
        assert!(zero <= bytes, "request count not monotone");
        let sent = with_json_body!(request, |body| request_tokens(
            format,
            body,
            model,
            &mut |t| t.len() as u64
        ));
        assert!(sent >= bytes, "the borrowed tree counts fewer tokens");
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    check_classify(&line);
    for kind in kinds() {
        check_parse(&kind, body);
    }
    let (method, path) = line.split_once(' ').unwrap_or((&line, ""));
    let kind = ApiKind::classify(method, path);
    if kind.has_json_body() {
        check_parse(&kind, body);
    }
});
