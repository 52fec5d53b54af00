//! Envoy's side of the bundle in memory, for the suite's tests and its chain
//! benchmark (`benches/chain.rs` includes this file): shared data with
//! compare-and-swap, facts, and a count of host calls, each optionally
//! listed by kind and name; and one whole call through a pipeline.

#![allow(dead_code)] // each includer uses a different part

use llm_api::Fact;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, SystemTime};
use wasm_glue::{BodyNeed, Host, LogLevel, Pipeline, SharedConflict, Stages};

#[derive(Default)]
pub struct MemoryHost {
    pub shared: HashMap<String, (Vec<u8>, u32)>,
    pub facts: HashMap<Fact, String>,
    pub queues: Vec<(String, VecDeque<Vec<u8>>)>,
    pub calls: Cell<u64>,
    /// While set, each call is also listed by kind and name (`fact llm.provider`,
    /// `set_fact llm.cluster`, ...); off while a benchmark measures.
    pub tracing: Cell<bool>,
    pub trace: RefCell<Vec<String>>,
}

impl MemoryHost {
    fn call(&self, what: impl FnOnce() -> String) {
        self.calls.set(self.calls.get() + 1);
        if self.tracing.get() {
            self.trace.borrow_mut().push(what());
        }
    }

    /// The names of the listed calls of `kind` (e.g. every fact read).
    pub fn traced(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{kind} ");
        self.trace
            .borrow()
            .iter()
            .filter_map(|call| call.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

impl Host for MemoryHost {
    fn now(&self) -> SystemTime {
        self.call(|| "now".to_owned());
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
    fn set_request_header(&mut self, name: &str, _: Option<&str>) {
        self.call(|| format!("set_request_header {name}"));
    }
    fn set_response_header(&mut self, name: &str, _: Option<&str>) {
        self.call(|| format!("set_response_header {name}"));
    }
    fn clear_route_cache(&mut self) {
        self.call(|| "clear_route_cache".to_owned());
    }
    fn set_fact(&mut self, fact: Fact, value: &str) {
        self.call(|| format!("set_fact {}", fact.name()));
        self.facts.insert(fact, value.to_owned());
    }
    fn fact(&self, fact: Fact) -> Option<String> {
        self.call(|| format!("fact {}", fact.name()));
        self.facts.get(&fact).cloned()
    }
    fn upstream_host_metadata(&self, _: &str, _: &str) -> Option<String> {
        self.call(|| "upstream_host_metadata".to_owned());
        None
    }
    fn upstream_attempts(&self) -> Option<u64> {
        self.call(|| "upstream_attempts".to_owned());
        Some(1)
    }
    fn count(&mut self, name: &str, _: u64) {
        self.call(|| format!("count {name}"));
    }
    fn record(&mut self, name: &str, _: u64) {
        self.call(|| format!("record {name}"));
    }
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.call(|| format!("shared_get {key}"));
        self.shared.get(key).cloned()
    }
    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedConflict> {
        self.call(|| format!("shared_set {key}"));
        let version = self.shared.get(key).map_or(0, |(_, v)| *v);
        if cas.is_some_and(|c| c != version && version != 0) {
            return Err(SharedConflict);
        }
        self.shared
            .insert(key.to_owned(), (value.to_vec(), version + 1));
        Ok(())
    }
    fn queue_register(&mut self, name: &str) -> Option<u32> {
        self.call(|| format!("queue_register {name}"));
        let index = self
            .queues
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| {
                self.queues.push((name.to_owned(), VecDeque::new()));
                self.queues.len() - 1
            });
        u32::try_from(index).ok()
    }
    fn queue_push(&mut self, queue: u32, item: &[u8]) -> bool {
        self.call(|| "queue_push".to_owned());
        self.queues
            .get_mut(queue as usize)
            .map(|(_, q)| q.push_back(item.to_vec()))
            .is_some()
    }
    fn queue_pop(&mut self, queue: u32) -> Option<Vec<u8>> {
        self.call(|| "queue_pop".to_owned());
        self.queues.get_mut(queue as usize)?.1.pop_front()
    }
    fn dispatch_http(&mut self, _: &str, _: &[(&str, &str)], _: &[u8], _: Duration) -> Option<u32> {
        self.call(|| "dispatch_http".to_owned());
        Some(1)
    }
    fn log(&self, _: LogLevel, _: &str) {
        self.call(|| "log".to_owned());
    }
}

/// One call through the stages as Envoy drives them: request headers and
/// body, response headers and body (when a stage wants it), done.
pub fn call(
    stages: &Rc<Stages>,
    host: &mut MemoryHost,
    headers: Vec<(String, String)>,
    request: &[u8],
    content_type: &str,
    response: &[u8],
) {
    let mut pipeline = Pipeline::new(stages, headers);
    pipeline.on_request_headers(host, false);
    black_box(pipeline.on_request_body(host, request));
    pipeline.on_response_headers(host, Some(200), Some(content_type));
    if pipeline.response_body_need(true) != BodyNeed::Nothing {
        black_box(pipeline.on_response_body(host, response, true));
    }
    pipeline.on_done(host);
}
