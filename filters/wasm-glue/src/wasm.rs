//! The thin adapter between proxy-wasm and the [`Pipeline`]: it moves headers
//! and bodies between Envoy and the stages and nothing else.

use crate::body_limit::{BodyLimit, Intake};
use crate::config::ConfigError;
use crate::host::{Host, LogLevel, SharedConflict};
use crate::pipeline::{Pipeline, Reply, Stages, Step};
use crate::profile::span;
use crate::response::{BodyNeed, BodyStep};
use llm_api::Fact;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel as EnvoyLevel, MapType, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// Builds a module's stages from its raw plugin configuration.
pub type Loader = fn(&[u8]) -> Result<Stages, ConfigError>;

thread_local! {
    /// The module's loader; proxy-wasm takes the root factory as a plain `fn`,
    /// which cannot capture it.
    static LOADER: std::cell::Cell<Option<Loader>> = const { std::cell::Cell::new(None) };
}

/// Registers the root context of a module; call it from `proxy_wasm::main!`.
pub fn start(load: Loader) {
    LOADER.with(|loader| loader.set(Some(load)));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root {
            load: LOADER.with(std::cell::Cell::get),
            stages: Rc::new(Stages::new(Vec::new())),
            warmed: false,
        })
    });
}

/// How soon after the configuration the timer first fires, to run
/// [`Stage::warm`]: at once, but after `on_configure` has returned.
const WARM_DELAY: Duration = Duration::from_millis(1);

struct Root {
    load: Option<Loader>,
    stages: Rc<Stages>,
    /// Whether the first tick, which runs [`Stage::warm`], has fired.
    warmed: bool,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        _body_size: usize,
        _num_trailers: usize,
    ) {
        let status = (num_headers > 0)
            .then(|| self.get_http_call_response_header_bytes(":status"))
            .flatten()
            .and_then(|s| std::str::from_utf8(&s).ok().and_then(|s| s.parse().ok()));
        for stage in self.stages.iter() {
            stage.on_http_call_response(token, status, &mut EnvoyHost(Phase::Tick));
        }
    }
}

impl RootContext for Root {
    /// Validates the configuration once per VM; returning false makes Envoy
    /// refuse it (at start, under `--mode validate`, and on a config update,
    /// where the old configuration keeps serving).
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let Some(load) = self.load else { return false };
        match load(&bytes) {
            Ok(stages) => {
                for stage in stages.iter() {
                    stage.start(&mut EnvoyHost(Phase::Configure));
                }
                self.stages = Rc::new(stages);
                self.warmed = false;
                let _ = hostcalls::set_tick_period(WARM_DELAY);
                true
            }
            Err(err) => {
                EnvoyHost(Phase::Configure).log(LogLevel::Error, &err.to_string());
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if !self.warmed {
            self.warmed = true;
            for stage in self.stages.iter() {
                stage.warm(&mut EnvoyHost(Phase::Tick));
            }
            // From now on the stages' own timer: the shortest period any
            // asks for, or none.
            let period = self.stages.iter().filter_map(|s| s.tick_period()).min();
            let _ = hostcalls::set_tick_period(period.unwrap_or(Duration::ZERO));
            return;
        }
        for stage in self.stages.iter() {
            stage.on_tick(&mut EnvoyHost(Phase::Tick));
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            stages: self.stages.clone(),
            pipeline: None,
            request_buffered: 0,
            request_limit: BodyLimit::default(),
            request_done: false,
            response_buffered: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    stages: Rc<Stages>,
    pipeline: Option<Pipeline>,
    /// What Envoy holds of a body we paused on. A body may end with trailers
    /// rather than a body callback with `end_of_stream` (HTTP/2 peers, and
    /// Envoy's decompressor, which appends its byte counts as trailers): the
    /// trailers callback then completes it.
    request_buffered: usize,
    request_limit: BodyLimit,
    request_done: bool,
    response_buffered: Option<usize>,
}

impl Context for Stream {}

impl Stream {
    /// Runs the stages over the whole request body Envoy buffered.
    fn complete_request(&mut self) -> Action {
        self.request_done = true;
        let size = self.request_buffered;
        let body = span(
            || "host",
            "get_body",
            || self.get_http_request_body(0, size).unwrap_or_default(),
        );
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Action::Continue;
        };
        let step = pipeline.on_request_body(&mut EnvoyHost(Phase::Body), &body);
        self.act(step, size, true)
    }

    /// Answers a request body over the limit with the 413.
    fn refuse_request(&mut self) -> Action {
        self.request_done = true;
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Action::Continue;
        };
        let step = pipeline.refuse_request_body();
        self.act(step, 0, true)
    }

    /// Hands the stages the response body Envoy holds (a stream's chunk, or
    /// a whole buffered body at its end).
    fn respond_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let chunk = span(
            || "host",
            "get_body",
            || {
                self.get_http_response_body(0, body_size)
                    .unwrap_or_default()
            },
        );
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Action::Continue;
        };
        match pipeline.on_response_body(&mut EnvoyHost(Phase::Body), &chunk, end_of_stream) {
            BodyStep::Continue => Action::Continue,
            BodyStep::Pause => Action::Pause,
            BodyStep::Replace(bytes) => {
                span(
                    || "host",
                    "set_body",
                    || self.set_http_response_body(0, body_size, &bytes),
                );
                Action::Continue
            }
        }
    }

    /// Carries out a pipeline step. Request headers are never paused: Envoy
    /// would then stop delivering the body.
    fn act(&self, step: Step, buffered: usize, request: bool) -> Action {
        match step {
            Step::Continue => Action::Continue,
            Step::Pause => Action::Pause,
            Step::ContinueWithBody(body) => {
                if request {
                    span(
                        || "host",
                        "set_body",
                        || self.set_http_request_body(0, buffered, &body),
                    );
                }
                Action::Continue
            }
            Step::Respond(Reply {
                status,
                headers,
                body,
            }) => {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.send_http_response(u32::from(status), headers, Some(&body));
                Action::Pause
            }
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        #[cfg(feature = "fault-injection")]
        if self
            .get_http_request_header_bytes("x-llm-gateway-test-crash")
            .is_some()
        {
            core::arch::wasm32::unreachable();
        }
        // The `_bytes` variant: the SDK's string variant panics on a header
        // value that is not UTF-8, which a client controls. A valid value
        // keeps its buffer; only an invalid one is copied, lossily.
        let headers = span(
            || "host",
            "get_request_headers",
            || {
                self.get_http_request_headers_bytes()
                    .into_iter()
                    .map(|(name, value)| {
                        let value = String::from_utf8(value)
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                        (name, value)
                    })
                    .collect()
            },
        );
        let pipeline = self.pipeline.insert(Pipeline::new(&self.stages, headers));
        let step =
            pipeline.on_request_headers(&mut EnvoyHost(Phase::RequestHeaders), end_of_stream);
        match step {
            Step::Pause => Action::Continue,
            step => self.act(step, 0, true),
        }
    }

    /// Every body is held to the limit (see [`crate::body_limit`]): one over
    /// it is emptied as it arrives and refused at its end.
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.request_done {
            return Action::Continue;
        }
        let Some(pipeline) = self.pipeline.as_ref() else {
            return Action::Continue;
        };
        let buffering = pipeline.needs_request_body();
        // Paused on, Envoy holds the whole body so far; streamed, this chunk.
        let received = if buffering {
            body_size.saturating_sub(self.request_buffered)
        } else {
            body_size
        };
        match self.request_limit.intake(received, end_of_stream) {
            Intake::Keep => {}
            Intake::Discard => {
                span(
                    || "host",
                    "set_body",
                    || self.set_http_request_body(0, body_size, &[]),
                );
                self.request_buffered = 0;
                return if buffering {
                    Action::Pause
                } else {
                    Action::Continue
                };
            }
            Intake::Refuse => return self.refuse_request(),
        }
        if !buffering {
            return Action::Continue;
        }
        self.request_buffered = body_size;
        if !end_of_stream {
            return Action::Pause;
        }
        self.complete_request()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if !self.request_done && self.request_limit.exceeded() {
            return self.refuse_request();
        }
        if self.request_done
            || !self
                .pipeline
                .as_ref()
                .is_some_and(Pipeline::needs_request_body)
        {
            return Action::Continue;
        }
        self.complete_request()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let header = |name| {
            span(
                || "host",
                "get_response_header",
                || self.get_http_response_header_bytes(name),
            )
            .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        let status = header(":status").and_then(|s| s.parse().ok());
        let content_type = header("content-type");
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Action::Continue;
        };
        let step = pipeline.on_response_headers(
            &mut EnvoyHost(Phase::ResponseHeaders),
            status,
            content_type.as_deref(),
        );
        self.act(step, 0, false)
    }

    /// Buffered responses are paused until the end and replaced whole; a
    /// stream's chunks are replaced one by one as they pass.
    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self
            .pipeline
            .as_ref()
            .map(|p| p.response_body_need(end_of_stream))
        {
            None | Some(BodyNeed::Nothing) => return Action::Continue,
            Some(BodyNeed::WaitForEnd) => {
                self.response_buffered = Some(body_size);
                return Action::Pause;
            }
            Some(BodyNeed::Chunk) => {}
        }
        self.respond_body(body_size, end_of_stream)
    }

    /// A response that ends with trailers: a buffered body is complete now,
    /// and a stream's stages get their end (usage, the audit record).
    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        match self.pipeline.as_ref().map(|p| p.response_body_need(true)) {
            None | Some(BodyNeed::Nothing) => Action::Continue,
            _ => self.respond_body(self.response_buffered.unwrap_or(0), true),
        }
    }

    fn on_log(&mut self) {
        if let Some(mut pipeline) = self.pipeline.take() {
            pipeline.on_done(&mut EnvoyHost(Phase::Log));
            span(|| "request", "drop", || drop(pipeline));
        }
        crate::profile::request_done();
    }
}

/// The callback a [`EnvoyHost`] serves. Envoy answers some host calls only in
/// some callbacks (request headers only in the request headers callback) and
/// the SDK panics, killing the VM, on any answer it does not expect; so the
/// adapter makes those calls only where Envoy accepts them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Configure,
    Tick,
    RequestHeaders,
    Body,
    ResponseHeaders,
    Log,
}

/// [`Host`] over proxy-wasm's host calls, for the callback now running
/// (proxy-wasm addresses the stream whose callback is running).
struct EnvoyHost(Phase);

thread_local! {
    /// Metric ids by name; Envoy defines a metric once per VM.
    static METRICS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
}

/// The id of the metric `name`, defined on first use.
fn metric(kind: MetricType, name: &str) -> Option<u32> {
    METRICS.with(|metrics| {
        let mut metrics = metrics.borrow_mut();
        if let Some(id) = metrics.get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        metrics.insert(name.to_owned(), id);
        Some(id)
    })
}

impl Host for EnvoyHost {
    fn now(&self) -> SystemTime {
        hostcalls::get_current_time().unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        if self.0 == Phase::RequestHeaders {
            let _ = span(
                || "host",
                "set_header",
                || hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value),
            );
        } else {
            self.log(
                LogLevel::Error,
                &format!("request header `{name}` set after the headers callback; ignored"),
            );
        }
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        if self.0 == Phase::ResponseHeaders {
            let _ = span(
                || "host",
                "set_header",
                || hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value),
            );
        } else {
            self.log(
                LogLevel::Error,
                &format!("response header `{name}` set after the headers callback; ignored"),
            );
        }
    }

    fn clear_route_cache(&mut self) {
        // Envoy's foreign function; Envoy also clears the cache itself when a
        // request header changes, so a failure here is only logged.
        if let Err(status) = span(
            || "host",
            "clear_route_cache",
            || hostcalls::call_foreign_function("clear_route_cache", None),
        ) {
            self.log(
                LogLevel::Debug,
                &format!("clear_route_cache failed: {status:?}"),
            );
        }
    }

    fn set_fact(&mut self, fact: Fact, value: &str) {
        let _ = span(
            || "host",
            "set_fact",
            || hostcalls::set_property(vec![fact.name()], Some(value.as_bytes())),
        );
    }

    fn fact(&self, fact: Fact) -> Option<String> {
        let bytes = span(
            || "host",
            "get_fact",
            || hostcalls::get_property(vec![fact.name()]),
        )
        .ok()
        .flatten()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn upstream_host_metadata(&self, namespace: &str, key: &str) -> Option<String> {
        let path = vec![
            "xds",
            "upstream_host_metadata",
            "filter_metadata",
            namespace,
            key,
        ];
        let bytes = span(|| "host", "get_property", || hostcalls::get_property(path))
            .ok()
            .flatten()?;
        String::from_utf8(bytes).ok()
    }

    fn upstream_attempts(&self) -> Option<u64> {
        let bytes = span(
            || "host",
            "get_property",
            || hostcalls::get_property(vec!["upstream", "request_attempt_count"]),
        )
        .ok()
        .flatten()?;
        Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
    }

    fn count(&mut self, name: &str, by: u64) {
        if let Some(id) = metric(MetricType::Counter, name) {
            let _ = span(
                || "host",
                "metric",
                || hostcalls::increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX)),
            );
        }
    }

    fn record(&mut self, name: &str, value: u64) {
        if let Some(id) = metric(MetricType::Histogram, name) {
            let _ = span(|| "host", "metric", || hostcalls::record_metric(id, value));
        }
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        // The SDK answers a key set to an empty value without bytes.
        match span(|| "host", "shared_get", || hostcalls::get_shared_data(key)) {
            Ok((value, Some(cas))) => Some((value.unwrap_or_default(), cas)),
            _ => None,
        }
    }

    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedConflict> {
        span(
            || "host",
            "shared_set",
            || hostcalls::set_shared_data(key, Some(value), cas),
        )
        .map_err(|_| SharedConflict)
    }

    fn dispatch_http(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Option<u32> {
        hostcalls::dispatch_http_call(cluster, headers.to_vec(), Some(body), Vec::new(), timeout)
            .ok()
    }

    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => EnvoyLevel::Debug,
            LogLevel::Info => EnvoyLevel::Info,
            LogLevel::Warn => EnvoyLevel::Warn,
            LogLevel::Error => EnvoyLevel::Error,
        };
        let _ = hostcalls::log(level, message);
    }
}
