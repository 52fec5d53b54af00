//! `llm-gateway providers`: the provider descriptors of the filters
//! (`llm_api::providers`) as JSON, so that scripts and tests that need what
//! differs per provider (examples/generate.py, the compose example's
//! render-config.sh, the Python tests) read it instead of keeping a copy.

use llm_api::providers::{Credential, Descriptor, PathPattern, DESCRIPTORS};
use llm_api::ProviderKind;
use serde_json::{json, Value};

/// The prefix of a provider's template and environment variables: `OPENAI`
/// of `OPENAI_HOST`, `OPENAI_UPSTREAM`, `OPENAI_API_KEY`.
pub fn variable_prefix(kind: ProviderKind) -> String {
    kind.name().to_ascii_uppercase()
}

/// Every provider, in the table's order.
pub fn listing() -> Value {
    Value::Array(DESCRIPTORS.iter().map(|d| describe(d)).collect())
}

fn describe(descriptor: &Descriptor) -> Value {
    let credential = match descriptor.credential {
        Credential::Header { name, prefix } => {
            json!({"type": "header", "header": name, "prefix": prefix})
        }
    };
    let api_paths: Vec<Value> = descriptor
        .api_paths
        .iter()
        .map(|pattern| match pattern {
            PathPattern::Exact(path) => json!({"exact": path}),
            PathPattern::Regex(regex) => json!({"regex": regex}),
        })
        .collect();
    json!({
        "name": descriptor.name,
        "credential": credential,
        "default_host": descriptor.default_host,
        "default_port": descriptor.default_port,
        "deployments": descriptor.deployments,
        "client_apis": descriptor.client_apis,
        "stream_framing": descriptor.stream_framing.name(),
        "api_paths": api_paths,
        "base_path": descriptor.base_path,
        "upstream_variable": format!("{}_UPSTREAM", variable_prefix(descriptor.kind)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_provider_with_its_credential_and_variable() {
        let listing = listing();
        let providers = listing.as_array().unwrap();
        let names: Vec<&str> = providers
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "openai",
                "anthropic",
                "gemini",
                "azure",
                "openai_compatible"
            ]
        );
        assert_eq!(providers[4]["base_path"], "/v1");
        let openai = &providers[0];
        assert_eq!(
            openai["credential"],
            json!({"type": "header", "header": "authorization", "prefix": "Bearer "})
        );
        assert_eq!(openai["default_host"], "api.openai.com");
        assert_eq!(openai["upstream_variable"], "OPENAI_UPSTREAM");
        assert_eq!(
            openai["api_paths"][0],
            json!({"exact": "/v1/chat/completions"})
        );
        let azure = &providers[3];
        assert_eq!(azure["default_host"], Value::Null);
        assert_eq!(azure["deployments"], true);
        assert!(azure["api_paths"][0]["regex"]
            .as_str()
            .unwrap()
            .starts_with("/openai/deployments/"));
    }
}
