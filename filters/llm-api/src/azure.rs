//! Azure OpenAI: OpenAI's request and response bodies on per-deployment
//! paths, versioned by an `api-version` query parameter.
//!
//! The body is sent as the client wrote it: Azure picks the model from the
//! deployment in the path and ignores the body's `model`, so the gateway
//! does not spend a re-serialisation on it.

use crate::api::encode_segment;

/// The `api-version` used when the route names none (the current GA version).
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// `/openai/deployments/{deployment}/chat/completions?api-version=…`
pub fn chat_path(deployment: &str, api_version: &str) -> String {
    deployment_path(deployment, "chat/completions", api_version)
}

/// `/openai/deployments/{deployment}/embeddings?api-version=…`
pub fn embeddings_path(deployment: &str, api_version: &str) -> String {
    deployment_path(deployment, "embeddings", api_version)
}

/// `/openai/responses?api-version=…`: the Responses API is not per
/// deployment; the body's `model` names the deployment.
pub fn responses_path(api_version: &str) -> String {
    format!(
        "/openai/responses?api-version={}",
        encode_segment(api_version)
    )
}

fn deployment_path(deployment: &str, operation: &str, api_version: &str) -> String {
    format!(
        "/openai/deployments/{}/{operation}?api-version={}",
        encode_segment(deployment),
        encode_segment(api_version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_deployment_and_version() {
        assert_eq!(
            chat_path("gpt-4o-mini", DEFAULT_API_VERSION),
            "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            embeddings_path("a/b", "v&x"),
            "/openai/deployments/a%2Fb/embeddings?api-version=v%26x"
        );
    }
}
