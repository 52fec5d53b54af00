//! [`MemoryHost`]: the [`Host`] a stage sees in Envoy, kept in memory and
//! open to inspection.

use super::call::Callback;
use crate::host::{Host, LogLevel, SharedConflict};
use crate::pipeline::Stages;
use llm_api::Fact;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// What the host holds for one HTTP stream: the request and response header
/// maps as Envoy would forward them, and the facts (filter state) set on it.
/// [`crate::testing::Call`] keeps one per stream and swaps it in for each
/// callback, so that interleaved streams keep apart as they do in Envoy.
#[derive(Debug, Default, Clone)]
pub(crate) struct StreamState {
    pub(crate) request_headers: BTreeMap<String, String>,
    pub(crate) response_headers: BTreeMap<String, String>,
    pub(crate) facts: BTreeMap<String, String>,
}

/// An HTTP call a stage made with [`Host::dispatch_http`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// Envoy's side of a filter, in memory: header maps, facts, metrics, logs,
/// shared data with Envoy's compare-and-swap, HTTP calls and
/// a clock the test sets. Every field is public so that a test reads what a
/// stage did and sets what Envoy would hold (a fact from another filter, the
/// endpoint metadata of an upstream attempt).
///
/// Header maps and facts belong to one stream; [`crate::testing::Call`]
/// seeds them from the request and leaves the last stream's in place. The
/// rest lives as long as the host, as it does in an Envoy worker.
#[derive(Debug)]
pub struct MemoryHost {
    /// What [`Host::now`] answers; move it with [`MemoryHost::advance`].
    pub now: SystemTime,
    /// The request headers as they would go upstream: the client's, with
    /// the stages' changes (a removed header is absent).
    pub request_headers: BTreeMap<String, String>,
    /// The response headers as they would reach the client, `:status`
    /// included.
    pub response_headers: BTreeMap<String, String>,
    /// Facts (filter state) set on the stream, by the stages or by the test
    /// for another filter.
    pub facts: BTreeMap<String, String>,
    /// Counters by name.
    pub counters: BTreeMap<String, u64>,
    /// Histogram values by name, in the order they were recorded.
    pub histograms: BTreeMap<String, Vec<u64>>,
    /// Every log line.
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    /// Shared data: value and compare-and-swap version.
    pub shared: HashMap<String, (Vec<u8>, u32)>,
    /// HTTP calls made, in order.
    pub http_calls: Vec<HttpCall>,
    /// The upstream endpoint's metadata, `(namespace, key)` → value.
    pub upstream_metadata: BTreeMap<(String, String), String>,
    /// What [`Host::upstream_attempts`] answers.
    pub upstream_attempts: Option<u64>,
    /// How often a stage cleared the route cache.
    pub route_cache_clears: u32,
    /// Host calls made, of every kind: each is a crossing into Envoy that a
    /// native measurement does not show.
    pub calls: Cell<u64>,
    /// While set, each call is also listed by kind and name in `trace`
    /// (`fact llm.provider`, `set_fact llm.cluster`, ...); off while a
    /// benchmark measures.
    pub tracing: Cell<bool>,
    pub trace: RefCell<Vec<String>>,
    /// Envoy's next compare-and-swap version (one counter for every key).
    next_cas: u32,
    /// The callback a [`crate::testing::Call`] is running, if any: header
    /// changes outside their own headers callback are then ignored and
    /// logged, as the adapter does.
    pub(crate) callback: Option<Callback>,
}

impl Default for MemoryHost {
    fn default() -> Self {
        MemoryHost {
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            request_headers: BTreeMap::new(),
            response_headers: BTreeMap::new(),
            facts: BTreeMap::new(),
            counters: BTreeMap::new(),
            histograms: BTreeMap::new(),
            logs: RefCell::new(Vec::new()),
            shared: HashMap::new(),
            http_calls: Vec::new(),
            upstream_metadata: BTreeMap::new(),
            upstream_attempts: None,
            route_cache_clears: 0,
            calls: Cell::new(0),
            tracing: Cell::new(false),
            trace: RefCell::new(Vec::new()),
            next_cas: 1,
            callback: None,
        }
    }
}

impl MemoryHost {
    /// Moves the clock on.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Runs every stage's [`crate::Stage::start`], as Envoy does when it
    /// loads the configuration.
    pub fn start(&mut self, stages: &Stages) {
        for stage in stages.iter() {
            stage.start(self);
        }
    }

    /// Fires the VM's timer once for every stage.
    pub fn tick(&mut self, stages: &Stages) {
        for stage in stages.iter() {
            stage.on_tick(self);
        }
    }

    /// Delivers the answer to an HTTP call (`None`: it failed without one).
    pub fn http_call_response(&mut self, stages: &Stages, token: u32, status: Option<u16>) {
        for stage in stages.iter() {
            stage.on_http_call_response(token, status, self);
        }
    }

    /// A counter's value, 0 when it was never counted.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// A fact's value.
    pub fn fact_value(&self, name: &str) -> Option<&str> {
        self.facts.get(name).map(String::as_str)
    }

    /// Every log line's text.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.borrow().iter().map(|(_, m)| m.clone()).collect()
    }

    /// The names of the traced calls of `kind` (e.g. every fact read).
    pub fn traced(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{kind} ");
        self.trace
            .borrow()
            .iter()
            .filter_map(|call| call.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// Exchanges the host's stream state (header maps, facts) with
    /// `state`.
    pub(crate) fn swap_stream(&mut self, state: &mut StreamState) {
        std::mem::swap(&mut self.request_headers, &mut state.request_headers);
        std::mem::swap(&mut self.response_headers, &mut state.response_headers);
        std::mem::swap(&mut self.facts, &mut state.facts);
    }

    /// Whether a call is running a callback other than `allowed`.
    fn outside(&self, allowed: Callback) -> bool {
        self.callback.is_some_and(|running| running != allowed)
    }

    fn note(&self, what: impl FnOnce() -> String) {
        self.calls.set(self.calls.get() + 1);
        if self.tracing.get() {
            self.trace.borrow_mut().push(what());
        }
    }
}

fn set_header(map: &mut BTreeMap<String, String>, name: &str, value: Option<&str>) {
    match value {
        Some(value) => {
            map.insert(name.to_owned(), value.to_owned());
        }
        None => {
            map.remove(name);
        }
    }
}

impl Host for MemoryHost {
    fn now(&self) -> SystemTime {
        self.note(|| "now".to_owned());
        self.now
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        self.note(|| format!("set_request_header {name}"));
        if self.outside(Callback::RequestHeaders) {
            self.log(
                LogLevel::Error,
                &format!("request header `{name}` set after the headers callback; ignored"),
            );
            return;
        }
        set_header(&mut self.request_headers, name, value);
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        self.note(|| format!("set_response_header {name}"));
        if self.outside(Callback::ResponseHeaders) {
            self.log(
                LogLevel::Error,
                &format!("response header `{name}` set after the headers callback; ignored"),
            );
            return;
        }
        set_header(&mut self.response_headers, name, value);
    }

    fn clear_route_cache(&mut self) {
        self.note(|| "clear_route_cache".to_owned());
        self.route_cache_clears += 1;
    }

    fn set_fact(&mut self, fact: Fact, value: &str) {
        let name = fact.name();
        self.note(|| format!("set_fact {name}"));
        self.facts.insert(name.to_owned(), value.to_owned());
    }

    fn fact(&self, fact: Fact) -> Option<String> {
        let name = fact.name();
        self.note(|| format!("fact {name}"));
        self.facts.get(name).cloned()
    }

    fn upstream_host_metadata(&self, namespace: &str, key: &str) -> Option<String> {
        self.note(|| format!("upstream_host_metadata {namespace}.{key}"));
        self.upstream_metadata
            .get(&(namespace.to_owned(), key.to_owned()))
            .cloned()
    }

    fn upstream_attempts(&self) -> Option<u64> {
        self.note(|| "upstream_attempts".to_owned());
        self.upstream_attempts
    }

    fn count(&mut self, name: &str, by: u64) {
        self.note(|| format!("count {name}"));
        match self.counters.get_mut(name) {
            Some(counter) => *counter += by,
            None => {
                self.counters.insert(name.to_owned(), by);
            }
        }
    }

    fn record(&mut self, name: &str, value: u64) {
        self.note(|| format!("record {name}"));
        match self.histograms.get_mut(name) {
            Some(values) => values.push(value),
            None => {
                self.histograms.insert(name.to_owned(), vec![value]);
            }
        }
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.note(|| format!("shared_get {key}"));
        self.shared.get(key).cloned()
    }

    /// As Envoy: a version of 0 (or none) writes unconditionally, and so
    /// does any write of a key not yet set; otherwise the version must be
    /// the key's current one.
    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedConflict> {
        self.note(|| format!("shared_set {key}"));
        let current = self.shared.get(key).map(|(_, version)| *version);
        if let (Some(cas), Some(current)) = (cas.filter(|c| *c != 0), current) {
            if cas != current {
                return Err(SharedConflict);
            }
        }
        let version = self.next_cas;
        self.next_cas = self.next_cas.checked_add(1).unwrap_or(1);
        self.shared
            .insert(key.to_owned(), (value.to_vec(), version));
        Ok(())
    }

    fn dispatch_http(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Option<u32> {
        self.note(|| format!("dispatch_http {cluster}"));
        let token = u32::try_from(self.http_calls.len() + 1).ok()?;
        self.http_calls.push(HttpCall {
            token,
            cluster: cluster.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            timeout,
        });
        Some(token)
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.note(|| "log".to_owned());
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_data_compares_and_swaps_as_envoy_does() {
        let mut host = MemoryHost::default();
        assert_eq!(host.shared_set("k", b"a", Some(7)), Ok(()), "a new key");
        let (_, version) = host.shared_get("k").unwrap();
        assert_eq!(
            host.shared_set("k", b"b", Some(version + 1)),
            Err(SharedConflict)
        );
        assert_eq!(host.shared_set("k", b"b", Some(version)), Ok(()));
        assert_eq!(
            host.shared_set("k", b"c", Some(version)),
            Err(SharedConflict),
            "the version moved on"
        );
        assert_eq!(host.shared_set("k", b"c", Some(0)), Ok(()), "0: no check");
        assert_eq!(host.shared_set("k", b"d", None), Ok(()));
        assert_eq!(host.shared_get("k").unwrap().0, b"d");
    }
}
