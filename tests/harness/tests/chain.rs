//! Every filter of the bundle loaded into a real Envoy and in the path of
//! every API the demo serves, as the bundle and as four separate modules.

use gateway_harness::client::post;
use gateway_harness::curl::{curl, DEMO_AUTH};
use gateway_harness::{Layout, Stack, StackOptions};

/// The stages and the requests each is expected to have seen.
const STAGES: [&str; 5] = [
    "audit",
    "pii_scan",
    "token_limit",
    "provider_route",
    "provider_translate",
];

fn start(name: &str, layout: Layout) -> Stack {
    let mut options = StackOptions::demo(name);
    options.layout = layout;
    Stack::start(options).unwrap_or_else(|e| panic!("{e}"))
}

/// One request per API family in its provider's own format (so nothing
/// needs translating), with extra curl args and the path the provider sees.
fn calls() -> Vec<(
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
)> {
    vec![
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
            "/v1/chat/completions",
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
            "/v1/messages",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            r#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}"#,
            &[],
            "/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
            r#"{"messages":[{"role":"user","content":"Hi"}]}"#,
            &["-H", "x-llm-provider: azure"],
            "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
        ),
        (
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":"Hi"}"#,
            &[],
            "/v1/embeddings",
        ),
    ]
}

fn every_api_passes_every_stage(layout: Layout, name: &str) {
    let stack = start(name, layout);
    for (path, body, extra, upstream_path) in calls() {
        let response = post(&stack, path, body, extra);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        let recorded = stack.fake.requests().unwrap();
        let last = recorded
            .last()
            .unwrap_or_else(|| panic!("{path}: nothing reached the provider"));
        assert_eq!(last["path"], upstream_path);
        assert_eq!(
            last["body"].as_str(),
            Some(body),
            "{path}: the body must reach the provider unchanged"
        );
    }
    let n = calls().len() as u64;
    for stage in STAGES {
        let counter = format!("wasmcustom.llm_gateway.{stage}.requests");
        assert_eq!(stack.envoy.stat(&counter).unwrap(), Some(n), "{counter}");
    }
    assert!(
        !stack.envoy.log().contains("panicked"),
        "a wasm VM panicked:\n{}",
        stack.envoy.log()
    );
}

#[test]
fn bundle_puts_every_filter_in_the_path_of_every_api() {
    every_api_passes_every_stage(Layout::Bundle, "chain-bundle");
}

#[test]
fn separate_modules_put_every_filter_in_the_path_of_every_api() {
    every_api_passes_every_stage(Layout::Separate, "chain-separate");
}

#[test]
fn streams_pass_through_event_by_event() {
    let stack = start("chain-stream", Layout::Bundle);
    let body = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &["-N"]);
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/event-stream"));
    let text = response.text();
    let events = response.sse_data();
    assert!(events.len() >= 3, "{text}");
    assert!(
        events.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0,
        "usage chunk: {text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[test]
fn bad_requests_get_errors_in_the_callers_format() {
    let stack = start("chain-errors", Layout::Bundle);
    let openai = post(&stack, "/v1/chat/completions", "{not json", &[]);
    assert_eq!(openai.status, 400);
    assert_eq!(openai.json()["error"]["code"], "invalid_json");

    let anthropic = post(&stack, "/v1/messages", "[]", &[]);
    assert_eq!(anthropic.status, 400);
    assert_eq!(anthropic.json()["type"], "error");
    assert_eq!(anthropic.json()["error"]["type"], "invalid_request_error");

    let gemini = post(
        &stack,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "",
        &[],
    );
    assert_eq!(gemini.status, 400);
    assert_eq!(gemini.json()["error"]["status"], "INVALID_ARGUMENT");

    // A path the bundle does not route matches no route.
    let unknown = curl(&[&stack.url("/v2/unknown"), "-H", DEMO_AUTH]).unwrap();
    assert_eq!(unknown.status, 404);
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "nothing may reach a provider"
    );
}

#[test]
fn the_demo_directory_can_be_reused_run_after_run() {
    // `make demo` keeps its directory; a second run must not read the first
    // run's files (a stale fake-provider address gave 503s once).
    let dir = gateway_harness::paths::root()
        .join(format!("target/test-runs/kept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for run in 0..2 {
        let mut options = StackOptions::demo("kept");
        options.keep_dir = Some(dir.clone());
        let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
        let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
        let response = post(&stack, "/v1/chat/completions", body, &[]);
        assert_eq!(response.status, 200, "run {run}: {}", response.text());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
