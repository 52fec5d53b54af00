//! The audit filter's configuration.

use llm_api::pricing::{PriceEntry, PriceMap};
use serde::Deserialize;
use std::rc::Rc;
use wasm_glue::config::{check_header_name, parse_section};
use wasm_glue::{ConfigError, ModuleSettings};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Request headers that identify the calling client (agent, app, team).
    #[serde(default = "default_client_headers")]
    pub client_headers: Vec<String>,
    /// Where records are sent, batched, from a timer.
    #[serde(default)]
    pub collector: Option<Collector>,
    /// Also publish each record as the fact `llm.audit.record`, for Envoy's
    /// access log (`%FILTER_STATE(wasm.llm.audit.record:PLAIN)%`).
    #[serde(default = "default_true")]
    pub access_log: bool,
    /// Model names that get their own `model` label in the GenAI metrics,
    /// besides the models of the price map; any other model is counted as
    /// `other`, so a client naming models cannot mint labels. In the bundle
    /// it defaults to the route table's exact names (`models[].match`,
    /// `models[].to[].model`).
    #[serde(default)]
    pub metric_models: Vec<String>,
    /// The older spelling of the plugin configuration's top-level `prices`
    /// ([`ModuleSettings::prices`]), loaded when that is absent.
    #[serde(default)]
    prices: Option<Vec<PriceEntry>>,
    /// The price map in force: the module's, shared with its other stages.
    #[serde(skip)]
    pub price_map: Rc<PriceMap>,
}

/// An HTTP collector that takes batches of records as JSON lines.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Collector {
    /// The Envoy cluster that reaches it.
    pub cluster: String,
    #[serde(default = "default_path")]
    pub path: String,
    /// The `:authority` of the requests.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// Records per POST.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Records each VM's ring keeps while the collector is unreachable;
    /// beyond, the oldest are dropped (and counted).
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// Bytes of records each VM's ring keeps (records are bounded in size,
    /// but not all the same size); beyond, the oldest are dropped (and
    /// counted).
    #[serde(default = "default_max_queue_bytes")]
    pub max_queue_bytes: usize,
    /// How often delivery starts; after a delivered batch the next one
    /// follows at once, so delivery keeps up with the call rate.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_path() -> String {
    "/collector/records".to_owned()
}

fn default_authority() -> String {
    "audit-collector".to_owned()
}

fn default_max_batch() -> usize {
    200
}

fn default_max_queue() -> usize {
    10_000
}

fn default_max_queue_bytes() -> usize {
    16 << 20
}

/// The smallest `max_queue_bytes`: a few of the largest records.
const MIN_QUEUE_BYTES: usize = 64 << 10;

fn default_flush_interval_ms() -> u64 {
    1_000
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_true() -> bool {
    true
}

/// The record's own fields of `client`: the authenticated id and its team.
/// A header of the same name would overwrite one of them.
const CLIENT_FIELDS: [&str; 2] = ["id", "team"];

fn default_client_headers() -> Vec<String> {
    vec!["x-agent-id".to_owned(), "x-agent-purpose".to_owned()]
}

impl AuditConfig {
    pub fn from_json(
        value: serde_json::Value,
        settings: &ModuleSettings,
    ) -> Result<Self, ConfigError> {
        let mut config: AuditConfig = parse_section(crate::NAME, value)?;
        config.price_map = settings.prices(crate::NAME, config.prices.as_deref())?;
        for (i, name) in config.client_headers.iter().enumerate() {
            let field = format!("client_headers[{i}]");
            check_header_name(crate::NAME, &field, name)?;
            if CLIENT_FIELDS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    crate::NAME,
                    field,
                    format!("`{name}` is a field of the record's `client` the gateway fills"),
                ));
            }
        }
        for (i, model) in config.metric_models.iter().enumerate() {
            if model.is_empty()
                || model.len() > crate::record::MAX_VALUE
                || model.contains(['*', '?'])
            {
                let message = format!(
                    "must be a model name of 1 to {} bytes, without globs",
                    crate::record::MAX_VALUE
                );
                return Err(ConfigError::new(
                    crate::NAME,
                    format!("metric_models[{i}]"),
                    message,
                ));
            }
        }
        if let Some(collector) = &config.collector {
            let err = |field: &str, message: &str| {
                Err(ConfigError::new(
                    crate::NAME,
                    format!("collector.{field}"),
                    message,
                ))
            };
            if collector.cluster.is_empty() {
                return err("cluster", "must name an Envoy cluster");
            }
            if !collector.path.starts_with('/') {
                return err("path", "must start with `/`");
            }
            if collector.max_batch == 0 || collector.max_queue < collector.max_batch {
                return err(
                    "max_queue",
                    "must be at least `max_batch`, which must be at least 1",
                );
            }
            if collector.max_queue_bytes < MIN_QUEUE_BYTES {
                return err(
                    "max_queue_bytes",
                    &format!("must be at least {MIN_QUEUE_BYTES}"),
                );
            }
            if collector.flush_interval_ms < 100 {
                return err("flush_interval_ms", "must be at least 100");
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_json(value: serde_json::Value) -> Result<AuditConfig, ConfigError> {
        AuditConfig::from_json(value, &ModuleSettings::default())
    }

    #[test]
    fn defaults_to_agent_headers() {
        let config = from_json(json!({})).unwrap();
        assert_eq!(config.client_headers, ["x-agent-id", "x-agent-purpose"]);
    }

    #[test]
    fn rejects_bad_header_names_and_unknown_fields() {
        let err = from_json(json!({"client_headers": ["x-ok", "X Bad"]})).unwrap_err();
        assert_eq!(err.field, "client_headers[1]");
        let err = from_json(json!({"client_headers": ["x-ok", "team"]})).unwrap_err();
        assert_eq!(err.field, "client_headers[1]");
        let err = from_json(json!({"client_header": []})).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `client_header`"),
            "{err}"
        );
        let err = from_json(json!({"collector": {"cluster": "c", "path": "x"}})).unwrap_err();
        assert_eq!(err.field, "collector.path");
        let err =
            from_json(json!({"collector": {"cluster": "c", "max_batch": 10, "max_queue": 5}}))
                .unwrap_err();
        assert_eq!(err.field, "collector.max_queue");
        let err =
            from_json(json!({"collector": {"cluster": "c", "max_queue_bytes": 1000}})).unwrap_err();
        assert_eq!(err.field, "collector.max_queue_bytes");
        let err = from_json(json!({"metric_models": ["gpt-4o", "claude-*"]})).unwrap_err();
        assert_eq!(err.field, "metric_models[1]");
        let config = from_json(json!({"collector": {"cluster": "c"}})).unwrap();
        assert_eq!(config.collector.unwrap().path, "/collector/records");
        let err = from_json(json!({"prices": [{"model": "m", "input": 1.0, "output": -2.0}]}))
            .unwrap_err();
        assert_eq!(err.field, "prices[0]");
        let config =
            from_json(json!({"prices": [{"model": "m", "input": 1.0, "output": 2.0}]})).unwrap();
        assert_eq!(
            config.price_map.price(None, "m").map(|p| p.output),
            Some(2.0)
        );
    }

    #[test]
    fn prices_come_from_the_top_level_and_the_old_spelling_conflicts_with_it() {
        let mut plugin = json!({"prices": [{"model": "m", "input": 1.0, "output": 4.0}]});
        let settings = ModuleSettings::take(crate::NAME, &mut plugin).unwrap();
        let config = AuditConfig::from_json(json!({}), &settings).unwrap();
        assert_eq!(
            config.price_map.price(None, "m").map(|p| p.output),
            Some(4.0)
        );
        let err = AuditConfig::from_json(
            json!({"prices": [{"model": "m", "input": 1.0, "output": 2.0}]}),
            &settings,
        )
        .unwrap_err();
        assert_eq!(err.field, "prices");
    }
}
