//! The limits file: which descriptors are limited, by how much, over which
//! window. Parsed and validated once at start, so a mistake stops the service
//! with a message naming the field instead of silently limiting nothing.
//!
//! ```json
//! {"limits": [
//!   {"name": "tokens-per-agent", "domain": "llm-gateway",
//!    "descriptor": [{"key": "agent"}], "max_value": 2000, "seconds": 60},
//!   {"domain": "llm-gateway",
//!    "descriptor": [{"key": "agent", "value": "demo-limited"}, {"key": "model"}],
//!    "max_value": 500, "seconds": 60}
//! ]}
//! ```

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub limits: Vec<LimitSpec>,
}

/// One limit: a budget of `max_value` units per `seconds` for the request
/// descriptors of `domain` whose entries are exactly `descriptor`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Optional; Envoy shows it in `x-ratelimit-limit` (`;name="..."`).
    #[serde(default)]
    pub name: Option<String>,
    /// The `domain` of Envoy's rate-limit filter.
    pub domain: String,
    /// The entries a request descriptor must have, no more and no fewer (in
    /// any order).
    pub descriptor: Vec<EntrySpec>,
    /// Units (requests, tokens: whatever `hits_addend` counts) per window.
    pub max_value: u64,
    /// The window, in seconds.
    pub seconds: u64,
}

/// A descriptor entry: with a `value`, only that value matches; without,
/// any value matches and each distinct value gets its own counter (one per
/// agent, per API key, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// Why the limits file was refused. Each message names the field and what
/// to do about it.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        message: String,
    },
    /// Not JSON, or not the shape above (`field` is the JSON path).
    Parse {
        field: String,
        message: String,
    },
    /// Well-formed but unusable.
    Invalid {
        field: String,
        problem: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, message } => {
                write!(f, "cannot read limits file {}: {message}", path.display())
            }
            ConfigError::Parse { field, message } => write!(f, "limits file: {field}: {message}"),
            ConfigError::Invalid { field, problem } => write!(f, "limits file: {field}: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(field: String, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl LimitsFile {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<LimitsFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// Parses and validates the file's text.
    pub fn parse(text: &str) -> Result<LimitsFile, ConfigError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file: LimitsFile =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let field = e.path().to_string();
                ConfigError::Parse {
                    field: if field == "." {
                        "(top level)".to_owned()
                    } else {
                        field
                    },
                    message: e.into_inner().to_string(),
                }
            })?;
        file.validate()?;
        Ok(file)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.limits.is_empty() {
            return Err(invalid(
                "limits".to_owned(),
                "is empty: add at least one limit",
            ));
        }
        for (i, limit) in self.limits.iter().enumerate() {
            limit.validate(&format!("limits[{i}]"))?;
        }
        self.reject_duplicates()
    }

    /// limitador identifies a limit by namespace, window, conditions and
    /// variables (not by `max_value` or `name`), so two such limits would
    /// silently become one.
    fn reject_duplicates(&self) -> Result<(), ConfigError> {
        for (i, limit) in self.limits.iter().enumerate() {
            if let Some(first) = self
                .limits
                .iter()
                .take(i)
                .position(|other| other.same_counter(limit))
            {
                return Err(invalid(
                    format!("limits[{i}]"),
                    format!(
                        "has the same domain, descriptor and seconds as limits[{first}]; \
                         they would share one counter: merge them or change `seconds`"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl LimitSpec {
    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if let Some(name) = &self.name {
            if name.is_empty() || name.contains('"') || name.chars().any(char::is_control) {
                return Err(invalid(
                    format!("{at}.name"),
                    "must be non-empty text without quotes or control characters (Envoy quotes it in a header)",
                ));
            }
        }
        if self.domain.is_empty() {
            return Err(invalid(
                format!("{at}.domain"),
                "must not be empty: use the `domain` of Envoy's rate-limit filter",
            ));
        }
        if self.descriptor.is_empty() {
            return Err(invalid(
                format!("{at}.descriptor"),
                "must list at least one entry (`{\"key\": ...}`)",
            ));
        }
        let mut keys = HashSet::new();
        for (j, entry) in self.descriptor.iter().enumerate() {
            let field = format!("{at}.descriptor[{j}]");
            if entry.key.is_empty() || entry.key.chars().any(char::is_control) {
                return Err(invalid(
                    format!("{field}.key"),
                    "must be non-empty text without control characters",
                ));
            }
            if !keys.insert(entry.key.as_str()) {
                return Err(invalid(
                    format!("{field}.key"),
                    format!("`{}` appears twice in this descriptor", entry.key),
                ));
            }
            if let Some(value) = &entry.value {
                if value.is_empty() || value.chars().any(char::is_control) {
                    return Err(invalid(
                        format!("{field}.value"),
                        "must be non-empty text without control characters; omit `value` for one counter per value",
                    ));
                }
            }
        }
        if self.seconds == 0 {
            return Err(invalid(format!("{at}.seconds"), "must be at least 1"));
        }
        Ok(())
    }

    /// Whether both limits would be the same limitador limit.
    fn same_counter(&self, other: &LimitSpec) -> bool {
        let entries = |l: &LimitSpec| -> HashSet<(String, Option<String>)> {
            l.descriptor
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        };
        self.domain == other.domain
            && self.seconds == other.seconds
            && entries(self) == entries(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        LimitsFile::parse(text)
            .expect_err("should be refused")
            .to_string()
    }

    fn one(limit: &str) -> String {
        format!(r#"{{"limits": [{limit}]}}"#)
    }

    #[test]
    fn parses_a_valid_file() {
        let file = LimitsFile::parse(&one(
            r#"{"name": "n", "domain": "d", "descriptor": [{"key": "agent"}, {"key": "model", "value": "m"}], "max_value": 10, "seconds": 60}"#,
        ))
        .expect("valid");
        assert_eq!(file.limits.len(), 1);
        assert_eq!(file.limits[0].descriptor[1].value.as_deref(), Some("m"));
    }

    #[test]
    fn type_errors_name_the_field() {
        let message = error(&one(
            r#"{"domain": "d", "descriptor": [{"key": "a"}], "max_value": -1, "seconds": 60}"#,
        ));
        assert!(message.contains("limits[0].max_value"), "{message}");
        let message = error(&one(
            r#"{"domain": "d", "descriptor": [{"key": "a", "vaule": "x"}], "max_value": 1, "seconds": 60}"#,
        ));
        assert!(
            message.contains("limits[0].descriptor[0]") && message.contains("vaule"),
            "{message}"
        );
        let message = error(&one(
            r#"{"domain": "d", "descriptor": [{"key": "a"}], "max_value": 1}"#,
        ));
        assert!(message.contains("seconds"), "{message}");
        let message = error("[]");
        assert!(message.contains("(top level)"), "{message}");
    }

    #[test]
    fn invalid_values_name_the_field_and_the_fix() {
        let cases = [
            (
                r#"{"domain": "", "descriptor": [{"key": "a"}], "max_value": 1, "seconds": 1}"#,
                "limits[0].domain",
            ),
            (
                r#"{"domain": "d", "descriptor": [], "max_value": 1, "seconds": 1}"#,
                "limits[0].descriptor",
            ),
            (
                r#"{"domain": "d", "descriptor": [{"key": ""}], "max_value": 1, "seconds": 1}"#,
                "limits[0].descriptor[0].key",
            ),
            (
                r#"{"domain": "d", "descriptor": [{"key": "a"}, {"key": "a"}], "max_value": 1, "seconds": 1}"#,
                "limits[0].descriptor[1].key",
            ),
            (
                r#"{"domain": "d", "descriptor": [{"key": "a", "value": ""}], "max_value": 1, "seconds": 1}"#,
                "omit `value`",
            ),
            (
                r#"{"domain": "d", "descriptor": [{"key": "a"}], "max_value": 1, "seconds": 0}"#,
                "limits[0].seconds",
            ),
            (
                r#"{"name": "a\"b", "domain": "d", "descriptor": [{"key": "a"}], "max_value": 1, "seconds": 1}"#,
                "limits[0].name",
            ),
        ];
        for (limit, expected) in cases {
            let message = error(&one(limit));
            assert!(message.contains(expected), "{limit}: {message}");
        }
        assert!(error(r#"{"limits": []}"#).contains("add at least one limit"));
    }

    #[test]
    fn duplicate_limits_are_refused() {
        let a = r#"{"domain": "d", "descriptor": [{"key": "a"}, {"key": "b", "value": "x"}], "max_value": 1, "seconds": 60}"#;
        let b = r#"{"domain": "d", "descriptor": [{"key": "b", "value": "x"}, {"key": "a"}], "max_value": 5, "seconds": 60}"#;
        let message = error(&format!(r#"{{"limits": [{a}, {b}]}}"#));
        assert!(
            message.contains("limits[1]") && message.contains("limits[0]"),
            "{message}"
        );
        let other_window = b.replace("60", "3600");
        assert!(LimitsFile::parse(&format!(r#"{{"limits": [{a}, {other_window}]}}"#)).is_ok());
    }

    #[test]
    fn the_example_in_the_docs_is_valid() {
        let doc = include_str!("../../../docs/ratelimit-service.md");
        let example = doc
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a JSON block");
        let file = LimitsFile::parse(example).expect("the documented example is valid");
        assert_eq!(file.limits.len(), 2);
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let message = LimitsFile::load(Path::new("/nonexistent/limits.json"))
            .expect_err("missing")
            .to_string();
        assert!(message.contains("/nonexistent/limits.json"), "{message}");
    }
}
