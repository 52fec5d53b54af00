//! What a stage may ask of Envoy. The wasm adapter implements it over
//! proxy-wasm; tests implement it in memory.

use llm_api::{Fact, JsonFact};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A shared-data write lost a compare-and-swap race (or the host refused it):
/// read again and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedConflict;

/// Request headers are read from the [`crate::Exchange`]'s snapshot, never
/// from the host: Envoy forgets a filter's request headers once its headers
/// callback returns, so reading or changing them later fails.
pub trait Host {
    fn now(&self) -> SystemTime;
    /// Milliseconds since the Unix epoch, as the limiter and the audit
    /// outbox keep time.
    fn now_ms(&self) -> u64 {
        self.now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    /// Sets (or with `None` removes) a request header. Only effective in
    /// `on_request_headers`; decisions made later travel as facts.
    fn set_request_header(&mut self, name: &str, value: Option<&str>);
    /// Sets (or with `None` removes) a response header. Only effective in
    /// `on_response_headers`.
    fn set_response_header(&mut self, name: &str, value: Option<&str>);
    /// Makes Envoy pick the route again, after a fact it routes on changed
    /// (the route table matches on filter state such as `wasm.llm.cluster`).
    fn clear_route_cache(&mut self);
    /// Publishes a fact for the other filters and for access logs, as Envoy
    /// filter state (`wasm.<name>`). Facts never hold prompt text, keys or PII.
    /// A JSON-valued fact is published with `set_json_fact` (below).
    fn set_fact(&mut self, fact: Fact, value: &str);
    /// Reads a fact published by a stage of this request, also one that ran
    /// downstream when this stage runs as an upstream filter.
    fn fact(&self, fact: Fact) -> Option<String>;
    /// A string in the metadata of the upstream endpoint this attempt goes
    /// to (`filter_metadata.<namespace>.<key>`): how an upstream stage on a
    /// cluster whose endpoints are different providers (a fallback chain)
    /// learns which one Envoy picked. `None` downstream, where no endpoint is
    /// chosen yet.
    fn upstream_host_metadata(&self, namespace: &str, key: &str) -> Option<String>;
    /// How many upstream attempts the router made (retries and fallbacks
    /// included), once the stream is done; `None` when no request went
    /// upstream.
    fn upstream_attempts(&self) -> Option<u64>;
    /// Adds `by` to the counter `name` (defined on first use).
    fn count(&mut self, name: &str, by: u64);
    /// Records `value` in the histogram `name` (defined on first use).
    fn record(&mut self, name: &str, value: u64);
    /// Reads data shared by every worker's VM: the value (empty for a key
    /// set to an empty value) and its version; `None` for a key never set.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes shared data. With `Some(cas)` the write succeeds only if the
    /// value is still at that version, so read-modify-write loops lose no
    /// update across workers (Envoy's shared data is exact with CAS).
    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedConflict>;
    /// Sends an HTTP request to an Envoy cluster without blocking; the answer
    /// comes to [`crate::Stage::on_http_call_response`] with the returned
    /// token. `None` if Envoy refused it (e.g. an unknown cluster).
    fn dispatch_http(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Option<u32>;
    fn log(&self, level: LogLevel, message: &str);
}

impl dyn Host + '_ {
    /// Publishes a JSON-valued fact as its one type.
    pub fn set_json_fact<T: JsonFact>(&mut self, value: &T) {
        if let Ok(json) = serde_json::to_string(value) {
            self.set_fact(T::FACT, &json);
        }
    }

    /// Reads a JSON-valued fact as its one type; `None` when it is absent or
    /// not of that shape.
    pub fn json_fact<T: JsonFact>(&self) -> Option<T> {
        serde_json::from_str(&self.fact(T::FACT)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryHost as FakeHost;
    use llm_api::fact::PiiRoute;

    #[test]
    fn a_json_fact_is_read_back_as_its_type_and_a_bad_one_as_absent() {
        let mut envoy = FakeHost::default();
        let host: &mut dyn Host = &mut envoy;
        assert_eq!(host.json_fact::<PiiRoute>(), None);
        let route = PiiRoute {
            provider: "local".into(),
            model: Some("llama".into()),
        };
        host.set_json_fact(&route);
        assert_eq!(host.json_fact::<PiiRoute>(), Some(route));
        host.set_fact(Fact::PiiRoute, r#"{"model": "llama"}"#);
        assert_eq!(host.json_fact::<PiiRoute>(), None, "no provider");
    }
}
