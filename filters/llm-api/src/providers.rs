//! What differs from one upstream provider to another, in one table: a
//! [`Descriptor`] per [`ProviderKind`]. The translators build their upstream
//! paths from it, the route stage reads how a provider addresses models, the
//! translate stage which headers carry provider keys, and the `llm-gateway`
//! tool the credential to inject and the `llm-gateway providers` listing the
//! examples are generated from. Adding a provider starts with an entry here
//! (docs/architecture.md, "Adding a provider").

use crate::api::Dialect;
use crate::{anthropic, azure, gemini, openai};
use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, Serializer};

/// The provider a route sends requests to, by the API family it speaks.
/// Config files and facts name it by its descriptor's [`name`](Descriptor::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenAI's own API.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// Azure OpenAI: OpenAI bodies on deployment paths with an `api-version`.
    Azure,
    /// A server speaking OpenAI's API under a base path of its own: vLLM,
    /// Ollama, LM Studio, and hosted ones such as Mistral, Groq, DeepSeek
    /// and xAI.
    OpenaiCompatible,
}

/// Everything the gateway knows about one kind of provider.
#[derive(Debug)]
pub struct Descriptor {
    pub kind: ProviderKind,
    /// The name used in config (`kind`), headers (`x-llm-provider`), model
    /// prefixes, facts and, upper-cased, template and environment variables
    /// (`OPENAI_HOST`, `OPENAI_UPSTREAM`).
    pub name: &'static str,
    /// The wire format of its requests, responses, streams and errors: the
    /// translators are chosen by it, so a provider speaking an existing
    /// dialect needs no translator of its own.
    pub dialect: Dialect,
    /// How the gateway's key for it is sent.
    pub credential: Credential,
    /// The host of its public API, reached with TLS on `default_port`;
    /// `None` when every account has a host of its own (Azure OpenAI
    /// resources).
    pub default_host: Option<&'static str>,
    pub default_port: u16,
    /// Models are reached through deployments named in the path, with an API
    /// version in the query (Azure OpenAI): routes may name a deployment and
    /// an `api_version`, and the path, not the body, says which model serves.
    pub deployments: bool,
    /// The client APIs ([`ApiKind::name`](crate::ApiKind::name)) whose
    /// requests can be sent to it, translated or not.
    pub client_apis: &'static [&'static str],
    /// How its streamed responses are framed.
    pub stream_framing: StreamFraming,
    /// The calls of its own API that the gateway understands (POST, without
    /// the query): where clients call the provider's host directly (the Istio
    /// example), only these may reach it with the gateway's key.
    pub api_paths: &'static [PathPattern],
    /// The path its API's calls start with when the route configuration
    /// names none (`providers.<name>.base_path`); `None` where the API's
    /// paths are fixed, and a route may not set one.
    pub base_path: Option<&'static str>,
    /// Its upstream path for a call; `None` when it has no such operation.
    upstream_path: fn(&UpstreamCall) -> Option<String>,
}

/// How a provider takes the gateway's key. An enum because a provider that
/// signs each request instead needs a credential of another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The key in a request header, after a fixed prefix (`Bearer `).
    Header {
        name: &'static str,
        prefix: &'static str,
    },
}

impl Credential {
    /// The request header that carries the key.
    pub fn header(self) -> &'static str {
        match self {
            Credential::Header { name, .. } => name,
        }
    }
}

/// How a provider frames a streamed response. Every provider streams
/// Server-Sent Events today; an enum because a binary event framing would
/// need its own parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFraming {
    Sse,
}

impl StreamFraming {
    pub fn name(self) -> &'static str {
        match self {
            StreamFraming::Sse => "sse",
        }
    }
}

/// A path of a provider's API, matched without the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPattern {
    Exact(&'static str),
    /// A regular expression (RE2 syntax, as Envoy and Istio match paths)
    /// that must match the whole path.
    Regex(&'static str),
}

/// What a request asks a provider to do, which picks its upstream path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Generate a reply: chat completions, Messages, `generateContent`.
    Generate,
    /// Embed text: one input, or a batch of them (`batch`), for providers
    /// with a call for each.
    Embed { batch: bool },
    /// OpenAI's Responses API.
    Responses,
}

/// What an upstream path is built from.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamCall<'a> {
    pub operation: Operation,
    /// The provider's name for the model; for providers addressed by
    /// deployment ([`Descriptor::deployments`]), the deployment.
    pub model: &'a str,
    pub stream: bool,
    /// The API version, for providers that version their paths.
    pub api_version: &'a str,
    /// The base path, for providers that take one ([`Descriptor::base_path`]).
    pub base_path: &'a str,
}

impl Descriptor {
    /// The path (query included) to send `call` to; `None` when the
    /// provider has no such operation.
    pub fn upstream_path(&self, call: &UpstreamCall) -> Option<String> {
        (self.upstream_path)(call)
    }
}

/// The client APIs of the OpenAI API family, which providers speaking it
/// serve alike.
const OPENAI_CLIENT_APIS: &[&str] = &[
    "chat_completions",
    "azure_chat_completions",
    "embeddings",
    "azure_embeddings",
    "responses",
    "anthropic_messages",
];

const OPENAI: Descriptor = Descriptor {
    kind: ProviderKind::Openai,
    name: "openai",
    dialect: Dialect::OpenAi,
    credential: Credential::Header {
        name: "authorization",
        prefix: "Bearer ",
    },
    default_host: Some("api.openai.com"),
    default_port: 443,
    deployments: false,
    client_apis: OPENAI_CLIENT_APIS,
    stream_framing: StreamFraming::Sse,
    api_paths: &[
        PathPattern::Exact("/v1/chat/completions"),
        PathPattern::Exact("/v1/embeddings"),
        PathPattern::Exact("/v1/responses"),
    ],
    base_path: None,
    upstream_path: openai::upstream_path,
};

const ANTHROPIC: Descriptor = Descriptor {
    kind: ProviderKind::Anthropic,
    name: "anthropic",
    dialect: Dialect::Anthropic,
    credential: Credential::Header {
        name: "x-api-key",
        prefix: "",
    },
    default_host: Some("api.anthropic.com"),
    default_port: 443,
    deployments: false,
    client_apis: &[
        "chat_completions",
        "azure_chat_completions",
        "anthropic_messages",
    ],
    stream_framing: StreamFraming::Sse,
    api_paths: &[PathPattern::Exact("/v1/messages")],
    base_path: None,
    upstream_path: anthropic::upstream_path,
};

const GEMINI: Descriptor = Descriptor {
    kind: ProviderKind::Gemini,
    name: "gemini",
    dialect: Dialect::Gemini,
    credential: Credential::Header {
        name: "x-goog-api-key",
        prefix: "",
    },
    default_host: Some("generativelanguage.googleapis.com"),
    default_port: 443,
    deployments: false,
    client_apis: &[
        "chat_completions",
        "azure_chat_completions",
        "embeddings",
        "azure_embeddings",
        "anthropic_messages",
        "gemini_generate_content",
        "gemini_embed_content",
    ],
    stream_framing: StreamFraming::Sse,
    api_paths: &[PathPattern::Regex(
        "/v1beta/models/[^/:]+:(generateContent|streamGenerateContent|embedContent|batchEmbedContents)",
    )],
    base_path: None,
    upstream_path: gemini::upstream_path,
};

const AZURE: Descriptor = Descriptor {
    kind: ProviderKind::Azure,
    name: "azure",
    dialect: Dialect::OpenAi,
    credential: Credential::Header {
        name: "api-key",
        prefix: "",
    },
    default_host: None,
    default_port: 443,
    deployments: true,
    client_apis: OPENAI_CLIENT_APIS,
    stream_framing: StreamFraming::Sse,
    api_paths: &[
        PathPattern::Regex("/openai/deployments/[^/]+/(chat/completions|embeddings)"),
        PathPattern::Exact("/openai/responses"),
    ],
    base_path: None,
    upstream_path: azure::upstream_path,
};

const OPENAI_COMPATIBLE: Descriptor = Descriptor {
    kind: ProviderKind::OpenaiCompatible,
    name: "openai_compatible",
    dialect: Dialect::OpenAi,
    // Sent only where the route configuration gives the provider a key: a
    // server on the operator's own network often takes none.
    credential: Credential::Header {
        name: "authorization",
        prefix: "Bearer ",
    },
    default_host: None,
    default_port: 443,
    deployments: false,
    client_apis: OPENAI_CLIENT_APIS,
    stream_framing: StreamFraming::Sse,
    api_paths: &[PathPattern::Regex(
        "(/[A-Za-z0-9._~-]+)*/(chat/completions|embeddings|responses)",
    )],
    base_path: Some("/v1"),
    upstream_path: openai::compatible_path,
};

/// Every provider, in the order listings and errors give them.
pub const DESCRIPTORS: [&Descriptor; 5] =
    [&OPENAI, &ANTHROPIC, &GEMINI, &AZURE, &OPENAI_COMPATIBLE];

/// The request headers that carry a provider key, each once: the gateway's
/// own, never a client's.
pub fn credential_headers() -> impl Iterator<Item = &'static str> {
    DESCRIPTORS
        .iter()
        .enumerate()
        .map(|(i, d)| (i, d.credential.header()))
        .filter(|&(i, header)| {
            !DESCRIPTORS
                .iter()
                .take(i)
                .any(|earlier| earlier.credential.header() == header)
        })
        .map(|(_, header)| header)
}

/// One field of every entry of [`DESCRIPTORS`], in order, computed at
/// compile time (where an index out of range fails the build).
macro_rules! column {
    ($field:ident, $filler:expr) => {{
        let mut out = [$filler; DESCRIPTORS.len()];
        let mut i = 0;
        while i < DESCRIPTORS.len() {
            out[i] = DESCRIPTORS[i].$field;
            i += 1;
        }
        out
    }};
}

/// The names of [`DESCRIPTORS`], for serde's error on an unknown one.
#[allow(clippy::indexing_slicing)]
const NAMES: [&str; DESCRIPTORS.len()] = column!(name, "");

impl ProviderKind {
    /// Every provider kind, in the order of [`DESCRIPTORS`].
    #[allow(clippy::indexing_slicing)]
    pub const ALL: [ProviderKind; DESCRIPTORS.len()] = column!(kind, ProviderKind::Openai);

    /// What differs for this kind of provider.
    pub fn descriptor(self) -> &'static Descriptor {
        match self {
            ProviderKind::Openai => &OPENAI,
            ProviderKind::Anthropic => &ANTHROPIC,
            ProviderKind::Gemini => &GEMINI,
            ProviderKind::Azure => &AZURE,
            ProviderKind::OpenaiCompatible => &OPENAI_COMPATIBLE,
        }
    }

    /// The name used in config, headers (`x-llm-provider`) and model prefixes.
    pub fn name(self) -> &'static str {
        self.descriptor().name
    }

    /// The kind with this name, if any.
    pub fn from_name(name: &str) -> Option<ProviderKind> {
        DESCRIPTORS.iter().find(|d| d.name == name).map(|d| d.kind)
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ProviderKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ProviderKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ProviderKind::from_name(&name).ok_or_else(|| D::Error::unknown_variant(&name, &NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{translator, TranslateOptions};
    use crate::ApiKind;

    /// Every kind, listed by an exhaustive match: a new kind does not compile
    /// here until it is added.
    fn every_kind() -> Vec<ProviderKind> {
        let listed = |kind: ProviderKind| match kind {
            ProviderKind::Openai
            | ProviderKind::Anthropic
            | ProviderKind::Gemini
            | ProviderKind::Azure
            | ProviderKind::OpenaiCompatible => kind,
        };
        [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::Azure,
            ProviderKind::OpenaiCompatible,
        ]
        .map(listed)
        .to_vec()
    }

    #[test]
    fn every_kind_has_exactly_one_entry() {
        for kind in every_kind() {
            let entries: Vec<_> = DESCRIPTORS.iter().filter(|d| d.kind == kind).collect();
            assert_eq!(entries.len(), 1, "{kind:?}");
            assert_eq!(kind.descriptor().kind, kind);
            assert_eq!(kind.descriptor().name, entries[0].name);
        }
        assert_eq!(DESCRIPTORS.len(), every_kind().len());
        assert_eq!(ProviderKind::ALL.to_vec(), every_kind());
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DESCRIPTORS.len(), "names are unique");
    }

    #[test]
    fn names_round_trip_and_deserialize() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_name(kind.name()), Some(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.name()));
            let parsed: ProviderKind = serde_json::from_value(json).unwrap();
            assert_eq!(parsed, kind);
        }
        assert_eq!(ProviderKind::from_name("OpenAI"), None);
        let err = serde_json::from_value::<ProviderKind>(serde_json::json!("bedrock")).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown variant `bedrock`, expected one of `openai`, `anthropic`"),
            "{err}"
        );
    }

    #[test]
    fn credential_headers_are_each_providers_once() {
        let headers: Vec<_> = credential_headers().collect();
        assert_eq!(
            headers,
            ["authorization", "x-api-key", "x-goog-api-key", "api-key"]
        );
        for kind in ProviderKind::ALL {
            assert!(headers.contains(&kind.descriptor().credential.header()));
        }
    }

    fn path(kind: ProviderKind, operation: Operation, model: &str, stream: bool) -> Option<String> {
        kind.descriptor().upstream_path(&UpstreamCall {
            operation,
            model,
            stream,
            api_version: "2024-10-21",
            base_path: kind.descriptor().base_path.unwrap_or_default(),
        })
    }

    /// Each provider's path for every operation. The regular expressions of
    /// `api_paths` are matched against the paths the fake providers receive
    /// by tests/python/test_every_provider.py.
    #[test]
    fn upstream_paths_are_the_providers_own() {
        use Operation::{Embed, Generate, Responses};
        use ProviderKind::{Anthropic, Azure, Gemini, Openai, OpenaiCompatible};
        let gemini = |method: &str| format!("/v1beta/models/m-1.5:{method}");
        let azure = |operation: &str| {
            format!("/openai/deployments/m-1.5/{operation}?api-version=2024-10-21")
        };
        let cases = [
            (
                Openai,
                Generate,
                false,
                Some("/v1/chat/completions".to_owned()),
            ),
            (
                Openai,
                Generate,
                true,
                Some("/v1/chat/completions".to_owned()),
            ),
            (
                Openai,
                Embed { batch: true },
                false,
                Some("/v1/embeddings".to_owned()),
            ),
            (
                Openai,
                Embed { batch: false },
                false,
                Some("/v1/embeddings".to_owned()),
            ),
            (Openai, Responses, true, Some("/v1/responses".to_owned())),
            (Anthropic, Generate, false, Some("/v1/messages".to_owned())),
            (Anthropic, Generate, true, Some("/v1/messages".to_owned())),
            (Anthropic, Embed { batch: true }, false, None),
            (Anthropic, Responses, false, None),
            (Gemini, Generate, false, Some(gemini("generateContent"))),
            (
                Gemini,
                Generate,
                true,
                Some(gemini("streamGenerateContent?alt=sse")),
            ),
            (
                Gemini,
                Embed { batch: false },
                false,
                Some(gemini("embedContent")),
            ),
            (
                Gemini,
                Embed { batch: true },
                true,
                Some(gemini("batchEmbedContents")),
            ),
            (Gemini, Responses, false, None),
            (Azure, Generate, true, Some(azure("chat/completions"))),
            (
                Azure,
                Embed { batch: false },
                false,
                Some(azure("embeddings")),
            ),
            (
                OpenaiCompatible,
                Generate,
                true,
                Some("/v1/chat/completions".to_owned()),
            ),
            (
                OpenaiCompatible,
                Embed { batch: true },
                false,
                Some("/v1/embeddings".to_owned()),
            ),
            (
                OpenaiCompatible,
                Responses,
                false,
                Some("/v1/responses".to_owned()),
            ),
            (
                Azure,
                Responses,
                false,
                Some("/openai/responses?api-version=2024-10-21".to_owned()),
            ),
        ];
        for (kind, operation, stream, expected) in cases {
            let built = path(kind, operation, "m-1.5", stream);
            assert_eq!(built, expected, "{kind} {operation:?} stream={stream}");
            // A path matching no regular expression of the provider's is
            // one of its exact API paths (the regular expressions are
            // checked against what the fake providers receive, in
            // tests/python/test_every_provider.py).
            let patterns = kind.descriptor().api_paths;
            let exact: Vec<_> = patterns
                .iter()
                .filter_map(|p| match p {
                    PathPattern::Exact(path) => Some(*path),
                    PathPattern::Regex(_) => None,
                })
                .collect();
            let regexes = patterns.len() - exact.len();
            if let Some(built) = built {
                let path = built.split('?').next().unwrap_or_default();
                assert!(
                    exact.contains(&path) || regexes > 0,
                    "{built} is not an API path of {kind}"
                );
            }
        }
    }

    #[test]
    fn model_and_version_cannot_add_segments_or_parameters() {
        let call = UpstreamCall {
            operation: Operation::Generate,
            model: "a/b?c",
            stream: false,
            api_version: "v&x",
            base_path: "/openai/v1",
        };
        assert_eq!(
            ProviderKind::Azure
                .descriptor()
                .upstream_path(&call)
                .unwrap(),
            "/openai/deployments/a%2Fb%3Fc/chat/completions?api-version=v%26x"
        );
        assert_eq!(
            ProviderKind::Gemini
                .descriptor()
                .upstream_path(&call)
                .unwrap(),
            "/v1beta/models/a%2Fb%3Fc:generateContent"
        );
    }

    /// A request of every client API.
    fn every_client_api() -> Vec<ApiKind> {
        let model = || "m".to_owned();
        vec![
            ApiKind::ChatCompletions,
            ApiKind::Embeddings,
            ApiKind::Responses,
            ApiKind::Models,
            ApiKind::GatewayUsage,
            ApiKind::AnthropicMessages,
            ApiKind::GeminiGenerate {
                model: model(),
                stream: true,
            },
            ApiKind::GeminiEmbed {
                model: model(),
                batch: false,
            },
            ApiKind::AzureChatCompletions {
                deployment: model(),
            },
            ApiKind::AzureEmbeddings {
                deployment: model(),
            },
            ApiKind::Other,
        ]
    }

    #[test]
    fn client_apis_are_the_ones_with_a_translator() {
        let names: Vec<_> = every_client_api().iter().map(ApiKind::name).collect();
        for kind in ProviderKind::ALL {
            let listed = kind.descriptor().client_apis;
            for api in listed {
                assert!(names.contains(api), "{kind}: `{api}` is no client API");
            }
            for api in every_client_api() {
                let translates = translator(&api, kind, "m", &TranslateOptions::default()).is_ok();
                assert_eq!(
                    translates,
                    listed.contains(&api.name()),
                    "{} -> {kind}",
                    api.name()
                );
            }
        }
    }
}
