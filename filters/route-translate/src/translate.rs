//! The `translate` role: runs as an upstream filter on a provider's cluster,
//! once per attempt, and turns the request into that provider's API and the
//! response (whole or streamed) back into the caller's.
//!
//! Envoy lets a filter change `:path` and headers only in its headers
//! callback, before the body. So the path and headers come from the route
//! stage's decision, read as facts at the headers (upstream model, stream
//! flag, Azure deployment and `api-version`), by translating a minimal request
//! that carries just those; the body is translated when it has arrived.
//!
//! On a fallback chain's cluster the provider differs from one attempt to
//! the next: the endpoint Envoy picked names it in its metadata, and the
//! route stage's `llm.fallback` fact gives that provider's model names.

use crate::config::TranslateConfig;
use crate::headers::{self, ACCOUNT_HEADERS};
use llm_api::fact::{FallbackChain, Target};
use llm_api::providers::credential_headers;
use llm_api::translate::HeaderEdits;
use llm_api::{
    translator, ApiError, ApiKind, ErrorKind, Fact, LlmRequest, TranslateOptions, Translator,
};
use serde_json::{json, Map, Value};
use wasm_glue::{Exchange, Flow, Host, LogLevel, Reply, Stage, StageStream};

/// Every fact the translate role reads. The route role publishes them in
/// the listener's module; where the translate role runs in a provider
/// cluster's upstream filter, that module must publish them to Envoy
/// (`envoy_facts`), which the renderer sees to.
pub const READS: [Fact; 7] = [
    Fact::RequestPath,
    Fact::Fallback,
    Fact::ModelUpstream,
    Fact::Provider,
    Fact::AzureDeployment,
    Fact::AzureApiVersion,
    Fact::Stream,
];

/// The `translate` role's stage.
pub struct TranslateStage {
    config: TranslateConfig,
}

impl TranslateStage {
    pub fn new(config: TranslateConfig) -> Self {
        TranslateStage { config }
    }
}

impl Stage for TranslateStage {
    fn name(&self) -> &'static str {
        "provider_translate"
    }

    fn publishes(&self) -> &'static [Fact] {
        &[Fact::AttemptProvider, Fact::AttemptModel]
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(TranslateStream {
            config: self.config.clone(),
            translator: None,
            credentials_refused: false,
        })
    }
}

struct TranslateStream {
    config: TranslateConfig,
    /// Set when the route stage's decision was found; without one (a request
    /// the bundle did not route) everything passes through.
    translator: Option<Box<dyn Translator>>,
    /// The provider refused the gateway's key (401 or 403): the client gets
    /// the gateway's own error instead of the provider's answer, which may
    /// quote a fragment of the key.
    credentials_refused: bool,
}

/// The smallest request of `api` that names `model` and `stream`: what the
/// upstream path and headers depend on.
pub(crate) fn skeleton(api: &ApiKind, model: &str, stream: bool) -> LlmRequest {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    match api {
        ApiKind::GeminiGenerate { .. } => {
            body.insert("contents".into(), json!([]));
        }
        ApiKind::GeminiEmbed { batch: true, .. } => {
            body.insert("requests".into(), json!([]));
        }
        ApiKind::GeminiEmbed { batch: false, .. } => {
            body.insert("content".into(), json!({"parts": []}));
        }
        ApiKind::Embeddings | ApiKind::AzureEmbeddings { .. } => {
            body.insert("input".into(), json!(""));
        }
        ApiKind::Responses => {
            body.insert("input".into(), json!(""));
        }
        _ => {
            body.insert("messages".into(), json!([]));
            body.insert("max_tokens".into(), json!(1));
        }
    }
    if stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    LlmRequest::from_object(body, Some(model.to_owned()), stream)
}

/// The endpoint metadata (`filter_metadata.llm.provider`) that names the
/// provider of a fallback chain's endpoint.
const ENDPOINT_METADATA: (&str, &str) = ("llm", "provider");

fn apply(edits: &HeaderEdits, set: &mut dyn FnMut(&str, Option<&str>)) {
    for name in &edits.remove {
        set(name, None);
    }
    for (name, value) in &edits.set {
        set(name, Some(value));
    }
}

impl TranslateStream {
    /// The provider this attempt reaches and its names for the model; `None`
    /// for a request the route stage did not route.
    fn attempt_target(&self, host: &dyn Host) -> Result<Option<Target>, ApiError> {
        if let Some(provider) =
            host.upstream_host_metadata(ENDPOINT_METADATA.0, ENDPOINT_METADATA.1)
        {
            let FallbackChain(chain) = host.json_fact().unwrap_or_default();
            return match chain.into_iter().find(|t| t.provider == provider) {
                Some(target) => Ok(Some(target)),
                None => Err(ApiError::new(
                    ErrorKind::Internal,
                    format!("The gateway reached the provider `{provider}`, which is not in this request's fallback chain."),
                )),
            };
        }
        let Some(upstream_model) = host.fact(Fact::ModelUpstream) else {
            return Ok(None);
        };
        let Some(kind) = self.config.provider else {
            return Err(ApiError::new(
                ErrorKind::Internal,
                "The gateway's cluster names no provider: neither the translate filter nor the endpoint's metadata.",
            ));
        };
        Ok(Some(Target {
            provider: host.fact(Fact::Provider).unwrap_or_default(),
            kind,
            upstream_model,
            deployment: host.fact(Fact::AzureDeployment),
            api_version: host.fact(Fact::AzureApiVersion),
        }))
    }
}

impl StageStream for TranslateStream {
    fn on_request_headers(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        // Provider key headers are cleared at the start of every attempt:
        // Envoy gives a retry the request headers as the previous attempt's
        // upstream filters left them, so an attempt on another provider
        // would otherwise carry the first provider's key along with its own.
        for name in credential_headers() {
            host.set_request_header(name, None);
        }
        // The client's API from the path it sent: on a retry `:path` is the
        // one the previous attempt rewrote for its provider.
        if let Some(path) = host.fact(Fact::RequestPath) {
            ex.api = ApiKind::classify("POST", &path);
        }
        let target = match self.attempt_target(host) {
            Ok(Some(target)) => target,
            Ok(None) => return Flow::Continue,
            Err(err) => {
                host.log(LogLevel::Error, &err.message);
                return Flow::Respond(Reply::error(&err, &ex.api));
            }
        };
        // Only the client headers this provider may get (crate::headers).
        let extra = self
            .config
            .forward_headers
            .get(&target.provider)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let dropped: Vec<String> = ex
            .request_headers()
            .filter(|(name, _)| !headers::forwarded(name, extra))
            .map(|(name, _)| name.to_owned())
            .collect();
        for name in &dropped {
            host.set_request_header(name, None);
        }
        // Which provider and model this attempt goes to: the key injection
        // of a fallback chain's cluster matches on the provider, and the
        // audit reports (and prices) what served the call.
        host.set_fact(Fact::AttemptProvider, &target.provider);
        host.set_fact(Fact::AttemptModel, &target.upstream_model);
        let stream = host.fact(Fact::Stream).as_deref() == Some("true");
        let mut options = TranslateOptions {
            azure_deployment: target.deployment,
            base_path: self.config.base_paths.get(&target.provider).cloned(),
            created: host.now_ms() / 1000,
            ..TranslateOptions::default()
        };
        if let Some(version) = target.api_version {
            options.azure_api_version = version;
        }
        let model = target.upstream_model;
        let mut translator = match translator(&ex.api, target.kind, &model, &options) {
            Ok(translator) => translator,
            Err(err) => return Flow::Respond(Reply::error(&err, &ex.api)),
        };
        match translator.request(&skeleton(&ex.api, &model, stream)) {
            Ok(upstream) => {
                host.set_request_header(":path", Some(&upstream.path));
                apply(&upstream.headers, &mut |name, value| {
                    host.set_request_header(name, value)
                });
            }
            Err(err) => {
                host.log(
                    LogLevel::Error,
                    &format!("no upstream path for {}: {err}", ex.api.name()),
                );
                return Flow::Respond(Reply::error(&err, &ex.api));
            }
        }
        self.translator = Some(translator);
        Flow::Continue
    }

    fn reads_request_body(&self, ex: &Exchange) -> bool {
        self.translator.is_some() && ex.api.has_json_body()
    }

    fn rewrites_request(&self, _ex: &Exchange) -> bool {
        self.translator.is_some()
    }

    fn on_request(&mut self, ex: &mut Exchange, _host: &mut dyn Host) -> Flow {
        let (Some(translator), Some(request)) = (self.translator.as_mut(), ex.request.as_ref())
        else {
            return Flow::Continue;
        };
        match translator.request(request) {
            Ok(upstream) => {
                if let Some(body) = upstream.body {
                    ex.replace_request_body(body);
                }
                Flow::Continue
            }
            Err(err) => Flow::Respond(Reply::error(&err, &ex.api)),
        }
    }

    fn on_response_headers(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        for name in ACCOUNT_HEADERS {
            host.set_response_header(name, None);
        }
        if let (Some(translator), Some(status)) = (self.translator.as_mut(), ex.response_status) {
            apply(&translator.response_headers(status), &mut |name, value| {
                host.set_response_header(name, value)
            });
            if matches!(status, 401 | 403) {
                // A gateway failure, not the client's: its own key was fine.
                self.credentials_refused = true;
                host.set_response_header(
                    ":status",
                    Some(&refused_credentials().status().to_string()),
                );
                host.log(
                    LogLevel::Error,
                    &format!("the provider refused the gateway's credentials (HTTP {status})"),
                );
            }
        }
        Flow::Continue
    }

    fn transforms_response(&self, _ex: &Exchange) -> bool {
        self.translator.is_some()
    }

    fn transform_response(
        &mut self,
        ex: &mut Exchange,
        body: &[u8],
        end_of_stream: bool,
        host: &mut dyn Host,
    ) -> Option<Vec<u8>> {
        let translator = self.translator.as_mut()?;
        if self.credentials_refused {
            return end_of_stream.then(|| refused_credentials().body(ex.api.dialect()));
        }
        let status = ex.response_status.unwrap_or(200);
        // Errors and JSON arrive whole (the pipeline buffers them); a
        // successful stream arrives chunk by chunk.
        if status >= 400 || !ex.response_is_stream() {
            match translator.response_body(body) {
                Ok(translated) => translated,
                Err(err) => {
                    host.log(
                        LogLevel::Warn,
                        &format!("untranslatable {status} response from the provider: {err}"),
                    );
                    Some(err.body(ex.api.dialect()))
                }
            }
        } else {
            translator.response_chunk(body, end_of_stream)
        }
    }
}

/// What the client reads when a provider refuses the gateway's key: a 502
/// that names no key and quotes nothing of the provider's answer.
fn refused_credentials() -> ApiError {
    ApiError::new(
        ErrorKind::BadGateway,
        "The provider refused the gateway's credentials for it; the gateway's operators must check its key.",
    )
    .with_code("provider_credentials_refused")
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_api::ProviderKind;

    /// The path and headers from the skeleton are those of a full request,
    /// for every pair the translators support.
    #[test]
    fn the_skeleton_gives_the_full_requests_path_and_headers() {
        let chat =
            json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5});
        let cases: Vec<(ApiKind, Value)> = vec![
            (ApiKind::ChatCompletions, chat.clone()),
            (
                ApiKind::AnthropicMessages,
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}),
            ),
            (ApiKind::Embeddings, json!({"model": "m", "input": "Hi"})),
            (ApiKind::Responses, json!({"model": "m", "input": "Hi"})),
            (
                ApiKind::GeminiGenerate {
                    model: "m".into(),
                    stream: false,
                },
                json!({"contents": [{"parts": [{"text": "Hi"}]}]}),
            ),
            (
                ApiKind::GeminiEmbed {
                    model: "m".into(),
                    batch: true,
                },
                json!({"requests": [{"content": {"parts": [{"text": "Hi"}]}}]}),
            ),
            (
                ApiKind::GeminiEmbed {
                    model: "m".into(),
                    batch: false,
                },
                json!({"content": {"parts": [{"text": "Hi"}]}}),
            ),
        ];
        let options = TranslateOptions {
            azure_deployment: Some("dep".into()),
            ..TranslateOptions::default()
        };
        let mut checked = 0;
        for (api, body) in cases {
            for provider in ProviderKind::ALL {
                for stream in [false, true] {
                    let Ok(mut t) = translator(&api, provider, "up-model", &options) else {
                        continue;
                    };
                    let mut full = body.clone();
                    if stream {
                        full["stream"] = json!(true);
                    }
                    let Value::Object(map) = full else {
                        unreachable!()
                    };
                    let full = LlmRequest::from_object(map, Some("m".into()), stream);
                    let from_skeleton = t.request(&skeleton(&api, "up-model", stream)).unwrap();
                    let from_full = t.request(&full).unwrap();
                    assert_eq!(
                        from_skeleton.path, from_full.path,
                        "{api:?} -> {provider:?} stream={stream}"
                    );
                    assert_eq!(
                        from_skeleton.headers, from_full.headers,
                        "{api:?} -> {provider:?} stream={stream}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "only {checked} pairs checked");
    }
}
