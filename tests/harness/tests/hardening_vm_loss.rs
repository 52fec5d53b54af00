//! What a failed VM loses, through a real Envoy running the crash bundle
//! (`make crash-bundle`; see vm_failure.rs): only the calls in flight on it.
//! Every completed call keeps both copies of its record: the access-log line,
//! written by Envoy itself when the call ends, and the collector copy,
//! written into Envoy's shared data outside the VM and sent by the reloaded
//! VMs (docs/configuration.md, audit, "what can be lost").

use gateway_harness::curl::post_json;
use gateway_harness::{paths, Stack, StackOptions};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_failed_vm_loses_only_its_calls_in_flight() {
    let crash_dir = paths::crash_wasm_dir();
    assert!(
        crash_dir.join("llm_gateway_bundle.wasm").exists(),
        "{} is missing: run `make crash-bundle`",
        crash_dir.display()
    );
    let mut options = StackOptions::demo("vm-loss");
    options.wasm_dir = crash_dir;
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");

    // Completed calls, then VM failures at once, within the demo's 500 ms
    // flush interval: their records are still waiting, not yet sent.
    let completed: BTreeSet<String> = (0..8)
        .map(|_| {
            let response = post_json(&url, CHAT, &[]).unwrap();
            assert_eq!(response.status, 200);
            response.request_id()
        })
        .collect();
    for i in 0..4 {
        let crashed = post_json(
            &url,
            CHAT,
            &[
                "-H",
                "x-llm-gateway-test-crash: 1",
                "-H",
                &format!("x-request-id: crashed-{i}"),
            ],
        )
        .unwrap();
        assert!(crashed.status >= 500, "{}", crashed.status);
    }

    // Every completed call has its access-log line.
    let logged = stack
        .access_log_records(completed.len(), Duration::from_secs(10))
        .unwrap();
    assert!(
        completed.is_subset(&ids(&logged)),
        "an access-log line per completed call"
    );
    // The calls in flight on a failed VM have no record anywhere.
    let crashed = |records: &[Value]| {
        records.iter().any(|r| {
            r["client_request_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("crashed-"))
        })
    };
    assert!(!crashed(&logged));

    // Fresh VMs serve and deliver again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut after = BTreeSet::new();
    while after.len() < 4 {
        let response = post_json(&url, CHAT, &[]).unwrap();
        if response.status == 200 {
            after.insert(response.request_id());
        } else {
            assert!(Instant::now() < deadline, "no fresh VM within 15 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let every: BTreeSet<String> = completed.union(&after).cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let collected = loop {
        let collected = ids(&stack.fake.collected_records(0, Duration::ZERO).unwrap());
        if every.is_subset(&collected) || Instant::now() > deadline {
            break collected;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let lost: Vec<&String> = completed.difference(&collected).collect();
    assert!(
        lost.is_empty(),
        "collector records lost with the failed VMs: {} of {} completed calls",
        lost.len(),
        completed.len()
    );
    assert!(
        after.is_subset(&collected),
        "the reloaded VMs deliver their records"
    );
    let all = stack.fake.collected_records(0, Duration::ZERO).unwrap();
    assert!(
        !crashed(&all),
        "no collector record of a call in flight on a failed VM"
    );
    assert_eq!(collected, every, "no stray record");
    assert_eq!(all.len(), every.len(), "each record once");
}
