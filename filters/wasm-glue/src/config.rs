//! Loading filter configuration with errors that name the bad field.

use crate::teams::{Teams, TEAMS_KEY};
use llm_api::pricing::{PriceEntry, PriceMap};
use llm_api::Fact;
use serde::de::DeserializeOwned;
use std::rc::Rc;

/// A configuration Envoy must refuse. Its message names the filter, the field
/// (as a path such as `limits[1].tokens_per_minute`) and what is wrong, and it
/// is logged by Envoy when it rejects the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub filter: String,
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(filter: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            filter: filter.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "invalid {} configuration: {}", self.filter, self.message)
        } else {
            write!(
                f,
                "invalid {} configuration: field `{}`: {}",
                self.filter, self.field, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Deserialises one filter's configuration from a JSON value, reporting the
/// path of the offending field. Structs should use `deny_unknown_fields` so
/// that a misspelt option is an error rather than silently ignored.
pub fn parse_section<T: DeserializeOwned>(
    filter: &str,
    value: serde_json::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ConfigError::new(filter, field, e.into_inner().to_string())
    })
}

/// Parses the raw plugin configuration Envoy hands over. An absent or empty
/// configuration means `{}`, so every option falls back to its default.
pub fn parse_json(filter: &str, bytes: &[u8]) -> Result<serde_json::Value, ConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ConfigError::new(filter, "", format!("not valid JSON: {e}")))
}

/// The request header that names the authenticated client unless the
/// plugin configuration's `client_identity` says otherwise: the one Envoy's
/// `api_key_auth` forwards in the shipped templates.
pub const DEFAULT_CLIENT_IDENTITY: &str = "x-client-id";

/// The plugin configuration's key for the client identity header, beside a
/// module's own fields (or the bundle's sections).
pub const CLIENT_IDENTITY_KEY: &str = "client_identity";

/// Takes `client_identity` off a plugin configuration: the header that names
/// the authenticated client for every stage of the module (limits, audit,
/// allow-lists), so that all of them use one identity.
fn take_client_identity(
    filter: &str,
    config: &mut serde_json::Value,
) -> Result<String, ConfigError> {
    let Some(value) = config
        .as_object_mut()
        .and_then(|c| c.remove(CLIENT_IDENTITY_KEY))
    else {
        return Ok(DEFAULT_CLIENT_IDENTITY.to_owned());
    };
    let Some(header) = value.as_str() else {
        return Err(ConfigError::new(
            filter,
            CLIENT_IDENTITY_KEY,
            "must be the name of the request header the gateway's authentication sets",
        ));
    };
    check_header_name(filter, CLIENT_IDENTITY_KEY, header)?;
    Ok(header.to_owned())
}

/// The plugin configuration's key for the price table, beside a module's
/// own fields (or the bundle's sections).
pub const PRICES_KEY: &str = "prices";

/// The plugin configuration's key for the facts published to Envoy (its
/// filter state), beside a module's own fields (or the bundle's sections).
pub const ENVOY_FACTS_KEY: &str = "envoy_facts";

/// The settings of a plugin configuration that every stage of its module
/// shares, taken off it before the stages are built from the rest: each is
/// written once, so that no two stages can disagree on it.
#[derive(Debug, Clone)]
pub struct ModuleSettings {
    /// The request header that names the authenticated client.
    pub client_identity: String,
    /// The teams (`teams`): each configured client id's team and metric
    /// label.
    pub teams: Rc<Teams>,
    /// The built-in list prices overlaid with the top-level `prices`, when
    /// the configuration has them.
    prices: Option<Rc<PriceMap>>,
    /// The facts published to Envoy (`envoy_facts`): those its configuration
    /// reads (access logs, route matches, the upstream filter); `None`, the
    /// default, publishes every fact. Each one costs a host call a stream,
    /// and the module's own stages read facts from memory either way.
    pub envoy_facts: Option<Vec<Fact>>,
}

impl Default for ModuleSettings {
    fn default() -> Self {
        ModuleSettings {
            client_identity: DEFAULT_CLIENT_IDENTITY.to_owned(),
            teams: Rc::default(),
            prices: None,
            envoy_facts: None,
        }
    }
}

impl ModuleSettings {
    /// Takes `client_identity`, `teams`, `prices` and `envoy_facts` off a
    /// plugin configuration and validates them; errors name `filter` and the
    /// field.
    pub fn take(filter: &str, config: &mut serde_json::Value) -> Result<Self, ConfigError> {
        let client_identity = take_client_identity(filter, config)?;
        let teams = match config.as_object_mut().and_then(|c| c.remove(TEAMS_KEY)) {
            Some(value) => Rc::new(Teams::from_json(filter, value)?),
            None => Rc::default(),
        };
        let prices = match config.as_object_mut().and_then(|c| c.remove(PRICES_KEY)) {
            Some(value) => Some(Rc::new(price_map(filter, value)?)),
            None => None,
        };
        let envoy_facts = match config
            .as_object_mut()
            .and_then(|c| c.remove(ENVOY_FACTS_KEY))
        {
            Some(value) => Some(envoy_facts(filter, &value)?),
            None => None,
        };
        Ok(ModuleSettings {
            client_identity,
            teams,
            prices,
            envoy_facts,
        })
    }

    /// The price map a stage charges by, given its section's own `prices`
    /// (`own`, the table's older per-filter spelling): the module's table,
    /// else the section's, else the built-in list prices. A table in both
    /// places is refused, naming the section's field, rather than one of
    /// them silently winning.
    pub fn prices(
        &self,
        section: &str,
        own: Option<&[PriceEntry]>,
    ) -> Result<Rc<PriceMap>, ConfigError> {
        match (&self.prices, own) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                section,
                PRICES_KEY,
                "prices are set at the top level of the plugin configuration; \
                 keep the one top-level `prices` table, shared by every filter",
            )),
            (Some(shared), None) => Ok(Rc::clone(shared)),
            (None, Some(entries)) => Ok(Rc::new(PriceMap::with(entries).map_err(
                |(i, message)| ConfigError::new(section, format!("{PRICES_KEY}[{i}]"), message),
            )?)),
            (None, None) => Ok(Rc::new(PriceMap::default())),
        }
    }
}

/// The facts of an `envoy_facts` list: fact names without Envoy's `wasm.`
/// prefix (`llm.provider`).
fn envoy_facts(filter: &str, value: &serde_json::Value) -> Result<Vec<Fact>, ConfigError> {
    let Some(names) = value.as_array() else {
        return Err(ConfigError::new(
            filter,
            ENVOY_FACTS_KEY,
            "must be a list of fact names such as \"llm.provider\"",
        ));
    };
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            name.as_str().and_then(Fact::from_name).ok_or_else(|| {
                let known: Vec<&str> = Fact::ALL.iter().map(|f| f.name()).collect();
                ConfigError::new(
                    filter,
                    format!("{ENVOY_FACTS_KEY}[{i}]"),
                    format!("{name} is not a fact; expected one of {}", known.join(", ")),
                )
            })
        })
        .collect()
}

/// The price map of a `prices` table: the built-in list prices overlaid
/// with its entries.
fn price_map(filter: &str, value: serde_json::Value) -> Result<PriceMap, ConfigError> {
    let entries: Vec<PriceEntry> = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            PRICES_KEY.to_owned()
        } else {
            format!("{PRICES_KEY}{path}")
        };
        ConfigError::new(filter, field, e.into_inner().to_string())
    })?;
    PriceMap::with(&entries)
        .map_err(|(i, message)| ConfigError::new(filter, format!("{PRICES_KEY}[{i}]"), message))
}

/// A stage's builder: its section of the configuration, and the settings
/// its module shares.
pub type StageBuilder =
    fn(serde_json::Value, &ModuleSettings) -> Result<Box<dyn crate::Stage>, ConfigError>;

/// Builds the stages of a module holding one filter, whose plugin
/// configuration is that filter's configuration plus the shared settings
/// ([`ModuleSettings`]).
pub fn single_stage(
    filter: &str,
    bytes: &[u8],
    build: StageBuilder,
) -> Result<crate::Stages, ConfigError> {
    let mut config = parse_json(filter, bytes)?;
    let settings = ModuleSettings::take(filter, &mut config)?;
    Ok(crate::Stages::new(vec![build(config, &settings)?]).with_settings(&settings))
}

/// Checks that `name` is a lowercase HTTP header name, as Envoy stores them.
pub fn check_header_name(filter: &str, field: &str, name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            filter,
            field,
            format!("`{name}` is not a lowercase HTTP header name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        limits: Vec<Limit>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limit {
        tokens_per_minute: u64,
    }

    #[test]
    fn errors_name_the_nested_field() {
        let value =
            serde_json::json!({"limits": [{"tokens_per_minute": 1}, {"tokens_per_minute": "x"}]});
        let err = parse_section::<Limits>("token-limit", value).unwrap_err();
        assert_eq!(err.field, "limits[1].tokens_per_minute");
        assert!(
            err.to_string()
                .contains("field `limits[1].tokens_per_minute`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        let value = serde_json::json!({"limits": [], "limitz": 3});
        let err = parse_section::<Limits>("token-limit", value).unwrap_err();
        assert!(err.message.contains("unknown field `limitz`"), "{err}");
    }

    #[test]
    fn the_top_level_prices_are_taken_off_and_shared() {
        let mut config = serde_json::json!({
            "prices": [{"model": "m", "input": 1.0, "output": 2.0}],
            "client_identity": "x-user",
            "collector": {}
        });
        let settings = ModuleSettings::take("audit", &mut config).unwrap();
        assert_eq!(config, serde_json::json!({"collector": {}}));
        assert_eq!(settings.client_identity, "x-user");
        let audit = settings.prices("audit", None).unwrap();
        let limits = settings.prices("token_limit", None).unwrap();
        assert!(Rc::ptr_eq(&audit, &limits), "one table for every stage");
        assert_eq!(audit.price(None, "m").map(|p| p.output), Some(2.0));
        assert!(
            audit.price(None, "gpt-4o-mini").is_some(),
            "over the built-in list"
        );
    }

    #[test]
    fn a_sections_own_prices_load_unless_the_top_level_has_some() {
        let own: Vec<PriceEntry> = serde_json::from_value(
            serde_json::json!([{"model": "m", "input": 1.0, "output": 3.0}]),
        )
        .unwrap();
        let none = ModuleSettings::take("x", &mut serde_json::json!({})).unwrap();
        let map = none.prices("token_limit", Some(&own)).unwrap();
        assert_eq!(map.price(None, "m").map(|p| p.output), Some(3.0));
        assert!(none
            .prices("audit", None)
            .unwrap()
            .price(None, "m")
            .is_none());
        let bad: Vec<PriceEntry> =
            serde_json::from_value(serde_json::json!([{"model": "", "input": 1.0, "output": 3.0}]))
                .unwrap();
        let err = none.prices("audit", Some(&bad)).unwrap_err();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("audit", "prices[0]")
        );

        let mut config = serde_json::json!({"prices": []});
        let top = ModuleSettings::take("llm_gateway", &mut config).unwrap();
        let err = top.prices("token_limit", Some(&own)).unwrap_err();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("token_limit", "prices")
        );
        assert!(err.to_string().contains("top level"), "{err}");
    }

    #[test]
    fn the_teams_are_taken_off_and_errors_name_the_team() {
        let mut config = serde_json::json!({
            "teams": {"platform": {"clients": ["demo"]}},
            "audit": {}
        });
        let settings = ModuleSettings::take("llm_gateway", &mut config).unwrap();
        assert_eq!(config, serde_json::json!({"audit": {}}));
        assert_eq!(settings.teams.client("demo").unwrap().team, "platform");
        assert_eq!(settings.teams.client("intern"), None);
        let none = ModuleSettings::take("x", &mut serde_json::json!({})).unwrap();
        assert_eq!(none.teams.client("demo"), None, "no team by default");
        let err = ModuleSettings::take(
            "llm_gateway",
            &mut serde_json::json!({"teams": {"a b": {"clients": ["demo"]}}}),
        )
        .unwrap_err();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("llm_gateway", "teams.a b")
        );
    }

    #[test]
    fn envoy_facts_are_fact_names_and_errors_name_the_entry() {
        let mut config = serde_json::json!({"envoy_facts": ["llm.cluster", "llm.audit.record"]});
        let settings = ModuleSettings::take("llm_gateway", &mut config).unwrap();
        assert_eq!(
            settings.envoy_facts,
            Some(vec![Fact::Cluster, Fact::AuditRecord])
        );
        assert_eq!(config, serde_json::json!({}));
        let everything = ModuleSettings::take("x", &mut serde_json::json!({})).unwrap();
        assert_eq!(everything.envoy_facts, None, "every fact by default");
        let take = |value: serde_json::Value| {
            ModuleSettings::take(
                "llm_gateway",
                &mut serde_json::json!({"envoy_facts": value}),
            )
            .unwrap_err()
        };
        let err = take(serde_json::json!(["llm.cluster", "wasm.llm.provider"]));
        assert_eq!(err.field, "envoy_facts[1]");
        assert!(err.message.contains("llm.provider"), "{err}");
        assert_eq!(take(serde_json::json!("llm.cluster")).field, "envoy_facts");
        assert_eq!(take(serde_json::json!([7])).field, "envoy_facts[0]");
    }

    #[test]
    fn errors_in_the_top_level_prices_name_the_entry() {
        let take = |value: serde_json::Value| {
            ModuleSettings::take("llm_gateway", &mut serde_json::json!({"prices": value}))
                .unwrap_err()
        };
        let err = take(
            serde_json::json!([{"model": "m", "input": 1, "output": 1}, {"model": "n", "input": "free", "output": 1}]),
        );
        assert_eq!(err.field, "prices[1].input");
        assert_eq!(err.filter, "llm_gateway");
        let err = take(serde_json::json!([{"model": "m", "input": 1, "output": -1}]));
        assert_eq!(err.field, "prices[0]");
        let err = take(serde_json::json!({"model": "m"}));
        assert_eq!(err.field, "prices");
        let err = take(serde_json::json!([{"model": "m", "input": 1, "output": 1, "inputs": 2}]));
        assert!(err.message.contains("unknown field `inputs`"), "{err}");
    }

    #[test]
    fn empty_configuration_is_an_empty_object() {
        assert_eq!(parse_json("x", b" ").unwrap(), serde_json::json!({}));
        assert!(parse_json("x", b"{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }
}
