//! Documents sent as base64 through a real Envoy running the demo (which
//! redacts every entity type), with `binary_documents: refuse`: a text
//! document reaches the provider redacted and still encoded as it was sent,
//! in each of the shapes that carry one (Anthropic `document`, Gemini
//! `inlineData` in both spellings, OpenAI chat `file`, Responses
//! `input_file`); text that does not decode and binary documents are
//! refused in the caller's format; images pass as before.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gateway_harness::client::{last_upstream, post};
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::Value;

const ADDRESS: &str = "jane.doe@example.com";
const CHAT: &str = "/v1/chat/completions";
const RESPONSES: &str = "/v1/responses";
const MESSAGES: &str = "/v1/messages";
const GEMINI: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

/// One shape: its name, the path, the body with `MEDIA` (the media type)
/// and `DATA` (the base64 payload) in it, and the JSON pointer of the
/// payload in what the provider receives.
struct Shape {
    name: &'static str,
    path: &'static str,
    body: &'static str,
    pointer: &'static str,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "anthropic-document",
        path: MESSAGES,
        body: r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"MEDIA","data":"DATA"}},{"type":"text","text":"Summarise"}]}]}"#,
        pointer: "/messages/0/content/0/source/data",
    },
    Shape {
        name: "gemini-inline-data",
        path: GEMINI,
        body: r#"{"contents":[{"role":"user","parts":[{"text":"Summarise"},{"inlineData":{"mimeType":"MEDIA","data":"DATA"}}]}]}"#,
        pointer: "/contents/0/parts/1/inlineData/data",
    },
    Shape {
        name: "gemini-inline-data-snake",
        path: GEMINI,
        body: r#"{"contents":[{"role":"user","parts":[{"text":"Summarise"},{"inline_data":{"mime_type":"MEDIA","data":"DATA"}}]}]}"#,
        pointer: "/contents/0/parts/1/inline_data/data",
    },
    Shape {
        name: "chat-file",
        path: CHAT,
        body: r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"Summarise"},{"type":"file","file":{"filename":"contract","file_data":"data:MEDIA;base64,DATA"}}]}]}"#,
        pointer: "/messages/0/content/1/file/file_data",
    },
    Shape {
        name: "responses-input-file",
        path: RESPONSES,
        body: r#"{"model":"gpt-4o-mini","input":[{"role":"user","content":[{"type":"input_text","text":"Summarise"},{"type":"input_file","filename":"contract","file_data":"data:MEDIA;base64,DATA"}]}]}"#,
        pointer: "/input/0/content/1/file_data",
    },
];

impl Shape {
    fn body(&self, media_type: &str, data: &str) -> String {
        self.body.replace("MEDIA", media_type).replace("DATA", data)
    }
}

/// The demo, refusing binary documents.
fn stack() -> Stack {
    let dir = RunDir::new("pii-documents-filters").unwrap();
    let options = StackOptions::demo_with_filters("pii-documents", &dir, |filters| {
        filters["pii_scan"]["binary_documents"] = "refuse".into();
    })
    .unwrap();
    Stack::start(options).unwrap_or_else(|e| panic!("{e}"))
}

/// The document text the provider received, decoded.
fn received_document(stack: &Stack, shape: &Shape) -> Result<String, String> {
    let request = stack
        .fake
        .requests()?
        .pop()
        .ok_or("no request reached a provider")?;
    let body: Value = serde_json::from_str(request["body"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let data = body
        .pointer(shape.pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no {} in {body}", shape.pointer))?;
    let payload = match data.strip_prefix("data:") {
        Some(url) => url
            .split_once(";base64,")
            .map(|(_, payload)| payload)
            .ok_or_else(|| format!("not a base64 data URL: {data}"))?,
        None => data,
    };
    let bytes = STANDARD
        .decode(payload)
        .map_err(|e| format!("{e}: {data}"))?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[test]
fn base64_documents_are_scanned_and_refused_when_unreadable() {
    let stack = stack();
    let text = format!("Contract between ACME and {ADDRESS}.\nSigned.");
    let encoded = STANDARD.encode(&text);
    let mut failures = Vec::new();

    // Text documents of a text media type: redacted, re-encoded, forwarded.
    for (shape, media_type) in SHAPES
        .iter()
        .flat_map(|s| [(s, "text/plain"), (s, "application/json; charset=utf-8")])
    {
        let before = stack.fake.requests().unwrap().len();
        let response = post(&stack, shape.path, &shape.body(media_type, &encoded), &[]);
        let case = format!("{} {media_type}", shape.name);
        if response.status != 200 || stack.fake.requests().unwrap().len() != before + 1 {
            failures.push(format!(
                "{case}: status {}, not forwarded: {}",
                response.status,
                response.text()
            ));
            continue;
        }
        match received_document(&stack, shape) {
            Ok(document)
                if !document.contains(ADDRESS)
                    && document.contains("[EMAIL_REDACTED]")
                    && document.contains("Signed.") => {}
            Ok(document) => failures.push(format!(
                "{case}: the provider received the document {document:?}"
            )),
            Err(e) => failures.push(format!("{case}: {e}")),
        }
        if response.header("x-pii-detected") != Some("EMAIL") {
            failures.push(format!(
                "{case}: x-pii-detected {:?}",
                response.header("x-pii-detected")
            ));
        }
    }

    // Declared text that does not decode, and binary documents: a 400 in
    // the caller's format naming the part, and nothing reaches a provider.
    let pdf = STANDARD.encode(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj");
    let refused = [
        ("text/plain", "not base64 at all!", "invalid_document"),
        ("application/pdf", pdf.as_str(), "unscannable_document"),
    ];
    for (shape, (media_type, data, code)) in SHAPES.iter().flat_map(|s| refused.map(|r| (s, r))) {
        let before = stack.fake.requests().unwrap().len();
        let response = post(&stack, shape.path, &shape.body(media_type, data), &[]);
        let case = format!("{} {media_type}", shape.name);
        let error: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        let message = error["error"]["message"].as_str().unwrap_or_default();
        let format_ok = match shape.path {
            MESSAGES => {
                error["type"] == "error" && error["error"]["type"] == "invalid_request_error"
            }
            GEMINI => error["error"]["status"] == "INVALID_ARGUMENT",
            _ => error["error"]["code"] == code,
        };
        if response.status != 400 || !format_ok || !message.contains('`') {
            failures.push(format!(
                "{case}: status {}: {}",
                response.status,
                response.text()
            ));
        }
        if stack.fake.requests().unwrap().len() != before {
            failures.push(format!("{case}: forwarded"));
        }
    }

    // Images are media, not documents: they pass as before.
    let png = STANDARD.encode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let shape = &SHAPES[1];
    let response = post(&stack, shape.path, &shape.body("image/png", &png), &[]);
    let forwarded = stack
        .fake
        .requests()
        .unwrap()
        .pop()
        .map(|r| r["body"].as_str().unwrap_or_default().contains(&png));
    if response.status != 200 || forwarded != Some(true) {
        failures.push(format!(
            "image: status {}: {}",
            response.status,
            response.text()
        ));
    }

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The demo as shipped (`binary_documents` not set): binary documents go on
/// unscanned, as documented; text that does not decode is still refused.
#[test]
fn by_default_binary_documents_pass_and_undecodable_text_does_not() {
    let stack =
        Stack::start(StackOptions::demo("pii-documents-default")).unwrap_or_else(|e| panic!("{e}"));
    let pdf = STANDARD.encode(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj");
    let shape = &SHAPES[0];
    let response = post(
        &stack,
        shape.path,
        &shape.body("application/pdf", &pdf),
        &[],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = last_upstream(&stack)["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(sent.contains(&pdf), "{sent}");

    let before = stack.fake.requests().unwrap().len();
    let response = post(
        &stack,
        shape.path,
        &shape.body("text/plain", "bWFpbCBqYW5lQGV4YW1wbGUuY29t!!"),
        &[],
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(
        response.text().contains("invalid_request_error"),
        "{}",
        response.text()
    );
    assert_eq!(
        stack.fake.requests().unwrap().len(),
        before,
        "nothing forwarded"
    );
}
