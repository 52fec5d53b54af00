//! Custom detectors and context rules from configuration: a regex with an
//! optional check-digit validator, and/or a keyword list, each reporting
//! its own entity name.

use super::checksum;
use super::context::{self, Rule};
use super::entity::EntityKind;
use crate::config::Entity;
use serde::Deserialize;
use wasm_glue::ConfigError;

/// The engine's configuration beyond the per-entity actions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Detectors for the organisation's own identifiers.
    #[serde(default)]
    pub custom: Vec<CustomDetector>,
    /// Context words that raise or lower the confidence of candidates of an
    /// entity type, built-in or custom (added to the built-in rules).
    #[serde(default)]
    pub context: Vec<ContextRule>,
    /// Candidates below this confidence are dropped.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f32,
    /// The opt-in built-in types to detect ([`Entity::opt_in`]): those the
    /// filter configuration's `entities` names, so not a field of its own.
    #[serde(skip)]
    pub opt_in: Vec<Entity>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            custom: Vec::new(),
            context: Vec::new(),
            min_confidence: default_min_confidence(),
            opt_in: Vec::new(),
        }
    }
}

fn default_min_confidence() -> f32 {
    0.5
}

/// `{"name": "EMPLOYEE_ID", "regex": "\\bE-\\d{7}\\b", "validator": "luhn"}`
/// or `{"name": "PROJECT", "keywords": ["Bluebird", "Project Falcon"]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// The entity name reported, used in `entities` and placeholders.
    pub name: String,
    /// A regex (Rust `regex` syntax) whose matches are findings.
    #[serde(default)]
    pub regex: Option<String>,
    /// A check the digits (luhn) or letters and digits (mod97) of a regex
    /// match must pass.
    #[serde(default)]
    pub validator: Option<Validator>,
    /// Literal words or phrases (case-insensitive, whole words).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Confidence of a match before context words.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// The longest match the regex can make; a streamed response holds back
    /// this many bytes so that a match split across chunks is still found.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
}

fn default_confidence() -> f32 {
    0.8
}

fn default_max_len() -> usize {
    64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    Luhn,
    Mod97,
}

/// `{"entity": "PHONE", "words": ["fax"], "boost": -0.6}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextRule {
    pub entity: String,
    pub words: Vec<String>,
    /// Added to the confidence when a word is present (negative lowers).
    pub boost: f32,
    /// How many bytes before the candidate are searched (at most 128).
    #[serde(default = "default_window")]
    pub window: usize,
}

fn default_window() -> usize {
    context::DEFAULT_WINDOW
}

/// A compiled custom regex detector.
#[derive(Debug)]
pub(crate) struct CustomRegex {
    pub entity: EntityKind,
    pub regex: regex::bytes::Regex,
    pub validator: Option<Validator>,
    pub confidence: f32,
    pub max_len: usize,
}

/// A custom keyword, lowercased, with its detector's entity and confidence.
#[derive(Debug)]
pub(crate) struct Keyword {
    pub entity: EntityKind,
    pub word: Vec<u8>,
    pub confidence: f32,
}

const MAX_REGEX_SIZE: usize = 1 << 20;

/// The compiled form of an `EngineConfig`.
pub(crate) struct Compiled {
    pub regexes: Vec<CustomRegex>,
    pub keywords: Vec<Keyword>,
    /// Built-in context rules followed by the configured ones.
    pub rules: Vec<Rule>,
}

/// The longest custom entity name: it is part of every placeholder
/// (`<NAME_n>`), which the vault reads back within a bounded window.
pub const MAX_NAME: usize = 64;

/// Checks and compiles the custom detectors and rules; errors name the
/// field (`custom[1].regex`).
pub(crate) fn compile(config: &EngineConfig) -> Result<Compiled, ConfigError> {
    let err = |field: String, message: String| ConfigError::new(crate::NAME, field, message);
    if !(0.0..=1.0).contains(&config.min_confidence) {
        return Err(err(
            "min_confidence".into(),
            "must be between 0 and 1".into(),
        ));
    }
    let mut regexes = Vec::new();
    let mut keywords = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, d) in config.custom.iter().enumerate() {
        let field = |f: &str| format!("custom[{i}].{f}");
        let valid_name = !d.name.is_empty()
            && d.name.len() <= MAX_NAME
            && d.name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(err(
                field("name"),
                format!("`{}` is not an entity name in SCREAMING_SNAKE_CASE of at most {MAX_NAME} bytes", d.name),
            ));
        }
        let entity = EntityKind::from_name(&d.name);
        if matches!(entity, EntityKind::Builtin(_)) || names.contains(&d.name.as_str()) {
            return Err(err(
                field("name"),
                format!("`{}` is already an entity name", d.name),
            ));
        }
        names.push(&d.name);
        if !(0.0..=1.0).contains(&d.confidence) {
            return Err(err(field("confidence"), "must be between 0 and 1".into()));
        }
        if d.regex.is_none() && d.keywords.is_empty() {
            return Err(err(
                field("regex"),
                "a custom detector needs `regex` or `keywords`".into(),
            ));
        }
        if d.validator.is_some() && d.regex.is_none() {
            return Err(err(
                field("validator"),
                "a validator checks regex matches: set `regex`".into(),
            ));
        }
        if let Some(pattern) = &d.regex {
            let regex = regex::bytes::RegexBuilder::new(pattern)
                .size_limit(MAX_REGEX_SIZE)
                .build()
                .map_err(|e| err(field("regex"), e.to_string()))?;
            if d.max_len == 0 || d.max_len > 4096 {
                return Err(err(field("max_len"), "must be between 1 and 4096".into()));
            }
            regexes.push(CustomRegex {
                entity: entity.clone(),
                regex,
                validator: d.validator,
                confidence: d.confidence,
                max_len: d.max_len,
            });
        }
        for (k, word) in d.keywords.iter().enumerate() {
            if word.trim().is_empty() || word.len() > 256 {
                return Err(err(
                    field(&format!("keywords[{k}]")),
                    "must be 1 to 256 bytes, not blank".into(),
                ));
            }
            keywords.push(Keyword {
                entity: entity.clone(),
                word: word.to_lowercase().into_bytes(),
                confidence: d.confidence,
            });
        }
    }
    let mut rules = context::builtin_rules();
    for (i, r) in config.context.iter().enumerate() {
        let field = |f: &str| format!("context[{i}].{f}");
        let entity = EntityKind::from_name(&r.entity);
        if matches!(entity, EntityKind::Custom(_)) && !names.contains(&r.entity.as_str()) {
            return Err(err(
                field("entity"),
                format!("`{}` is neither a built-in nor a custom entity", r.entity),
            ));
        }
        if r.window == 0 || r.window > context::MAX_WINDOW {
            return Err(err(
                field("window"),
                format!("must be between 1 and {}", context::MAX_WINDOW),
            ));
        }
        if r.words.iter().any(|w| w.trim().is_empty()) || r.words.is_empty() {
            return Err(err(
                field("words"),
                "needs at least one word, none blank".into(),
            ));
        }
        if !(-1.0..=1.0).contains(&r.boost) {
            return Err(err(field("boost"), "must be between -1 and 1".into()));
        }
        let words: Vec<&str> = r.words.iter().map(String::as_str).collect();
        let mut rule = Rule::new(entity, &words, r.boost);
        rule.window = r.window;
        rules.push(rule);
    }
    Ok(Compiled {
        regexes,
        keywords,
        rules,
    })
}

impl CustomRegex {
    /// Whether a match passes the validator.
    pub fn validates(&self, matched: &[u8]) -> bool {
        match self.validator {
            None => true,
            Some(Validator::Luhn) => {
                let digits: Vec<u8> = matched.iter().copied().filter(u8::is_ascii_digit).collect();
                checksum::luhn(&digits)
            }
            Some(Validator::Mod97) => {
                let chars: Vec<u8> = matched
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_alphanumeric)
                    .collect();
                checksum::mod97(&chars)
            }
        }
    }
}
