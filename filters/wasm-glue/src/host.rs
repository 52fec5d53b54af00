//! What a stage may ask of Envoy. The wasm adapter implements it over
//! proxy-wasm; tests implement it in memory.

use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Request headers are read from the [`crate::Exchange`]'s snapshot, never
/// from the host: Envoy forgets a filter's request headers once its headers
/// callback returns, so reading or changing them later fails.
pub trait Host {
    fn now(&self) -> SystemTime;
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
    fn set_fact(&mut self, name: &str, value: &str);
    /// Adds `by` to the counter `name` (defined on first use).
    fn count(&mut self, name: &str, by: u64);
    fn log(&self, level: LogLevel, message: &str);
}
