//! The token-limit stage driven through its module's pipeline with Envoy in
//! memory (`wasm_glue::testing`): admission and 429s in the caller's format
//! with OpenAI's headers, levels, the output each request reserves while it
//! is in flight and what its usage settles, streams whose usage the gateway
//! asks for and hides, cost budgets, global mode and requests refused for
//! their key. Concurrency across workers and SDK back-off need Envoy:
//! tests/harness/tests/limits.rs and budgets.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::rc::Rc;
use std::time::Duration;
use wasm_glue::config::single_stage;
use wasm_glue::testing::{Call, ClientRequest, MemoryHost, Outcome, ProviderResponse};
use wasm_glue::Stages;

fn module(config: Value) -> (Rc<Stages>, MemoryHost) {
    let mut config = config;
    // Estimates (building the exact vocabularies takes seconds unoptimised)
    // and a small store.
    config["counting"] = json!({"mode": "estimate"});
    config["store"] = json!({"slots": 64});
    let stages = single_stage(
        token_limit::NAME,
        config.to_string().as_bytes(),
        token_limit::stage,
    )
    .unwrap();
    let mut host = MemoryHost::default();
    host.start(&stages);
    (Rc::new(stages), host)
}

/// One level, keyed on the client, with these limits.
fn client_limits(limits: Value) -> Value {
    json!({"levels": [{"name": "client", "key": ["client"], "limits": limits}]})
}

/// A POST of `body` to `path` from the client `demo`.
fn from_demo(path: &str, body: &Value) -> ClientRequest {
    ClientRequest::post(path)
        .header("x-client-id", "demo")
        .json(body)
}

fn chat(client: &str, max_tokens: u64) -> ClientRequest {
    ClientRequest::post("/v1/chat/completions")
        .header("x-client-id", client)
        .json(&json!({"model": "gpt-4o-mini", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "Hello there"}]}))
}

fn answer(input: u64, output: u64) -> ProviderResponse {
    ProviderResponse::json(
        200,
        &json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}}),
    )
}

fn number(out: &Outcome, header: &str) -> u64 {
    out.header(header)
        .unwrap_or_else(|| panic!("no {header}: {:?}", out.headers))
        .parse()
        .unwrap()
}

#[test]
fn requests_pass_with_openais_headers_until_the_limit_then_get_a_429() {
    let (stages, mut host) = module(client_limits(json!({"requests_per_minute": 3})));
    for remaining in [2, 1, 0] {
        let out = host.call(&stages, &chat("demo", 16), &answer(5, 1));
        assert_eq!(out.status, Some(200));
        assert_eq!(number(&out, "x-ratelimit-limit-requests"), 3);
        assert_eq!(number(&out, "x-ratelimit-remaining-requests"), remaining);
        assert_eq!(out.fact("llm.ratelimit.key"), Some("client=demo"));
    }
    host.advance(Duration::from_secs(10));
    let out = host.call(&stages, &chat("demo", 16), &answer(5, 1));
    assert!(out.replied && out.upstream.is_none());
    assert_eq!(out.status, Some(429));
    let error = &out.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["type"], "rate_limit_exceeded", "OpenAI's 429 type");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("`client` limits: 3 requests per minute"),
        "{error}"
    );
    assert_eq!(out.header("x-ratelimit-level"), Some("client"));
    let retry_ms = number(&out, "retry-after-ms");
    assert!(retry_ms > 0 && retry_ms <= 60_000, "{retry_ms}");
    assert_eq!(number(&out, "retry-after"), retry_ms.div_ceil(1000));
    assert_eq!(host.counter("llm_gateway.token_limit.rejected"), 1);

    // Another client has its own budget; the window slides on.
    let other = host.call(&stages, &chat("other", 16), &answer(5, 1));
    assert_eq!(other.status, Some(200));
    host.advance(Duration::from_millis(retry_ms));
    let later = host.call(&stages, &chat("demo", 16), &answer(5, 1));
    assert_eq!(later.status, Some(200), "{}", later.text());
}

#[test]
fn a_429_comes_in_the_callers_format() {
    let (stages, mut host) = module(client_limits(json!({"requests_per_minute": 1})));
    let anthropic = from_demo(
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
            "messages": [{"role": "user", "content": "Hi"}]}),
    );
    assert_eq!(
        host.call(&stages, &anthropic, &answer(1, 1)).status,
        Some(200)
    );
    let out = host.call(&stages, &anthropic, &answer(1, 1));
    assert_eq!(out.status, Some(429));
    assert_eq!(out.json()["type"], "error");
    assert_eq!(out.json()["error"]["type"], "rate_limit_error");
    assert!(out.header("retry-after").is_some());

    let gemini = from_demo(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &json!({"contents": [{"parts": [{"text": "Hi"}]}]}),
    );
    let out = host.call(&stages, &gemini, &answer(1, 1));
    assert_eq!(out.status, Some(429));
    assert_eq!(out.json()["error"]["status"], "RESOURCE_EXHAUSTED");
}

#[test]
fn a_request_larger_than_a_whole_window_is_a_400_that_says_so() {
    let (stages, mut host) = module(client_limits(json!({"input_tokens_per_minute": 50})));
    let long = "word ".repeat(500);
    let request = from_demo(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": long}]}),
    );
    let out = host.call(&stages, &request, &answer(1, 1));
    assert_eq!(out.status, Some(400));
    let error = &out.json()["error"];
    assert_eq!(error["code"], "request_too_large_for_limit");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("can never succeed"),
        "{error}"
    );
    let estimate: u64 = out
        .fact("llm.tokens.input_estimated")
        .unwrap()
        .parse()
        .unwrap();
    assert!(estimate > 50, "{estimate}");
}

/// The output a request may produce is reserved while it is in flight, so
/// concurrent requests fill an output limit instead of all passing it; the
/// usage each reports then settles what it holds.
#[test]
fn requests_in_flight_hold_their_expected_output_until_their_usage_settles_it() {
    let (stages, mut host) = module(client_limits(json!({"output_tokens_per_minute": 100})));
    let mut first = Call::start(&stages, &mut host, &chat("demo", 80));
    let mut second = Call::start(&stages, &mut host, &chat("demo", 80));
    assert!(
        !first.replied() && !second.replied(),
        "80, then the 20 left"
    );
    let third = Call::start(&stages, &mut host, &chat("demo", 80));
    assert!(third.replied(), "the window is full of reservations");
    let refused = third.finish(&mut host);
    assert_eq!(refused.status, Some(429));
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100 output tokens per minute"),
        "{}",
        refused.text()
    );

    first.respond(&mut host, &answer(5, 10));
    let out = first.finish(&mut host);
    assert_eq!(
        number(&out, "x-ratelimit-remaining-tokens"),
        20,
        "as the limit stood once it was admitted"
    );
    second.respond(&mut host, &answer(5, 5));
    second.finish(&mut host);
    // 15 used of 100: a request for 80 fits again.
    let out = host.call(&stages, &chat("demo", 80), &answer(5, 1));
    assert_eq!(out.status, Some(200), "{}", out.text());
    assert_eq!(number(&out, "x-ratelimit-remaining-tokens"), 100 - 15 - 80);
}

#[test]
fn an_error_answer_frees_the_expected_output_and_an_abort_keeps_it() {
    let (stages, mut host) = module(client_limits(json!({"output_tokens_per_minute": 100})));
    let failed = host.call(
        &stages,
        &chat("demo", 60),
        &ProviderResponse::json(
            500,
            &json!({"error": {"message": "x", "type": "server_error"}}),
        ),
    );
    assert_eq!(failed.status, Some(500));
    let out = host.call(&stages, &chat("demo", 60), &answer(1, 1));
    assert_eq!(
        number(&out, "x-ratelimit-remaining-tokens"),
        40,
        "only this request's 60 held"
    );
    // An abort before the answer keeps the whole reservation.
    let aborted = Call::start(&stages, &mut host, &chat("demo", 30));
    aborted.finish(&mut host);
    let out = host.call(&stages, &chat("demo", 10), &answer(1, 1));
    assert_eq!(
        number(&out, "x-ratelimit-remaining-tokens"),
        100 - 1 - 30 - 10
    );
}

#[test]
fn every_level_applies_and_a_refusal_names_its_level_and_gives_the_others_back() {
    let config = json!({"levels": [
        {"name": "client", "key": ["client"], "limits": {"requests_per_minute": 3}},
        {"name": "agent", "key": ["client", {"header": "x-agent-id"}], "limits": {"requests_per_minute": 2}}
    ]});
    let (stages, mut host) = module(config);
    let as_agent = |agent: &str| chat("demo", 8).header("x-agent-id", agent);
    for _ in 0..2 {
        assert_eq!(
            host.call(&stages, &as_agent("a"), &answer(1, 1)).status,
            Some(200)
        );
    }
    let out = host.call(&stages, &as_agent("a"), &answer(1, 1));
    assert_eq!(out.status, Some(429));
    assert_eq!(out.header("x-ratelimit-level"), Some("agent"));
    assert_eq!(
        out.fact("llm.ratelimit.key"),
        Some("client=demo;agent=demo|a")
    );
    // The client level gave back what it reserved for the refused request,
    // so it has room for one more: another agent's.
    let out = host.call(&stages, &as_agent("b"), &answer(1, 1));
    assert_eq!(out.status, Some(200), "{}", out.text());
    assert_eq!(number(&out, "x-ratelimit-remaining-requests"), 0);
    // Without an agent id: the agent's own "none" bucket, but the client's
    // cap holds.
    let without = host.call(&stages, &chat("demo", 8), &answer(1, 1));
    assert_eq!(without.status, Some(429));
    assert_eq!(without.header("x-ratelimit-level"), Some("client"));
    assert_eq!(
        without.fact("llm.ratelimit.key"),
        Some("client=demo;agent=demo|%none")
    );
}

/// A level keyed on `team` caps the clients of a team together; a client
/// without a team gets the level's missing-part behaviour: its own "none"
/// bucket, or a 403 under `missing_key: reject`.
#[test]
fn clients_of_one_team_share_its_cap() {
    let levels = |missing: &str| {
        json!({"levels": [{"key": ["team"], "missing_key": missing, "limits": {"requests_per_minute": 2}}],
            "teams": {"blue": {"clients": ["alice", "bob"]}, "red": {"clients": ["carol"]}}})
    };
    let (stages, mut host) = module(levels("placeholder"));
    for client in ["alice", "bob"] {
        let out = host.call(&stages, &chat(client, 8), &answer(1, 1));
        assert_eq!(out.status, Some(200), "{client}: {}", out.text());
        assert_eq!(out.fact("llm.ratelimit.key"), Some("team=blue"));
    }
    let out = host.call(&stages, &chat("alice", 8), &answer(1, 1));
    assert_eq!(
        out.status,
        Some(429),
        "bob's calls count against alice's team"
    );
    assert_eq!(out.header("x-ratelimit-level"), Some("team"));
    assert_eq!(
        host.call(&stages, &chat("carol", 8), &answer(1, 1)).status,
        Some(200),
        "another team"
    );
    for client in ["dave", "erin"] {
        let out = host.call(&stages, &chat(client, 8), &answer(1, 1));
        assert_eq!(out.status, Some(200), "{client}");
        assert_eq!(out.fact("llm.ratelimit.key"), Some("team=%none"));
    }
    assert_eq!(
        host.call(&stages, &chat("dave", 8), &answer(1, 1)).status,
        Some(429),
        "clients without a team share the \"none\" bucket"
    );

    let (stages, mut host) = module(levels("reject"));
    let out = host.call(&stages, &chat("dave", 8), &answer(1, 1));
    assert_eq!(out.status, Some(403), "{}", out.text());
    assert_eq!(out.json()["error"]["code"], "missing_team");
    assert_eq!(
        host.call(&stages, &chat("carol", 8), &answer(1, 1)).status,
        Some(200)
    );
}

#[test]
fn a_request_without_its_key_is_refused_when_the_level_says_so() {
    let config = json!({"levels": [{"name": "team", "key": [{"header": "x-team"}], "missing_key": "reject",
        "limits": {"requests_per_minute": 10}}]});
    let (stages, mut host) = module(config);
    let out = host.call(&stages, &chat("demo", 8), &answer(1, 1));
    assert_eq!(out.status, Some(400));
    assert_eq!(out.json()["error"]["code"], "missing_key_part");
    assert!(out.text().contains("header `x-team`"), "{}", out.text());
    let long = chat("demo", 8).header("x-team", &"t".repeat(300));
    let out = host.call(&stages, &long, &answer(1, 1));
    assert_eq!(out.json()["error"]["code"], "key_too_long");
    let ok = chat("demo", 8).header("x-team", "blue");
    assert_eq!(host.call(&stages, &ok, &answer(1, 1)).status, Some(200));

    let (stages, mut host) = module(
        json!({"levels": [{"key": ["client"], "missing_key": "reject",
        "limits": {"requests_per_minute": 10}}]}),
    );
    let anonymous = ClientRequest::post("/v1/chat/completions")
        .json(&json!({"model": "gpt-4o-mini", "messages": []}));
    let out = host.call(&stages, &anonymous, &answer(1, 1));
    assert_eq!(out.status, Some(401));
    assert_eq!(out.json()["error"]["code"], "missing_client_key");
}

#[test]
fn a_cost_budget_refuses_unpriced_models_and_charges_priced_ones() {
    let (stages, mut host) = module(client_limits(json!({"cost_usd_per_month": 1})));
    let unpriced = from_demo(
        "/v1/chat/completions",
        &json!({"model": "house-model", "messages": [{"role": "user", "content": "Hi"}]}),
    );
    let out = host.call(&stages, &unpriced, &answer(1, 1));
    assert_eq!(out.status, Some(400));
    assert_eq!(out.json()["error"]["code"], "model_not_priced");
    assert_eq!(out.json()["error"]["param"], "model");
    // gpt-4o-mini: $0.15 and $0.60 per million tokens. A month's dollar is
    // gone after a large enough answer.
    let out = host.call(&stages, &chat("demo", 8), &answer(1_000_000, 1_500_000));
    assert_eq!(out.status, Some(200));
    let out = host.call(&stages, &chat("demo", 8), &answer(1, 1));
    assert_eq!(out.status, Some(429));
    assert!(
        out.text().contains("a cost budget of $1.00 per 30 days"),
        "{}",
        out.text()
    );

    let priced = json!({"levels": [{"key": ["client"], "limits": {"cost_usd_per_month": 1}}],
        "unpriced_models": {"input": 1, "output": 1}});
    let (stages, mut host) = module(priced);
    assert_eq!(
        host.call(&stages, &unpriced, &answer(1, 1)).status,
        Some(200)
    );
}

#[test]
fn a_stream_gets_its_usage_asked_for_hidden_from_the_client_and_charged() {
    let (stages, mut host) = module(client_limits(json!({"total_tokens_per_day": 1000})));
    let request = from_demo(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o-mini", "stream": true, "max_tokens": 50,
            "messages": [{"role": "user", "content": "Hello there"}]}),
    );
    let content = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    );
    let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":200,\"total_tokens\":500}}\n\n";
    let sse = format!("{content}{usage}data: [DONE]\n\n");
    let out = host.call(&stages, &request, &ProviderResponse::sse(&sse).in_chunks(9));
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(sent.json()["stream_options"]["include_usage"], true);
    assert_eq!(sent.header("content-length"), None);
    assert_eq!(
        out.text(),
        format!("{content}data: [DONE]\n\n"),
        "the usage chunk the client did not ask for is removed"
    );
    let hidden: Value = serde_json::from_str(out.fact("llm.usage.stream").unwrap()).unwrap();
    assert_eq!(hidden["input"], 300);
    assert_eq!(hidden["output"], 200);
    // The next call sees 500 of the 1000 spent.
    let next = host.call(&stages, &chat("demo", 8), &answer(1, 1));
    let estimate: u64 = next
        .fact("llm.tokens.input_estimated")
        .unwrap()
        .parse()
        .unwrap();
    assert!(number(&next, "x-ratelimit-remaining-tokens") <= 500 - estimate);

    // A client that asks for the usage keeps it.
    let asking = from_demo(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Hi"}]}),
    );
    let out = host.call(&stages, &asking, &ProviderResponse::sse(&sse));
    assert_eq!(out.text(), sse);
    assert_eq!(out.fact("llm.usage.stream"), None);
}

#[test]
fn a_stream_without_usage_is_charged_its_counted_output() {
    let (stages, mut host) = module(client_limits(json!({"output_tokens_per_minute": 10_000})));
    let request = from_demo(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o-mini", "stream": true, "max_tokens": 5000,
            "messages": [{"role": "user", "content": "Tell me a story"}]}),
    );
    let words = "once upon a time ".repeat(50);
    let sse = format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"choices": [{"index": 0, "delta": {"content": words}}]})
    );
    host.call(&stages, &request, &ProviderResponse::sse(&sse));
    assert_eq!(host.counter("llm_gateway.token_limit.streams_counted"), 1);
    let next = host.call(&stages, &chat("demo", 1), &answer(1, 1));
    let used = 10_000 - number(&next, "x-ratelimit-remaining-tokens") - 1;
    assert!(
        (100..1000).contains(&used),
        "the story's output, counted: {used}"
    );
}

#[test]
fn global_mode_publishes_what_to_charge_and_limits_nothing_itself() {
    let (stages, mut host) = module(json!({"key": [{"header": "x-agent-id"}],
        "global": {"domain": "llm-gateway", "on_failure": "open"}}));
    let store = host.shared.clone();
    for _ in 0..3 {
        let out = host.call(&stages, &chat("demo", 8), &answer(40, 7));
        assert_eq!(out.status, Some(200));
        let admission: u64 = out.fact("llm.tokens.admission").unwrap().parse().unwrap();
        assert!(admission >= 1);
        let charged: u64 = out.fact("llm.tokens.output").unwrap().parse().unwrap();
        assert_eq!(charged, 7 + 40u64.saturating_sub(admission));
        assert_eq!(out.header("x-ratelimit-limit-requests"), None);
    }
    assert_eq!(host.shared, store, "no local counts");
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    let err = single_stage(
        token_limit::NAME,
        br#"{"levels": [{"key": ["client"], "limits": {"requests_per_minut": 5}}]}"#,
        token_limit::stage,
    )
    .err()
    .unwrap();
    assert!(
        err.field.starts_with("levels[0].limits"),
        "{}: {err}",
        err.field
    );
}
