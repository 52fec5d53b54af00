//! The routing decision: which provider, cluster and upstream model serve a
//! request, and which models a client may use.
//!
//! The provider is chosen, in order, by the `x-llm-provider` header, a
//! `provider/model` prefix on the model, the model table (exact names before
//! globs, weighted splits between targets), and the default provider.

mod decision;
mod pattern;

pub use decision::{Decision, Router};

use crate::config::Provider;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `route` role's configuration as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// The model table: the first route whose `match` fits the model (exact
    /// names are tried before globs) picks the provider.
    #[serde(default)]
    pub models: Vec<ModelRoute>,
    /// The provider for models the table does not name; without one, such
    /// models are rejected with a 400 that lists the available models.
    #[serde(default)]
    pub default_provider: Option<String>,
    /// The request header that names a provider outright.
    #[serde(default = "default_provider_header")]
    pub provider_header: String,
    /// Per-client model allow-lists.
    #[serde(default)]
    pub clients: Option<ClientPolicy>,
}

/// One entry of the model table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelRoute {
    /// An exact model name, or a glob with `*` and `?` (e.g. `claude-*`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Where the model is served; several targets split traffic by weight.
    pub to: Vec<RouteTarget>,
    /// Providers to fall back to, in order, when the target fails.
    #[serde(default)]
    pub fallback: Option<Fallback>,
}

/// A fallback chain: the route's target first, then these, each tried once
/// when the one before fails (a 5xx, a reset, a refused connection) or is
/// ejected as an outlier.
///
/// Envoy does the trying: `cluster` is one cluster whose priority levels are
/// the chain's providers in order, and the route's retry policy moves each
/// retry to the next level (`previous_priorities`). The translate stage on
/// that cluster reads which provider the attempt reached from the endpoint's
/// metadata and translates for it; the config renderer generates the cluster,
/// its route and its per-provider key injection from this section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub cluster: String,
    /// The providers after the route's target, in order; weights have no
    /// meaning here.
    pub to: Vec<RouteTarget>,
}

/// A provider serving a model, with the names it knows the model by.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteTarget {
    pub provider: String,
    /// The model name upstream, if it differs from the requested one.
    #[serde(default)]
    pub model: Option<String>,
    /// Azure OpenAI deployment (default: the upstream model name).
    #[serde(default)]
    pub deployment: Option<String>,
    /// Azure OpenAI `api-version` (default: the provider's).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Share of the traffic in a split (default 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// Which models each client may use. Clients are the authenticated client
/// ids (`wasm_glue::Exchange::client_id`, the one identity of the module);
/// a request without one is refused, and clients not listed get the `*`
/// entry's models, or every model when there is none.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientPolicy {
    /// Client → allowed model names or globs (`provider/model` forms too).
    pub allowed_models: BTreeMap<String, Vec<String>>,
}

fn default_provider_header() -> String {
    "x-llm-provider".to_owned()
}

fn default_weight() -> u32 {
    1
}
