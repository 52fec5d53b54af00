//! An OpenAI-compatible server (vLLM, Ollama, a hosted one) as a provider of
//! its own kind, through a real Envoy: the demo's configuration with a
//! `local` provider on a cluster of its own, reached under its base path,
//! with no key injected and the client's key never forwarded.

use gateway_harness::curl::post_json;
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::{json, Value};

/// The demo template with a `local` cluster (the fake provider) and its
/// route, written into `dir`.
fn template_with_local_cluster(dir: &RunDir, demo: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(demo).unwrap();
    let route = "              - match:\n                  prefix: \"/\"\n                  filter_state: [{ key: wasm.llm.cluster, string_match: { exact: local } }]\n                request_headers_to_remove: *internal\n                route: { cluster: local, timeout: 600s }\n              ${FALLBACK_ROUTES}";
    let cluster = "  - name: local\n    type: STATIC\n    connect_timeout: 5s\n    load_assignment:\n      cluster_name: local\n      endpoints:\n      - lb_endpoints:\n        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${OPENAI_PORT:-10080} } } }\n    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n        explicit_http_config: { http_protocol_options: {} }\n        http_filters:\n        ${UPSTREAM_FILTERS:local}\n  ${FALLBACK_CLUSTERS}";
    assert!(
        text.contains("              ${FALLBACK_ROUTES}")
            && text.contains("  ${FALLBACK_CLUSTERS}")
    );
    let text = text
        .replace("              ${FALLBACK_ROUTES}", route)
        .replace("  ${FALLBACK_CLUSTERS}", cluster);
    let path = dir.path.join("demo-with-local.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start() -> (Stack, RunDir) {
    let dir = RunDir::new("compat-config").unwrap();
    let mut options = StackOptions::demo_with_filters("compat", &dir, |filters| {
        let route = &mut filters["route_translate"];
        route["providers"]["local"] = json!({"kind": "openai_compatible", "cluster": "local",
            "base_path": "/compat/v1", "send_key": false, "forward_headers": ["x-fake-*"]});
        route["models"]
            .as_array_mut()
            .unwrap()
            .push(json!({"match": "llama-3.1-8b", "to": [{"provider": "local"}]}));
    })
    .unwrap();
    options.template = template_with_local_cluster(&dir, &options.template);
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    (stack, dir)
}

fn upstream(stack: &Stack) -> Value {
    stack
        .fake
        .requests()
        .unwrap()
        .pop()
        .expect("a request upstream")
}

#[test]
fn a_local_model_is_reached_under_its_base_path_without_a_key() {
    let (stack, _dir) = start();
    let url = stack.url("/v1/chat/completions");
    let chat = r#"{"model":"llama-3.1-8b","messages":[{"role":"user","content":"hi"}]}"#;
    let response = post_json(&url, chat, &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.json()["choices"][0]["message"]["content"].is_string());
    let sent = upstream(&stack);
    assert_eq!(sent["path"], "/compat/v1/chat/completions");
    let headers = sent["headers"].as_object().unwrap();
    assert!(
        !headers.contains_key("authorization"),
        "no key injected and the client's not forwarded: {headers:?}"
    );
    let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["model"], "llama-3.1-8b");

    // Streamed, and embeddings, under the same base path.
    let stream =
        r#"{"model":"llama-3.1-8b","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let response = post_json(&url, stream, &[]).unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("data: [DONE]"),
        "{}",
        response.text()
    );
    assert_eq!(upstream(&stack)["path"], "/compat/v1/chat/completions");
    let response = post_json(
        &stack.url("/v1/embeddings"),
        r#"{"model":"llama-3.1-8b","input":"hi"}"#,
        &[],
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(upstream(&stack)["path"], "/compat/v1/embeddings");

    // The local/ prefix names the provider too.
    let prefixed = r#"{"model":"local/llama-3.1-8b","messages":[{"role":"user","content":"hi"}]}"#;
    let response = post_json(&url, prefixed, &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(upstream(&stack)["path"], "/compat/v1/chat/completions");
}
