//! Bad and unusual input through a real Envoy with every filter on: each
//! gets a clear answer in the caller's format or passes as documented, and
//! no wasm VM ever fails (a failed VM would answer 503 to everything after).

use gateway_harness::client::{last_upstream, post};
use gateway_harness::curl::{curl, post_json, DEMO_AUTH};
use gateway_harness::{Stack, StackOptions};
use serde_json::Value;

fn start(name: &str) -> Stack {
    Stack::start(StackOptions::demo(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// A well-formed call still works: the VMs survived what came before.
fn still_serving(stack: &Stack) {
    let ok = post(
        stack,
        "/v1/chat/completions",
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#,
        &[],
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let log = stack.envoy.log();
    assert!(
        !log.contains("panicked") && !log.contains("Wasm VM failed"),
        "a VM failed: {log}"
    );
}

#[test]
fn malformed_bodies_get_400s_in_the_callers_format() {
    let stack = start("bad-bodies");
    let url = stack.url("/v1/chat/completions");
    // (body, what the error says)
    let cases: [(&[u8], &str); 5] = [
        (b"{\"model\": \"gpt-4o-mini\", \"messages\": [", "invalid_json"),
        (b"[1, 2, 3]", ""),
        (b"\"just a string\"", ""),
        (b"{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe bad utf-8\"}]}", "invalid_json"),
        (b"", ""),
    ];
    for (i, (body, code)) in cases.iter().enumerate() {
        let path = stack.dir.path.join(format!("body-{i}"));
        std::fs::write(&path, body).unwrap();
        let response = post_json(&url, &format!("@{}", path.display()), &[]).unwrap();
        assert_eq!(response.status, 400, "case {i}: {}", response.text());
        let error = &response.json()["error"];
        assert!(
            error["message"].is_string(),
            "case {i}: OpenAI's error shape: {}",
            response.text()
        );
        if !code.is_empty() {
            assert_eq!(error["code"], *code, "case {i}");
        }
    }
    // Nesting deeper than any real request: an error, not a stack overflow.
    let deep = format!("{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"x\",\"extra\":{}{}}}]}}", "[".repeat(100_000), "]".repeat(100_000));
    let path = stack.dir.path.join("deep.json");
    std::fs::write(&path, deep).unwrap();
    let response = post_json(&url, &format!("@{}", path.display()), &[]).unwrap();
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "nothing malformed reaches a provider"
    );
    still_serving(&stack);
}

#[test]
fn unusual_but_valid_requests_pass() {
    let stack = start("bad-unusual");
    let url = stack.url("/v1/chat/completions");
    // 10,000 messages.
    let messages: Vec<Value> = (0..10_000).map(|i| serde_json::json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("turn {i}")})).collect();
    let mut body = serde_json::json!({"model": "gpt-4o-mini", "messages": messages});
    body["messages"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"role": "user", "content": "last"}));
    // Unknown fields are kept, not dropped.
    body["x_vendor_option"] = serde_json::json!({"keep": true});
    let path = stack.dir.path.join("many.json");
    std::fs::write(&path, body.to_string()).unwrap();
    let response = post_json(&url, &format!("@{}", path.display()), &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = last_upstream(&stack);
    assert_eq!(
        sent["body_len"].as_u64().unwrap() as usize,
        body.to_string().len(),
        "the body goes up as it came"
    );
    // HTTP/2 without TLS, and a chunked HTTP/1.1 upload.
    let chat = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let h2 = curl(&[
        &url,
        "--http2-prior-knowledge",
        "-H",
        DEMO_AUTH,
        "-H",
        "content-type: application/json",
        "--data-binary",
        chat,
    ])
    .unwrap();
    assert_eq!(h2.status, 200, "{}", h2.text());
    let chunked = curl(&[
        &url,
        "-H",
        DEMO_AUTH,
        "-H",
        "content-type: application/json",
        "-H",
        "transfer-encoding: chunked",
        "--data-binary",
        chat,
    ])
    .unwrap();
    assert_eq!(chunked.status, 200, "{}", chunked.text());
    // No content-type at all: the API is told by the path.
    let untyped = curl(&[&url, "-H", DEMO_AUTH, "--data-binary", chat]).unwrap();
    assert_eq!(untyped.status, 200, "{}", untyped.text());
    still_serving(&stack);
}

/// A client that uploads slowly (16 KB at 4 KB/s): Envoy buffers the body
/// until it is complete and the filters see it once, whole.
#[test]
fn a_slow_upload_is_read_whole() {
    let stack = start("bad-slow-upload");
    let email = "jane.doe@example.com";
    let text = format!(
        "Mail {email} this: {}",
        "slowly uploaded words ".repeat(700)
    );
    let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}).to_string();
    let path = stack.dir.path.join("slow.json");
    std::fs::write(&path, &body).unwrap();
    let started = std::time::Instant::now();
    let response = post(
        &stack,
        "/v1/chat/completions",
        &format!("@{}", path.display()),
        &["--limit-rate", "4k"],
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "the upload was slow"
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = last_upstream(&stack);
    let sent_body = sent["body"].as_str().unwrap();
    assert!(
        !sent_body.contains(email) && sent_body.contains("slowly uploaded words"),
        "scanned whole"
    );
    still_serving(&stack);
}
