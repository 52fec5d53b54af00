//! Azure OpenAI: OpenAI's request and response bodies on per-deployment
//! paths, versioned by an `api-version` query parameter.
//!
//! The body is sent as the client wrote it: Azure picks the model from the
//! deployment in the path and ignores the body's `model`, so the gateway
//! does not spend a re-serialisation on it.

use crate::api::encode_segment;
use crate::providers::{Operation, UpstreamCall};

/// The `api-version` used when the route names none (the current GA version).
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// `/openai/deployments/{deployment}/chat/completions?api-version=…` (or
/// `.../embeddings`), the deployment being the call's model; the Responses
/// API is not per deployment (`/openai/responses?api-version=…`): the
/// body's `model` names the deployment.
pub(crate) fn upstream_path(call: &UpstreamCall) -> Option<String> {
    let version = encode_segment(call.api_version);
    let operation = match call.operation {
        Operation::Generate => "chat/completions",
        Operation::Embed { .. } => "embeddings",
        Operation::Responses => return Some(format!("/openai/responses?api-version={version}")),
    };
    Some(format!(
        "/openai/deployments/{}/{operation}?api-version={version}",
        encode_segment(call.model)
    ))
}
