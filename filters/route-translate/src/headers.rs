//! Which client headers reach a provider, and which provider headers reach
//! the client.
//!
//! Requests: an allowlist. A client header can select the gateway's billing
//! account at the provider (`openai-organization`, `openai-project`,
//! `x-goog-user-project`), turn on features nobody approved
//! (`anthropic-beta`, `openai-beta`), or tell the provider about the client's
//! machine and network (`x-stainless-*`, `x-forwarded-for`, cookies). Only
//! what the providers' APIs need passes, plus what an operator lists per
//! provider (`providers.<name>.forward_headers`).
//!
//! Responses: the provider's identifiers of the gateway's account and its
//! cookies are removed, whatever else the answer holds.

use llm_api::providers::credential_headers;
use serde::Deserialize;
use wasm_glue::ConfigError;

/// The client headers every provider gets: what the SDKs send and the APIs
/// read (the body's type and length, what the client accepts, its name, the
/// Anthropic API version it speaks) and the gateway's request id. Pseudo
/// headers (`:path`, `:authority`, ...) always pass; the translators and
/// the key injection set their own headers afterwards.
pub const FORWARDED: [&str; 7] = [
    "content-type",
    "content-length",
    "accept",
    "accept-encoding",
    "user-agent",
    "anthropic-version",
    "x-request-id",
];

/// Provider response headers that identify the gateway's account at the
/// provider (organisation, project) or are the provider's cookies for it.
pub const ACCOUNT_HEADERS: [&str; 4] = [
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
    "set-cookie",
];

/// A header name, or a prefix of names ending in `*` (`x-stainless-*`), that
/// an operator allows through to a provider besides [`FORWARDED`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HeaderPattern(String);

impl TryFrom<String> for HeaderPattern {
    type Error = String;

    fn try_from(pattern: String) -> Result<Self, String> {
        let name = pattern.strip_suffix('*').unwrap_or(&pattern);
        let token =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.!#$%&'+^`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(format!(
                "`{pattern}` is not a lowercase header name (or a prefix ending in `*`)"
            ));
        }
        Ok(HeaderPattern(pattern))
    }
}

impl HeaderPattern {
    fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.0,
        }
    }
}

/// Whether a client header (lowercase name) may reach a provider that
/// allows `extra` besides the defaults.
pub fn forwarded(name: &str, extra: &[HeaderPattern]) -> bool {
    name.starts_with(':') || FORWARDED.contains(&name) || extra.iter().any(|p| p.matches(name))
}

/// Checks that no pattern lets a client's provider key header through.
pub fn validate(field: &str, extra: &[HeaderPattern]) -> Result<(), ConfigError> {
    for (i, pattern) in extra.iter().enumerate() {
        if let Some(name) = credential_headers().find(|h| pattern.matches(h)) {
            return Err(ConfigError::new(
                crate::NAME,
                format!("{field}[{i}]"),
                format!(
                    "`{}` would forward the client's `{name}`, a provider key header",
                    pattern.0
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Vec<HeaderPattern> {
        list.iter()
            .map(|p| HeaderPattern::try_from(p.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn only_the_defaults_and_the_listed_headers_pass() {
        for name in [
            ":path",
            ":authority",
            "content-type",
            "anthropic-version",
            "user-agent",
        ] {
            assert!(forwarded(name, &[]), "{name}");
        }
        for name in [
            "openai-organization",
            "openai-project",
            "anthropic-beta",
            "openai-beta",
            "x-goog-user-project",
            "cookie",
            "x-forwarded-for",
            "x-stainless-os",
            "x-envoy-attempt-count",
        ] {
            assert!(!forwarded(name, &[]), "{name}");
        }
        let extra = patterns(&["anthropic-beta", "x-stainless-*"]);
        assert!(forwarded("anthropic-beta", &extra) && forwarded("x-stainless-arch", &extra));
        assert!(!forwarded("anthropic-betas", &extra) && !forwarded("x-stainless", &extra));
    }

    #[test]
    fn patterns_are_lowercase_header_names_and_never_a_key_header() {
        for bad in ["", "*", "Anthropic-Beta", "a b", "x:y"] {
            assert!(HeaderPattern::try_from(bad.to_string()).is_err(), "{bad}");
        }
        assert!(validate("f", &patterns(&["anthropic-beta"])).is_ok());
        let err = validate(
            "forward_headers.claude",
            &patterns(&["anthropic-beta", "x-api-*"]),
        )
        .unwrap_err();
        assert_eq!(err.field, "forward_headers.claude[1]");
        assert!(err.message.contains("`x-api-key`"), "{err}");
    }
}
