//! The configured clients: the module setting `clients`, beside
//! `client_identity`, which gives each authenticated client id its team (a
//! business group). Token limits key on the team, the audit record carries
//! it, and the metrics label calls by team and client, but only with the
//! names configured here: a client id comes from the gateway's
//! authentication, yet a metric label must still never be a value the
//! configuration did not name, or a long list of ids would mint series.

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The plugin configuration's key for the clients, beside a module's own
/// fields (or the bundle's sections).
pub const CLIENTS_KEY: &str = "clients";

/// The longest client id the setting takes: the longest value an audit
/// record keeps.
pub const MAX_CLIENT_ID: usize = 256;

/// The longest team name, and the longest client label.
pub const MAX_LABEL: usize = 64;

/// The most clients the setting takes: each can add a metric series per
/// model, status and token type.
pub const MAX_CLIENTS: usize = 10_000;

/// The label of a call without a client, and the team label of a client
/// without a team.
pub const NO_LABEL: &str = "none";

/// The client label of a client id that `clients` does not name.
pub const OTHER_LABEL: &str = "other";

/// The tag names of the bootstrap's `stats_tags`: a stat name segment equal
/// to one of them would start a tag, so no label may be one.
pub const STAT_TAG_NAMES: [&str; 8] = [
    "provider",
    "model",
    "status",
    "token_type",
    "team",
    "client",
    "entity",
    "action",
];

/// One configured client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its team; `None` when the configuration gives it none.
    pub team: Option<String>,
    /// Its `client` metric label: the id made tag-safe, distinct from every
    /// other client's.
    pub label: String,
}

/// The `clients` setting: configured client ids and what each is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clients {
    by_id: HashMap<String, Client>,
}

/// One entry as written: `{"team": "platform"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    team: Option<String>,
}

impl Clients {
    /// The configured client with this id.
    pub fn get(&self, id: &str) -> Option<&Client> {
        self.by_id.get(id)
    }

    /// Parses and validates a `clients` object; errors name `filter` and
    /// the field (`clients.demo.team`).
    pub fn from_json(filter: &str, value: serde_json::Value) -> Result<Clients, ConfigError> {
        let entries: BTreeMap<String, Entry> =
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    CLIENTS_KEY.to_owned()
                } else {
                    format!("{CLIENTS_KEY}.{path}")
                };
                ConfigError::new(filter, field, e.into_inner().to_string())
            })?;
        if entries.len() > MAX_CLIENTS {
            return Err(ConfigError::new(
                filter,
                CLIENTS_KEY,
                format!("names more than {MAX_CLIENTS} clients"),
            ));
        }
        let mut by_id = HashMap::with_capacity(entries.len());
        let mut labels: HashMap<String, String> = HashMap::with_capacity(entries.len());
        for (id, entry) in entries {
            let field = format!("{CLIENTS_KEY}.{id}");
            if id.is_empty() || id.len() > MAX_CLIENT_ID || id.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    filter,
                    field,
                    format!("a client id is 1 to {MAX_CLIENT_ID} bytes without control characters"),
                ));
            }
            if let Some(team) = &entry.team {
                check_team(team).map_err(|message| {
                    ConfigError::new(filter, format!("{field}.team"), message)
                })?;
            }
            let label = label(&id);
            if let Some(other) = labels.insert(label.clone(), id.clone()) {
                return Err(ConfigError::new(
                    filter,
                    field,
                    format!(
                        "its metric label `{label}` is also client `{other}`'s; client ids must differ in their letters, digits, `_` and `-`"
                    ),
                ));
            }
            by_id.insert(
                id,
                Client {
                    team: entry.team,
                    label,
                },
            );
        }
        Ok(Clients { by_id })
    }
}

/// A team name is its own metric label, so it must already be one: at most
/// [`MAX_LABEL`] letters, digits, `_` or `-`, and no name the metrics
/// reserve.
fn check_team(team: &str) -> Result<(), String> {
    let plain = !team.is_empty()
        && team.len() <= MAX_LABEL
        && team
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !plain {
        return Err(format!(
            "a team is 1 to {MAX_LABEL} letters, digits, `_` or `-`"
        ));
    }
    if reserved(team) {
        return Err(format!("`{team}` is a name the metrics reserve"));
    }
    Ok(())
}

/// Whether a label would be read as a tag name or as the label of a client
/// or team that is not configured.
fn reserved(label: &str) -> bool {
    label == NO_LABEL || label == OTHER_LABEL || STAT_TAG_NAMES.contains(&label)
}

/// A client id as a metric label: at most [`MAX_LABEL`] characters of
/// `[A-Za-z0-9_-]` (any other becomes `_`, dots included, so that the label
/// is one stat name segment), and `_` before a reserved name.
fn label(id: &str) -> String {
    let label: String = id
        .chars()
        .take(MAX_LABEL)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if reserved(&label) {
        format!("_{label}")
    } else {
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clients(value: serde_json::Value) -> Result<Clients, ConfigError> {
        Clients::from_json("llm_gateway", value)
    }

    #[test]
    fn each_client_has_its_team_and_a_tag_safe_label() {
        let configured = clients(json!({
            "demo": {"team": "platform"},
            "intern": {"team": "research-2"},
            "ops@example.com": {},
            "model": {"team": "platform"}
        }))
        .unwrap();
        let demo = configured.get("demo").unwrap();
        assert_eq!(
            (demo.team.as_deref(), demo.label.as_str()),
            (Some("platform"), "demo")
        );
        let ops = configured.get("ops@example.com").unwrap();
        assert_eq!(
            (ops.team.as_deref(), ops.label.as_str()),
            (None, "ops_example_com")
        );
        assert_eq!(
            configured.get("model").unwrap().label,
            "_model",
            "a label never starts a tag"
        );
        assert_eq!(configured.get("stranger"), None);
        let long = "x".repeat(200);
        let cut = clients(json!({long.clone(): {}})).unwrap();
        assert_eq!(cut.get(&long).unwrap().label.len(), MAX_LABEL);
    }

    #[test]
    fn errors_name_the_client_and_its_field() {
        let field = |value| clients(value).unwrap_err().field;
        assert_eq!(field(json!(["demo"])), "clients");
        assert_eq!(field(json!({"demo": {"team": 7}})), "clients.demo.team");
        assert_eq!(field(json!({"demo": {"teams": "a"}})), "clients.demo.teams");
        assert_eq!(field(json!({"demo": {"team": "a.b"}})), "clients.demo.team");
        assert_eq!(field(json!({"demo": {"team": ""}})), "clients.demo.team");
        assert_eq!(
            field(json!({"demo": {"team": "t".repeat(MAX_LABEL + 1)}})),
            "clients.demo.team"
        );
        for reserved in ["none", "other", "status", "client"] {
            let err = clients(json!({"demo": {"team": reserved}})).unwrap_err();
            assert_eq!(err.field, "clients.demo.team");
            assert!(err.message.contains("reserve"), "{err}");
        }
        assert_eq!(field(json!({"": {}})), "clients.");
        let long = "x".repeat(MAX_CLIENT_ID + 1);
        assert_eq!(field(json!({long.clone(): {}})), format!("clients.{long}"));
        let err = clients(json!({"a.b": {}, "a_b": {}})).unwrap_err();
        assert_eq!(err.field, "clients.a_b");
        assert!(
            err.message.contains("`a_b`") && err.message.contains("`a.b`"),
            "{err}"
        );
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_CLIENTS)
            .map(|i| (format!("c{i}"), json!({})))
            .collect();
        assert_eq!(field(serde_json::Value::Object(many)), "clients");
    }
}
