//! OpenAI embeddings client → Gemini `batchEmbedContents` provider.
//!
//! Each input string becomes one request of the batch (`dimensions` →
//! `outputDimensionality`); token-array inputs cannot be expressed and are
//! refused. The response's vectors come back as OpenAI `data` in the
//! requested `encoding_format` (floats, or base64 as the Python SDK asks by
//! default). Gemini reports no token usage for embeddings, so `usage` is
//! zero.

use super::{to_upstream, unsupported, HeaderEdits, Pair, Upstream, UpstreamRequest};
use crate::api::Dialect;
use crate::error::ApiError;
use crate::json::{Json, Kind};
use crate::openai;
use crate::sse::SseEvent;
use crate::usage::Usage;
use serde_json::{json, Map, Value};

pub(super) struct EmbeddingsToGemini {
    upstream: Upstream,
    base64: bool,
}

impl EmbeddingsToGemini {
    pub(super) fn new(upstream: Upstream) -> EmbeddingsToGemini {
        EmbeddingsToGemini {
            upstream,
            base64: false,
        }
    }
}

impl Pair for EmbeddingsToGemini {
    const CLIENT: Dialect = Dialect::OpenAi;
    const PROVIDER: Dialect = Dialect::Gemini;

    fn request<J: Json>(&mut self, body: &J, stream: bool) -> Result<UpstreamRequest, ApiError> {
        self.base64 = body.str_field("encoding_format") == Some("base64");
        let texts: Vec<&str> = match body.field("input").map(Json::kind) {
            Some(Kind::String(text)) => vec![text],
            Some(Kind::Array(items)) => items
                .iter()
                .map(Json::as_str)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    unsupported("input", "token arrays as input", self.upstream.provider)
                })?,
            _ => {
                return Err(
                    ApiError::invalid("'input' must be a string or an array of strings.")
                        .with_param("input"),
                )
            }
        };
        let name = format!("models/{}", self.upstream.model);
        let dimensions = body.field("dimensions").and_then(Json::as_u64);
        let requests: Vec<Value> = texts
            .into_iter()
            .map(|text| {
                let mut entry = json!({"model": name, "content": {"parts": [{"text": text}]}});
                if let (Some(dimensions), Some(entry)) = (dimensions, entry.as_object_mut()) {
                    entry.insert("outputDimensionality".into(), json!(dimensions));
                }
                entry
            })
            .collect();
        let mut out = Map::new();
        out.insert("requests".into(), Value::Array(requests));
        Ok(to_upstream(
            self.upstream.paths.get(stream),
            HeaderEdits::default(),
            &out,
        ))
    }

    fn response(&mut self, body: Value, _usage: Option<Usage>) -> Result<Value, ApiError> {
        let data: Vec<Value> = body
            .get("embeddings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(index, embedding)| {
                let values: Vec<f64> = embedding
                    .get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect();
                let vector = if self.base64 {
                    json!(openai::embedding_base64(&values))
                } else {
                    json!(values)
                };
                json!({"object": "embedding", "index": index, "embedding": vector})
            })
            .collect();
        Ok(json!({
            "object": "list",
            "data": data,
            "model": self.upstream.model,
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }))
    }

    fn event(&mut self, _: &SseEvent, _: Option<&Value>, _: Option<Usage>, _: &mut Vec<SseEvent>) {}

    fn end(&mut self, _: Option<Usage>, _: &mut Vec<SseEvent>) {}
}
