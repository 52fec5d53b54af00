//! The token-limit filter's configuration: the limit policy of `limit::policy`,
//! validated when Envoy loads it.

use crate::limit::policy::{KeyPart, LimitPolicy};
use wasm_glue::config::{check_header_name, parse_section};
use wasm_glue::ConfigError;

/// Parses and validates the policy; errors name the field.
pub fn from_json(value: serde_json::Value) -> Result<LimitPolicy, ConfigError> {
    let policy: LimitPolicy = parse_section(crate::NAME, value)?;
    policy.validate().map_err(|e| ConfigError::new(crate::NAME, e.field, e.message))?;
    for (i, part) in policy.key.iter().enumerate() {
        if let KeyPart::Header(name) = part {
            check_header_name(crate::NAME, &format!("key[{i}].header"), name)?;
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_key_on_the_agent_header() {
        let policy = from_json(json!({})).unwrap();
        assert_eq!(policy.key, [KeyPart::Header("x-agent-id".into())]);
    }

    #[test]
    fn errors_name_the_field() {
        let err = from_json(json!({"counting": {"mode": "guess"}})).unwrap_err();
        assert_eq!(err.field, "counting.mode");
        let err = from_json(json!({"key": [{"header": "Bad Header"}]})).unwrap_err();
        assert_eq!(err.field, "key[0].header");
        let err = from_json(json!({"overrides": [{"key": "a", "tier": "gold"}]})).unwrap_err();
        assert_eq!(err.field, "overrides[0].tier");
        let err = from_json(json!({"limits": {"tokens_per_minute": 5}})).unwrap_err();
        assert!(err.message.contains("unknown field `tokens_per_minute`"), "{err}");
    }
}
