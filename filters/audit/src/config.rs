//! The audit filter's configuration.

use serde::Deserialize;
use wasm_glue::config::{check_header_name, parse_section};
use wasm_glue::ConfigError;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Request headers that identify the calling client (agent, app, team).
    #[serde(default = "default_client_headers")]
    pub client_headers: Vec<String>,
}

fn default_client_headers() -> Vec<String> {
    vec!["x-agent-id".to_owned(), "x-agent-purpose".to_owned()]
}

impl AuditConfig {
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        let config: AuditConfig = parse_section(crate::NAME, value)?;
        for (i, name) in config.client_headers.iter().enumerate() {
            check_header_name(crate::NAME, &format!("client_headers[{i}]"), name)?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_to_agent_headers() {
        let config = AuditConfig::from_json(json!({})).unwrap();
        assert_eq!(config.client_headers, ["x-agent-id", "x-agent-purpose"]);
    }

    #[test]
    fn rejects_bad_header_names_and_unknown_fields() {
        let err = AuditConfig::from_json(json!({"client_headers": ["x-ok", "X Bad"]})).unwrap_err();
        assert_eq!(err.field, "client_headers[1]");
        let err = AuditConfig::from_json(json!({"client_header": []})).unwrap_err();
        assert!(err.to_string().contains("unknown field `client_header`"), "{err}");
    }
}
