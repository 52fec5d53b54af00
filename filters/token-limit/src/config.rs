//! The token-limit filter's configuration.

use serde::Deserialize;
use wasm_glue::config::{check_header_name, parse_section};
use wasm_glue::ConfigError;

/// How input tokens are counted before admission.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// A calibrated estimate, exact only when a request could cross a limit.
    Auto,
    /// Always the provider's tokenizer.
    Exact,
    /// Always the calibrated estimate.
    Estimate,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenLimitConfig {
    /// The request header whose value names the limited client.
    #[serde(default = "default_key_header")]
    pub key_header: String,
    #[serde(default = "default_counting")]
    pub counting: Counting,
}

fn default_key_header() -> String {
    "x-agent-id".to_owned()
}

fn default_counting() -> Counting {
    Counting::Auto
}

impl TokenLimitConfig {
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        let config: TokenLimitConfig = parse_section(crate::NAME, value)?;
        check_header_name(crate::NAME, "key_header", &config.key_header)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let config = TokenLimitConfig::from_json(json!({})).unwrap();
        assert_eq!(config.key_header, "x-agent-id");
        assert_eq!(config.counting, Counting::Auto);
    }

    #[test]
    fn errors_name_the_field() {
        let err = TokenLimitConfig::from_json(json!({"counting": "guess"})).unwrap_err();
        assert_eq!(err.field, "counting");
        let err = TokenLimitConfig::from_json(json!({"key_header": ""})).unwrap_err();
        assert_eq!(err.field, "key_header");
    }
}
