//! Global token limits through the whole bundle: two gateways (real Envoy,
//! the bundle, `token_limit.global`), each charging one rate-limit service
//! in Redis through Envoy's `ratelimit` filter, share one budget per agent;
//! the 429 comes in the caller's format; with the service down a gateway
//! fails open or closed as configured.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{write_limits, Redis, Service};
use gateway_harness::curl::{post_json, Response};
use gateway_harness::{RunDir, Stack, StackOptions};

/// About 1,000 characters: ~230 tokens, ~300 with the estimate's margin.
fn kilobyte_chat(model: &str) -> String {
    let words = "The quick brown fox jumps over the lazy dog. ".repeat(22);
    format!(
        r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"{words}"}}]}}"#
    )
}

const LIMITS: &str = r#"{"limits": [
  {"name": "tokens-per-agent", "domain": "llm-gateway",
   "descriptor": [{"key": "limit", "value": "tokens"}, {"key": "x-agent-id"}], "max_value": 2000, "seconds": 60},
  {"name": "shared-bucket", "domain": "llm-gateway",
   "descriptor": [{"key": "limit", "value": "tokens"}], "max_value": 1000000000, "seconds": 60}
]}"#;

/// A demo gateway whose token limits are global, charging the service at
/// `grpc` (`127.0.0.1:port`), failing `on_failure` when it is down.
fn gateway(name: &str, dir: &RunDir, grpc: &str, on_failure: &str) -> Stack {
    let options = StackOptions::demo_with_filters(name, dir, |filters| {
        filters["token_limit"] = serde_json::json!({"key": [{"header": "x-agent-id"}], "global": {"on_failure": on_failure}});
    });
    let mut options = options.unwrap_or_else(|e| panic!("{e}"));
    let port = grpc
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    options.vars.insert("RATELIMIT_PORT".into(), port);
    Stack::start(options).unwrap_or_else(|e| panic!("{e}"))
}

fn chat(stack: &Stack, agent: &str) -> Response {
    let header = format!("x-agent-id: {agent}");
    post_json(
        &stack.url("/v1/chat/completions"),
        &kilobyte_chat("gpt-4o-mini"),
        &["-H", &header],
    )
    .unwrap()
}

#[test]
fn two_gateways_share_one_budget_and_fail_as_configured() {
    let dir = RunDir::new("global-bundle").unwrap();
    let redis = Redis::start(&dir.path);
    let limits = write_limits(&dir.path, LIMITS);
    let service = Service::start(&dir.path, "service", &limits, Some(&redis.url()));
    let (dir_a, dir_b, dir_c) = (
        RunDir::new("global-a").unwrap(),
        RunDir::new("global-b").unwrap(),
        RunDir::new("global-c").unwrap(),
    );
    let a = gateway("global-a", &dir_a, &service.grpc, "open");
    let b = gateway("global-b", &dir_b, &service.grpc, "open");
    let closed = gateway("global-c", &dir_c, &service.grpc, "closed");

    // One agent, alternating between the two gateways: the budget is one.
    let mut admitted = [0u32; 2];
    let rejection = loop {
        let turn = (admitted[0] + admitted[1]) as usize % 2;
        let response = chat(if turn == 0 { &a } else { &b }, "global-agent");
        match response.status {
            200 => admitted[turn] += 1,
            429 => break response,
            other => panic!("unexpected {other}: {}", response.text()),
        }
        assert!(
            admitted[0] + admitted[1] < 20,
            "the global limit never applied"
        );
    };
    let total = admitted[0] + admitted[1];
    // Each call is charged its admission count (~300) and its output: 2,000
    // tokens admit a handful, through both gateways.
    assert!((3..=8).contains(&total), "{admitted:?} admitted");
    assert!(admitted[0] > 0 && admitted[1] > 0, "{admitted:?}");
    assert_eq!(
        rejection.json()["error"]["type"],
        "rate_limit_exceeded",
        "{}",
        rejection.text()
    );
    assert!(
        rejection.header("x-ratelimit-reset").is_some(),
        "{:?}",
        rejection.headers
    );
    // The other gateway refuses the agent too, and other agents pass.
    let other = if (total as usize) % 2 == 0 { &b } else { &a };
    assert_eq!(chat(other, "global-agent").status, 429);
    assert_eq!(chat(&a, "another-agent").status, 200);
    let anthropic = post_json(
        &b.url("/v1/messages"),
        &kilobyte_chat("claude-sonnet-4-5"),
        &["-H", "x-agent-id: global-agent"],
    )
    .unwrap();
    assert_eq!(anthropic.status, 429);
    assert_eq!(
        anthropic.json()["error"]["type"],
        "rate_limit_error",
        "Anthropic's format on /v1/messages"
    );

    // The output is charged when the call is done: answers of 1,000 tokens
    // use the 2,000 up after two calls (input alone would admit six).
    let mut admitted_with_output = 0;
    for _ in 0..6 {
        let header = [
            "-H",
            "x-agent-id: verbose-agent",
            "-H",
            "x-fake-reply-words: 1000",
        ];
        let body =
            kilobyte_chat("gpt-4o-mini").replace(r#""max_tokens":16"#, r#""max_tokens":1000"#);
        match post_json(&a.url("/v1/chat/completions"), &body, &header)
            .unwrap()
            .status
        {
            // Envoy charges the output once the call is done, just after
            // the client has its answer: give it that moment.
            200 => {
                admitted_with_output += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            429 => break,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(admitted_with_output, 2, "output tokens are charged");

    // The service goes away: `open` lets requests through, `closed` does not.
    drop(service);
    assert_eq!(chat(&a, "global-agent").status, 200, "fail open");
    assert_eq!(chat(&closed, "fresh-agent").status, 500, "fail closed");
    drop(redis);
}
