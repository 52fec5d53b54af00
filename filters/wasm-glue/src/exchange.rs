//! What the stages of one HTTP stream share.

use crate::teams::{Client, Teams};
use llm_api::{ApiKind, Body, LlmRequest};
use std::rc::Rc;

/// The state of one request/response exchange, shared by every stage of the
/// pipeline, so that the body is parsed once however many stages read it.
#[derive(Debug)]
pub struct Exchange {
    /// Which API the request speaks, from its method and path.
    pub api: ApiKind,
    /// The request headers as they arrived (names lowercase; values that are
    /// not UTF-8 are converted lossily rather than rejected).
    request_headers: Vec<(String, String)>,
    /// The parsed request, once the whole body has arrived (LLM APIs only).
    pub request: Option<LlmRequest>,
    /// The response status, once response headers have arrived.
    pub response_status: Option<u16>,
    /// The response's media type (`text/event-stream` for streams), once
    /// response headers have arrived.
    pub response_media_type: Option<String>,
    /// The parsed JSON response, once a buffered (non-streamed) response has
    /// arrived whole and some stage reads it (without its output unless one
    /// reads that: `llm_api::response`); `None` if it is not JSON. Read it
    /// with `llm_api::with_json_body!`.
    pub response: Option<Body>,
    /// The request header that holds the client's authenticated identity.
    client_identity: Rc<str>,
    /// The teams, which name some client identities.
    teams: Rc<Teams>,
    request_changed: bool,
    /// A whole new request body from a stage that rewrites the wire format.
    request_replacement: Option<Vec<u8>>,
    response_changed: bool,
}

impl Exchange {
    /// An exchange for a request with these headers, whose client is named
    /// by the header `client_identity` (see [`Exchange::client_id`]) and
    /// looked up in `teams`.
    pub fn new(
        request_headers: Vec<(String, String)>,
        client_identity: Rc<str>,
        teams: Rc<Teams>,
    ) -> Self {
        let mut exchange = Exchange {
            api: ApiKind::Other,
            request_headers,
            client_identity,
            teams,
            request: None,
            response_status: None,
            response_media_type: None,
            response: None,
            request_changed: false,
            request_replacement: None,
            response_changed: false,
        };
        let method = exchange.request_header(":method").unwrap_or_default();
        let path = exchange.request_header(":path").unwrap_or_default();
        exchange.api = ApiKind::classify(method, path);
        exchange
    }

    /// Whether the response is a stream of server-sent events.
    pub fn response_is_stream(&self) -> bool {
        self.response_media_type.as_deref() == Some("text/event-stream")
    }

    /// The authenticated client: the one identity that limits, the audit
    /// record and allow-lists use. It is the header the gateway's
    /// authentication sets (`client_identity` in the plugin configuration,
    /// `x-client-id` by default), never one a client chooses.
    pub fn client_id(&self) -> Option<&str> {
        self.request_header(&self.client_identity)
            .filter(|id| !id.is_empty())
    }

    /// The authenticated client as the configuration's `teams` name it, if
    /// a team does.
    pub fn client(&self) -> Option<&Client> {
        self.teams.client(self.client_id()?)
    }

    /// The authenticated client's team, from the configuration's `teams`:
    /// what limits keyed on `team`, the audit record and the metrics read.
    pub fn team(&self) -> Option<&str> {
        self.client().map(|c| c.team.as_str())
    }

    /// The first value of a request header, by lowercase name.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every request header as it arrived, in order (names lowercase): for a
    /// stage that forwards only some of them.
    pub fn request_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.request_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The parsed request for a stage that will change it: the pipeline then
    /// writes the body back once, after the last stage.
    pub fn request_mut(&mut self) -> Option<&mut LlmRequest> {
        self.request_changed = self.request.is_some();
        self.request.as_mut()
    }

    pub(crate) fn request_changed(&self) -> bool {
        self.request_changed
    }

    /// Lets `edit` change the parsed request; the body is written back only
    /// if it says it changed something. Returns what `edit` returned.
    pub fn edit_request(&mut self, edit: impl FnOnce(&mut LlmRequest) -> bool) -> bool {
        let changed = self.request.as_mut().is_some_and(edit);
        self.request_changed |= changed;
        changed
    }

    /// Replaces the request body with `bytes` in another wire format (a
    /// translation): sent instead of the parsed request.
    pub fn replace_request_body(&mut self, bytes: Vec<u8>) {
        self.request_replacement = Some(bytes);
    }

    pub(crate) fn take_request_replacement(&mut self) -> Option<Vec<u8>> {
        self.request_replacement.take()
    }

    /// The parsed response for a stage that will change it: the pipeline
    /// writes it back once, after the last stage.
    pub fn response_mut(&mut self) -> Option<&mut serde_json::Value> {
        self.response_changed = self.response.is_some();
        self.response.as_mut().map(Body::to_mut)
    }

    pub(crate) fn response_changed(&self) -> bool {
        self.response_changed
    }
}
