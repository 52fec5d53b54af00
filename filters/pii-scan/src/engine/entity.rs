//! What a finding is: an entity type and a span of the scanned text.

use crate::config::Entity;
use std::sync::Arc;

/// An entity type: one of the built-in detectors' types, or the name of a
/// custom detector from configuration. Config names map one to one:
/// `EntityKind::from_name("EMAIL") == EntityKind::Builtin(Entity::Email)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntityKind {
    Builtin(Entity),
    /// A custom detector's entity name (SCREAMING_SNAKE_CASE by convention).
    Custom(Arc<str>),
}

/// The built-in entity types with their names in configuration and output,
/// in one table so that parsing and printing cannot disagree.
const BUILTIN_NAMES: [(Entity, &str); 9] = [
    (Entity::Email, "EMAIL"),
    (Entity::Phone, "PHONE"),
    (Entity::UsSsn, "US_SSN"),
    (Entity::CreditCard, "CREDIT_CARD"),
    (Entity::Iban, "IBAN"),
    (Entity::IpAddress, "IP_ADDRESS"),
    (Entity::Secret, "SECRET"),
    (Entity::Person, "PERSON"),
    (Entity::Address, "ADDRESS"),
];

impl EntityKind {
    /// The names of the built-in types, for messages that list them.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN_NAMES.iter().map(|(_, name)| *name)
    }

    /// The built-in type of that name, else a custom type of that name.
    pub fn from_name(name: &str) -> EntityKind {
        BUILTIN_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(e, _)| EntityKind::Builtin(*e))
            .unwrap_or_else(|| EntityKind::Custom(Arc::from(name)))
    }

    /// The name used in configuration, headers, placeholders and the CLI.
    pub fn name(&self) -> &str {
        match self {
            EntityKind::Builtin(entity) => BUILTIN_NAMES
                .iter()
                .find(|(e, _)| e == entity)
                .map(|(_, n)| *n)
                .unwrap_or("UNKNOWN"),
            EntityKind::Custom(name) => name,
        }
    }

    /// Breaks ties between overlapping findings of equal length: the more
    /// specific (checksummed, prefixed) type wins, the word-based ones
    /// (addresses, names) least; custom detectors, which a user wrote for
    /// their own data, win over all built-ins.
    pub(crate) fn priority(&self) -> u8 {
        match self {
            EntityKind::Custom(_) => 10,
            EntityKind::Builtin(Entity::Secret) => 9,
            EntityKind::Builtin(Entity::CreditCard) => 8,
            EntityKind::Builtin(Entity::Iban) => 7,
            EntityKind::Builtin(Entity::UsSsn) => 6,
            EntityKind::Builtin(Entity::Email) => 5,
            EntityKind::Builtin(Entity::Phone) => 4,
            EntityKind::Builtin(Entity::IpAddress) => 3,
            EntityKind::Builtin(Entity::Address) => 2,
            EntityKind::Builtin(Entity::Person) => 1,
        }
    }
}

impl From<Entity> for EntityKind {
    fn from(entity: Entity) -> Self {
        EntityKind::Builtin(entity)
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One detected value. It holds offsets, never the value itself, so that a
/// finding can be logged, counted or published without leaking it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub entity: EntityKind,
    /// Byte offset of the first byte of the value in the scanned text.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
    /// 0.0 to 1.0, after context words; findings below the engine's
    /// `min_confidence` are dropped.
    pub confidence: f32,
    /// For IP_ADDRESS: the address is private, loopback, link-local or
    /// shared (CGNAT) space, i.e. internal. Always false for other types.
    pub private: bool,
}

impl Finding {
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (entity, name) in BUILTIN_NAMES {
            assert_eq!(EntityKind::from_name(name), EntityKind::Builtin(entity));
            assert_eq!(EntityKind::Builtin(entity).name(), name);
        }
        assert_eq!(EntityKind::from_name("EMPLOYEE_ID").name(), "EMPLOYEE_ID");
        assert!(matches!(
            EntityKind::from_name("EMPLOYEE_ID"),
            EntityKind::Custom(_)
        ));
    }
}
