//! The compiled routing table and the decision it makes per request.

use super::pattern::Pattern;
use super::{ClientPolicy, Fallback, RouteConfig, RouteTarget};
use crate::config::Provider;
use llm_api::fact::Target;
use llm_api::{ApiError, ErrorKind};
use serde_json::{json, Value};
use wasm_glue::config::check_header_name;
use wasm_glue::ConfigError;

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The Envoy cluster: the target's, or the fallback chain's.
    pub cluster: String,
    pub target: Target,
    /// The providers tried after the target, in order (empty without a
    /// fallback chain).
    pub fallback: Vec<Target>,
}

/// One `models` entry of the routing table, its pattern compiled.
#[derive(Debug)]
struct TableEntry {
    pattern: Pattern,
    targets: Vec<RouteTarget>,
    fallback: Option<Fallback>,
}

#[derive(Debug)]
struct Clients {
    allowed: Vec<(String, Vec<Pattern>, Vec<String>)>,
}

/// The `allowed_models` entry for every client not listed by name.
const OTHER_CLIENTS: &str = "*";

/// The validated, compiled `route` configuration.
#[derive(Debug)]
pub struct Router {
    config: RouteConfig,
    entries: Vec<TableEntry>,
    clients: Option<Clients>,
}

/// `Ok` when `config` defines the provider `name`; otherwise the error at
/// `field`, which lists the providers there are.
fn check_provider(config: &RouteConfig, field: String, name: &str) -> Result<(), ConfigError> {
    if config.providers.contains_key(name) {
        return Ok(());
    }
    let choices = config
        .providers
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    Err(ConfigError::new(
        crate::NAME,
        field,
        format!("`{name}` is not one of the providers: {choices}"),
    ))
}

/// Longest model name echoed back in an error (a client controls it).
const MAX_ECHO: usize = 100;

fn echo(name: &str) -> String {
    name.chars().take(MAX_ECHO).collect()
}

impl Router {
    /// Validates `config` (every provider named exists, weights are
    /// positive, patterns compile) and compiles its patterns.
    pub fn new(config: RouteConfig) -> Result<Router, ConfigError> {
        let err = |field: String, message: String| ConfigError::new(crate::NAME, field, message);
        if config.providers.is_empty() {
            return Err(err(
                "providers".into(),
                "at least one provider is required".into(),
            ));
        }
        for (name, provider) in &config.providers {
            if provider.cluster.is_empty() {
                return Err(err(
                    format!("providers.{name}.cluster"),
                    "must not be empty".into(),
                ));
            }
            // Names appear in `provider/model` prefixes, endpoint metadata
            // and the renderer's YAML anchors.
            if !is_cluster_name(name) {
                return Err(err(
                    format!("providers.{name}"),
                    "a provider name is letters, digits, `_` and `-`".into(),
                ));
            }
        }
        if let Some(default) = &config.default_provider {
            check_provider(&config, "default_provider".into(), default)?;
        }
        check_header_name(crate::NAME, "provider_header", &config.provider_header)?;
        let mut entries = Vec::with_capacity(config.models.len());
        for (i, route) in config.models.iter().enumerate() {
            let pattern =
                Pattern::new(&route.pattern).map_err(|e| err(format!("models[{i}].match"), e))?;
            if route.to.is_empty() {
                return Err(err(
                    format!("models[{i}].to"),
                    "at least one target is required".into(),
                ));
            }
            for (j, target) in route.to.iter().enumerate() {
                check_provider(
                    &config,
                    format!("models[{i}].to[{j}].provider"),
                    &target.provider,
                )?;
                if target.weight == 0 {
                    return Err(err(
                        format!("models[{i}].to[{j}].weight"),
                        "must be positive".into(),
                    ));
                }
            }
            if let Some(fallback) = &route.fallback {
                Self::check_fallback(&config, i, route, fallback)?;
            }
            entries.push(TableEntry {
                pattern,
                targets: route.to.clone(),
                fallback: route.fallback.clone(),
            });
        }
        let clients = config
            .clients
            .as_ref()
            .map(Self::compile_clients)
            .transpose()?;
        Ok(Router {
            config,
            entries,
            clients,
        })
    }

    /// A chain has one first target, names each provider once (the
    /// provider identifies the attempt's endpoint), and a cluster of its own.
    fn check_fallback(
        config: &RouteConfig,
        i: usize,
        route: &super::ModelRoute,
        fallback: &Fallback,
    ) -> Result<(), ConfigError> {
        let err = |field: String, message: String| ConfigError::new(crate::NAME, field, message);
        if route.to.len() != 1 {
            return Err(err(
                format!("models[{i}].fallback"),
                "a route with a fallback chain has exactly one target in `to` (the chain's first provider)".into(),
            ));
        }
        if fallback.to.is_empty() {
            return Err(err(
                format!("models[{i}].fallback.to"),
                "at least one provider to fall back to is required".into(),
            ));
        }
        if !is_cluster_name(&fallback.cluster) {
            return Err(err(
                format!("models[{i}].fallback.cluster"),
                "must be a cluster name of letters, digits, `_` and `-`".into(),
            ));
        }
        if let Some((name, _)) = config
            .providers
            .iter()
            .find(|(_, p)| p.cluster == fallback.cluster)
        {
            return Err(err(
                format!("models[{i}].fallback.cluster"),
                format!("`{}` is the cluster of the provider `{name}`; a chain needs a cluster of its own", fallback.cluster),
            ));
        }
        let mut seen: Vec<&str> = route.to.iter().map(|t| t.provider.as_str()).collect();
        for (j, target) in fallback.to.iter().enumerate() {
            let field = format!("models[{i}].fallback.to[{j}]");
            check_provider(config, format!("{field}.provider"), &target.provider)?;
            if seen.contains(&target.provider.as_str()) {
                return Err(err(
                    format!("{field}.provider"),
                    format!("`{}` is already in this chain", target.provider),
                ));
            }
            if target.weight != 1 {
                return Err(err(
                    format!("{field}.weight"),
                    "weights have no meaning in a fallback chain".into(),
                ));
            }
            seen.push(&target.provider);
        }
        Ok(())
    }

    fn compile_clients(policy: &ClientPolicy) -> Result<Clients, ConfigError> {
        let mut allowed = Vec::with_capacity(policy.allowed_models.len());
        for (client, models) in &policy.allowed_models {
            let patterns = models
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    Pattern::new(m).map_err(|e| {
                        ConfigError::new(
                            crate::NAME,
                            format!("clients.allowed_models.{client}[{i}]"),
                            e,
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            allowed.push((client.clone(), patterns, models.clone()));
        }
        Ok(Clients { allowed })
    }

    /// Whether `name` is a configured provider.
    pub fn has_provider(&self, name: &str) -> bool {
        self.config.providers.contains_key(name)
    }

    /// The header that names a provider outright.
    pub fn provider_header(&self) -> &str {
        &self.config.provider_header
    }

    /// Decides where a request for `model` goes. `provider` is the value of
    /// the provider header, `client` the authenticated client, and `seed`
    /// spreads weighted splits (a hash of the request id, so a retry picks
    /// the same). A client restricted by an allow-list that names a provider
    /// itself (header or prefix) must be allowed the model that provider is
    /// then asked for too, so that it cannot pick a model it may not use out
    /// of a route's other targets or fallbacks.
    pub fn decide(
        &self,
        model: Option<&str>,
        provider: Option<&str>,
        client: Option<&str>,
        seed: u64,
    ) -> Result<Decision, ApiError> {
        if let Some(model) = model {
            self.check_allowed(client, model)?;
        }
        let decision = self.decide_unchecked(model, provider, seed)?;
        let named = provider.is_some()
            || model.is_some_and(|m| m.split_once('/').is_some_and(|(p, _)| self.has_provider(p)));
        if named {
            self.check_allowed(client, &decision.target.upstream_model)?;
        }
        Ok(decision)
    }

    fn decide_unchecked(
        &self,
        model: Option<&str>,
        provider: Option<&str>,
        seed: u64,
    ) -> Result<Decision, ApiError> {
        if let Some(name) = provider {
            let Some(provider) = self.config.providers.get(name) else {
                return Err(ApiError::invalid(format!(
                    "The provider `{}` named in {} is not configured. Valid providers: {}.",
                    echo(name),
                    self.config.provider_header,
                    self.provider_names()
                ))
                .with_code("unknown_provider"));
            };
            let model = model.map(|m| m.strip_prefix(&format!("{name}/")).unwrap_or(m));
            let model = model.ok_or_else(Self::no_model)?;
            return Ok(self.target_on(name, provider, model, seed));
        }
        let model = model.ok_or_else(Self::no_model)?;
        if let Some((name, rest)) = model.split_once('/') {
            if let Some(provider) = self.config.providers.get(name) {
                return Ok(self.target_on(name, provider, rest, seed));
            }
        }
        if let Some(entry) = self.entry_for(model) {
            if let Some(decision) = self.table_decision(model, entry, seed) {
                return Ok(decision);
            }
        }
        match self.config.default_provider.as_deref().and_then(|n| self.config.providers.get_key_value(n)) {
            Some((name, provider)) => Ok(Self::direct(name, provider, model)),
            None => Err(ApiError::invalid(format!(
                "The model `{}` is not available. Available models: {}; or name a provider as a prefix: {}.",
                echo(model),
                self.model_names().join(", "),
                self.config.providers.keys().map(|p| format!("{p}/<model>")).collect::<Vec<_>>().join(", ")
            ))
            .with_param("model")
            .with_code("model_not_found")),
        }
    }

    /// The OpenAI-format model list for `GET /v1/models`: the models of the
    /// table (exact names), only those a restricted client may use.
    pub fn models_list(&self, client: Option<&str>) -> Value {
        let data: Vec<Value> = self
            .entries
            .iter()
            .filter_map(|r| Some((r.pattern.exact()?, r.targets.first()?)))
            .filter(|(name, _)| self.check_allowed(client, name).is_ok())
            .map(|(name, target)| json!({"id": name, "object": "model", "created": 0, "owned_by": target.provider}))
            .collect();
        json!({"object": "list", "data": data})
    }

    /// Whether `client` may use `model`. With allow-lists configured, a
    /// request without an identified client is refused (fail closed); a
    /// client not listed gets the `*` entry's models, or every model when
    /// there is none.
    fn check_allowed(&self, client: Option<&str>, model: &str) -> Result<(), ApiError> {
        let Some(clients) = &self.clients else {
            return Ok(());
        };
        let Some(client) = client else {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                "The gateway could not identify the client of this request, and models are allowed per client.",
            )
            .with_code("client_unidentified"));
        };
        let entry = |name: &str| clients.allowed.iter().find(|(c, _, _)| c == name);
        let Some((_, patterns, names)) = entry(client).or_else(|| entry(OTHER_CLIENTS)) else {
            return Ok(());
        };
        let bare = model.split_once('/').map_or(model, |(_, rest)| rest);
        if patterns.iter().any(|p| p.matches(model) || p.matches(bare)) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::PermissionDenied,
            format!(
                "The client `{}` may not use the model `{}`. Allowed models: {}.",
                echo(client),
                echo(model),
                names.join(", ")
            ),
        )
        .with_param("model")
        .with_code("model_not_allowed"))
    }

    /// The first exact entry for `model`, else the first glob that fits.
    fn entry_for(&self, model: &str) -> Option<&TableEntry> {
        self.entries
            .iter()
            .find(|r| r.pattern.exact() == Some(model))
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|r| r.pattern.exact().is_none() && r.pattern.matches(model))
            })
    }

    /// `model` on the named provider, on its own cluster (never a chain): the
    /// table's mapping for that provider if a route for the model has one,
    /// among its targets or its fallbacks, else the model as named.
    fn target_on(&self, name: &str, provider: &Provider, model: &str, seed: u64) -> Decision {
        self.entry_for(model)
            .and_then(|entry| {
                let fallbacks = entry.fallback.iter().flat_map(|f| &f.to);
                pick_weighted(
                    entry
                        .targets
                        .iter()
                        .chain(fallbacks)
                        .filter(|t| t.provider == name),
                    seed,
                )
            })
            .and_then(|target| self.target(model, target))
            .map(|target| Decision {
                cluster: provider.cluster.clone(),
                target,
                fallback: Vec::new(),
            })
            .unwrap_or_else(|| Self::direct(name, provider, model))
    }

    /// `model` served by an entry of the table: a weighted pick among its
    /// targets, or its fallback chain. `None` only if a target names an
    /// unknown provider, which validation at load rules out.
    fn table_decision(&self, model: &str, entry: &TableEntry, seed: u64) -> Option<Decision> {
        let target = self.target(model, pick_weighted(entry.targets.iter(), seed)?)?;
        match &entry.fallback {
            None => {
                let cluster = self.config.providers.get(&target.provider)?.cluster.clone();
                Some(Decision {
                    cluster,
                    target,
                    fallback: Vec::new(),
                })
            }
            Some(chain) => {
                let fallback = chain
                    .to
                    .iter()
                    .map(|t| self.target(model, t))
                    .collect::<Option<Vec<_>>>()?;
                Some(Decision {
                    cluster: chain.cluster.clone(),
                    target,
                    fallback,
                })
            }
        }
    }

    /// `model` on a table target, under the names that target gives it.
    fn target(&self, model: &str, target: &RouteTarget) -> Option<Target> {
        let provider = self.config.providers.get(&target.provider)?;
        let upstream_model = target.model.clone().unwrap_or_else(|| model.to_owned());
        let deployments = provider.kind.descriptor().deployments;
        Some(Target {
            provider: target.provider.clone(),
            kind: provider.kind,
            deployment: deployments.then(|| {
                target
                    .deployment
                    .clone()
                    .unwrap_or_else(|| upstream_model.clone())
            }),
            api_version: if deployments {
                target
                    .api_version
                    .clone()
                    .or_else(|| provider.api_version.clone())
            } else {
                None
            },
            upstream_model,
        })
    }

    /// `model` sent to a provider as named, on the provider's own cluster.
    fn direct(name: &str, provider: &Provider, model: &str) -> Decision {
        let deployments = provider.kind.descriptor().deployments;
        let target = Target {
            provider: name.to_owned(),
            kind: provider.kind,
            upstream_model: model.to_owned(),
            deployment: deployments.then(|| model.to_owned()),
            api_version: if deployments {
                provider.api_version.clone()
            } else {
                None
            },
        };
        Decision {
            cluster: provider.cluster.clone(),
            target,
            fallback: Vec::new(),
        }
    }

    fn no_model() -> ApiError {
        ApiError::invalid("The request names no model.")
            .with_param("model")
            .with_code("model_required")
    }

    fn provider_names(&self) -> String {
        self.config
            .providers
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn model_names(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|r| r.pattern.exact())
            .map(str::to_owned)
            .collect()
    }
}

/// Envoy cluster names the renderer can also use as YAML anchors and stat
/// names without quoting.
fn is_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Picks a target by weight: `seed` modulo the total weight falls into one
/// target's share.
fn pick_weighted<'a>(
    targets: impl Iterator<Item = &'a RouteTarget> + Clone,
    seed: u64,
) -> Option<&'a RouteTarget> {
    let total: u64 = targets.clone().map(|t| u64::from(t.weight)).sum();
    let mut point = seed % total.max(1);
    targets.into_iter().find(|t| {
        let weight = u64::from(t.weight);
        if point < weight {
            return true;
        }
        point -= weight;
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn router(extra: Value) -> Router {
        let mut config = json!({
            "providers": {
                "openai": {"kind": "openai", "cluster": "openai"},
                "anthropic": {"kind": "anthropic", "cluster": "anthropic"},
                "azure": {"kind": "azure", "cluster": "azure", "api_version": "2024-10-21"},
                "local": {"kind": "openai", "cluster": "vllm"}
            },
            "models": [
                {"match": "gpt-4o-mini", "to": [{"provider": "openai"}]},
                {"match": "claude-*", "to": [{"provider": "anthropic"}]},
                {"match": "claude-haiku", "to": [{"provider": "anthropic", "model": "claude-haiku-4-5"}]},
                {"match": "gpt-4o", "to": [{"provider": "openai", "weight": 3}, {"provider": "azure", "deployment": "gpt4o-eu", "weight": 1}]},
                {"match": "llama-*", "to": [{"provider": "local", "model": "meta-llama/Llama-3.1-8B"}]}
            ]
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        Router::new(serde_json::from_value(config).unwrap()).unwrap()
    }

    fn decide(r: &Router, model: &str) -> Result<Decision, ApiError> {
        r.decide(Some(model), None, None, 0)
    }

    #[test]
    fn exact_names_win_over_globs_and_map_the_upstream_model() {
        let r = router(json!({}));
        assert_eq!(
            decide(&r, "claude-haiku").unwrap().target.upstream_model,
            "claude-haiku-4-5"
        );
        let d = decide(&r, "claude-sonnet-4-5").unwrap();
        assert_eq!(
            (
                d.target.provider.as_str(),
                d.cluster.as_str(),
                d.target.upstream_model.as_str()
            ),
            ("anthropic", "anthropic", "claude-sonnet-4-5")
        );
        assert_eq!(
            decide(&r, "llama-3").unwrap().target.upstream_model,
            "meta-llama/Llama-3.1-8B"
        );
    }

    #[test]
    fn the_header_wins_then_the_prefix_then_the_table() {
        let r = router(json!({}));
        let d = r
            .decide(Some("gpt-4o-mini"), Some("anthropic"), None, 0)
            .unwrap();
        assert_eq!(
            (d.target.provider.as_str(), d.target.upstream_model.as_str()),
            ("anthropic", "gpt-4o-mini")
        );
        let d = r
            .decide(Some("anthropic/claude-haiku"), Some("anthropic"), None, 0)
            .unwrap();
        assert_eq!(
            d.target.upstream_model, "claude-haiku-4-5",
            "header plus its own prefix"
        );
        let d = decide(&r, "azure/gpt-4o").unwrap();
        assert_eq!(
            (
                d.target.provider.as_str(),
                d.target.deployment.as_deref(),
                d.target.api_version.as_deref()
            ),
            ("azure", Some("gpt4o-eu"), Some("2024-10-21"))
        );
        let d = decide(&r, "openai/o3").unwrap();
        assert_eq!(
            (d.target.provider.as_str(), d.target.upstream_model.as_str()),
            ("openai", "o3")
        );
        // A slash that is not a provider prefix is part of the model name.
        assert!(decide(&r, "meta/llama").is_err());
    }

    #[test]
    fn weighted_splits_follow_the_weights() {
        let r = router(json!({}));
        let azure = (0..4000u64)
            .filter(|seed| {
                r.decide(Some("gpt-4o"), None, None, *seed)
                    .unwrap()
                    .target
                    .provider
                    == "azure"
            })
            .count();
        assert_eq!(azure, 1000, "weights 3:1");
        assert_eq!(
            r.decide(Some("gpt-4o"), None, None, 7).unwrap(),
            r.decide(Some("gpt-4o"), None, None, 7).unwrap()
        );
    }

    #[test]
    fn unknown_models_and_providers_are_400s_that_list_the_choices() {
        let r = router(json!({}));
        let err = decide(&r, "gpt-5-ultra").unwrap_err();
        assert_eq!(
            (err.status(), err.param.as_deref(), err.code),
            (400, Some("model"), Some("model_not_found"))
        );
        assert!(
            err.message.contains("gpt-4o-mini, claude-haiku, gpt-4o")
                && err.message.contains("anthropic/<model>"),
            "{}",
            err.message
        );
        let err = r
            .decide(Some("gpt-4o"), Some("mistral"), None, 0)
            .unwrap_err();
        assert_eq!(err.code, Some("unknown_provider"));
        assert!(
            err.message.contains("anthropic, azure, local, openai"),
            "{}",
            err.message
        );
        assert_eq!(
            r.decide(None, None, None, 0).unwrap_err().code,
            Some("model_required")
        );
        let long = "x".repeat(10_000);
        assert!(
            decide(&r, &long).unwrap_err().message.len() < 1000,
            "echoed names are bounded"
        );
    }

    #[test]
    fn a_fallback_chain_routes_to_its_cluster_with_each_providers_names() {
        let r = router(
            json!({"models": [{"match": "gpt-4o-mini", "to": [{"provider": "openai"}],
            "fallback": {"cluster": "mini_chain", "to": [{"provider": "azure", "deployment": "mini-eu"}, {"provider": "anthropic", "model": "claude-haiku-4-5"}]}}]}),
        );
        let d = decide(&r, "gpt-4o-mini").unwrap();
        assert_eq!(
            (d.cluster.as_str(), d.target.provider.as_str()),
            ("mini_chain", "openai")
        );
        let names: Vec<_> = d
            .fallback
            .iter()
            .map(|t| {
                (
                    t.provider.as_str(),
                    t.upstream_model.as_str(),
                    t.deployment.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("azure", "gpt-4o-mini", Some("mini-eu")),
                ("anthropic", "claude-haiku-4-5", None)
            ]
        );
        assert_eq!(d.fallback[0].api_version.as_deref(), Some("2024-10-21"));
        // Naming a provider outright bypasses the chain.
        let d = decide(&r, "azure/gpt-4o-mini").unwrap();
        assert_eq!(
            (
                d.cluster.as_str(),
                d.target.deployment.as_deref(),
                d.fallback.len()
            ),
            ("azure", Some("mini-eu"), 0)
        );
        let d = r
            .decide(Some("gpt-4o-mini"), Some("openai"), None, 0)
            .unwrap();
        assert_eq!((d.cluster.as_str(), d.fallback.len()), ("openai", 0));
        // Targets travel to the translate stage as JSON.
        let json = serde_json::to_string(&d.target).unwrap();
        assert_eq!(
            json,
            r#"{"provider":"openai","kind":"openai","upstream_model":"gpt-4o-mini"}"#
        );
        assert_eq!(serde_json::from_str::<Target>(&json).unwrap(), d.target);
    }

    #[test]
    fn a_default_provider_takes_unknown_models() {
        let r = router(json!({"default_provider": "local"}));
        let d = decide(&r, "mistral-large").unwrap();
        assert_eq!(
            (d.target.provider.as_str(), d.target.upstream_model.as_str()),
            ("local", "mistral-large")
        );
    }

    #[test]
    fn allow_lists_give_403_and_filter_the_model_list() {
        let r =
            router(json!({"clients": {"allowed_models": {"intern": ["gpt-4o-mini", "claude-*"]}}}));
        assert!(r
            .decide(Some("claude-haiku"), None, Some("intern"), 0)
            .is_ok());
        assert!(r
            .decide(Some("anthropic/claude-haiku"), None, Some("intern"), 0)
            .is_ok());
        let err = r
            .decide(Some("gpt-4o"), None, Some("intern"), 0)
            .unwrap_err();
        assert_eq!((err.status(), err.code), (403, Some("model_not_allowed")));
        assert!(
            r.decide(Some("gpt-4o"), None, Some("someone-else"), 0)
                .is_ok(),
            "unlisted clients are not restricted"
        );
        let err = r.decide(Some("gpt-4o-mini"), None, None, 0).unwrap_err();
        assert_eq!(
            (err.status(), err.code),
            (403, Some("client_unidentified")),
            "no identity: fail closed"
        );
        let strict =
            router(json!({"clients": {"allowed_models": {"intern": ["gpt-4o-mini"], "*": []}}}));
        assert_eq!(
            strict
                .decide(Some("gpt-4o-mini"), None, Some("stranger"), 0)
                .unwrap_err()
                .code,
            Some("model_not_allowed")
        );
        let ids = |client| {
            r.models_list(client)["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(Some("intern")), ["gpt-4o-mini", "claude-haiku"]);
        assert_eq!(
            ids(Some("someone-else")),
            ["gpt-4o-mini", "claude-haiku", "gpt-4o"]
        );
        assert!(ids(None).is_empty(), "no identity: no models");
        assert_eq!(
            r.models_list(Some("someone-else"))["data"][0],
            json!({"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "openai"})
        );
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let bad = |config: Value| Router::new(serde_json::from_value(config).unwrap()).unwrap_err();
        let providers = json!({"openai": {"kind": "openai", "cluster": "openai"}});
        for (config, field) in [
            (
                json!({"providers": providers, "models": [{"match": "x", "to": [{"provider": "nope"}]}]}),
                "models[0].to[0].provider",
            ),
            (
                json!({"providers": providers, "models": [{"match": "x", "to": [{"provider": "openai", "weight": 0}]}]}),
                "models[0].to[0].weight",
            ),
            (
                json!({"providers": providers, "models": [{"match": "x", "to": []}]}),
                "models[0].to",
            ),
            (
                json!({"providers": providers, "default_provider": "nope"}),
                "default_provider",
            ),
            (json!({"providers": {}}), "providers"),
            (
                json!({"providers": {"a/b": {"kind": "openai", "cluster": "c"}}}),
                "providers.a/b",
            ),
            (
                json!({"providers": providers, "provider_header": "Bad Header"}),
                "provider_header",
            ),
        ] {
            assert_eq!(bad(config).field, field);
        }
        // Each chain with the field its error names, and what the message
        // says where it matters.
        let one = json!([{"provider": "openai"}]);
        for (to, fallback, field, message) in [
            (
                json!([{"provider": "openai"}, {"provider": "azure"}]),
                json!({"cluster": "chain", "to": [{"provider": "azure"}]}),
                "models[0].fallback",
                "",
            ),
            (
                one.clone(),
                json!({"cluster": "chain", "to": []}),
                "models[0].fallback.to",
                "",
            ),
            (
                one.clone(),
                json!({"cluster": "azure", "to": [{"provider": "azure"}]}),
                "models[0].fallback.cluster",
                "cluster of the provider `azure`",
            ),
            (
                one.clone(),
                json!({"cluster": "a b", "to": [{"provider": "azure"}]}),
                "models[0].fallback.cluster",
                "",
            ),
            (
                one.clone(),
                json!({"cluster": "chain", "to": [{"provider": "openai"}]}),
                "models[0].fallback.to[0].provider",
                "already in this chain",
            ),
            (
                one.clone(),
                json!({"cluster": "chain", "to": [{"provider": "gemini"}]}),
                "models[0].fallback.to[0].provider",
                "",
            ),
            (
                one,
                json!({"cluster": "chain", "to": [{"provider": "azure", "weight": 2}]}),
                "models[0].fallback.to[0].weight",
                "",
            ),
        ] {
            let err = bad(
                json!({"providers": {"openai": {"kind": "openai", "cluster": "openai"}, "azure": {"kind": "azure", "cluster": "azure"}},
                "models": [{"match": "m", "to": to, "fallback": fallback}]}),
            );
            assert!(err.field == field && err.message.contains(message), "{err}");
        }
    }
}
