//! Token limits through a real Envoy: the demo's `demo-limited` agent has
//! 2,000 input tokens per minute, which a handful of 1 KB requests exhaust.

use gateway_harness::client::{post, until_refused};
use gateway_harness::curl::post_json;
use gateway_harness::{Stack, StackOptions};
use std::time::{Duration, Instant};

/// A chat request of about 1 KB (roughly 230 tokens).
fn kilobyte_chat(model: &str) -> String {
    let words = "The quick brown fox jumps over the lazy dog. ".repeat(22);
    format!(
        r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"{words}"}}]}}"#
    )
}

/// A streamed chat request that does not ask for the usage chunk.
const STREAMED_CHAT: &str =
    r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;

#[test]
fn a_limited_agent_gets_429s_in_its_format_with_retry_after() {
    let stack = Stack::start(StackOptions::demo("limits-demo")).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let limited = ["-H", "x-agent-id: demo-limited"];
    let (admitted, rejection) = until_refused(20, "the limit never applied", |_| {
        post_json(&url, &kilobyte_chat("gpt-4o-mini"), &limited).unwrap()
    });
    let remaining = |r: &gateway_harness::curl::Response| -> u64 {
        r.header("x-ratelimit-remaining-tokens")
            .unwrap()
            .parse()
            .unwrap()
    };
    for response in &admitted {
        assert_eq!(response.header("x-ratelimit-limit-tokens"), Some("2000"));
        assert!(response.header("x-ratelimit-remaining-tokens").is_some());
        assert!(response.header("x-ratelimit-limit-requests").is_some());
    }
    let reservation = 2000 - remaining(&admitted[0]);
    let admitted = admitted.len();
    assert!(
        (3..=9).contains(&admitted),
        "2,000 tokens admit a handful of 1 KB requests, got {admitted}"
    );
    let error = rejection.json();
    assert_eq!(error["error"]["type"], "rate_limit_exceeded");
    let retry_after: u64 = rejection.header("retry-after").unwrap().parse().unwrap();
    // A minute's charges are forgotten up to one sub-bucket (6 s) late, never early.
    assert!(
        (1..=66).contains(&retry_after),
        "retry-after {retry_after}: {:?}",
        rejection.headers
    );
    assert!(rejection.header("retry-after-ms").is_some());
    // Refused because the request no longer fits: fewer tokens remain than
    // one request reserves (what the first admission took from 2,000).
    assert!(
        remaining(&rejection) < reservation,
        "{} tokens remain, a request reserves {reservation}",
        remaining(&rejection)
    );
    assert_eq!(
        stack.fake.requests().unwrap().len(),
        admitted,
        "rejected requests never reach a provider"
    );

    // The same key is limited whatever the API; Anthropic callers get their format.
    let anthropic = post(
        &stack,
        "/v1/messages",
        &kilobyte_chat("claude-sonnet-4-5"),
        &limited,
    );
    assert_eq!(anthropic.status, 429);
    assert_eq!(anthropic.json()["error"]["type"], "rate_limit_error");

    // Other agents are not affected.
    let other = post_json(
        &url,
        &kilobyte_chat("gpt-4o-mini"),
        &["-H", "x-agent-id: someone-else"],
    )
    .unwrap();
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-ratelimit-limit-tokens"), Some("100000000"));
}

/// OpenAI sends its own `x-ratelimit-*` headers (the organisation's limits);
/// the client sees the gateway's instead, each once. (The gateway adds a
/// header the response does not have and replaces one it has: both paths.)
#[test]
fn the_gateway_rate_limit_headers_replace_the_providers() {
    let stack =
        Stack::start(StackOptions::demo("limits-headers")).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let names = [
        "limit-requests",
        "remaining-requests",
        "reset-requests",
        "limit-tokens",
        "remaining-tokens",
        "reset-tokens",
    ];
    for provider_sends_them in [false, true] {
        let mut extra = vec!["-H", "x-agent-id: demo-limited"];
        if provider_sends_them {
            extra.extend(["-H", "x-fake-ratelimit-headers: 1"]);
        }
        let response = post_json(&url, &kilobyte_chat("gpt-4o-mini"), &extra).unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        for name in names {
            let name = format!("x-ratelimit-{name}");
            let values: Vec<&str> = response
                .headers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(
                values.len(),
                1,
                "{name} once (provider sends it: {provider_sends_them}): {:?}",
                response.headers
            );
        }
        assert_eq!(
            response.header("x-ratelimit-limit-tokens"),
            Some("2000"),
            "the gateway's limit, not the provider's 4000000"
        );
        assert_eq!(response.header("x-ratelimit-limit-requests"), Some("60"));
    }
}

#[test]
fn a_request_larger_than_the_whole_limit_can_never_succeed() {
    let stack = Stack::start(StackOptions::demo("limits-never")).unwrap_or_else(|e| panic!("{e}"));
    // About 3,000 tokens: more than the 2,000 the whole minute allows.
    let huge = kilobyte_chat("gpt-4o-mini").replace("quick", &"quick ".repeat(120));
    let response = post(
        &stack,
        "/v1/chat/completions",
        &huge,
        &["-H", "x-agent-id: demo-limited"],
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(
        response.json()["error"]["code"],
        "request_too_large_for_limit"
    );
    assert!(response.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("can never succeed"));
    assert!(
        response.header("retry-after").is_none(),
        "retrying cannot help"
    );
}

/// The demo with extra per-key limits: `out-*` agents may receive 20 output
/// tokens a minute, `budget-*` agents may spend $0.0001 a month, and
/// `burst-*` agents may send 10,000 input tokens a minute.
fn start_with_limits(name: &str) -> (gateway_harness::RunDir, Stack) {
    start_with_limits_counting(name, "auto")
}

/// `start_with_limits` with the token counting `mode` of the filter.
fn start_with_limits_counting(name: &str, mode: &str) -> (gateway_harness::RunDir, Stack) {
    let dir = gateway_harness::RunDir::new(&format!("{name}-filters")).unwrap();
    let options = StackOptions::demo_with_filters(name, &dir, |filters| {
        filters["token_limit"]["counting"] = serde_json::json!({"mode": mode});
        let overrides = filters["token_limit"]["levels"][1]["overrides"]
            .as_array_mut()
            .unwrap();
        overrides.push(
            serde_json::json!({"key": "*|out-*", "limits": {"output_tokens_per_minute": 20}}),
        );
        overrides.push(
            serde_json::json!({"key": "*|budget-*", "limits": {"cost_usd_per_month": 0.0001}}),
        );
        overrides.push(
            serde_json::json!({"key": "*|burst-*", "limits": {"input_tokens_per_minute": 10000}}),
        );
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    (dir, stack)
}

/// Output tokens are charged from each provider's reported usage, streams
/// included: two streamed answers of 10 words use up 20 output tokens, so
/// the third request of the agent is refused.
#[test]
fn streamed_usage_is_charged_for_every_provider_format() {
    let (_dir, stack) = start_with_limits("limits-streams");
    let openai_no_usage = STREAMED_CHAT;
    let cases = [
        ("/v1/chat/completions", openai_no_usage.to_owned()),
        ("/v1/chat/completions", openai_no_usage.replace("gpt-4o-mini", "claude-sonnet-4-5")),
        ("/v1/chat/completions", openai_no_usage.replace("gpt-4o-mini", "gemini-2.5-flash")),
        ("/v1/chat/completions", openai_no_usage.replace("gpt-4o-mini", "gpt-4o-mini-azure")),
        ("/v1/messages", r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#.to_owned()),
    ];
    for (i, (path, body)) in cases.iter().enumerate() {
        let agent = format!("x-agent-id: out-{i}");
        let args = ["-N", "-H", &agent, "-H", "x-fake-reply-words: 10"];
        for attempt in 0..2 {
            let response = post(&stack, path, body, &args);
            assert_eq!(
                response.status,
                200,
                "{path} {body} #{attempt}: {}",
                response.text()
            );
            if path == &"/v1/chat/completions" {
                // The gateway asked the provider for the usage chunk; the
                // client, which did not, never sees it.
                assert!(
                    !response.text().contains("\"prompt_tokens\""),
                    "{}",
                    response.text()
                );
            }
        }
        let third = post(&stack, path, body, &args);
        assert_eq!(third.status, 429, "{path} {body}: 20 output tokens used");
    }
    let openai = stack
        .fake
        .requests()
        .unwrap()
        .into_iter()
        .find(|r| r["path"] == "/v1/chat/completions")
        .unwrap();
    assert!(
        openai["body"]
            .as_str()
            .unwrap()
            .contains(r#""include_usage":true"#),
        "{openai}"
    );
}

/// A provider that sends no usage in its streams is charged from the text
/// it streamed.
#[test]
fn a_stream_without_usage_is_charged_from_its_text() {
    let (_dir, stack) = start_with_limits("limits-counted");
    let body = STREAMED_CHAT;
    let args = [
        "-N",
        "-H",
        "x-agent-id: out-counted",
        "-H",
        "x-fake-reply-words: 12",
        "-H",
        "x-fake-ignore-stream-options: 1",
    ];
    let first = post(&stack, "/v1/chat/completions", body, &args);
    assert_eq!(first.status, 200);
    let second = post(&stack, "/v1/chat/completions", body, &args);
    assert_eq!(second.status, 200);
    // Two answers of 12 words are about 26 tokens: over the 20 a minute.
    assert_eq!(
        post(&stack, "/v1/chat/completions", body, &args).status,
        429
    );
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.llm_gateway.token_limit.streams_counted")
            .unwrap(),
        Some(2)
    );
}

/// A monthly cost budget is charged what each call cost at the model's
/// price, and a client over it gets a 429 that says so.
#[test]
fn a_cost_budget_stops_a_client_that_spent_it() {
    let (_dir, stack) = start_with_limits("limits-cost");
    // claude-sonnet-4-5 at $3/M input and $15/M output: a 1 KB prompt (about
    // 230 tokens) with a 10-word answer costs about $0.0009, over the whole
    // $0.0001 budget once spent.
    let body = kilobyte_chat("claude-sonnet-4-5");
    let args = ["-H", "x-agent-id: budget-1", "-H", "x-fake-reply-words: 10"];
    let first = post(&stack, "/v1/chat/completions", &body, &args);
    assert_eq!(
        first.status,
        400,
        "the input alone is over the whole budget: {}",
        first.text()
    );
    assert!(
        first.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a cost budget of $0.00 per 30 days"),
        "{}",
        first.text()
    );
    // A short prompt on a cheap model fits; its cost is charged; the budget
    // runs out after a few.
    let cheap = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let args = ["-H", "x-agent-id: budget-2", "-H", "x-fake-reply-words: 50"];
    let (admitted, rejection) = until_refused(50, "the budget never ran out", |_| {
        post(&stack, "/v1/chat/completions", cheap, &args)
    });
    let admitted = admitted.len();
    // Each call: ~9 input at $0.15/M + 50 output at $0.60/M ≈ $0.0000314.
    assert!(
        (2..=4).contains(&admitted),
        "$0.0001 buys about 3 calls, got {admitted}"
    );
    assert!(
        rejection.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cost budget"),
        "{}",
        rejection.text()
    );
}

/// 64 clients at once on one key, on 2 workers: never more admitted than
/// the limit allows (the shared store's compare-and-swap loses no update).
#[test]
fn concurrent_clients_never_get_more_than_the_limit() {
    // Every request reserves the same estimate (~300 tokens with the
    // margin) of the agent's 10,000 a minute, above the fake provider's
    // reported count. (In `auto` mode, requests near the limit reserve
    // their exact tiktoken count, which the fake's word-based usage
    // exceeds; then what the provider reports can pass the limit by that
    // difference, without any update lost.)
    let (_dir, stack) = start_with_limits_counting("limits-concurrent", "estimate");
    let url = stack.url("/v1/chat/completions");
    let body = kilobyte_chat("gpt-4o-mini");
    let responses: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| post_json(&url, &body, &["-H", "x-agent-id: burst-1"]).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let admitted: Vec<_> = responses.iter().filter(|r| r.status == 200).collect();
    let rejected = responses.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        admitted.len() + rejected,
        64,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(rejected > 0, "64 requests are over the limit");
    // Each admitted request was charged its reported input in the end (its
    // reserved estimate while in flight): what was admitted fits.
    let charged: u64 = admitted
        .iter()
        .map(|r| r.json()["usage"]["prompt_tokens"].as_u64().unwrap())
        .sum();
    assert!(
        charged <= 10_000,
        "{} admitted, {charged} input tokens charged of 10,000",
        admitted.len()
    );
    // And no fewer than the estimates leave room for: reservations were
    // never lost or doubled.
    let estimate = estimate_of(&stack, &body);
    let reported = admitted[0].json()["usage"]["prompt_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        estimate >= reported,
        "the premise: each reservation ({estimate}) covers what is reported ({reported})"
    );
    assert!(
        admitted.len() as u64 >= 10_000 / estimate,
        "{} admitted at {estimate} tokens each",
        admitted.len()
    );
}

/// The admission count of `body` for a fresh key (from the audit fact the
/// token-limit stage publishes, via the response's rate-limit headers).
fn estimate_of(stack: &Stack, body: &str) -> u64 {
    let response = post(
        stack,
        "/v1/chat/completions",
        body,
        &["-H", "x-agent-id: burst-probe"],
    );
    let remaining: u64 = response
        .header("x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    10_000 - remaining
}

/// The vocabularies are built from a timer right after the configuration is
/// loaded, in every VM (both workers' included), before any traffic: no
/// request waits for them.
#[test]
fn vocabularies_are_built_at_start_before_any_request() {
    let stack = Stack::start(StackOptions::demo("limits-warm")).unwrap_or_else(|e| panic!("{e}"));
    let builds = || {
        stack
            .envoy
            .log()
            .matches("o200k_base and cl100k_base vocabularies built in")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while builds() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        builds() >= 2,
        "one build per worker VM at least: {}",
        stack.envoy.log()
    );
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "no request was sent"
    );
}

/// `GET /v1/gateway/usage` answers the calling client with its own limits
/// and what it used of them; another client naming the same agent reads its
/// own buckets, and a caller without a key gets nothing.
#[test]
fn each_client_reads_its_own_usage_and_no_one_elses() {
    use gateway_harness::curl::curl;
    let stack = Stack::start(StackOptions::demo("limits-usage")).unwrap_or_else(|e| panic!("{e}"));
    let usage_url = stack.url("/v1/gateway/usage");
    let agent = ["-H", "x-agent-id: demo-limited"];
    let chat = post_json(
        &stack.url("/v1/chat/completions"),
        &kilobyte_chat("gpt-4o-mini"),
        &agent,
    )
    .unwrap();
    assert_eq!(chat.status, 200, "{}", chat.text());
    let spent: u64 = 2000
        - chat
            .header("x-ratelimit-remaining-tokens")
            .unwrap()
            .parse::<u64>()
            .unwrap();
    let usage =
        |auth: &str| curl(&[&usage_url, "-H", auth, "-H", "x-agent-id: demo-limited"]).unwrap();
    let own = usage("authorization: Bearer demo-key");
    assert_eq!(own.status, 200, "{}", own.text());
    let own = own.json();
    assert_eq!(own["object"], "gateway.usage");
    let levels = own["levels"].as_array().unwrap();
    let names: Vec<&str> = levels
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["client", "agent"], "{own}");
    let agent_limits = &levels[1]["limits"];
    let tokens = agent_limits
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "input_tokens")
        .unwrap();
    assert_eq!(tokens["limit"], 2000);
    let used = tokens["used"].as_u64().unwrap();
    assert!(
        used > 0 && used <= spent,
        "the call's input is counted ({used} of the {spent} reserved)"
    );
    assert_eq!(tokens["remaining"].as_u64().unwrap(), 2000 - used);
    assert!(tokens["resets_in_ms"].as_u64().unwrap() > 0);
    let requests = levels[0]["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "requests")
        .unwrap();
    assert_eq!(requests["used"], 1);

    // The intern naming the same agent reads its own, untouched buckets.
    let intern = usage("authorization: Bearer demo-intern-key").json();
    assert_eq!(intern["client"], "intern");
    for level in intern["levels"].as_array().unwrap() {
        for limit in level["limits"].as_array().unwrap() {
            assert_eq!(limit["used"], 0, "{intern}");
        }
    }
    let anonymous = curl(&[&usage_url]).unwrap();
    assert_eq!(anonymous.status, 401);
    assert!(!anonymous.text().contains("demo"), "{}", anonymous.text());
    assert!(
        stack.fake.requests().unwrap().len() == 1,
        "usage is answered by the gateway, never a provider"
    );
}
