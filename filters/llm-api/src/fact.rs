//! The facts stages publish to each other and to Envoy, each defined once.
//!
//! A fact is Envoy filter state `wasm.<name>`: later stages of the chain,
//! the upstream translate filter, route matchers
//! (`RouteMatch.filter_state`) and access logs
//! (`%FILTER_STATE(wasm.llm.provider:PLAIN)%`) read it. Stages name a fact
//! only as a [`Fact`], so a misspelt one does not compile; a JSON-valued
//! fact is published and read only as its [`JsonFact`] type, so its
//! publisher and its readers share one shape. Facts never hold prompt text,
//! keys or PII values.
//!
//! The fact table of docs/architecture.md lists every fact here, with the
//! stage that publishes it (`Stage::publishes`); the bundle's tests check
//! both, and that every `wasm.llm.*` name in the Envoy configs, examples
//! and docs is one of these.

use crate::providers::ProviderKind;
use crate::usage::Usage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Defines [`Fact`], its names and [`Fact::ALL`] from one list.
macro_rules! facts {
    ($($(#[$doc:meta])* $fact:ident = $name:literal,)*) => {
        /// A fact's name. Comparing two is comparing two small integers,
        /// which keeps the pipeline's reads of its own facts cheap
        /// (docs/benchmarks.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fact {
            $($(#[$doc])* $fact,)*
        }

        impl Fact {
            /// Every fact.
            pub const ALL: &'static [Fact] = &[$(Fact::$fact,)*];

            /// The name in Envoy's filter state, without the `wasm.` prefix
            /// Envoy adds.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Fact::$fact => $name,)*
                }
            }

            /// The fact named `name` (without the `wasm.` prefix), if any.
            pub fn from_name(name: &str) -> Option<Fact> {
                match name {
                    $($name => Some(Fact::$fact),)*
                    _ => None,
                }
            }
        }
    };
}

facts! {
    /// Set by audit: the API the request speaks (`chat_completions`,
    /// `anthropic_messages`, ...; `llm_api::ApiKind::name`).
    Api = "llm.api",
    /// Set by audit: the model the client asked for.
    ModelRequested = "llm.model.requested",
    /// Set by provider_route: `true` or `false`; the translate stage picks
    /// streaming paths by it.
    Stream = "llm.stream",
    /// Set by token_limit: each level's key, `name=key` joined by `;`
    /// (`client=intern;agent=intern|bot-7`).
    RatelimitKey = "llm.ratelimit.key",
    /// Set by token_limit: the tightest remaining token budget of all levels.
    RatelimitRemaining = "llm.ratelimit.remaining",
    /// Set by token_limit: the admission estimate of the request's tokens.
    TokensInputEstimated = "llm.tokens.input_estimated",
    /// Set by token_limit in global mode: the tokens the rate-limit service
    /// charges at the request (always a number, so Envoy never drops the
    /// descriptor).
    TokensAdmission = "llm.tokens.admission",
    /// Set by token_limit in global mode: the output tokens the rate-limit
    /// service charges when the stream is done.
    TokensOutput = "llm.tokens.output",
    /// Set by token_limit: the usage of a stream whose usage chunk the
    /// gateway asked for and removed (the client did not ask), as JSON of a
    /// [`Usage`].
    UsageStream = "llm.usage.stream",
    /// Set by provider_route: the chosen provider's name.
    Provider = "llm.provider",
    /// Set by provider_route: the model name the provider is asked for.
    ModelUpstream = "llm.model.upstream",
    /// Set by provider_route for Azure OpenAI targets: the deployment.
    AzureDeployment = "llm.azure.deployment",
    /// Set by provider_route for Azure OpenAI targets: the `api-version`.
    AzureApiVersion = "llm.azure.api_version",
    /// Set by provider_route: the Envoy cluster of the chosen provider (or
    /// of its fallback chain); routes match on it.
    Cluster = "llm.cluster",
    /// Set by provider_route: the client's path without its query; the
    /// translate stage classifies the client's API by it on every attempt.
    RequestPath = "llm.request.path",
    /// Set by provider_route when the route has a fallback chain: a
    /// [`FallbackChain`].
    Fallback = "llm.fallback",
    /// Set by provider_translate: the provider the latest attempt went to;
    /// a chain's key injection matches on it.
    AttemptProvider = "llm.attempt.provider",
    /// Set by provider_translate: the model the latest attempt asked for.
    AttemptModel = "llm.attempt.model",
    /// Set by audit: the call's reported input tokens, for access logs.
    UsagePrompt = "llm.usage.prompt",
    /// Set by audit: the call's reported output tokens, for access logs.
    UsageCompletion = "llm.usage.completion",
    /// Set by audit: the call's cost in dollars, for access logs.
    CostUsd = "llm.cost_usd",
    /// Set by pii_scan: what the request held, `ENTITY:action:count,...`
    /// (never values).
    PiiFindings = "llm.pii.findings",
    /// Set by pii_scan: the same for the model's output, when responses are
    /// scanned.
    PiiResponseFindings = "llm.pii.response_findings",
    /// Set by pii_scan: the `route` action's destination, a [`PiiRoute`];
    /// the route stage sends the request there.
    PiiRoute = "llm.pii.route",
    /// Set by audit when no collector is configured: the call's audit record
    /// as JSON (docs/configuration.md), for Envoy's access log. No stage
    /// reads it, so its shape is the audit crate's record alone.
    AuditRecord = "llm.audit.record",
}

/// The value of a JSON-valued fact. The type names its fact, so a stage
/// publishes or reads that fact only as this type (`wasm_glue`'s
/// `set_json_fact` and `json_fact`).
pub trait JsonFact: Serialize + DeserializeOwned {
    const FACT: Fact;
}

/// Where the pii-scan stage's `route` action sends a request: a provider
/// of the route configuration, and optionally the model to ask it for. It
/// is also that action's `route_to` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiRoute {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl JsonFact for PiiRoute {
    const FACT: Fact = Fact::PiiRoute;
}

/// One provider serving a request, with the names it knows the model by:
/// what the translate stage needs for an attempt that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub provider: String,
    pub kind: ProviderKind,
    /// The model name the provider is asked for.
    pub upstream_model: String,
    /// Azure OpenAI only: the deployment and `api-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// A fallback chain's providers in order, the route's own target first: the
/// translate stage on the chain's cluster looks up the provider each
/// attempt reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FallbackChain(pub Vec<Target>);

impl JsonFact for FallbackChain {
    const FACT: Fact = Fact::Fallback;
}

/// A stream's usage, handed from the token-limit stage, which removed the
/// usage chunk, to the audit stage.
impl JsonFact for Usage {
    const FACT: Fact = Fact::UsageStream;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_distinct_and_in_the_llm_namespace() {
        let names: BTreeSet<&str> = Fact::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Fact::ALL.len());
        for name in names {
            assert!(
                name.starts_with("llm.")
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_pii_route_without_a_model_is_published_without_one() {
        let route = PiiRoute {
            provider: "local".into(),
            model: None,
        };
        let json = serde_json::to_string(&route).unwrap();
        assert_eq!(json, r#"{"provider":"local"}"#);
        assert_eq!(serde_json::from_str::<PiiRoute>(&json).unwrap(), route);
    }

    #[test]
    fn a_fallback_chain_is_a_json_array_of_targets() {
        let chain = FallbackChain(vec![Target {
            provider: "azure".into(),
            kind: ProviderKind::Azure,
            upstream_model: "gpt-4o-mini".into(),
            deployment: Some("mini".into()),
            api_version: None,
        }]);
        let json = serde_json::to_string(&chain).unwrap();
        assert_eq!(
            json,
            r#"[{"provider":"azure","kind":"azure","upstream_model":"gpt-4o-mini","deployment":"mini"}]"#
        );
        assert_eq!(serde_json::from_str::<FallbackChain>(&json).unwrap(), chain);
    }
}
