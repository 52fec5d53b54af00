//! The pii-scan filter's configuration: what to do with each entity type in
//! requests and in responses, the organisation's own detectors, and where
//! requests that must not leave go instead.

use crate::engine::{EngineConfig, EntityKind};
use llm_api::fact::PiiRoute;
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
    /// Person names: off unless `entities` names it (see [`Entity::opt_in`]).
    Person,
    /// Street addresses: off unless `entities` names it.
    Address,
}

impl Entity {
    /// Whether the type is detected only when the configuration's
    /// `entities` names it. Names and addresses are less certain than the
    /// other types (a capitalised pair of words is not always a person), and
    /// many texts name people on purpose, so a team turns them on knowingly.
    pub fn opt_in(self) -> bool {
        matches!(self, Entity::Person | Entity::Address)
    }
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
    /// Leave the value, and send the request to `route_to` instead of the
    /// provider it would have gone to (e.g. a self-hosted model).
    Route,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Detect => "detect",
            Action::Redact => "redact",
            Action::Block => "block",
            Action::Tokenize => "tokenize",
            Action::Route => "route",
        }
    }
}

/// What happens to a request carrying a binary document (PDF, office file,
/// any type that is not text, image, audio or video), which cannot be
/// scanned as text.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BinaryDocuments {
    /// Sent on unscanned, as images are.
    #[default]
    Pass,
    /// Refused with a 400 naming the part.
    Refuse,
}

/// Actions on the model's output: `detect` (count, publish) or `redact`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePolicy {
    pub default_action: Action,
    pub entities: BTreeMap<EntityKind, Action>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PiiConfig {
    /// The action for entity types not listed in `entities`.
    pub default_action: Action,
    /// Per entity type actions, built-in and custom types.
    pub entities: BTreeMap<EntityKind, Action>,
    /// Redaction labels replacing `[<TYPE>_REDACTED]`.
    pub labels: BTreeMap<EntityKind, String>,
    /// Custom detectors, context rules and the confidence threshold.
    pub engine: EngineConfig,
    /// Where the `route` action sends a request; published as is, as the
    /// fact `llm.pii.route`.
    pub route_to: Option<PiiRoute>,
    /// Response scanning; `None` leaves responses unscanned (tokenized values
    /// are restored either way).
    pub response: Option<ResponsePolicy>,
    pub binary_documents: BinaryDocuments,
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
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    custom: Vec<crate::engine::CustomDetector>,
    #[serde(default)]
    context: Vec<crate::engine::ContextRule>,
    #[serde(default)]
    min_confidence: Option<f32>,
    #[serde(default)]
    route_to: Option<PiiRoute>,
    #[serde(default)]
    response: Option<RawResponsePolicy>,
    #[serde(default)]
    binary_documents: BinaryDocuments,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponsePolicy {
    #[serde(default = "detect")]
    default_action: Action,
    #[serde(default)]
    entities: BTreeMap<String, Action>,
}

fn default_action() -> Action {
    Action::Redact
}

fn detect() -> Action {
    Action::Detect
}

impl PiiConfig {
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        let raw: RawPiiConfig = parse_section(crate::NAME, value)?;
        let mut engine = EngineConfig {
            custom: raw.custom,
            context: raw.context,
            ..EngineConfig::default()
        };
        if let Some(min) = raw.min_confidence {
            engine.min_confidence = min;
        }
        let known = |field: String, name: &str| -> Result<EntityKind, ConfigError> {
            let kind = EntityKind::from_name(name);
            match &kind {
                EntityKind::Custom(_) if !engine.custom.iter().any(|c| c.name == name) => {
                    let builtin: Vec<&str> = EntityKind::builtin_names().collect();
                    Err(ConfigError::new(
                        crate::NAME,
                        field,
                        format!(
                            "`{name}` is neither a built-in entity type ({}) nor a detector in `custom`",
                            builtin.join(", ")
                        ),
                    ))
                }
                _ => Ok(kind),
            }
        };
        let entities = raw
            .entities
            .iter()
            .map(|(name, action)| Ok((known(format!("entities.{name}"), name)?, *action)))
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
        let opt_in: Vec<Entity> = entities
            .keys()
            .filter_map(|kind| match kind {
                EntityKind::Builtin(entity) if entity.opt_in() => Some(*entity),
                _ => None,
            })
            .collect();
        // An opt-in type that `entities` does not name is never detected:
        // an action or label for it elsewhere would silently do nothing.
        let on = |field: String, kind: EntityKind| -> Result<EntityKind, ConfigError> {
            match &kind {
                EntityKind::Builtin(entity) if entity.opt_in() && !opt_in.contains(entity) => {
                    Err(ConfigError::new(
                        crate::NAME,
                        field,
                        format!(
                            "`{kind}` is off unless `entities` names it with an action (e.g. \"{kind}\": \"redact\")"
                        ),
                    ))
                }
                _ => Ok(kind),
            }
        };
        let labels = raw
            .labels
            .iter()
            .map(|(name, label)| {
                let field = format!("labels.{name}");
                Ok((on(field.clone(), known(field, name)?)?, label.clone()))
            })
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
        let routes = std::iter::once(&raw.default_action)
            .chain(entities.values())
            .any(|a| *a == Action::Route);
        if routes && raw.route_to.is_none() {
            return Err(ConfigError::new(
                crate::NAME,
                "route_to",
                "the `route` action needs `route_to`: {\"provider\": \"<name>\"}",
            ));
        }
        let response = match raw.response {
            None => None,
            Some(raw_response) => {
                let mut response_entities = BTreeMap::new();
                for (name, action) in &raw_response.entities {
                    let field = format!("response.entities.{name}");
                    response_entities.insert(on(field.clone(), known(field, name)?)?, *action);
                }
                let actions = std::iter::once((
                    "response.default_action".to_owned(),
                    raw_response.default_action,
                ))
                .chain(
                    raw_response
                        .entities
                        .iter()
                        .map(|(n, a)| (format!("response.entities.{n}"), *a)),
                );
                for (field, action) in actions {
                    if !matches!(action, Action::Detect | Action::Redact) {
                        return Err(ConfigError::new(
                            crate::NAME,
                            field,
                            "responses can only be scanned with `detect` or `redact` (a response cannot be rejected once it streams)",
                        ));
                    }
                }
                Some(ResponsePolicy {
                    default_action: raw_response.default_action,
                    entities: response_entities,
                })
            }
        };
        engine.opt_in = opt_in;
        Ok(PiiConfig {
            default_action: raw.default_action,
            entities,
            labels,
            engine,
            route_to: raw.route_to,
            response,
            binary_documents: raw.binary_documents,
        })
    }

    /// The action configured for `entity`.
    pub fn action(&self, entity: &EntityKind) -> Action {
        self.entities
            .get(entity)
            .copied()
            .unwrap_or(self.default_action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn per_entity_actions_override_the_default() {
        let config = PiiConfig::from_json(
            json!({"default_action": "detect", "entities": {"US_SSN": "block"}}),
        )
        .unwrap();
        assert_eq!(config.action(&Entity::UsSsn.into()), Action::Block);
        assert_eq!(config.action(&Entity::Email.into()), Action::Detect);
        assert_eq!(
            PiiConfig::from_json(json!({}))
                .unwrap()
                .action(&Entity::Iban.into()),
            Action::Redact
        );
    }

    #[test]
    fn unknown_entities_and_actions_name_the_field() {
        let err = PiiConfig::from_json(json!({"entities": {"EMAIL": "shred"}})).unwrap_err();
        assert!(err.field.starts_with("entities"), "{err}");
        assert!(err.message.contains("unknown variant `shred`"), "{err}");
        let err = PiiConfig::from_json(json!({"entities": {"PASSPORT": "redact"}})).unwrap_err();
        assert_eq!(err.field, "entities.PASSPORT");
        assert!(err.message.contains("nor a detector in `custom`"), "{err}");
    }

    #[test]
    fn names_and_addresses_are_on_only_when_entities_names_them() {
        assert!(PiiConfig::from_json(json!({"default_action": "block"}))
            .unwrap()
            .engine
            .opt_in
            .is_empty());
        let config = PiiConfig::from_json(json!({
            "entities": {"PERSON": "tokenize", "ADDRESS": "detect"},
            "labels": {"PERSON": "<name>"},
            "response": {"entities": {"ADDRESS": "redact"}}
        }))
        .unwrap();
        assert_eq!(config.engine.opt_in, [Entity::Person, Entity::Address]);
        assert_eq!(config.action(&Entity::Person.into()), Action::Tokenize);
        for (value, field) in [
            (
                json!({"response": {"entities": {"PERSON": "redact"}}}),
                "response.entities.PERSON",
            ),
            (
                json!({"entities": {"PERSON": "redact"}, "labels": {"ADDRESS": "<a>"}}),
                "labels.ADDRESS",
            ),
        ] {
            let err = PiiConfig::from_json(value).unwrap_err();
            assert_eq!(err.field, field);
            assert!(
                err.message.contains("off unless `entities` names it"),
                "{err}"
            );
        }
        let err = PiiConfig::from_json(json!({"entities": {"NAME": "redact"}})).unwrap_err();
        assert_eq!(err.field, "entities.NAME");
        assert!(err.message.contains("PERSON, ADDRESS"), "{err}");
    }

    #[test]
    fn custom_detectors_have_actions_and_labels() {
        let config = PiiConfig::from_json(json!({
            "custom": [{"name": "EMPLOYEE_ID", "regex": "\\bE-\\d{6}\\b"}],
            "entities": {"EMPLOYEE_ID": "tokenize"},
            "labels": {"EMAIL": "<email>"}
        }))
        .unwrap();
        assert_eq!(
            config.action(&EntityKind::from_name("EMPLOYEE_ID")),
            Action::Tokenize
        );
        assert_eq!(config.labels[&Entity::Email.into()], "<email>");
        let err = PiiConfig::from_json(json!({"labels": {"BADGE": "x"}})).unwrap_err();
        assert_eq!(err.field, "labels.BADGE");
    }

    #[test]
    fn route_needs_a_destination_and_responses_only_detect_or_redact() {
        let err = PiiConfig::from_json(json!({"entities": {"US_SSN": "route"}})).unwrap_err();
        assert_eq!(err.field, "route_to");
        let config = PiiConfig::from_json(
            json!({"entities": {"US_SSN": "route"}, "route_to": {"provider": "local"}}),
        )
        .unwrap();
        assert_eq!(config.route_to.unwrap().provider, "local");
        let err = PiiConfig::from_json(json!({"response": {"entities": {"EMAIL": "tokenize"}}}))
            .unwrap_err();
        assert_eq!(err.field, "response.entities.EMAIL");
        let config =
            PiiConfig::from_json(json!({"response": {"entities": {"SECRET": "redact"}}})).unwrap();
        let response = config.response.unwrap();
        assert_eq!(
            (
                response.default_action,
                response.entities[&Entity::Secret.into()]
            ),
            (Action::Detect, Action::Redact)
        );
    }

    #[test]
    fn binary_documents_pass_by_default_or_are_refused() {
        assert_eq!(
            PiiConfig::from_json(json!({})).unwrap().binary_documents,
            BinaryDocuments::Pass
        );
        let config = PiiConfig::from_json(json!({"binary_documents": "refuse"})).unwrap();
        assert_eq!(config.binary_documents, BinaryDocuments::Refuse);
        let err = PiiConfig::from_json(json!({"binary_documents": "scan"})).unwrap_err();
        assert!(err.field.starts_with("binary_documents"), "{err}");
    }
}
