//! The `route` role: decides the provider, model and cluster of a request,
//! answers `GET /v1/models`, and enforces per-client model allow-lists.

use crate::routing::Router;
use llm_api::fact::{FallbackChain, PiiRoute};
use llm_api::{ApiError, ApiKind, ErrorKind, Fact};
use std::rc::Rc;
use wasm_glue::{Exchange, Flow, Host, LogLevel, Reply, Stage, StageStream};

/// The `route` role's stage.
pub struct RouteStage {
    router: Rc<Router>,
}

impl RouteStage {
    pub fn new(router: Router) -> Self {
        RouteStage {
            router: Rc::new(router),
        }
    }
}

impl Stage for RouteStage {
    fn name(&self) -> &'static str {
        "provider_route"
    }

    fn publishes(&self) -> &'static [Fact] {
        &[
            Fact::RequestPath,
            Fact::Provider,
            Fact::Stream,
            Fact::ModelUpstream,
            Fact::AzureDeployment,
            Fact::AzureApiVersion,
            Fact::Fallback,
            Fact::Cluster,
        ]
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(RouteStream {
            router: self.router.clone(),
        })
    }
}

struct RouteStream {
    router: Rc<Router>,
}

/// FNV-1a of the request id: spreads weighted splits evenly while keeping a
/// retry of the same request on the same choice.
fn seed(request_id: Option<&str>) -> u64 {
    request_id
        .unwrap_or_default()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

impl StageStream for RouteStream {
    /// Publishes the decision once the whole request is known. Envoy's route
    /// table matches the `wasm.llm.cluster` filter state; the `buffer` filter
    /// after the bundle holds the router until this has run. Clients cannot
    /// forge filter state, so nothing needs stripping.
    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        let client = ex.client_id();
        if ex.api == ApiKind::Models {
            let list = self.router.models_list(client);
            return Flow::Respond(Reply::json(200, list.to_string().into_bytes()));
        }
        if ex.api == ApiKind::Other {
            return Flow::Continue;
        }
        if ex.api == ApiKind::GatewayUsage {
            // The token-limit stage answers it before this one; without it
            // there are no limits to report, and no provider serves it.
            let err = ApiError::new(ErrorKind::NotFound, "This gateway enforces no limits.")
                .with_code("usage_not_available");
            return Flow::Respond(Reply::error(&err, &ex.api));
        }
        let mut model = ex.request.as_ref().and_then(|r| r.model.clone());
        let mut provider = ex
            .request_header(self.router.provider_header())
            .map(str::to_owned);
        // The pii-scan stage's `route` action: requests holding the
        // configured entity types go to its provider (and model), whatever
        // the client or the table chose.
        if let Some(to) = host.json_fact::<PiiRoute>() {
            if !self.router.has_provider(&to.provider) {
                let err = ApiError::new(
                    ErrorKind::Internal,
                    format!("The PII policy routes this request to the provider `{}`, which is not configured.", to.provider),
                );
                host.log(LogLevel::Error, &err.message);
                return Flow::Respond(Reply::error(&err, &ex.api));
            }
            if let Some(routed_model) = to.model {
                model = Some(routed_model);
            }
            provider = Some(to.provider);
        }
        let decision = match self.router.decide(
            model.as_deref(),
            provider.as_deref(),
            client,
            seed(ex.request_header("x-request-id")),
        ) {
            Ok(decision) => decision,
            Err(err) => return Flow::Respond(Reply::error(&err, &ex.api)),
        };
        let target = &decision.target;
        // The client's path, for the translate stage: a retry reaches it with
        // `:path` as the previous attempt rewrote it. Without the query,
        // which may hold a Gemini client's key.
        let path = ex.request_header(":path").unwrap_or_default();
        host.set_fact(
            Fact::RequestPath,
            path.split(['?', '#']).next().unwrap_or_default(),
        );
        host.set_fact(Fact::Provider, &target.provider);
        host.set_fact(
            Fact::Stream,
            if ex.request.as_ref().is_some_and(|r| r.stream) {
                "true"
            } else {
                "false"
            },
        );
        host.set_fact(Fact::ModelUpstream, &target.upstream_model);
        if let Some(deployment) = &target.deployment {
            host.set_fact(Fact::AzureDeployment, deployment);
        }
        if let Some(api_version) = &target.api_version {
            host.set_fact(Fact::AzureApiVersion, api_version);
        }
        if !decision.fallback.is_empty() {
            // The chain in order, for the translate stage on the chain's
            // cluster: each attempt looks up the provider it reached.
            let chain = std::iter::once(target).chain(&decision.fallback);
            host.set_json_fact(&FallbackChain(chain.cloned().collect()));
        }
        host.set_fact(Fact::Cluster, &decision.cluster);
        host.clear_route_cache();
        Flow::Continue
    }
}
