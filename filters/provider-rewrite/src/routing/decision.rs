//! The compiled routing table and the decision it makes per request.

use super::pattern::Pattern;
use super::{ClientPolicy, RouteConfig, RouteTarget};
use crate::config::Provider;
use llm_api::{ApiError, ErrorKind, ProviderKind};
use serde_json::{json, Value};
use wasm_glue::config::check_header_name;
use wasm_glue::ConfigError;

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub provider: String,
    pub kind: ProviderKind,
    pub cluster: String,
    /// The model name the provider is asked for.
    pub upstream_model: String,
    /// Azure OpenAI only: the deployment and `api-version`.
    pub deployment: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Debug)]
struct Route {
    pattern: Pattern,
    targets: Vec<RouteTarget>,
}

#[derive(Debug)]
struct Clients {
    header: String,
    allowed: Vec<(String, Vec<Pattern>, Vec<String>)>,
}

/// The validated, compiled `route` configuration.
#[derive(Debug)]
pub struct Router {
    config: RouteConfig,
    routes: Vec<Route>,
    clients: Option<Clients>,
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
            return Err(err("providers".into(), "at least one provider is required".into()));
        }
        for (name, provider) in &config.providers {
            if provider.cluster.is_empty() {
                return Err(err(format!("providers.{name}.cluster"), "must not be empty".into()));
            }
            if name.contains('/') {
                return Err(err(format!("providers.{name}"), "a provider name cannot contain `/`".into()));
            }
        }
        let known = |name: &str| config.providers.contains_key(name);
        let choices = config.providers.keys().cloned().collect::<Vec<_>>().join(", ");
        if let Some(default) = &config.default_provider {
            if !known(default) {
                return Err(err("default_provider".into(), format!("`{default}` is not one of the providers: {choices}")));
            }
        }
        check_header_name(crate::NAME, "provider_header", &config.provider_header)?;
        let mut routes = Vec::with_capacity(config.models.len());
        for (i, route) in config.models.iter().enumerate() {
            let pattern = Pattern::new(&route.pattern).map_err(|e| err(format!("models[{i}].match"), e))?;
            if route.to.is_empty() {
                return Err(err(format!("models[{i}].to"), "at least one target is required".into()));
            }
            for (j, target) in route.to.iter().enumerate() {
                if !known(&target.provider) {
                    return Err(err(
                        format!("models[{i}].to[{j}].provider"),
                        format!("`{}` is not one of the providers: {choices}", target.provider),
                    ));
                }
                if target.weight == 0 {
                    return Err(err(format!("models[{i}].to[{j}].weight"), "must be positive".into()));
                }
            }
            routes.push(Route { pattern, targets: route.to.clone() });
        }
        let clients = config.clients.as_ref().map(Self::compile_clients).transpose()?;
        Ok(Router { config, routes, clients })
    }

    fn compile_clients(policy: &ClientPolicy) -> Result<Clients, ConfigError> {
        check_header_name(crate::NAME, "clients.header", &policy.header)?;
        let mut allowed = Vec::with_capacity(policy.allowed_models.len());
        for (client, models) in &policy.allowed_models {
            let patterns = models
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    Pattern::new(m)
                        .map_err(|e| ConfigError::new(crate::NAME, format!("clients.allowed_models.{client}[{i}]"), e))
                })
                .collect::<Result<_, _>>()?;
            allowed.push((client.clone(), patterns, models.clone()));
        }
        Ok(Clients { header: policy.header.clone(), allowed })
    }

    /// The header that names a provider outright.
    pub fn provider_header(&self) -> &str {
        &self.config.provider_header
    }

    /// The header that names the client for allow-lists, if any are set.
    pub fn client_header(&self) -> Option<&str> {
        self.clients.as_ref().map(|c| c.header.as_str())
    }

    /// Decides where a request for `model` goes. `provider` is the value of
    /// the provider header, `client` the client's name, and `seed` spreads
    /// weighted splits (a hash of the request id, so a retry picks the same).
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
        if let Some(target) = self.route_for(model).and_then(|r| pick_weighted(r.targets.iter(), seed)) {
            return self
                .decision(model, target)
                .ok_or_else(|| ApiError::new(ErrorKind::Internal, "The routing table names an unknown provider."));
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
            .routes
            .iter()
            .filter_map(|r| Some((r.pattern.exact()?, r.targets.first()?)))
            .filter(|(name, _)| self.check_allowed(client, name).is_ok())
            .map(|(name, target)| json!({"id": name, "object": "model", "created": 0, "owned_by": target.provider}))
            .collect();
        json!({"object": "list", "data": data})
    }

    fn check_allowed(&self, client: Option<&str>, model: &str) -> Result<(), ApiError> {
        let Some(clients) = &self.clients else { return Ok(()) };
        let Some(client) = client else { return Ok(()) };
        let Some((_, patterns, names)) = clients.allowed.iter().find(|(c, _, _)| c == client) else {
            return Ok(());
        };
        let bare = model.split_once('/').map_or(model, |(_, rest)| rest);
        if patterns.iter().any(|p| p.matches(model) || p.matches(bare)) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::PermissionDenied,
            format!("The client `{}` may not use the model `{}`. Allowed models: {}.", echo(client), echo(model), names.join(", ")),
        )
        .with_param("model")
        .with_code("model_not_allowed"))
    }

    /// The first exact route for `model`, else the first glob that fits.
    fn route_for(&self, model: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.pattern.exact() == Some(model))
            .or_else(|| self.routes.iter().find(|r| r.pattern.exact().is_none() && r.pattern.matches(model)))
    }

    /// `model` on the named provider: the table's mapping for that provider
    /// if a route for the model has one, else the model as named.
    fn target_on(&self, name: &str, provider: &Provider, model: &str, seed: u64) -> Decision {
        self.route_for(model)
            .and_then(|route| pick_weighted(route.targets.iter().filter(|t| t.provider == name), seed))
            .and_then(|target| self.decision(model, target))
            .unwrap_or_else(|| Self::direct(name, provider, model))
    }

    /// `model` served by a table target; `None` only if the target names an
    /// unknown provider, which validation at load rules out.
    fn decision(&self, model: &str, target: &RouteTarget) -> Option<Decision> {
        let provider = self.config.providers.get(&target.provider)?;
        let upstream_model = target.model.clone().unwrap_or_else(|| model.to_owned());
        let azure = provider.kind == ProviderKind::Azure;
        Some(Decision {
            provider: target.provider.clone(),
            kind: provider.kind,
            cluster: provider.cluster.clone(),
            deployment: azure.then(|| target.deployment.clone().unwrap_or_else(|| upstream_model.clone())),
            api_version: if azure { target.api_version.clone().or_else(|| provider.api_version.clone()) } else { None },
            upstream_model,
        })
    }

    fn direct(name: &str, provider: &Provider, model: &str) -> Decision {
        let azure = provider.kind == ProviderKind::Azure;
        Decision {
            provider: name.to_owned(),
            kind: provider.kind,
            cluster: provider.cluster.clone(),
            upstream_model: model.to_owned(),
            deployment: azure.then(|| model.to_owned()),
            api_version: if azure { provider.api_version.clone() } else { None },
        }
    }

    fn no_model() -> ApiError {
        ApiError::invalid("The request names no model.").with_param("model").with_code("model_required")
    }

    fn provider_names(&self) -> String {
        self.config.providers.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    fn model_names(&self) -> Vec<String> {
        self.routes.iter().filter_map(|r| r.pattern.exact()).map(str::to_owned).collect()
    }
}

/// Picks a target by weight: `seed` modulo the total weight falls into one
/// target's share.
fn pick_weighted<'a>(targets: impl Iterator<Item = &'a RouteTarget> + Clone, seed: u64) -> Option<&'a RouteTarget> {
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
        assert_eq!(decide(&r, "claude-haiku").unwrap().upstream_model, "claude-haiku-4-5");
        let d = decide(&r, "claude-sonnet-4-5").unwrap();
        assert_eq!((d.provider.as_str(), d.cluster.as_str(), d.upstream_model.as_str()), ("anthropic", "anthropic", "claude-sonnet-4-5"));
        assert_eq!(decide(&r, "llama-3").unwrap().upstream_model, "meta-llama/Llama-3.1-8B");
    }

    #[test]
    fn the_header_wins_then_the_prefix_then_the_table() {
        let r = router(json!({}));
        let d = r.decide(Some("gpt-4o-mini"), Some("anthropic"), None, 0).unwrap();
        assert_eq!((d.provider.as_str(), d.upstream_model.as_str()), ("anthropic", "gpt-4o-mini"));
        let d = r.decide(Some("anthropic/claude-haiku"), Some("anthropic"), None, 0).unwrap();
        assert_eq!(d.upstream_model, "claude-haiku-4-5", "header plus its own prefix");
        let d = decide(&r, "azure/gpt-4o").unwrap();
        assert_eq!((d.provider.as_str(), d.deployment.as_deref(), d.api_version.as_deref()), ("azure", Some("gpt4o-eu"), Some("2024-10-21")));
        let d = decide(&r, "openai/o3").unwrap();
        assert_eq!((d.provider.as_str(), d.upstream_model.as_str()), ("openai", "o3"));
        // A slash that is not a provider prefix is part of the model name.
        assert!(decide(&r, "meta/llama").is_err());
    }

    #[test]
    fn weighted_splits_follow_the_weights() {
        let r = router(json!({}));
        let azure = (0..4000u64).filter(|seed| r.decide(Some("gpt-4o"), None, None, *seed).unwrap().provider == "azure").count();
        assert_eq!(azure, 1000, "weights 3:1");
        assert_eq!(r.decide(Some("gpt-4o"), None, None, 7).unwrap(), r.decide(Some("gpt-4o"), None, None, 7).unwrap());
    }

    #[test]
    fn unknown_models_and_providers_are_400s_that_list_the_choices() {
        let r = router(json!({}));
        let err = decide(&r, "gpt-5-ultra").unwrap_err();
        assert_eq!((err.status(), err.param.as_deref(), err.code), (400, Some("model"), Some("model_not_found")));
        assert!(err.message.contains("gpt-4o-mini, claude-haiku, gpt-4o") && err.message.contains("anthropic/<model>"), "{}", err.message);
        let err = r.decide(Some("gpt-4o"), Some("mistral"), None, 0).unwrap_err();
        assert_eq!(err.code, Some("unknown_provider"));
        assert!(err.message.contains("anthropic, azure, local, openai"), "{}", err.message);
        assert_eq!(r.decide(None, None, None, 0).unwrap_err().code, Some("model_required"));
        let long = "x".repeat(10_000);
        assert!(decide(&r, &long).unwrap_err().message.len() < 1000, "echoed names are bounded");
    }

    #[test]
    fn a_default_provider_takes_unknown_models() {
        let r = router(json!({"default_provider": "local"}));
        let d = decide(&r, "mistral-large").unwrap();
        assert_eq!((d.provider.as_str(), d.upstream_model.as_str()), ("local", "mistral-large"));
    }

    #[test]
    fn allow_lists_give_403_and_filter_the_model_list() {
        let r = router(json!({"clients": {"header": "x-client-id", "allowed_models": {"intern": ["gpt-4o-mini", "claude-*"]}}}));
        assert!(r.decide(Some("claude-haiku"), None, Some("intern"), 0).is_ok());
        assert!(r.decide(Some("anthropic/claude-haiku"), None, Some("intern"), 0).is_ok());
        let err = r.decide(Some("gpt-4o"), None, Some("intern"), 0).unwrap_err();
        assert_eq!((err.status(), err.code), (403, Some("model_not_allowed")));
        assert!(r.decide(Some("gpt-4o"), None, Some("someone-else"), 0).is_ok(), "unlisted clients are not restricted");
        let ids = |client| {
            r.models_list(client)["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(ids(Some("intern")), ["gpt-4o-mini", "claude-haiku"]);
        assert_eq!(ids(None), ["gpt-4o-mini", "claude-haiku", "gpt-4o"]);
        assert_eq!(r.models_list(None)["data"][0], json!({"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "openai"}));
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let bad = |config: Value| Router::new(serde_json::from_value(config).unwrap()).unwrap_err();
        let providers = json!({"openai": {"kind": "openai", "cluster": "openai"}});
        let err = bad(json!({"providers": providers, "models": [{"match": "x", "to": [{"provider": "nope"}]}]}));
        assert_eq!(err.field, "models[0].to[0].provider");
        let err = bad(json!({"providers": providers, "models": [{"match": "x", "to": [{"provider": "openai", "weight": 0}]}]}));
        assert_eq!(err.field, "models[0].to[0].weight");
        let err = bad(json!({"providers": providers, "models": [{"match": "x", "to": []}]}));
        assert_eq!(err.field, "models[0].to");
        let err = bad(json!({"providers": providers, "default_provider": "nope"}));
        assert_eq!(err.field, "default_provider");
        let err = bad(json!({"providers": {}}));
        assert_eq!(err.field, "providers");
        let err = bad(json!({"providers": {"a/b": {"kind": "openai", "cluster": "c"}}}));
        assert_eq!(err.field, "providers.a/b");
        let err = bad(json!({"providers": providers, "provider_header": "Bad Header"}));
        assert_eq!(err.field, "provider_header");
    }
}
