//! One client identity, through a real Envoy: limits, the audit record and
//! allow-lists all read the authenticated client (`client_identity`,
//! `x-client-id` as `api_key_auth` forwards it), never a header the client
//! chose; allow-lists fail closed without an identity, and a restricted
//! client cannot reach other models by naming a provider.

use gateway_harness::client::post_as;
use gateway_harness::curl::curl;
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::json;
use std::time::Duration;

const INTERN: &str = "authorization: Bearer demo-intern-key";
const DEMO: &str = "authorization: Bearer demo-key";
const CHAT: &str =
    r#"{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;

/// The intern claims to be `demo` with `x-client-id`: the audit record,
/// the client-wide limit and the allow-list all still see the intern.
#[test]
fn a_claimed_client_id_changes_nothing() {
    let stack =
        Stack::start(StackOptions::demo("identity-claim")).unwrap_or_else(|e| panic!("{e}"));
    let claim = ["-H", "x-client-id: demo", "-H", "x-agent-id: claimant"];
    let response = post_as(&stack, "/v1/chat/completions", CHAT, INTERN, &claim);
    assert_eq!(response.status, 200, "{}", response.text());
    // The intern's client-wide limit (5,000 tokens), not demo's.
    assert_eq!(
        response.header("x-ratelimit-limit-tokens"),
        Some("5000"),
        "{:?}",
        response.headers
    );
    let claude = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]}"#;
    assert_eq!(
        post_as(&stack, "/v1/chat/completions", claude, INTERN, &claim).status,
        403
    );
    let records = stack
        .fake
        .collected_records(2, Duration::from_secs(20))
        .unwrap();
    assert!(
        records.iter().all(|r| r["client"]["id"] == "intern"),
        "{records:?}"
    );
    assert!(
        records.iter().all(|r| r["ratelimit"]["key"]
            .as_str()
            .unwrap()
            .starts_with("client=intern;agent=intern|claimant")),
        "{records:?}"
    );
}

/// A client restricted to `gpt-4o-mini` cannot reach a model it may not use
/// by naming a provider: the demo's `gpt-4o-mini` falls back to Anthropic's
/// `claude-haiku-4-5`, which `x-llm-provider: anthropic` would otherwise
/// pick directly.
#[test]
fn a_restricted_client_cannot_pick_other_models_by_provider() {
    let stack =
        Stack::start(StackOptions::demo("identity-provider")).unwrap_or_else(|e| panic!("{e}"));
    let cases: [(&str, &[&str]); 3] = [
        (CHAT, &["-H", "x-llm-provider: anthropic"]),
        (
            r#"{"model":"anthropic/gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
        ),
        (
            r#"{"model":"anthropic/claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
        ),
    ];
    for (body, extra) in cases {
        let response = post_as(&stack, "/v1/chat/completions", body, INTERN, extra);
        assert_eq!(
            response.status,
            403,
            "{body} {extra:?}: {}",
            response.text()
        );
        assert_eq!(response.json()["error"]["code"], "model_not_allowed");
    }
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "nothing reached a provider"
    );
    // The same model on another provider that serves it under its name is allowed.
    let azure = post_as(
        &stack,
        "/v1/chat/completions",
        CHAT,
        INTERN,
        &["-H", "x-llm-provider: azure"],
    );
    assert_eq!(azure.status, 200, "{}", azure.text());
    // An unrestricted client may pick the provider.
    assert_eq!(
        post_as(
            &stack,
            "/v1/chat/completions",
            CHAT,
            DEMO,
            &["-H", "x-llm-provider: anthropic"]
        )
        .status,
        200
    );
}

/// With allow-lists set, a request whose client the gateway cannot
/// identify is refused (here `client_identity` names a header no
/// authentication sets), and the model list is empty.
#[test]
fn allow_lists_fail_closed_without_an_identity() {
    let dir = RunDir::new("identity-closed-filters").unwrap();
    let options = StackOptions::demo_with_filters("identity-closed", &dir, |filters| {
        filters["client_identity"] = json!("x-gateway-client");
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    for auth in [DEMO, INTERN] {
        let response = post_as(&stack, "/v1/chat/completions", CHAT, auth, &[]);
        assert_eq!(response.status, 403, "{}", response.text());
        assert_eq!(response.json()["error"]["code"], "client_unidentified");
    }
    let models = curl(&[stack.url("/v1/models").as_str(), "-H", DEMO]).unwrap();
    assert_eq!(models.json()["data"], json!([]), "{}", models.text());
    assert!(stack.fake.requests().unwrap().is_empty());
}
