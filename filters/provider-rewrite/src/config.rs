//! The provider-rewrite filter's configuration, one shape per role.

use serde::Deserialize;
use std::collections::BTreeMap;
use wasm_glue::config::parse_section;
use wasm_glue::ConfigError;

/// The API family a provider speaks.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Gemini,
    Azure,
}

/// A provider the gateway can route to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub kind: ProviderKind,
    /// The Envoy cluster that reaches it.
    pub cluster: String,
}

/// The `route` role: picks the provider and its cluster.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// The provider for requests no rule sends elsewhere.
    pub default_provider: String,
}

/// The `translate` role: turns requests into what one provider's API expects.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TranslateConfig {
    /// The API the cluster this filter sits on speaks.
    pub provider: ProviderKind,
}

/// The configuration, chosen by its `role` field.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderRewriteConfig {
    Route(RouteConfig),
    Translate(TranslateConfig),
}

impl ProviderRewriteConfig {
    /// Reads `role`, then the rest as that role's configuration (by hand
    /// rather than as a serde-tagged enum, which would lose field paths).
    pub fn from_json(mut value: serde_json::Value) -> Result<Self, ConfigError> {
        let role = value.as_object_mut().and_then(|fields| fields.remove("role"));
        match role.as_ref().and_then(serde_json::Value::as_str) {
            Some("route") => {
                let route: RouteConfig = parse_section(crate::NAME, value)?;
                route.validate()?;
                Ok(ProviderRewriteConfig::Route(route))
            }
            Some("translate") => Ok(ProviderRewriteConfig::Translate(parse_section(crate::NAME, value)?)),
            Some(other) => Err(ConfigError::new(
                crate::NAME,
                "role",
                format!("unknown role `{other}`; expected `route` or `translate`"),
            )),
            None => Err(ConfigError::new(crate::NAME, "role", "required: `route` or `translate`")),
        }
    }
}

impl RouteConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.providers.is_empty() {
            return Err(ConfigError::new(crate::NAME, "providers", "at least one provider is required"));
        }
        for (name, provider) in &self.providers {
            if provider.cluster.is_empty() {
                return Err(ConfigError::new(crate::NAME, format!("providers.{name}.cluster"), "must not be empty"));
            }
        }
        if !self.providers.contains_key(&self.default_provider) {
            let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            return Err(ConfigError::new(
                crate::NAME,
                "default_provider",
                format!("`{}` is not one of the providers: {}", self.default_provider, known.join(", ")),
            ));
        }
        Ok(())
    }

    /// The provider for requests no rule sends elsewhere.
    pub fn default(&self) -> Option<(&str, &Provider)> {
        self.providers.get_key_value(&self.default_provider).map(|(name, p)| (name.as_str(), p))
    }

    /// The first configured provider of `kind`, by name order.
    pub fn provider_of_kind(&self, kind: ProviderKind) -> Option<(&str, &Provider)> {
        self.providers.iter().find(|(_, p)| p.kind == kind).map(|(name, p)| (name.as_str(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route() -> serde_json::Value {
        json!({
            "role": "route",
            "providers": {
                "openai": {"kind": "openai", "cluster": "openai"},
                "claude": {"kind": "anthropic", "cluster": "anthropic"}
            },
            "default_provider": "openai"
        })
    }

    #[test]
    fn loads_both_roles() {
        let ProviderRewriteConfig::Route(config) = ProviderRewriteConfig::from_json(route()).unwrap() else {
            panic!("route expected")
        };
        assert_eq!(config.provider_of_kind(ProviderKind::Anthropic).unwrap().0, "claude");
        assert_eq!(
            ProviderRewriteConfig::from_json(json!({"role": "translate", "provider": "gemini"})).unwrap(),
            ProviderRewriteConfig::Translate(TranslateConfig { provider: ProviderKind::Gemini })
        );
    }

    #[test]
    fn errors_name_the_field() {
        let mut bad = route();
        bad["default_provider"] = json!("mistral");
        let err = ProviderRewriteConfig::from_json(bad).unwrap_err();
        assert_eq!(err.field, "default_provider");
        assert!(err.message.contains("claude, openai"), "{err}");

        let mut bad = route();
        bad["providers"]["claude"]["kind"] = json!("claude");
        assert_eq!(ProviderRewriteConfig::from_json(bad).unwrap_err().field, "providers.claude.kind");

        let mut bad = route();
        bad["providers"]["openai"]["cluster"] = json!("");
        assert_eq!(ProviderRewriteConfig::from_json(bad).unwrap_err().field, "providers.openai.cluster");

        let err = ProviderRewriteConfig::from_json(json!({"role": "steer"})).unwrap_err();
        assert_eq!(err.field, "role");
        assert!(err.message.contains("unknown role `steer`"), "{err}");
        assert_eq!(ProviderRewriteConfig::from_json(json!({})).unwrap_err().field, "role");
        let err = ProviderRewriteConfig::from_json(json!({"role": "translate", "provider": "azure", "x": 1})).unwrap_err();
        assert!(err.message.contains("unknown field `x`"), "{err}");
    }
}
