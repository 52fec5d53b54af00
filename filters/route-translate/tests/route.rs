//! The `route` role driven through its module's pipeline with Envoy in
//! memory (`wasm_glue::testing`), on the demo's route configuration: the
//! decision it publishes for the router and the translate stage, the model
//! list, allow-lists and the errors in the caller's format. That Envoy's
//! route table then picks the cluster is tested through Envoy:
//! tests/harness/tests/routing.rs and chain.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{module, refusal};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_glue::testing::{ClientRequest, MemoryHost, Outcome, ProviderResponse};
use wasm_glue::Stages;

/// The demo's route configuration, with a weighted split and a Gemini
/// embedding model added.
fn demo() -> Value {
    let filters: Value =
        serde_json::from_str(include_str!("../../../envoy/filters/demo.json")).unwrap();
    let mut route = filters["route_translate"].clone();
    let models = route["models"].as_array_mut().unwrap();
    models.push(json!({"match": "split", "to": [
        {"provider": "openai", "model": "gpt-4o-mini", "weight": 3},
        {"provider": "anthropic", "model": "claude-haiku-4-5", "weight": 1}]}));
    models.push(json!({"match": "text-embedding-004", "to": [{"provider": "gemini"}]}));
    route
}

fn chat(model: &str) -> ClientRequest {
    chat_as("demo", model)
}

fn chat_as(client: &str, model: &str) -> ClientRequest {
    ClientRequest::post("/v1/chat/completions")
        .header("x-client-id", client)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]}))
}

fn route(stages: &Rc<Stages>, host: &mut MemoryHost, request: &ClientRequest) -> Outcome {
    host.call(stages, request, &ProviderResponse::new(200))
}

/// The decision's facts, without the request path.
fn decision(out: &Outcome) -> BTreeMap<&str, &str> {
    out.facts
        .iter()
        .filter(|(name, _)| *name != "llm.request.path")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn the_model_table_decides_provider_model_and_cluster_for_the_router() {
    let (stages, mut host) = module(&demo());
    let out = route(&stages, &mut host, &chat("claude-sonnet-4-5"));
    assert!(!out.replied, "{}", out.text());
    assert_eq!(
        decision(&out),
        BTreeMap::from([
            ("llm.cluster", "anthropic"),
            ("llm.model.upstream", "claude-sonnet-4-5"),
            ("llm.provider", "anthropic"),
            ("llm.stream", "false"),
        ])
    );
    assert_eq!(out.fact("llm.request.path"), Some("/v1/chat/completions"));
    assert_eq!(
        host.route_cache_clears, 1,
        "the router picks the route again"
    );
    assert_eq!(
        out.upstream.as_ref().unwrap().json()["model"],
        "claude-sonnet-4-5",
        "the body is the translate stage's to change"
    );

    let azure = route(&stages, &mut host, &chat("gpt-4o-mini-azure"));
    assert_eq!(azure.fact("llm.provider"), Some("azure"));
    assert_eq!(azure.fact("llm.azure.deployment"), Some("gpt-4o-mini"));
    assert_eq!(azure.fact("llm.azure.api_version"), Some("2024-10-21"));

    let streamed =
        ClientRequest::post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k")
            .header("x-client-id", "demo")
            .json(&json!({"contents": [{"parts": [{"text": "Hi"}]}]}));
    let out = route(&stages, &mut host, &streamed);
    assert_eq!(out.fact("llm.provider"), Some("gemini"));
    assert_eq!(out.fact("llm.stream"), Some("true"), "from the path");
    assert_eq!(
        out.fact("llm.request.path"),
        Some("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
        "without the query, which may hold a key"
    );
}

#[test]
fn a_fallback_chain_is_published_in_order_with_its_cluster() {
    let (stages, mut host) = module(&demo());
    let out = route(&stages, &mut host, &chat("gpt-4o-mini"));
    assert_eq!(out.fact("llm.cluster"), Some("gpt-4o-mini-chain"));
    assert_eq!(out.fact("llm.provider"), Some("openai"));
    let chain: Value = serde_json::from_str(out.fact("llm.fallback").unwrap()).unwrap();
    assert_eq!(
        chain,
        json!([
            {"provider": "openai", "kind": "openai", "upstream_model": "gpt-4o-mini"},
            {"provider": "azure", "kind": "azure", "upstream_model": "gpt-4o-mini", "deployment": "gpt-4o-mini", "api_version": "2024-10-21"},
            {"provider": "anthropic", "kind": "anthropic", "upstream_model": "claude-haiku-4-5"}
        ])
    );
    let named = chat("gpt-4o-mini").header("x-llm-provider", "openai");
    let out = route(&stages, &mut host, &named);
    assert_eq!(
        out.fact("llm.cluster"),
        Some("openai"),
        "a named provider goes without the chain"
    );
    assert_eq!(out.fact("llm.fallback"), None);
}

#[test]
fn a_header_or_a_prefix_names_the_provider_before_the_table() {
    let (stages, mut host) = module(&demo());
    let header = chat("claude-sonnet-4-5").header("x-llm-provider", "gemini");
    let out = route(&stages, &mut host, &header);
    assert_eq!(
        (out.fact("llm.provider"), out.fact("llm.model.upstream")),
        (Some("gemini"), Some("claude-sonnet-4-5"))
    );
    let prefixed = route(&stages, &mut host, &chat("anthropic/some-new-model"));
    assert_eq!(
        (
            prefixed.fact("llm.provider"),
            prefixed.fact("llm.model.upstream")
        ),
        (Some("anthropic"), Some("some-new-model"))
    );
}

#[test]
fn gemini_embeddings_are_routed_by_the_model_in_their_path() {
    let (stages, mut host) = module(&demo());
    for method in ["embedContent", "batchEmbedContents"] {
        let request = ClientRequest::post(&format!("/v1beta/models/text-embedding-004:{method}"))
            .header("x-client-id", "demo")
            .json(&json!({"content": {"parts": [{"text": "Hi"}]}}));
        let out = route(&stages, &mut host, &request);
        assert_eq!(out.fact("llm.provider"), Some("gemini"), "{method}");
        assert_eq!(out.fact("llm.model.upstream"), Some("text-embedding-004"));
        assert_eq!(
            out.fact("llm.request.path"),
            Some(format!("/v1beta/models/text-embedding-004:{method}").as_str())
        );
    }
}

#[test]
fn a_weighted_split_keeps_a_request_id_on_its_choice_and_follows_the_weights() {
    let (stages, mut host) = module(&demo());
    let mut chosen = BTreeMap::<String, u32>::new();
    for i in 0..400 {
        let request = chat("split").header("x-request-id", &format!("req-{i}"));
        let first = route(&stages, &mut host, &request);
        let again = route(&stages, &mut host, &request);
        let provider = first.fact("llm.provider").unwrap().to_owned();
        assert_eq!(
            again.fact("llm.provider"),
            Some(provider.as_str()),
            "a retry of req-{i}"
        );
        *chosen.entry(provider).or_default() += 1;
    }
    let openai = chosen["openai"];
    assert!((260..340).contains(&openai), "3:1 of 400: {chosen:?}");
    assert_eq!(openai + chosen["anthropic"], 400);
}

#[test]
fn the_model_list_and_allow_lists_follow_the_client() {
    let (stages, mut host) = module(&demo());
    let models = |host: &mut MemoryHost, client: &str| {
        let out = route(
            &stages,
            host,
            &ClientRequest::get("/v1/models").header("x-client-id", client),
        );
        assert!(out.replied && out.upstream.is_none());
        assert_eq!(out.status, Some(200));
        assert_eq!(out.header("content-type"), Some("application/json"));
        let list = out.json();
        assert_eq!(list["object"], "list");
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        models(&mut host, "intern"),
        ["gpt-4o-mini", "text-embedding-3-small"]
    );
    assert!(models(&mut host, "demo").contains(&"claude-sonnet-4-5".to_owned()));

    let intern = ClientRequest::post("/v1/messages")
        .header("x-client-id", "intern")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []}));
    let out = route(&stages, &mut host, &intern);
    assert_eq!(out.status, Some(403));
    assert_eq!(
        out.json()["error"]["type"],
        "permission_error",
        "Anthropic's shape"
    );
    assert!(out.upstream.is_none());
    assert_eq!(out.fact("llm.cluster"), None);
    // Naming the provider does not get around the list.
    let named = chat_as("intern", "anthropic/claude-sonnet-4-5");
    assert_eq!(route(&stages, &mut host, &named).status, Some(403));
    let anonymous = ClientRequest::post("/v1/chat/completions")
        .json(&json!({"model": "gpt-4o-mini", "messages": []}));
    let out = route(&stages, &mut host, &anonymous);
    assert_eq!(out.status, Some(403));
    assert_eq!(out.json()["error"]["code"], "client_unidentified");
}

#[test]
fn requests_it_cannot_route_get_a_400_in_the_callers_format() {
    let (stages, mut host) = module(&demo());
    let out = route(&stages, &mut host, &chat("no-such-model"));
    assert_eq!(out.status, Some(400));
    let error = &out.json()["error"];
    assert_eq!(error["code"], "model_not_found");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("gpt-4o-mini, text-embedding-3-small"),
        "{error}"
    );
    let unknown = chat("gpt-4o-mini").header("x-llm-provider", "mistral");
    assert_eq!(
        route(&stages, &mut host, &unknown).json()["error"]["code"],
        "unknown_provider"
    );
    let no_model = ClientRequest::post("/v1/messages")
        .header("x-client-id", "demo")
        .json(&json!({"max_tokens": 8, "messages": []}));
    let out = route(&stages, &mut host, &no_model);
    assert_eq!(out.status, Some(400));
    assert_eq!(out.json()["type"], "error", "Anthropic's shape");
    let gemini = ClientRequest::post("/v1beta/models/gemini-9:generateContent")
        .header("x-client-id", "demo")
        .json(&json!({"contents": []}));
    let out = route(&stages, &mut host, &gemini);
    assert_eq!(
        out.json()["error"]["status"],
        "INVALID_ARGUMENT",
        "Gemini's shape"
    );
    assert!(!host.facts.contains_key("llm.cluster"));
}

#[test]
fn the_pii_route_decision_overrides_the_table() {
    let (stages, mut host) = module(&demo());
    let routed = chat("gpt-4o-mini").fact(
        "llm.pii.route",
        r#"{"provider": "anthropic", "model": "claude-haiku-4-5"}"#,
    );
    let out = route(&stages, &mut host, &routed);
    assert_eq!(
        (
            out.fact("llm.provider"),
            out.fact("llm.model.upstream"),
            out.fact("llm.cluster")
        ),
        (
            Some("anthropic"),
            Some("claude-haiku-4-5"),
            Some("anthropic")
        )
    );
    let nowhere = chat("gpt-4o-mini").fact("llm.pii.route", r#"{"provider": "on-prem"}"#);
    let out = route(&stages, &mut host, &nowhere);
    assert_eq!(out.status, Some(500));
    assert!(
        host.log_lines().iter().any(|l| l.contains("`on-prem`")),
        "{:?}",
        host.log_lines()
    );
}

#[test]
fn other_calls_pass_untouched() {
    let (stages, mut host) = module(&demo());
    let out = route(&stages, &mut host, &ClientRequest::get("/healthz"));
    assert!(!out.replied);
    assert!(out.facts.is_empty(), "{:?}", out.facts);
    assert_eq!(host.route_cache_clears, 0);
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    let mut config = demo();
    config["providers"]["openai"]["forward_headers"] = json!(["x-fake-*", "authorization"]);
    for (config, field) in [
        (config.to_string(), "providers.openai.forward_headers[1]"),
        (r#"{"role": "router"}"#.to_owned(), "role"),
    ] {
        let err = refusal(&config);
        assert_eq!(err.field, field, "{err}");
    }
}
