//! A wasm VM that fails, through a real Envoy: the demo gateway runs the
//! crash bundle (the bundle with wasm-glue's `fault-injection` feature, `make
//! crash-bundle`), whose VM traps on a request carrying
//! `x-llm-gateway-test-crash`. Envoy's failure policy (`FAIL_RELOAD` on every
//! filter of the bundle) must fail that request without letting it reach a
//! provider unscanned, and serve the next ones from a fresh VM.

use gateway_harness::curl::post_json;
use gateway_harness::{paths, Stack, StackOptions};
use std::time::{Duration, Instant};

const PII_CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Mail jane.doe@example.com the report."}]}"#;

fn crash_bundle_stack(name: &str) -> Stack {
    let crash_dir = paths::crash_wasm_dir();
    assert!(
        crash_dir.join("llm_gateway_bundle.wasm").exists(),
        "{} is missing: run `make crash-bundle`",
        crash_dir.display()
    );
    let mut options = StackOptions::demo(name);
    options.wasm_dir = crash_dir;
    Stack::start(options).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_failed_vm_fails_its_request_closed_and_is_reloaded() {
    let stack = crash_bundle_stack("vm-failure");
    let url = stack.url("/v1/chat/completions");
    assert_eq!(
        post_json(&url, PII_CHAT, &[]).unwrap().status,
        200,
        "the crash bundle serves normally"
    );
    stack.fake.clear_requests().unwrap();

    // Crash the VM of each worker (requests spread over both), several times.
    for _ in 0..6 {
        let crashed = post_json(&url, PII_CHAT, &["-H", "x-llm-gateway-test-crash: 1"]).unwrap();
        assert!(
            crashed.status >= 500,
            "a failed VM fails the request: {} {}",
            crashed.status,
            crashed.text()
        );
        // Whatever the VM state, a request with PII never reaches a provider
        // unscanned, even the one that met the failure.
        for sent in stack.fake.requests().unwrap() {
            let body = sent["body"].as_str().unwrap_or_default();
            assert!(
                !body.contains("jane.doe@example.com"),
                "PII passed a failed VM: {body}"
            );
        }
    }
    let log = stack.envoy.log();
    assert!(
        log.contains("Wasm VM failed") || log.contains("unreachable"),
        "Envoy saw the VM fail:\n{log}"
    );

    // Fresh VMs serve the next requests (Envoy reloads after a back-off of
    // about a second), with every filter working again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut served = 0;
    while served < 10 {
        let response = post_json(&url, PII_CHAT, &[]).unwrap();
        if response.status == 200 {
            served += 1;
        } else {
            assert!(
                Instant::now() < deadline,
                "no fresh VM within 15 s: {} {}",
                response.status,
                response.text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let sent = stack.fake.requests().unwrap();
    let last = sent
        .last()
        .expect("requests reached the provider after the reload");
    let body = last["body"].as_str().unwrap_or_default();
    assert!(
        !body.contains("jane.doe@example.com") && body.contains("Mail "),
        "the reloaded VM redacts: {body}"
    );
    let prometheus = stack.envoy.prometheus().unwrap();
    assert!(
        prometheus.contains("llm_gateway_audit_requests"),
        "the audit stage runs in the new VM"
    );
}
