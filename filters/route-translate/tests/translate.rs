//! The `translate` role driven through its module's pipeline with Envoy in
//! memory (`wasm_glue::testing`), as the upstream filter of one attempt: the
//! route stage's facts on the stream, the request turned into the
//! provider's API (path, headers, body), the answer turned back, whole and
//! streamed, and the errors. Every translation's details are the goldens'
//! (filters/llm-api/tests/golden.rs); retries and fallbacks through Envoy
//! are tests/harness/tests/fallback.rs and translation.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{module, refusal};
use serde_json::{json, Value};
use std::rc::Rc;
use wasm_glue::testing::{ClientRequest, MemoryHost, ProviderResponse};
use wasm_glue::Stages;

fn on_cluster(provider: &str) -> (Rc<Stages>, MemoryHost) {
    module(&json!({"role": "translate", "provider": provider,
        "forward_headers": {provider: ["x-fake-*"]}}))
}

/// A request as it reaches the upstream filter: the client's headers (its
/// key already taken by Envoy's authentication) and the route stage's
/// decision as facts.
fn routed(path: &str, body: &Value, provider: &str, model: &str) -> ClientRequest {
    let stream = body["stream"] == true || path.contains("stream");
    ClientRequest::post(path)
        .header("user-agent", "OpenAI/Python 1.99")
        .header("x-request-id", "gw-1")
        .header("openai-organization", "org-client")
        .header("x-stainless-os", "Linux")
        .header("cookie", "session=1")
        .header("x-fake-delay", "0")
        .json(body)
        .fact("llm.request.path", path.split('?').next().unwrap())
        .fact("llm.provider", provider)
        .fact("llm.model.upstream", model)
        .fact("llm.stream", if stream { "true" } else { "false" })
}

/// [`chat`] on /v1/chat/completions, routed to Anthropic's claude-sonnet-4-5.
fn chat_to_claude(stream: bool) -> ClientRequest {
    routed(
        "/v1/chat/completions",
        &chat(stream),
        "anthropic",
        "claude-sonnet-4-5",
    )
}

fn chat(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "stream": stream, "max_tokens": 64,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]})
}

fn anthropic_answer() -> ProviderResponse {
    ProviderResponse::json(
        200,
        &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 9, "output_tokens": 2}}),
    )
    .header("anthropic-organization-id", "org-gateway")
    .header("set-cookie", "provider=1")
}

#[test]
fn an_openai_chat_reaches_anthropic_in_its_api_and_comes_back_as_a_chat_completion() {
    let (stages, mut host) = on_cluster("anthropic");
    let request = chat_to_claude(false);
    let out = host.call(&stages, &request, &anthropic_answer());
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(sent.header(":path"), Some("/v1/messages"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("content-length"), None, "the body changed");
    for kept in ["content-type", "user-agent", "x-request-id", "x-fake-delay"] {
        assert!(sent.header(kept).is_some(), "{kept} is forwarded");
    }
    for dropped in ["openai-organization", "x-stainless-os", "cookie"] {
        assert_eq!(sent.header(dropped), None, "{dropped} is not forwarded");
    }
    let body = sent.json();
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(out.fact("llm.attempt.provider"), Some("anthropic"));
    assert_eq!(out.fact("llm.attempt.model"), Some("claude-sonnet-4-5"));

    assert_eq!(out.status, Some(200));
    let reply = out.json();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["choices"][0]["message"]["content"], "Hello!");
    assert_eq!(
        (
            &reply["usage"]["prompt_tokens"],
            &reply["usage"]["completion_tokens"]
        ),
        (&json!(9), &json!(2))
    );
    assert_eq!(out.header("content-length"), None);
    assert_eq!(out.header("anthropic-organization-id"), None);
    assert_eq!(out.header("set-cookie"), None);
}

#[test]
fn a_stream_is_translated_event_by_event_however_it_is_cut() {
    let (stages, mut host) = on_cluster("anthropic");
    let request = chat_to_claude(true);
    let sse = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there!\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    );
    let whole = host.call(&stages, &request, &ProviderResponse::sse(sse));
    assert_eq!(
        whole.upstream.as_ref().unwrap().json()["stream"],
        true,
        "asked as a stream"
    );
    assert_eq!(whole.chat_stream_text(), "Hello there!");
    assert!(
        whole.text().ends_with("data: [DONE]\n\n"),
        "{}",
        whole.text()
    );
    for size in [1, 5, 64] {
        let cut = host.call(
            &stages,
            &request,
            &ProviderResponse::sse(sse).in_chunks(size),
        );
        assert_eq!(cut.text(), whole.text(), "chunks of {size}");
    }
}

#[test]
fn provider_errors_keep_their_status_in_the_callers_format() {
    let (stages, mut host) = on_cluster("anthropic");
    let request = chat_to_claude(false);
    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let out = host.call(&stages, &request, &ProviderResponse::json(529, &overloaded));
    assert_eq!(out.status, Some(529));
    assert_eq!(
        out.json()["error"],
        json!({"message": "Overloaded", "type": "server_error", "param": null, "code": null})
    );
    // A provider that refuses the gateway's key: a 502 that quotes nothing
    // of its answer.
    let refused = json!({"type": "error", "error": {"type": "authentication_error",
        "message": "invalid x-api-key sk-ant-api03-abcd"}});
    let out = host.call(&stages, &request, &ProviderResponse::json(401, &refused));
    assert_eq!(out.status, Some(502));
    assert_eq!(out.json()["error"]["code"], "provider_credentials_refused");
    assert!(!out.text().contains("sk-ant"), "{}", out.text());
    assert!(host
        .log_lines()
        .iter()
        .any(|l| l.contains("refused the gateway's credentials")));
}

#[test]
fn a_pair_without_a_translator_is_refused_before_anything_is_sent() {
    let (stages, mut host) = on_cluster("anthropic");
    let request = routed(
        "/v1/responses",
        &json!({"model": "m", "input": "Hi"}),
        "anthropic",
        "claude-sonnet-4-5",
    );
    let out = host.call(&stages, &request, &anthropic_answer());
    assert!(out.replied && out.upstream.is_none());
    assert_eq!(out.status, Some(400));
    assert_eq!(out.json()["error"]["code"], "unsupported_provider");
}

/// A Gemini client's own `embedContent` reaches Gemini as `embedContent`
/// with its single request, and the answer comes back as sent; a batch
/// stays a batch.
#[test]
fn gemini_embed_content_reaches_gemini_on_the_clients_method() {
    let (stages, mut host) = on_cluster("gemini");
    let single = json!({"content": {"parts": [{"text": "Hello"}]}, "taskType": "RETRIEVAL_QUERY"});
    let path = "/v1beta/models/text-embedding-004:embedContent";
    let request = routed(path, &single, "gemini", "text-embedding-004");
    let embedding = json!({"embedding": {"values": [0.25, -0.5]}});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &embedding));
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(sent.header(":path"), Some(path));
    assert_eq!(sent.json(), single, "the single request as sent");
    assert_eq!(out.json(), embedding);

    // Routed to another model: the path names it, and so does a model the
    // body names.
    let named =
        json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "Hi"}]}});
    let request = routed(path, &named, "gemini", "gemini-embedding-001");
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &embedding));
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(
        sent.header(":path"),
        Some("/v1beta/models/gemini-embedding-001:embedContent")
    );
    assert_eq!(sent.json()["model"], "models/gemini-embedding-001");

    let batch = json!({"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}}]});
    let path = "/v1beta/models/text-embedding-004:batchEmbedContents";
    let request = routed(path, &batch, "gemini", "text-embedding-004");
    let answer = json!({"embeddings": [{"values": [0.5]}]});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &answer));
    assert_eq!(out.upstream.as_ref().unwrap().header(":path"), Some(path));
    assert_eq!(out.json(), answer);
}

#[test]
fn openai_embeddings_reach_gemini_as_a_batch_and_come_back_as_a_list() {
    let (stages, mut host) = on_cluster("gemini");
    let request = routed(
        "/v1/embeddings",
        &json!({"model": "text-embedding-004", "input": ["one", "two"]}),
        "gemini",
        "text-embedding-004",
    );
    let answer = json!({"embeddings": [{"values": [0.5]}, {"values": [0.25]}]});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &answer));
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(
        sent.header(":path"),
        Some("/v1beta/models/text-embedding-004:batchEmbedContents")
    );
    assert_eq!(sent.json()["requests"].as_array().unwrap().len(), 2);
    let list = out.json();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][1]["embedding"], json!([0.25]));
}

#[test]
fn an_azure_deployment_gets_its_path_and_api_version_from_the_decision() {
    let (stages, mut host) = on_cluster("azure");
    let request = routed(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o-mini-azure", "messages": [{"role": "user", "content": "Hi"}]}),
        "azure",
        "gpt-4o-mini",
    )
    .fact("llm.azure.deployment", "gpt4o-eu")
    .fact("llm.azure.api_version", "2024-10-21");
    let answer =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &answer));
    assert_eq!(
        out.upstream.as_ref().unwrap().header(":path"),
        Some("/openai/deployments/gpt4o-eu/chat/completions?api-version=2024-10-21")
    );
    assert_eq!(out.json(), answer, "the same API: passed through");
}

/// On a fallback chain's cluster each attempt is translated for the
/// provider whose endpoint Envoy picked, and a retry reaches the filter
/// with the headers the previous attempt left.
#[test]
fn each_attempt_of_a_fallback_chain_is_translated_for_the_provider_it_reaches() {
    let (stages, mut host) = module(&json!({"role": "translate"}));
    let chain = json!([
        {"provider": "openai", "kind": "openai", "upstream_model": "gpt-4o-mini"},
        {"provider": "anthropic", "kind": "anthropic", "upstream_model": "claude-haiku-4-5"}
    ]);
    // The second attempt: `:path` and the key as the first attempt left them.
    let request = ClientRequest::post("/v1/chat/completions")
        .header("authorization", "Bearer sk-openai-gateway-key")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        .fact("llm.request.path", "/v1/chat/completions")
        .fact("llm.provider", "openai")
        .fact("llm.model.upstream", "gpt-4o-mini")
        .fact("llm.stream", "false")
        .fact("llm.fallback", &chain.to_string());
    host.upstream_metadata.insert(
        ("llm".to_owned(), "provider".to_owned()),
        "anthropic".to_owned(),
    );
    let out = host.call(&stages, &request, &anthropic_answer());
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(sent.header(":path"), Some("/v1/messages"));
    assert_eq!(
        sent.header("authorization"),
        None,
        "the first provider's key is gone"
    );
    assert_eq!(sent.json()["model"], "claude-haiku-4-5");
    assert_eq!(out.fact("llm.attempt.provider"), Some("anthropic"));
    assert_eq!(out.fact("llm.attempt.model"), Some("claude-haiku-4-5"));
    assert_eq!(
        out.json()["choices"][0]["message"]["content"],
        "Hello!",
        "the answer in the client's API"
    );

    host.upstream_metadata.insert(
        ("llm".to_owned(), "provider".to_owned()),
        "gemini".to_owned(),
    );
    let out = host.call(&stages, &request, &anthropic_answer());
    assert_eq!(out.status, Some(500));
    assert!(out.upstream.is_none());
    assert!(out.text().contains("not in this request's fallback chain"));
}

#[test]
fn a_request_the_route_did_not_decide_passes_untouched() {
    let (stages, mut host) = on_cluster("openai");
    let body = json!({"model": "gpt-4o-mini", "messages": []});
    let request = ClientRequest::post("/v1/chat/completions").json(&body);
    let answer = json!({"choices": []});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &answer));
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(sent.header(":path"), Some("/v1/chat/completions"));
    assert_eq!(sent.json(), body);
    assert_eq!(out.json(), answer);
    assert_eq!(out.fact("llm.attempt.provider"), None);
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    for (config, field) in [
        (
            r#"{"role": "translate", "provider": "anthropic", "forward_headers": {"anthropic": ["x-api-key"]}}"#,
            "forward_headers.anthropic[0]",
        ),
        (
            r#"{"role": "translate", "provider": "mistral"}"#,
            "provider",
        ),
    ] {
        let err = refusal(config);
        assert_eq!(err.field, field, "{err}");
    }
}

/// The listener's module publishes to Envoy only the facts something reads
/// (`envoy_facts`, from `route_translate::TRANSLATE_READS` for this
/// filter): a fact read here and missing from that list would be absent on
/// a provider cluster.
#[test]
fn the_translate_role_reads_exactly_the_facts_it_declares() {
    let mut read = std::collections::BTreeSet::new();
    let mut record = |host: &MemoryHost| {
        for line in host.trace.borrow().iter() {
            if let Some(name) = line.strip_prefix("fact ") {
                read.insert(name.to_owned());
            }
        }
    };
    let answer =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]});
    let (stages, mut host) = on_cluster("azure");
    host.tracing.set(true);
    let azure = routed(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}),
        "azure",
        "gpt-4o-mini",
    )
    .fact("llm.azure.deployment", "d")
    .fact("llm.azure.api_version", "v");
    host.call(&stages, &azure, &ProviderResponse::json(200, &answer));
    record(&host);

    let (stages, mut host) = module(&json!({"role": "translate"}));
    host.tracing.set(true);
    let chain = json!([{"provider": "openai", "kind": "openai", "upstream_model": "gpt-4o-mini"}]);
    host.upstream_metadata.insert(
        ("llm".to_owned(), "provider".to_owned()),
        "openai".to_owned(),
    );
    let fallback = routed(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}),
        "openai",
        "gpt-4o-mini",
    )
    .fact("llm.fallback", &chain.to_string());
    host.call(&stages, &fallback, &ProviderResponse::json(200, &answer));
    record(&host);

    let declared: std::collections::BTreeSet<String> = route_translate::TRANSLATE_READS
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(read, declared);
}

#[test]
fn an_openai_compatible_server_gets_its_base_path_and_no_client_key() {
    let (stages, mut host) = module(
        &json!({"role": "translate", "provider": "openai_compatible",
        "base_paths": {"local": "/local/v1"}}),
    );
    let request = routed(
        "/v1/chat/completions",
        &json!({"model": "local/llama-3.1-8b", "messages": [{"role": "user", "content": "Hi"}]}),
        "local",
        "llama-3.1-8b",
    )
    .header("authorization", "Bearer client-key");
    let answer =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &answer));
    let sent = out.upstream.as_ref().unwrap();
    assert_eq!(sent.header(":path"), Some("/local/v1/chat/completions"));
    assert_eq!(sent.json()["model"], "llama-3.1-8b");
    assert_eq!(sent.header("authorization"), None, "no client key upstream");
    assert_eq!(out.json(), answer);
}
