//! The API families an upstream provider can speak, which decide how a
//! request is translated before it leaves the gateway.

use serde::{Deserialize, Serialize};

/// The API family a provider speaks. Config files name it in snake case
/// (`openai`, `anthropic`, `gemini`, `azure`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI's own API (`/v1/chat/completions`, `/v1/embeddings`, `/v1/responses`).
    Openai,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini (`/v1beta/models/{model}:generateContent`, ...).
    Gemini,
    /// Azure OpenAI: OpenAI bodies on deployment paths with an `api-version`.
    Azure,
}

impl ProviderKind {
    /// Every provider kind, for listing valid choices in errors.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Azure,
    ];

    /// The name used in config, headers (`x-llm-provider`) and model prefixes.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Azure => "azure",
        }
    }

    /// The kind with this name, if any.
    pub fn from_name(name: &str) -> Option<ProviderKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_deserialize() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_name(kind.name()), Some(kind));
            let parsed: ProviderKind =
                serde_json::from_value(serde_json::json!(kind.name())).unwrap();
            assert_eq!(parsed, kind);
        }
        assert_eq!(ProviderKind::from_name("OpenAI"), None);
    }
}
