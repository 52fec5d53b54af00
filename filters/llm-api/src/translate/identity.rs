//! Same-format pairs: the body goes upstream as the client wrote it, except
//! for the model name when the route maps it to another, and responses pass
//! through untouched (no parse, no copy).

use super::{HeaderEdits, Paths, Translator, UpstreamRequest};
use crate::error::ApiError;
use crate::json::Json;
use crate::request::LlmRequest;
use crate::usage::Usage;
use serde_json::Value;

pub(super) struct Identity {
    paths: Paths,
    model: Model,
}

/// Where the request body names the model.
enum Model {
    /// In `model`, set to this one when given.
    Field(Option<String>),
    /// Gemini embeddings: each batch entry's `model` (`batch`), else the
    /// optional top-level one, as `models/{model}`; set to the route's when
    /// they name another.
    GeminiEmbed { model: String, batch: bool },
}

impl Identity {
    pub(super) fn boxed(paths: Paths, model: Option<String>) -> Box<dyn Translator> {
        Box::new(Identity {
            paths,
            model: Model::Field(model),
        })
    }

    pub(super) fn gemini_embed(paths: Paths, model: String, batch: bool) -> Box<dyn Translator> {
        Box::new(Identity {
            paths,
            model: Model::GeminiEmbed { model, batch },
        })
    }
}

impl Translator for Identity {
    fn request(&mut self, request: &LlmRequest) -> Result<UpstreamRequest, ApiError> {
        let body = match &self.model {
            Model::Field(model) => model
                .as_ref()
                .filter(|m| request.str_field("model") != Some(m.as_str()))
                .map(|model| {
                    let mut body = request.object().into_owned();
                    body.insert("model".to_owned(), Value::String(model.clone()));
                    serde_json::to_vec(&body).unwrap_or_default()
                }),
            Model::GeminiEmbed { model, batch } => {
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
                any_stale.then(|| {
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
                })
            }
        };
        Ok(UpstreamRequest {
            path: self.paths.get(request.stream),
            headers: HeaderEdits::default(),
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
