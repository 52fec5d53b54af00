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
    /// Where its API's calls start (`/v1`, `/openai/v1`), for kinds that
    /// take one (an OpenAI-compatible server); the kind's default when
    /// absent. The renderer hands it to the translate stage.
    #[serde(default)]
    pub base_path: Option<String>,
    /// Whether the gateway injects a key for it: an OpenAI-compatible server
    /// on the operator's own network often takes none. Read by the
    /// renderer, which then writes no key injection for its cluster.
    #[serde(default = "default_true")]
    pub send_key: bool,
}

fn default_true() -> bool {
    true
}

/// Checks a provider's `base_path`: a path of plain segments, so that
/// nothing in it can change the request's path beyond itself or add a
/// query.
fn check_base_path(field: &str, path: &str) -> Result<(), ConfigError> {
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    let valid = path.len() <= 256
        && path
            .strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(plain));
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            crate::NAME,
            field,
            format!("`{path}` is not a base path such as /v1 (segments of letters, digits, `-._~`, no trailing /)"),
        ))
    }
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
    /// Per provider name, its `base_path` in the route configuration.
    #[serde(default)]
    pub base_paths: BTreeMap<String, String>,
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
                    if let Some(path) = &provider.base_path {
                        let field = format!("providers.{name}.base_path");
                        if provider.kind.descriptor().base_path.is_none() {
                            return Err(ConfigError::new(
                                crate::NAME,
                                field,
                                format!("the paths of a `{}` provider are fixed", provider.kind),
                            ));
                        }
                        check_base_path(&field, path)?;
                    }
                }
                Ok(RouteTranslateConfig::Route(Box::new(Router::new(route)?)))
            }
            Some("translate") => {
                let translate: TranslateConfig = parse_section(crate::NAME, value)?;
                for (name, patterns) in &translate.forward_headers {
                    headers::validate(&format!("forward_headers.{name}"), patterns)?;
                }
                for (name, path) in &translate.base_paths {
                    check_base_path(&format!("base_paths.{name}"), path)?;
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
    fn a_base_path_is_plain_segments_and_only_where_the_kind_takes_one() {
        let route = |kind: &str, path: &str| {
            RouteTranslateConfig::from_json(
                json!({"role": "route", "providers": {"p": {"kind": kind, "cluster": "c", "base_path": path}}, "default_provider": "p"}),
            )
        };
        assert!(route("openai_compatible", "/openai/v1").is_ok());
        for bad in ["v1", "/v1/", "/v1/../admin", "/v1?x=1", "/v1//x", "/v%2e"] {
            let err = route("openai_compatible", bad).unwrap_err();
            assert_eq!(err.field, "providers.p.base_path", "{bad}");
        }
        let err = route("openai", "/v1").unwrap_err();
        assert!(err.message.contains("fixed"), "{err}");
        let err = RouteTranslateConfig::from_json(
            json!({"role": "translate", "base_paths": {"p": "/a b"}}),
        )
        .unwrap_err();
        assert_eq!(err.field, "base_paths.p");
    }

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
