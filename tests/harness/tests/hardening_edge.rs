//! What reaches a provider, through a real Envoy with the demo config: only
//! the calls the filters understand, each carrying our key; anything else
//! gets a 404 in the caller's format and never leaves the gateway. A client
//! key revoked by replacing its file is refused without a restart.
//!
//! One Envoy for the whole file, started by the one test that drives it
//! (Envoy and the fake provider die with the thread that started them).

use gateway_harness::client::post;
use gateway_harness::curl::{curl, Response, DEMO_AUTH};
use gateway_harness::secrets::{self, ClientKey};
use gateway_harness::{Stack, StackOptions};
use serde_json::Value;
use std::time::{Duration, Instant};

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}"#;

#[test]
fn only_understood_calls_reach_a_provider_and_revoked_keys_are_refused() {
    let stack =
        Stack::start(StackOptions::demo("hardening-edge")).unwrap_or_else(|e| panic!("{e}"));
    calls_the_filters_do_not_understand_get_a_404_and_reach_no_provider(&stack);
    understood_calls_reach_the_provider_on_its_own_path_only(&stack);
    only_allowed_client_headers_reach_a_provider_on_every_attempt(&stack);
    provider_account_headers_never_reach_the_client(&stack);
    a_refused_provider_key_is_a_gateway_error_that_quotes_nothing(&stack);
    a_revoked_client_key_is_refused_without_a_restart(&stack);
}

/// Client headers that select the gateway's account or features at the
/// provider, or describe the client's machine and network.
const NOT_FORWARDED: [&str; 10] = [
    "openai-organization: org-client",
    "openai-project: proj_client",
    "openai-beta: assistants=v2",
    "anthropic-beta: some-beta-2099-01-01",
    "x-goog-user-project: client-project",
    "cookie: session=client",
    "x-forwarded-for: 203.0.113.9",
    "x-stainless-os: Linux",
    "x-client-request-id: 42",
    "x_client_id: intern",
];

fn with_headers<'a>(mut args: Vec<&'a str>, headers: &[&'a str]) -> Vec<&'a str> {
    for header in headers {
        args.extend(["-H", header]);
    }
    args
}

fn only_allowed_client_headers_reach_a_provider_on_every_attempt(stack: &Stack) {
    // gpt-4o-mini is the demo's fallback chain (OpenAI, Azure OpenAI,
    // Anthropic): the first attempt fails, so two providers see the request.
    stack.fake.clear_requests().unwrap();
    stack
        .fake
        .queue_fault("status=500", 1, "/v1/chat/completions")
        .unwrap();
    let url = stack.url("/v1/chat/completions");
    let base = vec![
        url.as_str(),
        "-H",
        DEMO_AUTH,
        "-H",
        "content-type: application/json",
        "--data-binary",
        CHAT,
    ];
    let response = curl(&with_headers(base, &NOT_FORWARDED)).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let url = stack.url("/v1/messages");
    let base = vec![
        url.as_str(),
        "-H",
        "x-api-key: demo-key",
        "-H",
        "anthropic-version: 2023-06-01",
        "-H",
        "content-type: application/json",
    ];
    let base = [base, vec!["--data-binary", MESSAGES]].concat();
    let response = curl(&with_headers(base, &NOT_FORWARDED)).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let reached = stack.fake.requests().unwrap();
    assert_eq!(
        reached.len(),
        3,
        "two attempts of the chain, and the messages call"
    );
    for sent in &reached {
        let headers = sent["headers"].as_object().unwrap();
        for header in NOT_FORWARDED {
            let name = header.split(':').next().unwrap();
            assert!(
                !headers.contains_key(name),
                "{name} reached {}: {headers:?}",
                sent["path"]
            );
        }
        assert!(
            headers.keys().all(|name| !name.starts_with("x-envoy-")),
            "{headers:?}"
        );
        assert_eq!(headers["content-type"], "application/json");
        assert!(headers["user-agent"].as_str().unwrap().starts_with("curl/"));
    }
    assert_eq!(
        reached[2]["headers"]["anthropic-version"], "2023-06-01",
        "what the API needs passes"
    );
}

fn provider_account_headers_never_reach_the_client(stack: &Stack) {
    for (path, body) in [("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)] {
        let response = post(stack, path, body, &["-H", "x-fake-account-headers: 1"]);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        for name in [
            "openai-organization",
            "openai-project",
            "anthropic-organization-id",
            "set-cookie",
        ] {
            assert_eq!(response.header(name), None, "{path}: {name}");
        }
    }
}

fn a_refused_provider_key_is_a_gateway_error_that_quotes_nothing(stack: &Stack) {
    // The provider's own message quotes the key it refused (`sk-d...enai`).
    for (status, path, body, auth) in [
        ("401", "/v1/chat/completions", CHAT, DEMO_AUTH),
        ("403", "/v1/messages", MESSAGES, "x-api-key: demo-key"),
    ] {
        let url = stack.url(path);
        let fault = format!("x-fake-fault: status={status}");
        let response = curl(&[
            &url,
            "-H",
            auth,
            "-H",
            &fault,
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ])
        .unwrap();
        assert_eq!(response.status, 502, "{path}: {}", response.text());
        let text = response.text();
        assert!(
            !text.contains("sk-d") && !text.contains("incorrect API key"),
            "{path}: {text}"
        );
        let json = response.json();
        match path {
            "/v1/messages" => assert_eq!(json["error"]["type"], "api_error", "{text}"),
            _ => assert_eq!(
                json["error"]["code"], "provider_credentials_refused",
                "{text}"
            ),
        }
    }
}

fn call(stack: &Stack, method: &str, path: &str, body: &str) -> Response {
    let url = stack.url(path);
    let mut args = vec![
        "-X",
        method,
        url.as_str(),
        "-H",
        DEMO_AUTH,
        "-H",
        "content-type: application/json",
        "--path-as-is",
    ];
    if !body.is_empty() {
        args.extend(["--data-binary", body]);
    }
    curl(&args).unwrap_or_else(|e| panic!("{e}"))
}

/// Which error format a 404 is in.
fn dialect(body: &Value) -> &'static str {
    if body["type"] == "error" && body["error"]["type"] == "not_found_error" {
        "anthropic"
    } else if body["error"]["status"] == "NOT_FOUND" && body["error"]["code"] == 404 {
        "gemini"
    } else if body["error"]["code"] == "not_found"
        && body["error"]["type"] == "invalid_request_error"
    {
        "openai"
    } else {
        "unknown"
    }
}

fn calls_the_filters_do_not_understand_get_a_404_and_reach_no_provider(stack: &Stack) {
    stack.fake.clear_requests().unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("POST", "/v1/files", CHAT, "openai"),
        ("GET", "/v1/files", "", "openai"),
        ("GET", "/v1/models/gpt-4o-mini", "", "openai"),
        ("DELETE", "/v1/chat/completions", "", "openai"),
        ("GET", "/v1/chat/completions", "", "openai"),
        ("PUT", "/v1/chat/completions", CHAT, "openai"),
        ("POST", "/v1/threads", CHAT, "openai"),
        (
            "POST",
            "/v1/chat/completions/../../v1/files",
            CHAT,
            "openai",
        ),
        (
            "POST",
            "/v1/chat/completions/%2e%2e/%2e%2e/v1/files",
            CHAT,
            "openai",
        ),
        ("POST", "/V1/chat/completions", CHAT, "openai"),
        ("POST", "/v1/Chat/Completions", CHAT, "openai"),
        ("POST", "/v1/chat/completionsx", CHAT, "openai"),
        ("POST", "/v1/audio/speech", CHAT, "openai"),
        (
            "POST",
            "/openai/deployments/gpt-4o-mini/images/generations",
            CHAT,
            "openai",
        ),
        ("POST", "/v1/messages/batches", MESSAGES, "anthropic"),
        ("POST", "/v1/messages/count_tokens", MESSAGES, "anthropic"),
        ("GET", "/v1/messages", "", "anthropic"),
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:countTokens",
            r#"{"contents":[]}"#,
            "gemini",
        ),
        (
            "POST",
            "/v1beta/cachedContents",
            r#"{"contents":[]}"#,
            "gemini",
        ),
        ("GET", "/v1beta/models/gemini-2.5-flash", "", "gemini"),
    ];
    for (method, path, body, expected) in cases {
        let response = call(stack, method, path, body);
        assert_eq!(response.status, 404, "{method} {path}: {}", response.text());
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
        assert_eq!(
            dialect(&response.json()),
            *expected,
            "{method} {path}: {}",
            response.text()
        );
    }
    // Envoy's own rejections are in the Gemini format for Gemini paths too.
    let url = stack.url("/v1beta/models/gemini-2.5-flash:generateContent");
    let wrong_key = curl(&[
        &url,
        "-H",
        "x-goog-api-key: wrong",
        "--data-binary",
        r#"{"contents":[]}"#,
    ])
    .unwrap();
    assert_eq!(wrong_key.status, 401);
    assert_eq!(
        wrong_key.json()["error"]["status"],
        "UNAUTHENTICATED",
        "{}",
        wrong_key.text()
    );
    let reached = stack.fake.requests().unwrap();
    assert!(
        reached.is_empty(),
        "nothing may reach a provider: {reached:?}"
    );
}

fn understood_calls_reach_the_provider_on_its_own_path_only(stack: &Stack) {
    // Spellings Envoy normalises to a call the filters understand: they are
    // served, and the provider sees its own path (never the client's query).
    for path in [
        "/v1/chat/completions?x=1",
        "/v1//chat/completions",
        "/v1/x/../chat/completions",
        "/v1/chat%2Fcompletions",
    ] {
        stack.fake.clear_requests().unwrap();
        let response = call(stack, "POST", path, CHAT);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        let reached = stack.fake.requests().unwrap();
        assert_eq!(reached.len(), 1, "{path}");
        assert_eq!(reached[0]["path"], "/v1/chat/completions", "{path}");
    }
}

fn a_revoked_client_key_is_refused_without_a_restart(stack: &Stack) {
    let intern = "authorization: Bearer demo-intern-key";
    let ask = || {
        let url = stack.url("/v1/chat/completions");
        curl(&[
            &url,
            "-H",
            intern,
            "-H",
            "content-type: application/json",
            "--data-binary",
            CHAT,
        ])
        .unwrap()
    };
    assert_eq!(ask().status, 200);
    secrets::write_client_keys(
        &stack.secrets_dir(),
        &[ClientKey {
            key: "demo-key",
            client: "demo",
        }],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = ask();
        if response.status == 401 {
            assert_eq!(response.json()["error"]["code"], "invalid_api_key");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked key still works after 5 s: {}",
            response.status
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        post(stack, "/v1/chat/completions", CHAT, &[]).status,
        200,
        "other keys still work"
    );
    secrets::write_client_keys(&stack.secrets_dir(), &secrets::DEMO_CLIENTS).unwrap();
}
