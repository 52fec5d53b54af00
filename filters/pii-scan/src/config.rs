//! The pii-scan filter's configuration: what to do with each entity type.

use serde::Deserialize;
use std::collections::BTreeMap;
use wasm_glue::config::parse_section;
use wasm_glue::ConfigError;

/// The entity types the built-in detectors report.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Entity {
    Email,
    Phone,
    UsSsn,
    CreditCard,
    Iban,
    IpAddress,
    Secret,
}

/// What happens to a finding of an entity type.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Annotate only.
    Detect,
    /// Replace the value with a label such as `[EMAIL_REDACTED]`.
    Redact,
    /// Reject the request with a 400 naming the entity types.
    Block,
    /// Replace with a placeholder and restore the value in the response.
    Tokenize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PiiConfig {
    /// The action for entity types not listed in `entities`.
    pub default_action: Action,
    /// Per entity type actions.
    pub entities: BTreeMap<Entity, Action>,
}

/// The JSON shape. Entity names are read as strings first so that an error
/// can name the offending key (a path through an enum-keyed map cannot).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPiiConfig {
    #[serde(default = "default_action")]
    default_action: Action,
    #[serde(default)]
    entities: BTreeMap<String, Action>,
}

fn default_action() -> Action {
    Action::Redact
}

impl PiiConfig {
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        let raw: RawPiiConfig = parse_section(crate::NAME, value)?;
        let mut entities = BTreeMap::new();
        for (name, action) in raw.entities {
            let entity = parse_section(crate::NAME, serde_json::Value::String(name.clone()))
                .map_err(|e| ConfigError::new(crate::NAME, format!("entities.{name}"), e.message))?;
            entities.insert(entity, action);
        }
        Ok(PiiConfig { default_action: raw.default_action, entities })
    }

    /// The action configured for `entity`.
    pub fn action(&self, entity: Entity) -> Action {
        self.entities.get(&entity).copied().unwrap_or(self.default_action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn per_entity_actions_override_the_default() {
        let config = PiiConfig::from_json(json!({"default_action": "detect", "entities": {"US_SSN": "block"}})).unwrap();
        assert_eq!(config.action(Entity::UsSsn), Action::Block);
        assert_eq!(config.action(Entity::Email), Action::Detect);
        assert_eq!(PiiConfig::from_json(json!({})).unwrap().action(Entity::Iban), Action::Redact);
    }

    #[test]
    fn unknown_entities_and_actions_name_the_field() {
        let err = PiiConfig::from_json(json!({"entities": {"EMAIL": "shred"}})).unwrap_err();
        assert_eq!(err.field, "entities.EMAIL");
        assert!(err.message.contains("unknown variant `shred`"), "{err}");
        let err = PiiConfig::from_json(json!({"entities": {"PASSPORT": "redact"}})).unwrap_err();
        assert!(err.message.contains("unknown variant `PASSPORT`"), "{err}");
    }
}
