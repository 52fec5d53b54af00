//! Bodies up to the 32 MiB limit pass through every filter; larger ones get a
//! clean 413 in the caller's format, never a hang.

use gateway_harness::client::post;
use gateway_harness::curl::post_json;
use gateway_harness::{Layout, Stack, StackOptions};
use std::path::PathBuf;

/// Writes a chat request of about `size` bytes and returns its path.
fn chat_body(stack: &Stack, size: usize) -> (PathBuf, usize) {
    let head = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":""#;
    let tail = r#""}]}"#;
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(size / 45 + 1);
    let body = format!("{head}{}{tail}", &filler[..size - head.len() - tail.len()]);
    let path = stack.dir.path.join(format!("body-{size}.json"));
    std::fs::write(&path, &body).unwrap();
    (path, body.len())
}

/// HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) clients: Envoy buffers
/// and limits their bodies through different code paths.
const PROTOCOLS: [&str; 2] = ["--http1.1", "--http2-prior-knowledge"];

fn sixteen_megabytes_pass_every_filter(layout: Layout, name: &str) {
    let mut options = StackOptions::demo(name);
    options.layout = layout;
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let (path, len) = chat_body(&stack, 16 * 1024 * 1024);
    let expected = sha256(&path);
    for (n, protocol) in PROTOCOLS.into_iter().enumerate() {
        let response = post(
            &stack,
            "/v1/chat/completions",
            &format!("@{}", path.display()),
            &[protocol],
        );
        assert_eq!(response.status, 200, "{protocol}: {}", response.text());
        let recorded = stack.fake.requests().unwrap();
        assert_eq!(recorded.len(), n + 1, "{protocol}");
        assert_eq!(recorded[n]["body_len"], len as u64, "{protocol}");
        assert_eq!(
            recorded[n]["body_sha256"].as_str(),
            Some(expected.as_str()),
            "{protocol}"
        );
    }
    // Every downstream stage parsed them (the translate stage streams them).
    for stage in ["audit", "pii_scan", "token_limit", "provider_route"] {
        let counter = format!("wasmcustom.llm_gateway.{stage}.requests");
        assert_eq!(stack.envoy.stat(&counter).unwrap(), Some(2), "{counter}");
    }

    let (path, _) = chat_body(&stack, 33 * 1024 * 1024);
    let url = stack.url("/v1/chat/completions");
    // The bundle reads the upload to its end and then answers, so HTTP/2
    // clients read the 413 too rather than a reset stream.
    for protocol in PROTOCOLS {
        let response = post_json(&url, &format!("@{}", path.display()), &[protocol])
            .unwrap_or_else(|e| panic!("{protocol}: {e}"));
        assert_eq!(response.status, 413, "{protocol}");
        assert_eq!(
            response.json()["error"]["code"],
            "request_too_large",
            "{protocol}"
        );
    }
    assert_eq!(
        stack.fake.requests().unwrap().len(),
        2,
        "an oversized request must not reach a provider"
    );
}

/// A 16 MB response (the fake provider answers with that many words) comes
/// back through every filter whole.
fn sixteen_megabyte_response_passes(layout: Layout, name: &str) {
    let mut options = StackOptions::demo(name);
    options.layout = layout;
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a lot"}]}"#;
    let response = post(
        &stack,
        "/v1/chat/completions",
        body,
        &["-H", "x-fake-reply-words: 2800000"],
    );
    assert_eq!(response.status, 200);
    assert!(
        response.body.len() > 16 * 1024 * 1024,
        "{} bytes",
        response.body.len()
    );
    let reply = response.json();
    assert_eq!(reply["usage"]["completion_tokens"], 2_800_000);
}

fn sha256(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn sixteen_megabytes_pass_the_bundle() {
    sixteen_megabytes_pass_every_filter(Layout::Bundle, "large-bundle");
}

#[test]
fn sixteen_megabytes_pass_the_separate_modules() {
    sixteen_megabytes_pass_every_filter(Layout::Separate, "large-separate");
}

#[test]
fn a_sixteen_megabyte_response_passes_the_bundle() {
    sixteen_megabyte_response_passes(Layout::Bundle, "large-response-bundle");
}

#[test]
fn a_sixteen_megabyte_response_passes_the_separate_modules() {
    sixteen_megabyte_response_passes(Layout::Separate, "large-response-separate");
}
