//! The token-limit filter's configuration: the limit policy of `limit::policy`
//! and the price map of its cost budgets, validated when Envoy loads it.

use crate::limit::policy::{KeyPart, LimitPolicy};
use llm_api::pricing::PriceMap;
use std::rc::Rc;
use wasm_glue::config::{check_header_name, parse_section};
use wasm_glue::{ConfigError, ModuleSettings};

/// The validated configuration.
#[derive(Debug)]
pub struct TokenLimitConfig {
    pub policy: LimitPolicy,
    /// The module's price map ([`ModuleSettings::prices`]), or the one of
    /// `policy.prices`, its older spelling.
    pub prices: Rc<PriceMap>,
}

/// Parses and validates the policy; errors name the field.
pub fn from_json(
    value: serde_json::Value,
    settings: &ModuleSettings,
) -> Result<TokenLimitConfig, ConfigError> {
    let mut policy: LimitPolicy = parse_section(crate::NAME, value)?;
    // The one-level shorthand's fields are named as written, at the top.
    let one_level = policy.levels.is_empty();
    policy
        .validate()
        .map_err(|e| ConfigError::new(crate::NAME, e.field, e.message))?;
    for (l, level) in policy.levels.iter().enumerate() {
        let prefix = if one_level {
            String::new()
        } else {
            format!("levels[{l}].")
        };
        for (i, part) in level.key.iter().enumerate() {
            if let KeyPart::Header(name) = part {
                check_header_name(crate::NAME, &format!("{prefix}key[{i}].header"), name)?;
            }
        }
    }
    let prices = settings.prices(crate::NAME, policy.prices.as_deref())?;
    Ok(TokenLimitConfig { policy, prices })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_json(value: serde_json::Value) -> Result<TokenLimitConfig, ConfigError> {
        super::from_json(value, &ModuleSettings::default())
    }

    #[test]
    fn defaults_key_on_the_authenticated_client() {
        let config = from_json(json!({})).unwrap();
        assert_eq!(config.policy.levels[0].key, [KeyPart::Client]);
    }

    #[test]
    fn errors_name_the_field() {
        let err = from_json(json!({"counting": {"mode": "guess"}})).unwrap_err();
        assert_eq!(err.field, "counting.mode");
        let err = from_json(json!({"key": [{"header": "Bad Header"}]})).unwrap_err();
        assert_eq!(err.field, "key[0].header");
        let err =
            from_json(json!({"levels": [{"key": ["client"]}, {"key": [{"header": "X-Agent"}]}]}))
                .unwrap_err();
        assert_eq!(err.field, "levels[1].key[0].header");
        let err = from_json(json!({"overrides": [{"key": "a", "tier": "gold"}]})).unwrap_err();
        assert_eq!(err.field, "overrides[0].tier");
        let err = from_json(json!({"limits": {"tokens_per_minute": 5}})).unwrap_err();
        assert!(
            err.message.contains("unknown field `tokens_per_minute`"),
            "{err}"
        );
        let err = from_json(json!({"prices": [{"model": "m", "input": "free", "output": 0}]}))
            .unwrap_err();
        assert!(err.field.starts_with("prices"), "{err}");
        let err =
            from_json(json!({"prices": [{"model": "", "input": 1, "output": 1}]})).unwrap_err();
        assert_eq!(err.field, "prices[0]");
        let err = from_json(json!({"key": [{"header": "x-agent-id"}, "model"], "global": {}}))
            .unwrap_err();
        assert_eq!(err.field, "key[1]");
        let err =
            from_json(json!({"global": {}, "limits": {"requests_per_minute": 5}})).unwrap_err();
        assert_eq!(err.field, "global");
        let config =
            from_json(json!({"key": ["client"], "global": {"on_failure": "closed"}})).unwrap();
        assert_eq!(config.policy.global.unwrap().domain, "llm-gateway");
    }

    #[test]
    fn cost_budgets_price_by_the_top_level_table_or_the_old_spelling_not_both() {
        let entry = json!([{"model": "m", "input": 1.0, "output": 5.0}]);
        let mut plugin = json!({"prices": entry});
        let settings = ModuleSettings::take(crate::NAME, &mut plugin).unwrap();
        let config = super::from_json(json!({}), &settings).unwrap();
        assert_eq!(config.prices.price(None, "m").map(|p| p.output), Some(5.0));
        let config = from_json(json!({"prices": entry})).unwrap();
        assert_eq!(config.prices.price(None, "m").map(|p| p.output), Some(5.0));
        let err = super::from_json(json!({"prices": entry}), &settings).unwrap_err();
        assert_eq!(err.field, "prices");
        assert!(from_json(json!({}))
            .unwrap()
            .prices
            .price(None, "m")
            .is_none());
    }
}
