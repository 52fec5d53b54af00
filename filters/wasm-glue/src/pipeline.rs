//! Runs the stages of one HTTP stream in order over one shared [`Exchange`].
//!
//! Envoy facts this encodes (docs/architecture.md): request headers are never paused
//! (Envoy would stop delivering the body); the body is buffered by pausing in
//! the body callback until `end_of_stream`; `content-length` is removed in the
//! headers callback when a stage will rewrite the body.

use crate::body_limit::MAX_REQUEST_BODY;
use crate::config::{ModuleSettings, DEFAULT_CLIENT_IDENTITY};
use crate::exchange::Exchange;
use crate::facts::{FactSet, Facts, FactsHost};
use crate::host::Host;
use crate::profile::span;
use crate::response::ResponseMode;
use crate::teams::Teams;
use llm_api::sse::SseEvent;
use llm_api::{ApiError, ApiKind, ErrorKind, Fact, LlmRequest};
use std::rc::Rc;

/// A filter of the gateway: its validated configuration, shared by every
/// stream on a worker.
pub trait Stage {
    /// Stable name used in metrics and logs (`audit`, `pii_scan`, ...).
    fn name(&self) -> &'static str;
    /// The per-stream state of this stage.
    fn stream(&self) -> Box<dyn StageStream>;
    /// The facts this stage may publish with [`Host::set_fact`]. A stage of
    /// the same module reading one that was not published takes it as
    /// absent without asking Envoy, so a fact listed here must be set by no
    /// other filter.
    fn publishes(&self) -> &'static [Fact] {
        &[]
    }
    /// Runs once per VM when the configuration is loaded, before traffic
    /// (e.g. to create shared-data entries).
    fn start(&self, _host: &mut dyn Host) {}

    /// Slow preparation that no request should wait for (building a
    /// tokenizer). Runs once per VM from a timer that fires right after the
    /// configuration is loaded, so it delays neither the configuration nor
    /// Envoy's start.
    fn warm(&self, _host: &mut dyn Host) {}

    /// How often this stage wants [`Stage::on_tick`] (the VM's timer runs at
    /// the shortest period any stage asks for).
    fn tick_period(&self) -> Option<std::time::Duration> {
        None
    }

    /// The VM's timer fired (in every VM, the main thread's included).
    fn on_tick(&self, _host: &mut dyn Host) {}

    /// An HTTP call made with [`Host::dispatch_http`] from a timer finished:
    /// `status` is `None` when it failed without a response.
    fn on_http_call_response(&self, _token: u32, _status: Option<u16>, _host: &mut dyn Host) {}
}

/// One stage's view of one HTTP stream. Every callback has a default that does
/// nothing, so a stage implements only what it acts on.
pub trait StageStream {
    /// Request headers have arrived; the body (if any) has not.
    fn on_request_headers(&mut self, _ex: &mut Exchange, _host: &mut dyn Host) -> Flow {
        Flow::Continue
    }

    /// Whether this stage reads the parsed request body. The body is buffered
    /// and parsed only when some stage does; otherwise it streams through.
    fn reads_request_body(&self, ex: &Exchange) -> bool {
        ex.api.has_json_body()
    }

    /// Whether this stage may change the request body, decided from the
    /// headers: the pipeline then drops `content-length` before it goes stale.
    fn rewrites_request(&self, _ex: &Exchange) -> bool {
        false
    }

    /// The whole request has arrived; for LLM APIs `ex.request` is parsed.
    /// Request headers may still be changed here.
    fn on_request(&mut self, _ex: &mut Exchange, _host: &mut dyn Host) -> Flow {
        Flow::Continue
    }

    /// Response headers have arrived (`ex.response_status` is set).
    fn on_response_headers(&mut self, _ex: &mut Exchange, _host: &mut dyn Host) -> Flow {
        Flow::Continue
    }

    /// Whether this stage reads the response body: a buffered JSON response
    /// parsed once (`on_response`), or a stream's events (`on_response_events`).
    fn reads_response(&self, _ex: &Exchange) -> bool {
        false
    }

    /// Whether this stage reads the model's output in a buffered response
    /// (choices, content, candidates, embeddings). When no stage does (and
    /// none rewrites the response), `ex.response` holds every other member
    /// only (usage, model, error), which costs a fraction of the whole parse
    /// (`llm_api::response`).
    fn reads_response_output(&self, _ex: &Exchange) -> bool {
        false
    }

    /// Whether this stage may change the response body, decided at the
    /// response headers (content-length is dropped; a stream is then written
    /// back event by event).
    fn rewrites_response(&self, _ex: &Exchange) -> bool {
        false
    }

    /// A buffered response has arrived whole; `ex.response` holds it parsed
    /// when it is JSON: an object without its output members, unless some
    /// stage [`reads_response_output`](Self::reads_response_output) or
    /// rewrites the response. Runs in reverse stage order, for the stages
    /// that [`reads_response`](Self::reads_response).
    fn on_response(&mut self, _ex: &mut Exchange, _host: &mut dyn Host) {}

    /// Whether this stage rewrites the raw response body itself (a wire
    /// format translation, which keeps its own stream state): the body then
    /// reaches [`StageStream::transform_response`] whole for errors and JSON,
    /// chunk by chunk for streams.
    fn transforms_response(&self, _ex: &Exchange) -> bool {
        false
    }

    /// The raw response body (whole, or one chunk of a stream); returns the
    /// bytes to send instead, or `None` to keep them.
    fn transform_response(
        &mut self,
        _ex: &mut Exchange,
        _body: &[u8],
        _end_of_stream: bool,
        _host: &mut dyn Host,
    ) -> Option<Vec<u8>> {
        None
    }

    /// Complete events of a streamed (SSE) response, as they arrive; the last
    /// call has `end_of_stream`. Runs in reverse stage order. Changing the
    /// events takes effect only if this stage said it `rewrites_response`.
    fn on_response_events(
        &mut self,
        _ex: &mut Exchange,
        _events: &mut Vec<SseEvent>,
        _end_of_stream: bool,
        _host: &mut dyn Host,
    ) {
    }

    /// The stream is over, whatever its outcome (also after a local reply or
    /// a client abort).
    fn on_done(&mut self, _ex: &Exchange, _host: &mut dyn Host) {}
}

/// What a stage decides about the stream.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    /// Answer the client now; later stages do not see the request.
    Respond(Reply),
}

/// A response the gateway sends itself instead of the upstream's.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON response the gateway answers itself (e.g. `GET /v1/models`).
    pub fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body,
        }
    }

    /// An error in the caller's API format.
    pub fn error(err: &ApiError, api: &ApiKind) -> Reply {
        Reply::json(err.status(), err.body(api.dialect()))
    }
}

/// What the host adapter must do next.
#[derive(Debug, PartialEq)]
pub enum Step {
    Continue,
    /// Keep buffering: the whole body is needed before the stages can run.
    Pause,
    /// Send this reply and stop the stream.
    Respond(Reply),
    /// Replace the buffered request body with these bytes, then continue.
    ContinueWithBody(Vec<u8>),
}

#[derive(Clone, Copy)]
pub(crate) enum Order {
    Request,
    Response,
}

/// The configured stages of a module, in chain order, with what every stream
/// needs of them computed once per configuration rather than per request.
pub struct Stages {
    stages: Vec<Box<dyn Stage>>,
    /// `llm_gateway.<stage>.requests`, counted for every request a stage sees.
    request_counters: Vec<String>,
    /// Every fact some stage of the module publishes.
    published: Vec<Fact>,
    /// The facts published to Envoy as well ([`ModuleSettings::envoy_facts`]).
    to_envoy: FactSet,
    /// The header naming the authenticated client ([`Exchange::client_id`]).
    client_identity: Rc<str>,
    /// The teams and their clients ([`Exchange::client`]).
    teams: Rc<Teams>,
}

impl Stages {
    /// The stages, with the client named by [`DEFAULT_CLIENT_IDENTITY`].
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Stages {
        let request_counters = stages
            .iter()
            .map(|s| format!("llm_gateway.{}.requests", s.name()))
            .collect();
        let published = stages
            .iter()
            .flat_map(|s| s.publishes().iter().copied())
            .collect();
        Stages {
            stages,
            request_counters,
            published,
            to_envoy: FactSet::ALL,
            client_identity: Rc::from(DEFAULT_CLIENT_IDENTITY),
            teams: Rc::default(),
        }
    }

    /// The stages with the module's settings that the pipeline applies: the
    /// client identity header, the teams and the facts
    /// published to Envoy.
    pub fn with_settings(mut self, settings: &ModuleSettings) -> Stages {
        self.client_identity = Rc::from(settings.client_identity.as_str());
        self.teams = Rc::clone(&settings.teams);
        self.to_envoy = settings
            .envoy_facts
            .as_deref()
            .map_or(FactSet::ALL, FactSet::of);
        self
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &dyn Stage> + ExactSizeIterator {
        self.stages.iter().map(Box::as_ref)
    }
}

/// The stages of one stream and the exchange they share.
pub struct Pipeline {
    pub(crate) stages: Rc<Stages>,
    pub(crate) streams: Vec<Box<dyn StageStream>>,
    pub(crate) exchange: Exchange,
    pub(crate) replied: bool,
    pub(crate) response_mode: ResponseMode,
    facts: Facts,
}

impl Pipeline {
    /// A pipeline for a request with these headers (pseudo-headers included).
    pub fn new(stages: &Rc<Stages>, request_headers: Vec<(String, String)>) -> Pipeline {
        Pipeline {
            streams: stages.iter().map(|s| s.stream()).collect(),
            stages: stages.clone(),
            exchange: Exchange::new(
                request_headers,
                Rc::clone(&stages.client_identity),
                Rc::clone(&stages.teams),
            ),
            replied: false,
            response_mode: ResponseMode::Pass,
            facts: Facts::default(),
        }
    }

    /// Runs `step` with the host the stages see: Envoy's, with the facts
    /// this stream's stages published read back from the pipeline.
    pub(crate) fn with_facts<R>(
        &mut self,
        host: &mut dyn Host,
        step: impl FnOnce(&mut Self, &mut dyn Host) -> R,
    ) -> R {
        let mut facts = std::mem::take(&mut self.facts);
        let stages = Rc::clone(&self.stages);
        let result = step(
            self,
            &mut FactsHost {
                host,
                facts: &mut facts,
                owned: &stages.published,
                to_envoy: stages.to_envoy,
            },
        );
        self.facts = facts;
        result
    }

    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    /// Whether the request body must be buffered and parsed before the stages
    /// can run; other requests stream through untouched.
    pub fn needs_request_body(&self) -> bool {
        !self.replied
            && self
                .streams
                .iter()
                .any(|s| s.reads_request_body(&self.exchange))
    }

    pub fn on_request_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Step {
        self.with_facts(host, |pipeline, host| {
            pipeline.request_headers(host, end_of_stream)
        })
    }

    fn request_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Step {
        if let Some(step) = self.run(host, Order::Request, "on_request_headers", |s, ex, h| {
            s.on_request_headers(ex, h)
        }) {
            return step;
        }
        if self.needs_request_body() {
            if let Some(err) = unreadable_encoding(&self.exchange) {
                return self.reply(Reply::error(&err, &self.exchange.api));
            }
            // The stages read the response too (usage, PII, translation), so
            // the provider must answer uncompressed; without the header any
            // coding would be acceptable to it (RFC 9110 §12.5.3).
            host.set_request_header("accept-encoding", Some("identity"));
        }
        if self
            .streams
            .iter()
            .any(|s| s.rewrites_request(&self.exchange))
        {
            host.set_request_header("content-length", None);
        }
        if end_of_stream || !self.needs_request_body() {
            return self.on_request_complete(host, None);
        }
        Step::Continue
    }

    /// Called once with the whole request body (`end_of_stream` reached).
    pub fn on_request_body(&mut self, host: &mut dyn Host, body: &[u8]) -> Step {
        if !self.needs_request_body() {
            return Step::Continue;
        }
        self.with_facts(host, |pipeline, host| {
            pipeline.on_request_complete(host, Some(body))
        })
    }

    fn on_request_complete(&mut self, host: &mut dyn Host, body: Option<&[u8]>) -> Step {
        if self.needs_request_body() {
            match span(
                || "request",
                "parse",
                || LlmRequest::parse(&self.exchange.api, body.unwrap_or_default()),
            ) {
                Ok(request) => self.exchange.request = Some(request),
                Err(err) => return self.reply(Reply::error(&err, &self.exchange.api)),
            }
        }
        for counter in &self.stages.request_counters {
            host.count(counter, 1);
        }
        if let Some(step) = self.run(host, Order::Request, "on_request", |s, ex, h| {
            s.on_request(ex, h)
        }) {
            return step;
        }
        if let Some(bytes) = self.exchange.take_request_replacement() {
            return Step::ContinueWithBody(bytes);
        }
        match &self.exchange.request {
            Some(request) if self.exchange.request_changed() => {
                Step::ContinueWithBody(span(|| "request", "write", || request.to_bytes()))
            }
            _ => Step::Continue,
        }
    }

    /// The 413 of a request body over [`MAX_REQUEST_BODY`], in the caller's
    /// format; the stages do not see the request.
    pub fn refuse_request_body(&mut self) -> Step {
        let message = format!(
            "The request body is larger than the gateway's limit of {} MiB.",
            MAX_REQUEST_BODY >> 20
        );
        let err = ApiError::new(ErrorKind::PayloadTooLarge, message).with_code("request_too_large");
        self.reply(Reply::error(&err, &self.exchange.api))
    }

    /// Response headers: `content_type` decides how the body is handled.
    pub fn on_response_headers(
        &mut self,
        host: &mut dyn Host,
        status: Option<u16>,
        content_type: Option<&str>,
    ) -> Step {
        self.with_facts(host, |pipeline, host| {
            pipeline.response_headers(host, status, content_type)
        })
    }

    fn response_headers(
        &mut self,
        host: &mut dyn Host,
        status: Option<u16>,
        content_type: Option<&str>,
    ) -> Step {
        self.exchange.response_status = status;
        self.exchange.response_media_type = content_type
            .and_then(|c| c.split(';').next())
            .map(|media| media.trim().to_ascii_lowercase());
        if self.replied {
            return Step::Continue;
        }
        if let Some(step) = self.run(host, Order::Response, "on_response_headers", |s, ex, h| {
            s.on_response_headers(ex, h)
        }) {
            return step;
        }
        self.choose_response_mode(host);
        Step::Continue
    }

    pub fn on_done(&mut self, host: &mut dyn Host) {
        self.with_facts(host, |pipeline, host| {
            for (stream, stage) in pipeline
                .streams
                .iter_mut()
                .zip(pipeline.stages.iter())
                .rev()
            {
                span(
                    || stage.name(),
                    "on_done",
                    || stream.on_done(&pipeline.exchange, host),
                );
            }
        });
    }

    /// Calls every stage in order (request path) or in reverse (response
    /// path, as Envoy runs encoder filters) until one answers the client;
    /// `callback` names the call for the span profile.
    pub(crate) fn run(
        &mut self,
        host: &mut dyn Host,
        order: Order,
        callback: &'static str,
        mut call: impl FnMut(&mut dyn StageStream, &mut Exchange, &mut dyn Host) -> Flow,
    ) -> Option<Step> {
        let pairs = self.streams.iter_mut().zip(self.stages.iter());
        let streams: Box<dyn Iterator<Item = (&mut Box<dyn StageStream>, &dyn Stage)>> = match order
        {
            Order::Request => Box::new(pairs),
            Order::Response => Box::new(pairs.rev()),
        };
        let mut answer = None;
        for (stream, stage) in streams {
            let exchange = &mut self.exchange;
            if let Flow::Respond(reply) = span(
                || stage.name(),
                callback,
                || call(stream.as_mut(), exchange, host),
            ) {
                answer = Some(reply);
                break;
            }
        }
        answer.map(|reply| self.reply(reply))
    }

    /// Answers the client; the reply is recorded on the exchange as its
    /// response (Envoy does not pass a filter's own reply back through it).
    fn reply(&mut self, reply: Reply) -> Step {
        self.replied = true;
        self.exchange.response_status = Some(reply.status);
        self.exchange.response = llm_api::Body::parse(&reply.body);
        Step::Respond(reply)
    }
}

/// A request body in a content-encoding the stages cannot read: refused, since
/// it could be neither scanned nor counted (Envoy's decompressor, in front of
/// the bundle in the shipped configurations, has already decoded gzip and br
/// and removed the header).
fn unreadable_encoding(ex: &Exchange) -> Option<ApiError> {
    let coding = ex.request_header("content-encoding")?.trim();
    if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
        return None;
    }
    let shown: String = coding.chars().take(40).collect();
    let message = format!("The gateway cannot read request bodies with content-encoding `{shown}`; send the body uncompressed, or gzip or br encoded.");
    Some(
        ApiError::new(llm_api::ErrorKind::UnsupportedMediaType, message)
            .with_code("unsupported_content_encoding"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryHost;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A stage that records what it saw, and optionally rewrites or rejects.
    struct Probe {
        name: &'static str,
        log: Rc<RefCell<Vec<String>>>,
        rewrite: bool,
        reject: bool,
    }

    struct ProbeStream {
        name: &'static str,
        log: Rc<RefCell<Vec<String>>>,
        rewrite: bool,
        reject: bool,
    }

    impl Stage for Probe {
        fn name(&self) -> &'static str {
            self.name
        }
        fn stream(&self) -> Box<dyn StageStream> {
            Box::new(ProbeStream {
                name: self.name,
                log: self.log.clone(),
                rewrite: self.rewrite,
                reject: self.reject,
            })
        }
    }

    impl StageStream for ProbeStream {
        fn rewrites_request(&self, _ex: &Exchange) -> bool {
            self.rewrite
        }
        fn on_request(&mut self, ex: &mut Exchange, _host: &mut dyn Host) -> Flow {
            let model = ex
                .request
                .as_ref()
                .and_then(|r| r.model.clone())
                .unwrap_or_default();
            self.log
                .borrow_mut()
                .push(format!("{}:request:{model}", self.name));
            if self.reject {
                return Flow::Respond(Reply::error(&ApiError::invalid("no"), &ex.api));
            }
            if self.rewrite {
                if let Some(req) = ex.request_mut() {
                    req.body_mut()["model"] = "rewritten".into();
                }
            }
            Flow::Continue
        }
        fn on_response_headers(&mut self, _ex: &mut Exchange, _host: &mut dyn Host) -> Flow {
            self.log
                .borrow_mut()
                .push(format!("{}:response", self.name));
            Flow::Continue
        }
        fn on_done(&mut self, ex: &Exchange, _host: &mut dyn Host) {
            self.log
                .borrow_mut()
                .push(format!("{}:done:{:?}", self.name, ex.response_status));
        }
    }

    fn stages(log: &Rc<RefCell<Vec<String>>>, rewrite: &[bool], reject: &[bool]) -> Rc<Stages> {
        let stages = ["a", "b"]
            .iter()
            .zip(rewrite.iter().zip(reject))
            .map(|(name, (rewrite, reject))| {
                Box::new(Probe {
                    name,
                    log: log.clone(),
                    rewrite: *rewrite,
                    reject: *reject,
                }) as Box<dyn Stage>
            })
            .collect();
        Rc::new(Stages::new(stages))
    }

    const CHAT: &[u8] = br#"{"model":"gpt-4o-mini","messages":[]}"#;

    fn headers(method: &str, path: &str) -> Vec<(String, String)> {
        vec![
            (":method".into(), method.into()),
            (":path".into(), path.into()),
            ("content-length".into(), "38".into()),
        ]
    }

    #[test]
    fn providers_are_asked_for_identity_and_encoded_bodies_are_refused() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false, false], &[false, false]);
        let mut host = MemoryHost::default();
        let mut plain = Pipeline::new(&stages, headers("POST", "/v1/chat/completions"));
        assert_eq!(plain.on_request_headers(&mut host, false), Step::Continue);
        assert_eq!(
            host.request_headers
                .get("accept-encoding")
                .map(String::as_str),
            Some("identity")
        );
        for (coding, refused) in [("identity", false), ("gzip", true), ("zstd", true)] {
            let mut with = headers("POST", "/v1/messages");
            with.push(("content-encoding".into(), coding.into()));
            let step = Pipeline::new(&stages, with).on_request_headers(&mut host, false);
            match step {
                Step::Respond(reply) if refused => {
                    assert_eq!(reply.status, 415, "{coding}");
                    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
                    assert_eq!(
                        body["error"]["type"], "invalid_request_error",
                        "Anthropic's shape: {body}"
                    );
                }
                Step::Continue if !refused => {}
                other => panic!("{coding}: {other:?}"),
            }
        }
    }

    #[test]
    fn stages_run_in_order_on_one_parsed_request_and_in_reverse_on_the_response() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false, false], &[false, false]);
        let mut host = MemoryHost::default();
        host.set_request_header("content-length", Some("38"));
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/chat/completions"));
        assert_eq!(p.exchange().request_header("content-length"), Some("38"));
        assert_eq!(p.on_request_headers(&mut host, false), Step::Continue);
        assert!(p.needs_request_body());
        assert_eq!(p.on_request_body(&mut host, CHAT), Step::Continue);
        assert_eq!(
            p.on_response_headers(&mut host, Some(200), Some("application/json")),
            Step::Continue
        );
        p.on_done(&mut host);
        assert_eq!(
            *log.borrow(),
            [
                "a:request:gpt-4o-mini",
                "b:request:gpt-4o-mini",
                "b:response",
                "a:response",
                "b:done:Some(200)",
                "a:done:Some(200)"
            ]
        );
        assert_eq!(host.counters["llm_gateway.a.requests"], 1);
        assert_eq!(host.counters["llm_gateway.b.requests"], 1);
        // Nobody rewrites, so content-length stays.
        assert!(host.request_headers.contains_key("content-length"));
    }

    #[test]
    fn a_body_over_the_limit_gets_the_413_in_the_callers_format() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false], &[false]);
        let mut host = MemoryHost::default();
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/messages"));
        p.on_request_headers(&mut host, false);
        let Step::Respond(reply) = p.refuse_request_body() else {
            panic!("no reply")
        };
        assert_eq!(reply.status, 413);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "request_too_large");
        assert!(
            !p.needs_request_body(),
            "the stages never see the refused request"
        );
    }

    #[test]
    fn a_rewrite_drops_content_length_and_writes_the_body_once() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[true, true], &[false, false]);
        let mut host = MemoryHost::default();
        host.set_request_header("content-length", Some("38"));
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/chat/completions"));
        p.on_request_headers(&mut host, false);
        assert!(!host.request_headers.contains_key("content-length"));
        assert_eq!(
            p.on_request_body(&mut host, CHAT),
            Step::ContinueWithBody(br#"{"model":"rewritten","messages":[]}"#.to_vec())
        );
    }

    #[test]
    fn a_rejection_stops_later_stages_but_every_stage_sees_done() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false, false], &[true, false]);
        let mut host = MemoryHost::default();
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/messages"));
        p.on_request_headers(&mut host, false);
        let Step::Respond(reply) = p.on_request_body(&mut host, br#"{"model":"claude"}"#) else {
            panic!("expected a reply")
        };
        assert_eq!(reply.status, 400);
        assert!(
            String::from_utf8(reply.body)
                .unwrap()
                .contains("\"type\":\"error\""),
            "Anthropic format"
        );
        assert_eq!(
            p.on_response_headers(&mut host, Some(400), None),
            Step::Continue
        );
        p.on_done(&mut host);
        assert_eq!(
            *log.borrow(),
            ["a:request:claude", "b:done:Some(400)", "a:done:Some(400)"]
        );
    }

    #[test]
    fn invalid_json_is_a_400_in_the_callers_format() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false, false], &[false, false]);
        let mut host = MemoryHost::default();
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/chat/completions"));
        p.on_request_headers(&mut host, false);
        let Step::Respond(reply) = p.on_request_body(&mut host, b"{not json") else {
            panic!()
        };
        assert_eq!(reply.status, 400);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_json");
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn requests_without_an_llm_body_run_at_headers_and_stream_through() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false, false], &[false, false]);
        let mut host = MemoryHost::default();
        let mut p = Pipeline::new(&stages, headers("GET", "/v1/models"));
        assert_eq!(p.on_request_headers(&mut host, true), Step::Continue);
        assert_eq!(*log.borrow(), ["a:request:", "b:request:"]);
        let mut other = Pipeline::new(&stages, headers("POST", "/upload"));
        assert_eq!(other.on_request_headers(&mut host, false), Step::Continue);
        assert!(!other.needs_request_body());
    }

    struct Blind;
    impl Stage for Blind {
        fn name(&self) -> &'static str {
            "blind"
        }
        fn stream(&self) -> Box<dyn StageStream> {
            Box::new(BlindStream)
        }
    }
    struct BlindStream;
    impl StageStream for BlindStream {
        fn reads_request_body(&self, _ex: &Exchange) -> bool {
            false
        }
    }

    #[test]
    fn stages_that_do_not_read_the_body_let_it_stream_unparsed() {
        let stages = Rc::new(Stages::new(vec![Box::new(Blind)]));
        let mut host = MemoryHost::default();
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/chat/completions"));
        assert_eq!(p.on_request_headers(&mut host, false), Step::Continue);
        assert!(!p.needs_request_body());
        assert!(p.exchange().request.is_none());
        assert_eq!(host.counters["llm_gateway.blind.requests"], 1);
    }

    #[test]
    fn a_bodyless_post_to_an_llm_api_is_rejected() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stages = stages(&log, &[false, false], &[false, false]);
        let mut host = MemoryHost::default();
        let mut p = Pipeline::new(&stages, headers("POST", "/v1/embeddings"));
        assert!(
            matches!(p.on_request_headers(&mut host, true), Step::Respond(r) if r.status == 400)
        );
    }
}
