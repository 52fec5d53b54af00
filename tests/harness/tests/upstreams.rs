//! The demo's providers can be pointed at other endpoints, e.g. the real APIs
//! over https (`OPENAI_UPSTREAM=https://api.openai.com make demo`): here an
//! https fake provider with a test CA stands in for the real API.

use gateway_harness::client::post;
use gateway_harness::process::Output;
use gateway_harness::stack::{upstream_vars, Certs, FakeProvider};
use gateway_harness::{RunDir, Stack, StackOptions};

#[test]
fn a_provider_pointed_at_an_https_url_is_reached_over_tls_with_its_name() {
    let dir = RunDir::new("upstream-https").unwrap();
    let certs = Certs::generate(&dir.path, &["localhost"]).unwrap();
    let remote = FakeProvider::start(
        &dir.path,
        Some(&certs),
        Output::File(&dir.path.join("remote.log")),
    )
    .unwrap();
    let port = remote
        .tls
        .as_deref()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();

    let mut options = StackOptions::demo("upstream-override");
    options.vars = upstream_vars("OPENAI", &format!("https://localhost:{port}")).unwrap();
    options
        .vars
        .insert("UPSTREAM_CA_FILE".into(), certs.ca.display().to_string());
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));

    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let response = post(&stack, "/v1/chat/completions", body, &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let recorded = remote.requests().unwrap();
    assert_eq!(
        recorded.len(),
        1,
        "the request must reach the https endpoint"
    );
    assert_eq!(recorded[0]["listener"], "tls");
    assert_eq!(recorded[0]["sni"], "localhost");
    assert!(
        stack.fake.requests().unwrap().is_empty(),
        "nothing may reach the local fake"
    );

    // The other providers still go to the local fake.
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;
    assert_eq!(post(&stack, "/v1/messages", body, &[]).status, 200);
    assert_eq!(stack.fake.requests().unwrap().len(), 1);
}

#[test]
fn upstream_urls_are_parsed_strictly() {
    let vars = upstream_vars("GEMINI", "https://generativelanguage.googleapis.com").unwrap();
    assert_eq!(vars["GEMINI_HOST"], "generativelanguage.googleapis.com");
    assert_eq!(vars["GEMINI_PORT"], "443");
    assert_eq!(vars["GEMINI_TLS_SNI"], "generativelanguage.googleapis.com");
    let vars = upstream_vars("OPENAI", "http://127.0.0.1:8080/v1").unwrap();
    assert_eq!(
        (vars["OPENAI_HOST"].as_str(), vars["OPENAI_PORT"].as_str()),
        ("127.0.0.1", "8080")
    );
    assert!(!vars.contains_key("OPENAI_TLS_SNI"));
    assert!(upstream_vars("OPENAI", "api.openai.com").is_err());
}
