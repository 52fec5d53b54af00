//! Every fact the bundle's stages set is one some stage declares with
//! `Stage::publishes`: the pipeline answers reads of declared facts itself,
//! so a fact set but not declared would cost a host call on every read (and
//! a declared one another filter sets would be missed: none is, see
//! `Stage::publishes`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::rc::Rc;
use wasm_glue::testing::{ClientRequest, MemoryHost, ProviderResponse};
use wasm_glue::Stages;

fn call(stages: &Rc<Stages>, host: &mut MemoryHost, request: &Value, response: ProviderResponse) {
    let request = ClientRequest::post("/v1/chat/completions")
        .header("x-client-id", "demo")
        .header("x-agent-id", "a")
        .json(request);
    host.call(stages, &request, &response);
}

#[test]
fn every_fact_the_bundle_sets_is_declared_and_none_it_reads_back_reaches_the_host() {
    let mut config: Value =
        serde_json::from_str(include_str!("../../../envoy/filters/demo.json")).unwrap();
    config["pii_scan"]["entities"] = json!({"EMAIL": "route"});
    config["pii_scan"]["route_to"] = json!({"provider": "azure"});
    config["pii_scan"]["response"] = json!({"default_action": "redact"});
    let stages = Rc::new(llm_gateway_suite::load(&serde_json::to_vec(&config).unwrap()).unwrap());
    let declared: BTreeSet<&str> = stages
        .iter()
        .flat_map(|s| s.publishes().iter().copied())
        .collect();
    let mut host = MemoryHost::default();
    host.tracing.set(true);

    let email = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "mail me at jane.doe@example.com"}]});
    let reply = json!({"model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "write to bob@example.org"}}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}});
    call(
        &stages,
        &mut host,
        &email,
        ProviderResponse::json(200, &reply),
    );
    let plain = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    call(
        &stages,
        &mut host,
        &plain,
        ProviderResponse::json(200, &reply),
    );
    let azure = json!({"model": "gpt-4o-mini-azure", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n",
        "data: [DONE]\n\n"
    );
    call(&stages, &mut host, &azure, ProviderResponse::sse(stream));

    let set: BTreeSet<String> = host.traced("set_fact").into_iter().collect();
    let read: BTreeSet<String> = host.traced("fact").into_iter().collect();
    for fact in [
        "llm.pii.findings",
        "llm.pii.route",
        "llm.pii.response_findings",
        "llm.azure.deployment",
        "llm.fallback",
        "llm.usage.stream",
        "llm.audit.record",
    ] {
        assert!(set.contains(fact), "the calls exercise {fact}: {set:?}");
    }
    let undeclared: Vec<&String> = set
        .iter()
        .filter(|f| !declared.contains(f.as_str()))
        .collect();
    assert!(
        undeclared.is_empty(),
        "set but not declared by any stage: {undeclared:?}"
    );
    let asked: Vec<&String> = read
        .iter()
        .filter(|f| declared.contains(f.as_str()))
        .collect();
    assert!(
        asked.is_empty(),
        "facts of the bundle's own stages read from the host: {asked:?}"
    );
    assert!(
        read.contains("llm.attempt.provider"),
        "the upstream filter's facts still come from the host: {read:?}"
    );
}
