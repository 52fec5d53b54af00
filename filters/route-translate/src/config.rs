//! The route-translate filter's configuration, one shape per role.

use crate::headers::{self, HeaderPattern};
use crate::routing::{RouteConfig, Router};
use llm_api::ProviderKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use wasm_glue::config::parse_section;
use wasm_glue::ConfigError;

/// A provider the gateway can route to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub kind: ProviderKind,
    /// The Envoy cluster that reaches it.
    pub cluster: String,
    /// Azure OpenAI: the `api-version` for requests that do not name one.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Client headers this provider gets besides the defaults
    /// (`headers::FORWARDED`), e.g. `anthropic-beta`. The renderer hands
    /// them to the translate stage, which drops every other client header.
    #[serde(default)]
    pub forward_headers: Vec<HeaderPattern>,
}

/// The `translate` role: turns requests into what one provider's API expects.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TranslateConfig {
    /// The API the cluster this filter sits on speaks. Omitted on a fallback
    /// chain's cluster, whose endpoints each name their provider in their
    /// metadata (`llm.provider`).
    #[serde(default)]
    pub provider: Option<ProviderKind>,
    /// Per provider name, the client headers it gets besides the defaults:
    /// the `forward_headers` of `providers` in the route configuration.
    #[serde(default)]
    pub forward_headers: BTreeMap<String, Vec<HeaderPattern>>,
}

/// The configuration, chosen by its `role` field.
#[derive(Debug)]
pub enum RouteTranslateConfig {
    Route(Box<Router>),
    Translate(TranslateConfig),
}

impl RouteTranslateConfig {
    /// Reads `role`, then the rest as that role's configuration (by hand
    /// rather than as a serde-tagged enum, which would lose field paths).
    pub fn from_json(mut value: serde_json::Value) -> Result<Self, ConfigError> {
        let role = value
            .as_object_mut()
            .and_then(|fields| fields.remove("role"));
        match role.as_ref().and_then(serde_json::Value::as_str) {
            Some("route") => {
                let route: RouteConfig = parse_section(crate::NAME, value)?;
                for (name, provider) in &route.providers {
                    headers::validate(
                        &format!("providers.{name}.forward_headers"),
                        &provider.forward_headers,
                    )?;
                }
                Ok(RouteTranslateConfig::Route(Box::new(Router::new(route)?)))
            }
            Some("translate") => {
                let translate: TranslateConfig = parse_section(crate::NAME, value)?;
                for (name, patterns) in &translate.forward_headers {
                    headers::validate(&format!("forward_headers.{name}"), patterns)?;
                }
                Ok(RouteTranslateConfig::Translate(translate))
            }
            Some(other) => Err(ConfigError::new(
                crate::NAME,
                "role",
                format!("unknown role `{other}`; expected `route` or `translate`"),
            )),
            None => Err(ConfigError::new(
                crate::NAME,
                "role",
                "required: `route` or `translate`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loads_both_roles() {
        let route = json!({"role": "route", "providers": {"o": {"kind": "openai", "cluster": "c"}}, "default_provider": "o"});
        assert!(matches!(
            RouteTranslateConfig::from_json(route).unwrap(),
            RouteTranslateConfig::Route(_)
        ));
        let translate =
            RouteTranslateConfig::from_json(json!({"role": "translate", "provider": "gemini"}))
                .unwrap();
        assert!(matches!(
            translate,
            RouteTranslateConfig::Translate(TranslateConfig {
                provider: Some(ProviderKind::Gemini),
                ..
            })
        ));
    }

    #[test]
    fn role_errors_name_the_field() {
        let err = RouteTranslateConfig::from_json(json!({"role": "steer"})).unwrap_err();
        assert_eq!(err.field, "role");
        assert!(err.message.contains("unknown role `steer`"), "{err}");
        assert_eq!(
            RouteTranslateConfig::from_json(json!({}))
                .unwrap_err()
                .field,
            "role"
        );
        let err = RouteTranslateConfig::from_json(
            json!({"role": "translate", "provider": "azure", "x": 1}),
        )
        .unwrap_err();
        assert!(err.message.contains("unknown field `x`"), "{err}");
        let err = RouteTranslateConfig::from_json(
            json!({"role": "translate", "forward_headers": {"o": ["Cookie"]}}),
        )
        .unwrap_err();
        assert_eq!(err.field, "forward_headers.o[0]");
        let route = json!({"role": "route", "providers": {"o": {"kind": "openai", "cluster": "c", "forward_headers": ["authorization"]}}, "default_provider": "o"});
        let err = RouteTranslateConfig::from_json(route).unwrap_err();
        assert_eq!(err.field, "providers.o.forward_headers[0]");
    }
}
