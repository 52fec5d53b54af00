//! The teams: the module setting `teams`, beside `client_identity`, which
//! names each team (a business group) and the authenticated client ids that
//! belong to it. Token limits key on the team, the audit record carries it,
//! and the metrics label calls by team and client, but only with the names
//! configured here: a client id comes from the gateway's authentication, yet
//! a metric label must still never be a value the configuration did not
//! name, or a long list of ids would mint series.
//!
//! The setting is keyed by team, not by client, because a route
//! configuration's `clients` (its allow-lists) sits in the same object as
//! the module settings in the separate-modules layout.

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The plugin configuration's key for the teams, beside a module's own
/// fields (or the bundle's sections).
pub const TEAMS_KEY: &str = "teams";

/// The longest client id the setting takes: the longest value an audit
/// record keeps.
pub const MAX_CLIENT_ID: usize = 256;

/// The longest team name, and the longest client label.
pub const MAX_LABEL: usize = 64;

/// The most clients the setting takes, in all its teams: each can add a
/// metric series per model, status and token type.
pub const MAX_CLIENTS: usize = 10_000;

/// The label of a call without a client, and the team label of a client
/// in no team.
pub const NO_LABEL: &str = "none";

/// The client label of a client id that no team names.
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

/// A client some team names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its team.
    pub team: String,
    /// Its `client` metric label: the id made tag-safe, distinct from every
    /// other client's.
    pub label: String,
}

/// The `teams` setting, by client id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Teams {
    by_client: HashMap<String, Client>,
}

/// One team as written: `{"clients": ["demo"]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Team {
    clients: Vec<String>,
}

impl Teams {
    /// The client with this id, if a team names it.
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.by_client.get(id)
    }

    /// Parses and validates a `teams` object; errors name `filter` and the
    /// field (`teams.platform.clients[1]`).
    pub fn from_json(filter: &str, value: serde_json::Value) -> Result<Teams, ConfigError> {
        let teams: BTreeMap<String, Team> =
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    TEAMS_KEY.to_owned()
                } else {
                    format!("{TEAMS_KEY}.{path}")
                };
                ConfigError::new(filter, field, e.into_inner().to_string())
            })?;
        let count: usize = teams.values().map(|t| t.clients.len()).sum();
        if count > MAX_CLIENTS || teams.len() > MAX_CLIENTS {
            return Err(ConfigError::new(
                filter,
                TEAMS_KEY,
                format!("names more than {MAX_CLIENTS} clients or teams"),
            ));
        }
        let mut by_client: HashMap<String, Client> = HashMap::with_capacity(count);
        let mut labels: HashMap<String, String> = HashMap::with_capacity(count);
        for (team, Team { clients }) in teams {
            let at = format!("{TEAMS_KEY}.{team}");
            check_team(&team).map_err(|message| ConfigError::new(filter, &at, message))?;
            for (i, id) in clients.into_iter().enumerate() {
                let err = |message: String| {
                    Err(ConfigError::new(
                        filter,
                        format!("{at}.clients[{i}]"),
                        message,
                    ))
                };
                if id.is_empty() || id.len() > MAX_CLIENT_ID || id.chars().any(char::is_control) {
                    return err(format!(
                        "a client id is 1 to {MAX_CLIENT_ID} bytes without control characters"
                    ));
                }
                if let Some(other) = by_client.get(&id) {
                    return err(format!(
                        "`{id}` is a client of team `{}` already",
                        other.team
                    ));
                }
                let label = label(&id);
                if let Some(other) = labels.get(&label) {
                    return err(format!(
                        "its metric label `{label}` is client `{other}`'s too; client ids must differ in their letters, digits, `_` and `-`"
                    ));
                }
                labels.insert(label.clone(), id.clone());
                by_client.insert(
                    id,
                    Client {
                        team: team.clone(),
                        label,
                    },
                );
            }
        }
        Ok(Teams { by_client })
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
            "a team name is 1 to {MAX_LABEL} letters, digits, `_` or `-`"
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

    fn teams(value: serde_json::Value) -> Result<Teams, ConfigError> {
        Teams::from_json("llm_gateway", value)
    }

    #[test]
    fn each_client_has_its_team_and_a_tag_safe_label() {
        let configured = teams(json!({
            "platform": {"clients": ["demo", "model"]},
            "research-2": {"clients": ["intern", "ops@example.com"]},
            "empty": {"clients": []}
        }))
        .unwrap();
        let demo = configured.client("demo").unwrap();
        assert_eq!(
            (demo.team.as_str(), demo.label.as_str()),
            ("platform", "demo")
        );
        let ops = configured.client("ops@example.com").unwrap();
        assert_eq!(
            (ops.team.as_str(), ops.label.as_str()),
            ("research-2", "ops_example_com")
        );
        assert_eq!(
            configured.client("model").unwrap().label,
            "_model",
            "a label never starts a tag"
        );
        assert_eq!(configured.client("stranger"), None);
        let long = "x".repeat(200);
        let cut = teams(json!({"t": {"clients": [long.clone()]}})).unwrap();
        assert_eq!(cut.client(&long).unwrap().label.len(), MAX_LABEL);
    }

    #[test]
    fn errors_name_the_team_and_the_client() {
        let field = |value| teams(value).unwrap_err().field;
        assert_eq!(field(json!(["platform"])), "teams");
        assert_eq!(field(json!({"platform": ["demo"]})), "teams.platform[0]");
        assert_eq!(field(json!({"platform": {}})), "teams.platform");
        assert_eq!(
            field(json!({"platform": {"clients": ["demo"], "budget": 1}})),
            "teams.platform.budget"
        );
        assert_eq!(
            field(json!({"platform": {"clients": ["demo", 7]}})),
            "teams.platform.clients[1]"
        );
        for bad in ["a.b", "", "a b"] {
            assert_eq!(field(json!({bad: {"clients": []}})), format!("teams.{bad}"));
        }
        let long = "t".repeat(MAX_LABEL + 1);
        assert_eq!(
            field(json!({long.clone(): {"clients": []}})),
            format!("teams.{long}")
        );
        for reserved in ["none", "other", "status", "client"] {
            let err = teams(json!({reserved: {"clients": ["demo"]}})).unwrap_err();
            assert_eq!(err.field, format!("teams.{reserved}"));
            assert!(err.message.contains("reserve"), "{err}");
        }
        assert_eq!(
            field(json!({"t": {"clients": ["a", ""]}})),
            "teams.t.clients[1]"
        );
        assert_eq!(
            field(json!({"t": {"clients": ["x".repeat(MAX_CLIENT_ID + 1)]}})),
            "teams.t.clients[0]"
        );
        let err = teams(json!({"a": {"clients": ["demo"]}, "b": {"clients": ["x", "demo"]}}))
            .unwrap_err();
        assert_eq!(err.field, "teams.b.clients[1]");
        assert!(err.message.contains("team `a`"), "{err}");
        let err = teams(json!({"t": {"clients": ["a.b", "a_b"]}})).unwrap_err();
        assert_eq!(err.field, "teams.t.clients[1]");
        assert!(
            err.message.contains("`a_b`") && err.message.contains("`a.b`"),
            "{err}"
        );
        let many: Vec<String> = (0..=MAX_CLIENTS).map(|i| format!("c{i}")).collect();
        assert_eq!(field(json!({"t": {"clients": many}})), "teams");
    }
}
