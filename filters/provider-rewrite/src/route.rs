//! The `route` role: decides the provider and selects its cluster.

use crate::config::{Provider, ProviderKind, RouteConfig};
use llm_api::ApiKind;
use std::rc::Rc;
use wasm_glue::{Exchange, Flow, Host, Stage, StageStream};

pub struct Route {
    config: Rc<RouteConfig>,
}

impl Route {
    pub fn new(config: RouteConfig) -> Self {
        Route { config: Rc::new(config) }
    }
}

impl Stage for Route {
    fn name(&self) -> &'static str {
        "provider_route"
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(RouteStream { config: self.config.clone() })
    }
}

struct RouteStream {
    config: Rc<RouteConfig>,
}

impl RouteStream {
    /// The provider for a request, from the API the client speaks; `None`
    /// only for a configuration that failed validation.
    fn decide(&self, api: &ApiKind) -> Option<(&str, &Provider)> {
        let kind = match api {
            ApiKind::AnthropicMessages => Some(ProviderKind::Anthropic),
            ApiKind::GeminiGenerate { .. } | ApiKind::GeminiEmbed { .. } => Some(ProviderKind::Gemini),
            ApiKind::AzureChatCompletions { .. } | ApiKind::AzureEmbeddings { .. } => Some(ProviderKind::Azure),
            _ => None,
        };
        kind.and_then(|kind| self.config.provider_of_kind(kind)).or_else(|| self.config.default())
    }
}

impl StageStream for RouteStream {
    /// Publishes the provider and its cluster once the whole request is known.
    /// Envoy's route table matches the `wasm.llm.cluster` filter state; the
    /// `buffer` filter after the suite holds the router until this has run.
    /// Clients cannot forge filter state, so no header needs stripping.
    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        if ex.api == ApiKind::Other {
            return Flow::Continue;
        }
        let Some((name, provider)) = self.decide(&ex.api) else { return Flow::Continue };
        host.set_fact("llm.provider", name);
        host.set_fact("llm.cluster", &provider.cluster);
        host.clear_route_cache();
        Flow::Continue
    }
}
