//! Same-format pairs: the body goes upstream as the client wrote it, except
//! for the model name when the route maps it to another, and responses pass
//! through untouched (no parse, no copy).

use super::{HeaderEdits, Translator, UpstreamRequest};
use crate::error::ApiError;
use crate::gemini;
use crate::json::Json;
use crate::request::LlmRequest;
use crate::usage::Usage;
use serde_json::Value;

pub(super) struct Identity {
    target: Target,
}

enum Target {
    /// A fixed path; the body's `model` set to this one when given.
    Path { path: String, model: Option<String> },
    /// Gemini embeddings, on the client's own method (`batchEmbedContents`
    /// when `batch`, else `embedContent`). The body names the model again
    /// (each batch entry, a single request optionally): set to the route's
    /// when it names another.
    GeminiEmbed { model: String, batch: bool },
}

impl Identity {
    pub(super) fn boxed(path: String, model: Option<String>) -> Box<dyn Translator> {
        Box::new(Identity {
            target: Target::Path { path, model },
        })
    }

    pub(super) fn gemini_embed(model: String, batch: bool) -> Box<dyn Translator> {
        Box::new(Identity {
            target: Target::GeminiEmbed { model, batch },
        })
    }
}

impl Translator for Identity {
    fn request(&mut self, request: &LlmRequest) -> Result<UpstreamRequest, ApiError> {
        let (path, body) = match &self.target {
            Target::Path { path, model } => {
                let body = model
                    .as_ref()
                    .filter(|m| request.str_field("model") != Some(m.as_str()))
                    .map(|model| {
                        let mut body = request.object().into_owned();
                        body.insert("model".to_owned(), Value::String(model.clone()));
                        serde_json::to_vec(&body).unwrap_or_default()
                    });
                (path.clone(), body)
            }
            Target::GeminiEmbed { model, batch } => {
                let name = format!("models/{model}");
                let stale = |entry: Option<&str>| entry.is_some_and(|m| m != name);
                let any_stale = crate::with_json_body!(request, |body| {
                    if *batch {
                        let requests = body.field("requests");
                        let mut entries = requests.map(Json::elements).into_iter().flatten();
                        entries.any(|r| stale(r.str_field("model")))
                    } else {
                        stale(body.str_field("model"))
                    }
                });
                let body = any_stale.then(|| {
                    let mut body = request.object().into_owned();
                    let model = Value::String(name.clone());
                    if !*batch {
                        body.insert("model".to_owned(), model);
                    } else if let Some(Value::Array(requests)) = body.get_mut("requests") {
                        for entry in requests.iter_mut().filter_map(Value::as_object_mut) {
                            entry.insert("model".to_owned(), model.clone());
                        }
                    }
                    serde_json::to_vec(&body).unwrap_or_default()
                });
                let method = if *batch {
                    "batchEmbedContents"
                } else {
                    "embedContent"
                };
                (gemini::method_path(model, method, false), body)
            }
        };
        let headers = HeaderEdits::default();
        Ok(UpstreamRequest {
            path,
            headers,
            body,
        })
    }

    fn response_headers(&mut self, _status: u16) -> HeaderEdits {
        HeaderEdits::default()
    }

    fn response_body(&mut self, _body: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(None)
    }

    fn response_chunk(&mut self, _chunk: &[u8], _end_of_stream: bool) -> Option<Vec<u8>> {
        None
    }

    fn error_body(&self, _status: u16, _body: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn usage(&self) -> Option<Usage> {
        None
    }
}
