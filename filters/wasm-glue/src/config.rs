//! Loading filter configuration with errors that name the bad field.

use serde::de::DeserializeOwned;

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
pub fn take_client_identity(
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

/// Builds the stages of a module holding one filter, whose plugin
/// configuration is that filter's configuration (plus `client_identity`).
pub fn single_stage(
    filter: &str,
    bytes: &[u8],
    build: fn(serde_json::Value) -> Result<Box<dyn crate::Stage>, ConfigError>,
) -> Result<crate::Stages, ConfigError> {
    let mut config = parse_json(filter, bytes)?;
    let identity = take_client_identity(filter, &mut config)?;
    Ok(crate::Stages::new(vec![build(config)?]).with_client_identity(&identity))
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
    fn empty_configuration_is_an_empty_object() {
        assert_eq!(parse_json("x", b" ").unwrap(), serde_json::json!({}));
        assert!(parse_json("x", b"{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }
}
