//! Budgets a hostile client cannot get around, through a real Envoy: limits
//! at several levels at once (a client cap that rotating or omitting agent
//! ids cannot multiply), a missing key part that never merges clients, key
//! values bounded, cost budgets that never let a call through free and that
//! charge what the audit records say a call cost, and output reserved at
//! admission so that concurrent answers cannot overshoot an output limit.

use gateway_harness::client::{post, post_as, until_refused};
use gateway_harness::curl::{post_json, Response};
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::{json, Value};
use std::time::Duration;

const INTERN: &str = "authorization: Bearer demo-intern-key";

/// A chat request of about 1 KB (roughly 300 tokens as admission counts it).
fn kilobyte_chat(model: &str) -> String {
    let words = "The quick brown fox jumps over the lazy dog. ".repeat(22);
    format!(
        r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"{words}"}}]}}"#
    )
}

/// The demo stack with `edit` applied to the agent level (`levels[1]`) of
/// the token-limit configuration.
fn start_with_agent_level(name: &str, edit: impl FnOnce(&mut Value)) -> (RunDir, Stack) {
    let dir = RunDir::new(&format!("{name}-filters")).unwrap();
    let options = StackOptions::demo_with_filters(name, &dir, |filters| {
        assert_eq!(
            filters["token_limit"]["levels"][1]["name"], "agent",
            "the demo's second level is per agent"
        );
        edit(&mut filters["token_limit"]["levels"][1]);
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    (dir, stack)
}

/// Adds to a token-limit level an override of `limits` for the keys that
/// match `key`.
fn push_override(level: &mut Value, key: &str, limits: Value) {
    level["overrides"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": key, "limits": limits}));
}

/// The demo's `demo-intern-key` has 5,000 input tokens a minute for the
/// whole client: sending a new `x-agent-id` with every request, or none,
/// does not multiply it. The 429 names the level that refused.
#[test]
fn rotating_or_omitting_agent_ids_hits_the_clients_cap() {
    let stack =
        Stack::start(StackOptions::demo("budgets-rotate")).unwrap_or_else(|e| panic!("{e}"));
    let body = kilobyte_chat("gpt-4o-mini");
    let never = "rotating agent ids multiplied the client's 5,000 tokens a minute";
    let (admitted, rejection) = until_refused(40, never, |n| {
        let agent = format!("x-agent-id: rotating-{n}");
        // Every third request sends no agent id at all.
        let extra: &[&str] = if n % 3 == 2 { &[] } else { &["-H", &agent] };
        post_as(&stack, "/v1/chat/completions", &body, INTERN, extra)
    });
    let admitted = admitted.len();
    assert!(
        (8..=25).contains(&admitted),
        "5,000 tokens admit about 16 requests of ~300, got {admitted}"
    );
    assert_eq!(
        rejection.header("x-ratelimit-level"),
        Some("client"),
        "{:?}",
        rejection.headers
    );
    let message = rejection.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("`client` limits") && message.contains("5000 input tokens per minute"),
        "{message}"
    );
    assert_eq!(rejection.header("x-ratelimit-limit-tokens"), Some("5000"));
    assert!(rejection.header("retry-after").is_some());
    // Anthropic callers read it in their format.
    let anthropic = post_as(
        &stack,
        "/v1/messages",
        &kilobyte_chat("gpt-4o-mini"),
        INTERN,
        &["-H", "x-agent-id: fresh"],
    );
    assert_eq!(anthropic.status, 429, "{}", anthropic.text());
    assert_eq!(anthropic.json()["error"]["type"], "rate_limit_error");
    assert_eq!(
        stack.fake.requests().unwrap().len(),
        admitted,
        "refused requests never reach a provider"
    );
    // Another client, with the same agent ids, is not affected.
    let other = post(
        &stack,
        "/v1/chat/completions",
        &body,
        &["-H", "x-agent-id: rotating-1"],
    );
    assert_eq!(other.status, 200, "{}", other.text());
}

/// Requests without an agent id share their own client's "no agent"
/// bucket, never another client's; with `missing_key: reject` they get a
/// 400 in the caller's format naming the header. Key values are bounded.
#[test]
fn a_missing_agent_id_never_merges_clients() {
    let (_dir, stack) = start_with_agent_level("budgets-missing", |agent| {
        push_override(agent, "*|%none", json!({"input_tokens_per_minute": 1000}));
    });
    let body = kilobyte_chat("gpt-4o-mini");
    let mut admitted = 0;
    while post_as(&stack, "/v1/chat/completions", &body, INTERN, &[]).status == 200 {
        admitted += 1;
        assert!(admitted < 10, "the no-agent bucket never filled");
    }
    assert!(admitted >= 1);
    let demo = post(&stack, "/v1/chat/completions", &body, &[]);
    assert_eq!(
        demo.status,
        200,
        "another client's no-agent requests have their own bucket: {}",
        demo.text()
    );
    // A value longer than a key part may be is refused, not stored.
    let long = format!("x-agent-id: {}", "a".repeat(300));
    let refused = post(&stack, "/v1/chat/completions", &body, &["-H", &long]);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "key_too_long");
    assert!(
        !refused.text().contains(&"a".repeat(300)),
        "the value is not echoed"
    );

    let (_dir, strict) = start_with_agent_level("budgets-reject", |agent| {
        agent["missing_key"] = json!("reject")
    });
    let anthropic = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;
    let refused = post(&strict, "/v1/messages", anthropic, &[]);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["type"], "invalid_request_error");
    assert!(refused.text().contains("x-agent-id"), "{}", refused.text());
    assert_eq!(
        post(&strict, "/v1/messages", anthropic, &["-H", "x-agent-id: a"]).status,
        200
    );
    assert_eq!(
        strict.fake.requests().unwrap().len(),
        1,
        "only the request with an agent id reached a provider"
    );
}

/// Under a cost budget, a model without a price is refused by default (it
/// would otherwise be free), or charged the operator's default price.
#[test]
fn a_cost_budget_never_lets_an_unpriced_model_through() {
    let unpriced =
        r#"{"model":"openai/unpriced-model-7","messages":[{"role":"user","content":"Hi"}]}"#;
    let (_dir, stack) = start_with_agent_level("budgets-unpriced", |agent| {
        push_override(agent, "*|budget-*", json!({"cost_usd_per_month": 1.0}));
    });
    let refused = post(
        &stack,
        "/v1/chat/completions",
        unpriced,
        &["-H", "x-agent-id: budget-1"],
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "model_not_priced");
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "nothing reached a provider"
    );
    let priced = post(
        &stack,
        "/v1/chat/completions",
        &kilobyte_chat("gpt-4o-mini"),
        &["-H", "x-agent-id: budget-1"],
    );
    assert_eq!(priced.status, 200, "{}", priced.text());
    // Without a cost budget the model is served.
    assert_eq!(
        post(
            &stack,
            "/v1/chat/completions",
            unpriced,
            &["-H", "x-agent-id: free"]
        )
        .status,
        200
    );

    // With a default price of $1,000 per million tokens, the same request
    // (about 10 tokens in, 16 reserved out) costs more than a $0.001 budget.
    let dir = RunDir::new("budgets-default-price-filters").unwrap();
    let options = StackOptions::demo_with_filters("budgets-default-price", &dir, |filters| {
        filters["token_limit"]["unpriced_models"] = json!({"input": 1000, "output": 1000});
        let agent = &mut filters["token_limit"]["levels"][1];
        push_override(agent, "*|budget-*", json!({"cost_usd_per_month": 0.1}));
    })
    .unwrap();
    let priced = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"model":"openai/unpriced-model-7","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;
    let mut admitted = 0;
    while post(
        &priced,
        "/v1/chat/completions",
        body,
        &["-H", "x-agent-id: budget-2"],
    )
    .status
        == 200
    {
        admitted += 1;
        assert!(admitted < 30, "the default price was never charged");
    }
    // Each call: ~10 input + up to 16 output tokens at $0.001 each.
    assert!(
        (2..=10).contains(&admitted),
        "$0.10 buys a few calls at the default price, got {admitted}"
    );
}

/// A model priced only in the plugin configuration's one top-level `prices`
/// table is charged that price by a cost budget and in the audit record:
/// the budget runs out exactly when the records' costs say it is spent.
#[test]
fn the_top_level_price_table_serves_cost_budgets_and_the_audit() {
    let dir = RunDir::new("budgets-shared-prices-filters").unwrap();
    let options = StackOptions::demo_with_filters("budgets-shared-prices", &dir, |filters| {
        assert!(filters["audit"].get("prices").is_none());
        assert!(filters["token_limit"].get("prices").is_none());
        // $0.001 a token: a call of ~10 tokens in and 10 out costs ~$0.02.
        filters["prices"] = json!([{"model": "house-model-1", "input": 1000, "output": 1000}]);
        push_override(
            &mut filters["token_limit"]["levels"][1],
            "*|budget-*",
            json!({"cost_usd_per_month": 0.1}),
        );
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"model":"openai/house-model-1","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;
    let args = ["-H", "x-agent-id: budget-1", "-H", "x-fake-reply-words: 10"];
    let (admitted, rejection) = until_refused(20, "the budget never ran out", |_| {
        post(&stack, "/v1/chat/completions", body, &args)
    });
    let admitted: Vec<String> = admitted.iter().map(Response::request_id).collect();
    let message = rejection.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("a cost budget of $0.10 per 30 days"),
        "{message}"
    );
    assert_eq!(rejection.header("x-ratelimit-level"), Some("agent"));

    let records = stack
        .fake
        .collected_records(admitted.len() + 1, Duration::from_secs(20))
        .unwrap();
    let mut spent = 0.0;
    let mut most = 0.0_f64;
    for id in &admitted {
        let record = records
            .iter()
            .find(|r| r["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no record for {id}: {records:?}"));
        let usage = &record["tokens"]["usage"];
        let tokens = usage["input"].as_u64().unwrap() + usage["output"].as_u64().unwrap();
        let cost = record["cost_usd"]
            .as_f64()
            .unwrap_or_else(|| panic!("the audit has no price: {record}"));
        assert!(
            (cost - tokens as f64 * 0.001).abs() < 1e-9,
            "{cost} is not {tokens} tokens at $0.001: {record}"
        );
        spent += cost;
        most = most.max(cost);
    }
    // Each call is admitted only while the budget holds what it reserves
    // (its input and 16 output tokens) and then charged its reported usage:
    // the admitted calls' recorded costs fit the budget, and one more call
    // would not have.
    assert!(spent <= 0.1 + 1e-9, "charged past the budget: ${spent}");
    let reserve = most + 16.0 * 0.001;
    assert!(
        spent + reserve > 0.1,
        "refused with ${spent} of $0.10 spent, calls costing at most ${most}"
    );
    assert!(
        (2..=8).contains(&admitted.len()),
        "$0.10 buys a few calls at $0.001 a token, got {}",
        admitted.len()
    );
}

/// 64 clients at once on one agent whose output limit is 1,000 tokens a
/// minute, each asking for up to 100: admission reserves each request's
/// `max_tokens`, so the answers together overshoot the limit by at most
/// one answer. (Without the reservation all 64 pass: ~6,400 tokens.)
#[test]
fn concurrent_answers_overshoot_an_output_limit_by_at_most_one_answer() {
    let (_dir, stack) = start_with_agent_level("budgets-output", |agent| {
        push_override(agent, "*|out64", json!({"output_tokens_per_minute": 1000}));
    });
    let url = stack.url("/v1/chat/completions");
    let body = r#"{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"Write at length."}]}"#;
    let responses: Vec<Response> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| {
                    let extra = ["-H", "x-agent-id: out64", "-H", "x-fake-reply-words: 400"];
                    post_json(&url, body, &extra).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let admitted: Vec<&Response> = responses.iter().filter(|r| r.status == 200).collect();
    let refused = responses.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        admitted.len() + refused,
        64,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let output: u64 = admitted
        .iter()
        .map(|r| r.json()["usage"]["completion_tokens"].as_u64().unwrap())
        .sum();
    eprintln!(
        "64 concurrent clients: {} admitted, {output} output tokens against a limit of 1000",
        admitted.len()
    );
    assert!(
        output <= 1100,
        "{} admitted used {output} output tokens of 1,000",
        admitted.len()
    );
    assert!(
        admitted.len() >= 9,
        "the limit holds ten answers of 100: {}",
        admitted.len()
    );
}
