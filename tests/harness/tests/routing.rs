//! Client authentication, provider choice, key injection and rotation, and
//! per-client allow-lists, through a real Envoy with the demo configuration.

use gateway_harness::client::{last_upstream, post, post_as};
use gateway_harness::curl::{curl, DEMO_AUTH};
use gateway_harness::secrets::write_atomic;
use gateway_harness::{Stack, StackOptions};
use std::time::{Duration, Instant};

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;

fn start(name: &str) -> Stack {
    Stack::start(StackOptions::demo(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn clients_authenticate_with_the_header_their_sdk_uses() {
    let stack = start("routing-auth");
    for header in [
        "authorization: Bearer demo-key",
        "x-api-key: demo-key",
        "api-key: demo-key",
        "x-goog-api-key: demo-key",
    ] {
        assert_eq!(
            post_as(&stack, "/v1/chat/completions", CHAT, header, &[]).status,
            200,
            "{header}"
        );
    }
    for header in ["authorization: Bearer wrong-key", "x-other: demo-key"] {
        let openai = post_as(&stack, "/v1/chat/completions", CHAT, header, &[]);
        assert_eq!(openai.status, 401, "{header}");
        assert_eq!(openai.json()["error"]["code"], "invalid_api_key");
        let anthropic = post_as(&stack, "/v1/messages", CHAT, header, &[]);
        assert_eq!(anthropic.status, 401);
        assert_eq!(anthropic.json()["error"]["type"], "authentication_error");
    }
    assert_eq!(
        stack.fake.requests().unwrap().len(),
        4,
        "rejected requests never reach a provider"
    );
}

#[test]
fn each_provider_gets_its_own_key_and_never_the_clients() {
    let stack = start("routing-keys");
    // (path, body, extra, header the provider's key travels in, its value)
    let cases: [(&str, &str, &[&str], &str, &str); 4] = [
        (
            "/v1/chat/completions",
            CHAT,
            &[],
            "authorization",
            "Bearer sk-demo-openai",
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
            "x-api-key",
            "sk-demo-anthropic",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            r#"{"contents":[{"parts":[{"text":"Hi"}]}]}"#,
            &[],
            "x-goog-api-key",
            "sk-demo-gemini",
        ),
        (
            "/v1/chat/completions",
            CHAT,
            &["-H", "x-llm-provider: azure"],
            "api-key",
            "sk-demo-azure",
        ),
    ];
    for (path, body, extra, header, key) in cases {
        for auth in ["authorization: Bearer demo-key", "x-api-key: demo-key"] {
            let response = post_as(&stack, path, body, auth, extra);
            assert_eq!(
                response.status,
                200,
                "{path} {extra:?}: {}",
                response.text()
            );
            let upstream = last_upstream(&stack);
            let headers = upstream["headers"].as_object().unwrap();
            assert_eq!(headers[header], key, "{path} {extra:?}");
            assert!(
                !headers.contains_key("x-client-id"),
                "the client id is internal"
            );
            for (name, value) in headers {
                assert!(
                    !value.as_str().unwrap_or_default().contains("demo-key"),
                    "client key leaked upstream in {name}"
                );
            }
        }
    }
}

#[test]
fn a_provider_key_rotates_by_replacing_its_file() {
    let stack = start("routing-rotate");
    assert_eq!(post(&stack, "/v1/chat/completions", CHAT, &[]).status, 200);
    assert_eq!(
        last_upstream(&stack)["headers"]["authorization"],
        "Bearer sk-demo-openai"
    );
    write_atomic(&stack.secrets_dir().join("openai.key"), "sk-rotated-openai").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(post(&stack, "/v1/chat/completions", CHAT, &[]).status, 200);
        if last_upstream(&stack)["headers"]["authorization"] == "Bearer sk-rotated-openai" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new key was not picked up within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_provider_is_chosen_by_header_then_prefix_then_table() {
    let stack = start("routing-choice");
    let cluster_key = |stack: &Stack| {
        let h = last_upstream(stack)["headers"].clone();
        ["authorization", "x-api-key", "x-goog-api-key", "api-key"]
            .iter()
            .find_map(|n| h[*n].as_str().map(str::to_owned))
            .unwrap()
    };
    let prefixed =
        r#"{"model":"anthropic/claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]}"#;
    assert_eq!(
        post(&stack, "/v1/chat/completions", prefixed, &[]).status,
        200
    );
    assert_eq!(
        cluster_key(&stack),
        "sk-demo-anthropic",
        "provider/model prefix"
    );
    assert_eq!(
        post(
            &stack,
            "/v1/chat/completions",
            CHAT,
            &["-H", "x-llm-provider: gemini"]
        )
        .status,
        200
    );
    assert_eq!(
        cluster_key(&stack),
        "sk-demo-gemini",
        "header wins over the table"
    );
    let azure = r#"{"model":"gpt-4o-mini-azure","messages":[{"role":"user","content":"Hi"}]}"#;
    assert_eq!(post(&stack, "/v1/chat/completions", azure, &[]).status, 200);
    assert_eq!(
        cluster_key(&stack),
        "sk-demo-azure",
        "the table maps a model to an Azure deployment"
    );
}

#[test]
fn unknown_models_and_providers_are_400s_in_the_callers_format() {
    let stack = start("routing-unknown");
    let openai = post(
        &stack,
        "/v1/chat/completions",
        r#"{"model":"gpt-9","messages":[]}"#,
        &[],
    );
    assert_eq!(openai.status, 400);
    let error = &openai.json()["error"];
    assert_eq!(
        (error["code"].as_str(), error["param"].as_str()),
        (Some("model_not_found"), Some("model"))
    );
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("gpt-4o-mini, text-embedding-3-small, claude-sonnet-4-5"));

    let anthropic = post(
        &stack,
        "/v1/messages",
        r#"{"model":"claude-9","max_tokens":5,"messages":[]}"#,
        &[],
    );
    assert_eq!(anthropic.status, 400);
    assert_eq!(anthropic.json()["type"], "error");
    assert!(anthropic.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic/<model>"));

    let provider = post(
        &stack,
        "/v1/chat/completions",
        CHAT,
        &["-H", "x-llm-provider: mistral"],
    );
    assert_eq!(provider.status, 400);
    assert!(provider.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic, azure, gemini, openai"));
    assert!(stack.fake.requests().unwrap().is_empty());
}

#[test]
fn allow_lists_restrict_clients_and_their_model_list() {
    let stack = start("routing-allow");
    let intern = "authorization: Bearer demo-intern-key";
    assert_eq!(
        post_as(&stack, "/v1/chat/completions", CHAT, intern, &[]).status,
        200
    );
    let claude = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]}"#;
    let denied = post_as(&stack, "/v1/chat/completions", claude, intern, &[]);
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["error"]["code"], "model_not_allowed");
    assert_eq!(denied.json()["error"]["type"], "permission_error");
    assert_eq!(stack.fake.requests().unwrap().len(), 1);

    let ids = |auth: &str| -> Vec<String> {
        let response = curl(&[&stack.url("/v1/models"), "-H", auth]).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.json()["object"], "list");
        response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(intern), ["gpt-4o-mini", "text-embedding-3-small"]);
    assert_eq!(
        ids(DEMO_AUTH),
        [
            "gpt-4o-mini",
            "text-embedding-3-small",
            "claude-sonnet-4-5",
            "gemini-2.5-flash",
            "gpt-4o-mini-azure"
        ]
    );
    assert_eq!(
        stack.fake.requests().unwrap().len(),
        1,
        "the gateway answers /v1/models itself"
    );
}

/// The client id the allow-lists (and the audit, and limits keyed on the
/// client) trust is the one Envoy's authentication established: a client
/// sending `x-client-id` itself cannot take another client's identity.
#[test]
fn a_client_cannot_claim_another_clients_id() {
    let stack = start("routing-spoof");
    let claude = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]}"#;
    let intern_as_demo = post_as(
        &stack,
        "/v1/chat/completions",
        claude,
        "authorization: Bearer demo-intern-key",
        &["-H", "x-client-id: demo"],
    );
    assert_eq!(
        intern_as_demo.status,
        403,
        "still the intern: {}",
        intern_as_demo.text()
    );
    let demo_as_intern = post_as(
        &stack,
        "/v1/chat/completions",
        claude,
        DEMO_AUTH,
        &["-H", "x-client-id: intern"],
    );
    assert_eq!(
        demo_as_intern.status,
        200,
        "still demo: {}",
        demo_as_intern.text()
    );
    let sent = last_upstream(&stack);
    assert!(
        sent["headers"].get("x-client-id").is_none(),
        "the client id never goes upstream"
    );
}
