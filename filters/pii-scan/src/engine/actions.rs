//! Applying the configured action per entity type to a text's findings.

use super::entity::{EntityKind, Finding};
use super::splice::{splice, spliced_text};
use super::vault::Vault;
use crate::config::{Action, PiiConfig, ResponsePolicy};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An action per entity type, and the redaction labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    default_action: Action,
    actions: BTreeMap<EntityKind, Action>,
    labels: BTreeMap<EntityKind, String>,
}

/// The result of applying a policy to a request text.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<'t> {
    /// The text with redact and tokenize applied (borrowed if unchanged).
    /// Values of blocked types are redacted too, should the caller pass it.
    pub text: Cow<'t, str>,
    /// The entity types whose action is `block`, sorted and distinct. When
    /// not empty the request must be rejected; the list may be shown, the
    /// values never.
    pub blocked: Vec<EntityKind>,
}

impl Policy {
    pub fn new(default_action: Action) -> Self {
        Policy {
            default_action,
            actions: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }

    pub fn with_action(mut self, entity: EntityKind, action: Action) -> Self {
        self.actions.insert(entity, action);
        self
    }

    /// Replaces the default label `[<NAME>_REDACTED]` for one entity type.
    pub fn with_label(mut self, entity: EntityKind, label: impl Into<String>) -> Self {
        self.labels.insert(entity, label.into());
        self
    }

    pub fn action(&self, entity: &EntityKind) -> Action {
        self.actions
            .get(entity)
            .copied()
            .unwrap_or(self.default_action)
    }

    pub fn label(&self, entity: &EntityKind) -> Cow<'_, str> {
        match self.labels.get(entity) {
            Some(label) => Cow::Borrowed(label),
            None => Cow::Owned(format!("[{}_REDACTED]", entity.name())),
        }
    }

    /// Applies the actions to a request text: `detect` leaves the value,
    /// `redact` and `block` replace it with the label, `tokenize` with the
    /// vault's placeholder for it. `findings` must come from scanning `text`.
    pub fn apply<'t>(&self, text: &'t str, findings: &[Finding], vault: &mut Vault) -> Applied<'t> {
        let mut blocked: Vec<EntityKind> = Vec::new();
        if findings
            .iter()
            .any(|f| self.action(&f.entity) == Action::Tokenize)
        {
            vault.note_typed(text);
        }
        let rewritten = rewrite(text.as_bytes(), findings, |f, value| {
            match self.action(&f.entity) {
                Action::Detect | Action::Route => None,
                Action::Redact => Some(self.label(&f.entity).into_owned()),
                Action::Block => {
                    if !blocked.contains(&f.entity) {
                        blocked.push(f.entity.clone());
                    }
                    Some(self.label(&f.entity).into_owned())
                }
                Action::Tokenize => {
                    Some(vault.tokenize(&f.entity, &String::from_utf8_lossy(value)))
                }
            }
        });
        blocked.sort();
        Applied {
            text: spliced_text(text, rewritten),
            blocked,
        }
    }

    /// Applies the actions to response text: `redact` and `block` replace
    /// the value with the label (a response cannot be rejected once it
    /// streams; the caller sees the findings); `detect` and `tokenize` leave
    /// it (tokenize protects values on their way to the provider; what the
    /// provider sends back is restored by the vault, not re-tokenized).
    pub fn redact_response(&self, text: &[u8], findings: &[Finding]) -> Option<Vec<u8>> {
        rewrite(text, findings, |f, _| match self.action(&f.entity) {
            Action::Redact | Action::Block => Some(self.label(&f.entity).into_owned()),
            Action::Detect | Action::Tokenize | Action::Route => None,
        })
    }
}

impl From<&PiiConfig> for Policy {
    fn from(config: &PiiConfig) -> Self {
        Policy::with_entities(config.default_action, &config.entities, &config.labels)
    }
}

impl Policy {
    fn with_entities(
        default_action: Action,
        entities: &BTreeMap<EntityKind, Action>,
        labels: &BTreeMap<EntityKind, String>,
    ) -> Self {
        let policy = entities
            .iter()
            .fold(Policy::new(default_action), |p, (entity, action)| {
                p.with_action(entity.clone(), *action)
            });
        labels.iter().fold(policy, |p, (entity, label)| {
            p.with_label(entity.clone(), label.clone())
        })
    }

    /// The policy for scanning responses, with the request policy's labels.
    pub fn for_responses(config: &PiiConfig, response: &ResponsePolicy) -> Self {
        Policy::with_entities(response.default_action, &response.entities, &config.labels)
    }
}

/// Replaces the spans of `findings` (sorted, not overlapping) for which
/// `replace` returns a replacement. `None` if nothing was replaced.
fn rewrite(
    text: &[u8],
    findings: &[Finding],
    replace: impl FnMut(&Finding, &[u8]) -> Option<String>,
) -> Option<Vec<u8>> {
    splice(text, findings.iter().map(|f| (f.start..f.end, f)), replace)
}
