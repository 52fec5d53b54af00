//! What the stages of one HTTP stream share.

use llm_api::{ApiKind, LlmRequest};

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
    /// The parsed JSON response, once a buffered (non-streamed) response has
    /// arrived whole and some stage reads it; `None` if it is not JSON.
    pub response: Option<serde_json::Value>,
    request_changed: bool,
    response_changed: bool,
}

impl Exchange {
    /// An exchange for a request with these headers.
    pub fn new(request_headers: Vec<(String, String)>) -> Self {
        let mut exchange = Exchange {
            api: ApiKind::Other,
            request_headers,
            request: None,
            response_status: None,
            response: None,
            request_changed: false,
            response_changed: false,
        };
        let method = exchange.request_header(":method").unwrap_or_default();
        let path = exchange.request_header(":path").unwrap_or_default();
        exchange.api = ApiKind::classify(method, path);
        exchange
    }

    /// The first value of a request header, by lowercase name.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
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

    /// The parsed response for a stage that will change it: the pipeline
    /// writes it back once, after the last stage.
    pub fn response_mut(&mut self) -> Option<&mut serde_json::Value> {
        self.response_changed = self.response.is_some();
        self.response.as_mut()
    }

    pub(crate) fn response_changed(&self) -> bool {
        self.response_changed
    }
}
