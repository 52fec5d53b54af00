//! Token limits through a real Envoy: the demo's `demo-limited` agent has
//! 2,000 input tokens per minute, which a handful of 1 KB requests exhaust.

use gateway_harness::curl::post_json;
use gateway_harness::{Stack, StackOptions};

/// A chat request of about 1 KB (roughly 230 tokens).
fn kilobyte_chat(model: &str) -> String {
    let words = "The quick brown fox jumps over the lazy dog. ".repeat(22);
    format!(r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"{words}"}}]}}"#)
}

#[test]
fn a_limited_agent_gets_429s_in_its_format_with_retry_after() {
    let stack = Stack::start(StackOptions::demo("limits-demo")).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let limited = ["-H", "x-agent-id: demo-limited"];
    let mut admitted = 0;
    let rejection = loop {
        let response = post_json(&url, &kilobyte_chat("gpt-4o-mini"), &limited).unwrap();
        match response.status {
            200 => {
                admitted += 1;
                assert_eq!(response.header("x-ratelimit-limit-tokens"), Some("2000"));
                assert!(response.header("x-ratelimit-remaining-tokens").is_some());
                assert!(response.header("x-ratelimit-limit-requests").is_some());
                assert!(admitted < 20, "the limit never applied");
            }
            429 => break response,
            other => panic!("unexpected {other}: {}", response.text()),
        }
    };
    assert!((3..=9).contains(&admitted), "2,000 tokens admit a handful of 1 KB requests, got {admitted}");
    let error = rejection.json();
    assert_eq!(error["error"]["type"], "rate_limit_exceeded");
    let retry_after: u64 = rejection.header("retry-after").unwrap().parse().unwrap();
    // A minute's charges are forgotten up to one sub-bucket (6 s) late, never early.
    assert!((1..=66).contains(&retry_after), "retry-after {retry_after}: {:?}", rejection.headers);
    assert!(rejection.header("retry-after-ms").is_some());
    assert_eq!(rejection.header("x-ratelimit-remaining-tokens"), Some("0"));
    assert_eq!(stack.fake.requests().unwrap().len(), admitted, "rejected requests never reach a provider");

    // The same key is limited whatever the API; Anthropic callers get their format.
    let anthropic = post_json(&stack.url("/v1/messages"), &kilobyte_chat("claude-sonnet-4-5"), &limited).unwrap();
    assert_eq!(anthropic.status, 429);
    assert_eq!(anthropic.json()["error"]["type"], "rate_limit_error");

    // Other agents are not affected.
    let other = post_json(&url, &kilobyte_chat("gpt-4o-mini"), &["-H", "x-agent-id: someone-else"]).unwrap();
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-ratelimit-limit-tokens"), Some("100000000"));
}

#[test]
fn a_request_larger_than_the_whole_limit_can_never_succeed() {
    let stack = Stack::start(StackOptions::demo("limits-never")).unwrap_or_else(|e| panic!("{e}"));
    // About 3,000 tokens: more than the 2,000 the whole minute allows.
    let huge = kilobyte_chat("gpt-4o-mini").replace("quick", &"quick ".repeat(120));
    let response = post_json(&stack.url("/v1/chat/completions"), &huge, &["-H", "x-agent-id: demo-limited"]).unwrap();
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.json()["error"]["code"], "request_too_large_for_limit");
    assert!(response.json()["error"]["message"].as_str().unwrap().contains("can never succeed"));
    assert!(response.header("retry-after").is_none(), "retrying cannot help");
}
