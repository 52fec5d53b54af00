//! One HTTP stream driven through a [`Pipeline`] the way the proxy-wasm
//! adapter (`crate::wasm`) drives it for Envoy: request headers, the body
//! buffered until its end when a stage reads it (streamed through
//! otherwise), response headers, the body chunk by chunk or buffered as the
//! pipeline asks, and the end of the stream.

use super::host::{MemoryHost, StreamState};
use crate::pipeline::{Pipeline, Reply, Stages, Step};
use crate::response::{BodyNeed, BodyStep};
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The callback Envoy is running, which decides which header map a filter
/// may still change (the adapter ignores, and logs, a change anywhere else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callback {
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    ResponseBody,
    Log,
}

/// A request as a client sends it.
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    /// Names lowercase, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// The body as it arrives, chunk by chunk; none for a request without a
    /// body (the stream ends with its headers).
    pub chunks: Vec<Vec<u8>>,
    /// Facts already on the stream when this module runs: what a filter
    /// before it published (for an upstream filter, the downstream ones).
    pub facts: Vec<(String, String)>,
}

impl ClientRequest {
    pub fn new(method: &str, path: &str) -> ClientRequest {
        ClientRequest::default()
            .header(":method", method)
            .header(":path", path)
            .header(":authority", "gateway.test")
    }

    pub fn post(path: &str) -> ClientRequest {
        ClientRequest::new("POST", path)
    }

    pub fn get(path: &str) -> ClientRequest {
        ClientRequest::new("GET", path)
    }

    /// Adds a header (its name lowercased, as Envoy stores it).
    pub fn header(mut self, name: &str, value: &str) -> ClientRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// A JSON body, with its `content-type` and `content-length`.
    pub fn json(self, body: &Value) -> ClientRequest {
        self.header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// The body, in one chunk, with its `content-length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> ClientRequest {
        let body = body.into();
        self.headers.retain(|(name, _)| name != "content-length");
        self = self.header("content-length", &body.len().to_string());
        self.chunks = vec![body];
        self
    }

    /// The body cut into chunks of `size` bytes.
    pub fn in_chunks(mut self, size: usize) -> ClientRequest {
        self.chunks = rechunk(&self.chunks, size);
        self
    }

    /// A fact a filter before this module published.
    pub fn fact(mut self, name: &str, value: &str) -> ClientRequest {
        self.facts.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A response as the provider sends it.
#[derive(Debug, Clone)]
pub struct ProviderResponse {
    pub status: u16,
    /// Names lowercase; `:status` is added from `status`.
    pub headers: Vec<(String, String)>,
    /// The body as it arrives; none for a response that ends with its
    /// headers.
    pub chunks: Vec<Vec<u8>>,
}

impl ProviderResponse {
    pub fn new(status: u16) -> ProviderResponse {
        ProviderResponse {
            status,
            headers: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// A JSON answer, with its `content-type` and `content-length`.
    pub fn json(status: u16, body: &Value) -> ProviderResponse {
        ProviderResponse::new(status)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// A stream of server-sent events, `body` as the provider writes it
    /// (`data: ...\n\n` per event); cut it with
    /// [`ProviderResponse::in_chunks`].
    pub fn sse(body: &str) -> ProviderResponse {
        let mut response = ProviderResponse::new(200).header("content-type", "text/event-stream");
        response.chunks = vec![body.as_bytes().to_vec()];
        response
    }

    pub fn header(mut self, name: &str, value: &str) -> ProviderResponse {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The body, in one chunk, with its `content-length`.
    pub fn body(mut self, body: Vec<u8>) -> ProviderResponse {
        self.headers.retain(|(name, _)| name != "content-length");
        self = self.header("content-length", &body.len().to_string());
        self.chunks = vec![body];
        self
    }

    /// The body cut into chunks of `size` bytes.
    pub fn in_chunks(mut self, size: usize) -> ProviderResponse {
        self.chunks = rechunk(&self.chunks, size);
        self
    }
}

fn rechunk(chunks: &[Vec<u8>], size: usize) -> Vec<Vec<u8>> {
    let whole = chunks.concat();
    whole.chunks(size.max(1)).map(<[u8]>::to_vec).collect()
}

/// What reached the provider.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    /// The request headers after every stage's changes.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Forwarded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What one call came to, as the client and the provider saw it.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The status the client got; `None` when the stream ended without a
    /// response (the client went away).
    pub status: Option<u16>,
    /// The response headers the client got (`:status` included for a
    /// provider's answer).
    pub headers: BTreeMap<String, String>,
    /// The response body the client got.
    pub body: Vec<u8>,
    /// Whether the gateway answered itself (a stage's or the pipeline's
    /// local reply) instead of passing the provider's answer.
    pub replied: bool,
    /// The request as it reached the provider; `None` when the gateway
    /// answered before sending it.
    pub upstream: Option<Forwarded>,
    /// The facts on the stream when it ended.
    pub facts: BTreeMap<String, String>,
}

impl Outcome {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn fact(&self, name: &str) -> Option<&str> {
        self.facts.get(name).map(String::as_str)
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The text of an OpenAI chat stream's deltas, as the client got it
    /// (events that are not JSON are skipped).
    pub fn chat_stream_text(&self) -> String {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// One HTTP stream in flight. Several can be open at once on one host (each
/// keeps its own header maps and facts), to test what concurrent requests
/// do to shared state.
pub struct Call {
    pipeline: Pipeline,
    state: StreamState,
    reply: Option<Reply>,
    upstream: Option<Forwarded>,
    status: Option<u16>,
    body: Vec<u8>,
}

impl Call {
    /// A new stream: the request's headers, then its body chunk by chunk.
    pub fn start(stages: &Rc<Stages>, host: &mut MemoryHost, request: &ClientRequest) -> Call {
        let mut call = Call {
            pipeline: Pipeline::new(stages, request.headers.clone()),
            state: StreamState {
                request_headers: request.headers.iter().cloned().collect(),
                response_headers: BTreeMap::new(),
                facts: request.facts.iter().cloned().collect(),
            },
            reply: None,
            upstream: None,
            status: None,
            body: Vec::new(),
        };
        call.send_request(host, &request.chunks);
        call
    }

    /// Whether the gateway has answered itself.
    pub fn replied(&self) -> bool {
        self.reply.is_some()
    }

    /// The request as it reached the provider, once it has.
    pub fn upstream(&self) -> Option<&Forwarded> {
        self.upstream.as_ref()
    }

    fn run<R>(
        &mut self,
        host: &mut MemoryHost,
        callback: Callback,
        step: impl FnOnce(&mut Pipeline, &mut MemoryHost) -> R,
    ) -> R {
        host.swap_stream(&mut self.state);
        host.callback = Some(callback);
        let result = step(&mut self.pipeline, host);
        host.callback = None;
        host.swap_stream(&mut self.state);
        result
    }

    fn send_request(&mut self, host: &mut MemoryHost, chunks: &[Vec<u8>]) {
        let headers_only = chunks.is_empty();
        let step = self.run(host, Callback::RequestHeaders, |p, h| {
            p.on_request_headers(h, headers_only)
        });
        let mut body = match step {
            Step::Respond(reply) => {
                self.reply = Some(reply);
                return;
            }
            Step::ContinueWithBody(body) => Some(body),
            Step::Continue | Step::Pause => None,
        };
        let mut buffered = Vec::new();
        let mut streamed = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            if !self.pipeline.needs_request_body() {
                streamed.extend_from_slice(chunk);
                continue;
            }
            buffered.extend_from_slice(chunk);
            if i + 1 < chunks.len() {
                continue;
            }
            let whole = std::mem::take(&mut buffered);
            match self.run(host, Callback::RequestBody, |p, h| {
                p.on_request_body(h, &whole)
            }) {
                Step::Respond(reply) => {
                    self.reply = Some(reply);
                    return;
                }
                Step::ContinueWithBody(replaced) => body = Some(replaced),
                Step::Continue | Step::Pause => streamed.extend(whole),
            }
        }
        self.upstream = Some(Forwarded {
            headers: self.state.request_headers.clone(),
            body: body.unwrap_or(streamed),
        });
    }

    /// The provider's response: headers, then the body chunk by chunk.
    /// Nothing happens once the gateway has answered itself.
    pub fn respond(&mut self, host: &mut MemoryHost, response: &ProviderResponse) {
        if self.reply.is_some() {
            return;
        }
        self.state.response_headers = response.headers.iter().cloned().collect();
        self.state
            .response_headers
            .insert(":status".to_owned(), response.status.to_string());
        let content_type = self.state.response_headers.get("content-type").cloned();
        let step = self.run(host, Callback::ResponseHeaders, |p, h| {
            p.on_response_headers(h, Some(response.status), content_type.as_deref())
        });
        if let Step::Respond(reply) = step {
            self.reply = Some(reply);
            return;
        }
        let mut held = Vec::new();
        for (i, chunk) in response.chunks.iter().enumerate() {
            let end = i + 1 == response.chunks.len();
            held.extend_from_slice(chunk);
            match self.pipeline.response_body_need(end) {
                BodyNeed::Nothing => self.body.append(&mut held),
                BodyNeed::WaitForEnd => {}
                BodyNeed::Chunk => {
                    match self.run(host, Callback::ResponseBody, |p, h| {
                        p.on_response_body(h, &held, end)
                    }) {
                        BodyStep::Continue => self.body.append(&mut held),
                        BodyStep::Replace(bytes) => {
                            self.body.extend(bytes);
                            held.clear();
                        }
                        BodyStep::Pause => {}
                    }
                }
            }
        }
        self.body.append(&mut held);
        self.status = self
            .state
            .response_headers
            .get(":status")
            .and_then(|s| s.parse().ok());
    }

    /// The end of the stream (`on_log`): every stage's `on_done`. The
    /// stream's header maps and facts stay in the host.
    pub fn finish(mut self, host: &mut MemoryHost) -> Outcome {
        self.run(host, Callback::Log, |p, h| p.on_done(h));
        host.swap_stream(&mut self.state);
        let replied = self.reply.is_some();
        let (status, headers, body) = match self.reply {
            Some(reply) => (
                Some(reply.status),
                reply.headers.into_iter().collect(),
                reply.body,
            ),
            None => (
                self.status,
                host.response_headers.clone(),
                std::mem::take(&mut self.body),
            ),
        };
        Outcome {
            replied,
            status,
            headers,
            body,
            upstream: self.upstream,
            facts: host.facts.clone(),
        }
    }
}

impl MemoryHost {
    /// One whole call: the request, the provider's response unless the
    /// gateway answered first, and the end of the stream.
    pub fn call(
        &mut self,
        stages: &Rc<Stages>,
        request: &ClientRequest,
        response: &ProviderResponse,
    ) -> Outcome {
        let mut call = Call::start(stages, self, request);
        call.respond(self, response);
        call.finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Host;
    use crate::{Exchange, Flow, Stage, StageStream};
    use serde_json::json;

    /// Sets a header in every callback, publishes the request's `tag`
    /// header as a fact, and upper-cases a JSON response's `text`.
    struct Marker;

    impl Stage for Marker {
        fn name(&self) -> &'static str {
            "marker"
        }
        fn stream(&self) -> Box<dyn StageStream> {
            Box::new(Marker)
        }
    }

    impl StageStream for Marker {
        fn on_request_headers(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
            host.set_request_header("x-at-headers", Some("1"));
            if let Some(tag) = ex.request_header("tag") {
                host.set_fact(llm_api::Fact::Api, tag);
            }
            Flow::Continue
        }
        fn on_request(&mut self, _ex: &mut Exchange, host: &mut dyn Host) -> Flow {
            host.set_request_header("x-at-body", Some("1"));
            Flow::Continue
        }
        fn on_response_headers(&mut self, _ex: &mut Exchange, host: &mut dyn Host) -> Flow {
            host.set_response_header("x-at-response-headers", Some("1"));
            Flow::Continue
        }
        fn reads_response(&self, _ex: &Exchange) -> bool {
            true
        }
        fn rewrites_response(&self, _ex: &Exchange) -> bool {
            true
        }
        fn on_response(&mut self, ex: &mut Exchange, host: &mut dyn Host) {
            host.set_response_header("x-at-response-body", Some("1"));
            if let Some(body) = ex.response_mut() {
                body["text"] = "LOUD".into();
            }
        }
    }

    fn stages() -> Rc<Stages> {
        Rc::new(Stages::new(vec![Box::new(Marker)]))
    }

    fn chat(tag: &str) -> ClientRequest {
        ClientRequest::post("/v1/chat/completions")
            .header("tag", tag)
            .json(&json!({"model": "m", "messages": []}))
    }

    #[test]
    fn headers_change_only_in_their_own_callback_as_in_envoy() {
        let mut host = MemoryHost::default();
        let out = host.call(
            &stages(),
            &chat("a").in_chunks(4),
            &ProviderResponse::json(200, &json!({"text": "quiet"})).in_chunks(3),
        );
        let upstream = out.upstream.as_ref().unwrap();
        assert_eq!(upstream.header("x-at-headers"), Some("1"));
        assert_eq!(upstream.header("x-at-body"), None);
        assert_eq!(upstream.json(), json!({"model": "m", "messages": []}));
        assert_eq!(out.header("x-at-response-headers"), Some("1"));
        assert_eq!(out.header("x-at-response-body"), None);
        assert_eq!(
            out.header("content-length"),
            None,
            "the answer is rewritten"
        );
        assert_eq!(out.json(), json!({"text": "LOUD"}));
        let logs = host.log_lines();
        assert_eq!(logs.len(), 2, "{logs:?}");
        assert!(logs.iter().all(|l| l.ends_with("; ignored")));
    }

    #[test]
    fn streams_in_flight_keep_their_own_facts_and_headers() {
        let stages = stages();
        let mut host = MemoryHost::default();
        let mut a = Call::start(&stages, &mut host, &chat("a"));
        let b = Call::start(&stages, &mut host, &chat("b"));
        a.respond(&mut host, &ProviderResponse::json(200, &json!({})));
        let b = b.finish(&mut host);
        let a = a.finish(&mut host);
        assert_eq!(a.fact("llm.api"), Some("a"));
        assert_eq!(b.fact("llm.api"), Some("b"));
        assert_eq!(a.status, Some(200));
        assert_eq!(b.status, None, "b ended without an answer");
        assert_eq!(host.fact_value("llm.api"), Some("a"), "the last to finish");
    }
}
