//! Every fact the bundle's stages set is one some stage declares with
//! `Stage::publishes`: the pipeline answers reads of declared facts itself,
//! so a fact set but not declared would cost a host call on every read (and
//! a declared one another filter sets would be missed: none is, see
//! `Stage::publishes`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, SystemTime};
use wasm_glue::{BodyNeed, Host, LogLevel, Pipeline, SharedConflict, Stages};

/// Envoy in memory, listing the facts set and read through it.
#[derive(Default)]
struct Recorder {
    shared: HashMap<String, (Vec<u8>, u32)>,
    facts: HashMap<String, String>,
    set: BTreeSet<String>,
    read: std::cell::RefCell<BTreeSet<String>>,
}

impl Host for Recorder {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
    fn set_request_header(&mut self, _: &str, _: Option<&str>) {}
    fn set_response_header(&mut self, _: &str, _: Option<&str>) {}
    fn clear_route_cache(&mut self) {}
    fn set_fact(&mut self, name: &str, value: &str) {
        self.set.insert(name.to_owned());
        self.facts.insert(name.to_owned(), value.to_owned());
    }
    fn fact(&self, name: &str) -> Option<String> {
        self.read.borrow_mut().insert(name.to_owned());
        self.facts.get(name).cloned()
    }
    fn upstream_host_metadata(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn upstream_attempts(&self) -> Option<u64> {
        Some(1)
    }
    fn count(&mut self, _: &str, _: u64) {}
    fn record(&mut self, _: &str, _: u64) {}
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.get(key).cloned()
    }
    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedConflict> {
        let version = self.shared.get(key).map_or(0, |(_, v)| *v);
        if cas.is_some_and(|c| c != version && version != 0) {
            return Err(SharedConflict);
        }
        self.shared.insert(key.to_owned(), (value.to_vec(), version + 1));
        Ok(())
    }
    fn dispatch_http(&mut self, _: &str, _: &[(&str, &str)], _: &[u8], _: Duration) -> Option<u32> {
        Some(1)
    }
    fn log(&self, _: LogLevel, _: &str) {}
}

fn call(stages: &Rc<Stages>, host: &mut Recorder, request: &Value, content_type: &str, response: &[u8]) {
    let body = serde_json::to_vec(request).unwrap();
    let headers = [(":method", "POST"), (":path", "/v1/chat/completions"), ("content-type", "application/json"), ("x-agent-id", "a")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut pipeline = Pipeline::new(stages, headers);
    pipeline.on_request_headers(host, false);
    pipeline.on_request_body(host, &body);
    pipeline.on_response_headers(host, Some(200), Some(content_type));
    if pipeline.response_body_need(true) != BodyNeed::Nothing {
        pipeline.on_response_body(host, response, true);
    }
    pipeline.on_done(host);
}

#[test]
fn every_fact_the_bundle_sets_is_declared_and_none_it_reads_back_reaches_the_host() {
    let mut config: Value = serde_json::from_str(include_str!("../../../envoy/filters/demo.json")).unwrap();
    config["pii_scan"]["entities"] = json!({"EMAIL": "route"});
    config["pii_scan"]["route_to"] = json!({"provider": "azure"});
    config["pii_scan"]["response"] = json!({"default_action": "redact"});
    let stages = Rc::new(Stages::new(llm_gateway_suite::load(&serde_json::to_vec(&config).unwrap()).unwrap()));
    let declared: BTreeSet<&str> = stages.iter().flat_map(|s| s.publishes().iter().copied()).collect();
    let mut host = Recorder::default();

    let email = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "mail me at jane.doe@example.com"}]});
    let reply = json!({"model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "write to bob@example.org"}}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}});
    call(&stages, &mut host, &email, "application/json", &serde_json::to_vec(&reply).unwrap());
    let plain = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    call(&stages, &mut host, &plain, "application/json", &serde_json::to_vec(&reply).unwrap());
    let azure = json!({"model": "gpt-4o-mini-azure", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n",
        "data: [DONE]\n\n"
    );
    call(&stages, &mut host, &azure, "text/event-stream", stream.as_bytes());

    for fact in ["llm.pii.findings", "llm.pii.route", "llm.pii.response_findings", "llm.azure.deployment", "llm.fallback", "llm.usage.stream", "llm.audit.record"] {
        assert!(host.set.contains(fact), "the calls exercise {fact}: {:?}", host.set);
    }
    let undeclared: Vec<&String> = host.set.iter().filter(|f| !declared.contains(f.as_str())).collect();
    assert!(undeclared.is_empty(), "set but not declared by any stage: {undeclared:?}");
    let read = host.read.borrow();
    let asked: Vec<&String> = read.iter().filter(|f| declared.contains(f.as_str())).collect();
    assert!(asked.is_empty(), "facts of the bundle's own stages read from the host: {asked:?}");
    assert!(read.contains("llm.attempt.provider"), "the upstream filter's facts still come from the host: {read:?}");
}
