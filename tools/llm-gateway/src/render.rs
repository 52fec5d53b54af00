//! Renders the Envoy config templates in `envoy/`.
//!
//! The templates are plain Envoy YAML with placeholders, so that one file per
//! deployment says everything Envoy does, while the filter configurations
//! (`envoy/filters/*.json`) and the choice between the bundle and the four
//! separate modules live in one place:
//!
//! - `${NAME}` and `${NAME:-default}`: a variable;
//! - a line holding only `${LLM_FILTERS}`: the downstream wasm filters;
//! - a line holding only `${UPSTREAM_FILTERS:<provider>}`: the upstream filters
//!   of a provider's cluster: the translate filter for the provider's API (its
//!   `kind` in the filter configuration), Envoy's `credential_injector` with
//!   the provider's key from `${SECRETS_DIR}/<provider>-key.yaml` (an SDS file;
//!   the directory is watched, so a key rotates by replacing its file), and
//!   `upstream_codec`;
//! - a line holding only `${UPSTREAM_TLS:<name>}`: a TLS `transport_socket`
//!   (anchored as `&<name>_tls`) when the variable `<NAME>_TLS_SNI` is set,
//!   else nothing;
//! - lines holding only `${RATE_LIMIT_FILTER}` (after the bundle's filters)
//!   and `${RATE_LIMIT_CLUSTER}` (in the cluster list): when `token_limit`
//!   has a `global` section, Envoy's `ratelimit` filter charging the
//!   rate-limit service the token counts the bundle publishes, and the
//!   service's cluster (`${RATELIMIT_HOST}:${RATELIMIT_PORT}`); else nothing;
//! - lines holding only `${FALLBACK_ROUTES}` (in the route list) and
//!   `${FALLBACK_CLUSTERS}` (in the cluster list, after the provider
//!   clusters): a route and a cluster for each fallback chain of the route
//!   configuration (`models[].fallback`). The chain's cluster has one
//!   priority level per provider, in chain order, and its route retries on
//!   the next level each time (`previous_priorities`). Its endpoints reuse
//!   the provider clusters' own, which the template anchors as
//!   `&<provider>_endpoint` (and their TLS as `&<provider>_tls`, their
//!   outlier detection as `&outliers`, the internal headers to remove as
//!   `&internal`), so that an address is written once.
//!
//! Generated filters are written as one-line JSON, which is valid YAML at any
//! indentation.

// Indexing here is into `serde_json::Value`s (the filter configuration and
// the JSON this module builds): reading an absent member gives `Null` and
// never panics, and members are written only into objects built here.
#![allow(clippy::indexing_slicing)]

use llm_api::providers::Credential;
use llm_api::{Fact, ProviderKind};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use wasm_glue::config::{CLIENT_IDENTITY_KEY, ENVOY_FACTS_KEY, PRICES_KEY};
use wasm_glue::teams::TEAMS_KEY;

/// How the bundle's filters are loaded into Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One module running every stage: one VM, one parse per body.
    Bundle,
    /// Each filter's own module, one after the other.
    Separate,
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bundle" => Ok(Layout::Bundle),
            "separate" => Ok(Layout::Separate),
            _ => Err(format!("unknown layout `{s}` (bundle or separate)")),
        }
    }
}

/// The bundle's module and the name of its VM, shared by the downstream and
/// upstream instances so that they run in one VM per worker.
pub(crate) const BUNDLE_WASM: &str = "llm_gateway_bundle.wasm";
pub(crate) const BUNDLE_NAME: &str = "llm_gateway";

/// The `@type` of Envoy's wasm HTTP filter configuration.
pub(crate) const WASM_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/// Where the production layout keeps secrets (`SECRETS_DIR` overrides it).
const DEFAULT_SECRETS_DIR: &str = "/etc/llm-gateway/secrets";

/// The settings of the filter configuration's top level that every module
/// shares (`wasm_glue::config::ModuleSettings`).
const SHARED_SETTINGS: [&str; 3] = [CLIENT_IDENTITY_KEY, TEAMS_KEY, PRICES_KEY];

/// The separate modules, in chain order: (configuration section, module).
pub(crate) const MODULES: [(&str, &str); 4] = [
    ("audit", "audit.wasm"),
    ("pii_scan", "pii_scan.wasm"),
    ("token_limit", "token_limit.wasm"),
    ("route_translate", "route_translate.wasm"),
];

/// Everything a template is rendered with.
#[derive(Debug, Clone)]
pub struct Template {
    pub template: PathBuf,
    /// The bundle-shaped filter configuration: one section per filter.
    pub filters: Value,
    pub layout: Layout,
    pub wasm_dir: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl Template {
    /// A template with its filter configuration read from `filters_path`.
    pub fn load(
        template: &Path,
        filters_path: &Path,
        layout: Layout,
        wasm_dir: &Path,
    ) -> Result<Template, String> {
        let text = std::fs::read_to_string(filters_path)
            .map_err(|e| format!("{}: {e}", filters_path.display()))?;
        let mut filters: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", filters_path.display()))?;
        if let Value::Object(sections) = &mut filters {
            route_translate::unalias_section(sections)
                .map_err(|e| format!("{}: {e}", filters_path.display()))?;
        }
        Ok(Template {
            template: template.to_owned(),
            filters,
            layout,
            wasm_dir: wasm_dir.to_owned(),
            vars: BTreeMap::new(),
        })
    }

    pub fn set(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.vars.insert(name.to_owned(), value.to_string());
        self
    }

    pub fn render(&self) -> Result<String, String> {
        let text = std::fs::read_to_string(&self.template)
            .map_err(|e| format!("{}: {e}", self.template.display()))?;
        self.render_text(&text)
            .map_err(|e| format!("{}: {e}", self.template.display()))
    }

    /// Renders and writes the config to `out`.
    pub fn write(&self, out: &Path) -> Result<(), String> {
        let rendered = self.render()?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(out, rendered).map_err(|e| format!("{}: {e}", out.display()))
    }

    /// Renders `text`. In the bundle layout it renders twice: once to learn
    /// which facts the config reads (access logs, route matches, matchers,
    /// descriptors: every `wasm.llm.*` name outside comments, and the facts
    /// the upstream translate filters read when there are any), then with
    /// the bundle's `envoy_facts` set to them, so that the listener's module
    /// publishes no fact that nothing reads (each costs a host call a
    /// request). The separate layout's modules read each other's facts
    /// through Envoy, so they publish every fact.
    fn render_text(&self, text: &str) -> Result<String, String> {
        let rendered = self.render_pass(text, None)?;
        if self.layout != Layout::Bundle {
            return Ok(rendered);
        }
        let mut read = facts_read_by(&rendered);
        if has_translate_role(&rendered) {
            read.extend(route_translate::TRANSLATE_READS);
        }
        self.render_pass(text, Some(&read))
    }

    /// One rendering of `text`, with the bundle's `envoy_facts` when given.
    fn render_pass(
        &self,
        text: &str,
        envoy_facts: Option<&BTreeSet<Fact>>,
    ) -> Result<String, String> {
        let mut out = String::with_capacity(text.len() * 2);
        for (number, line) in text.lines().enumerate() {
            // Comments are copied as they are: they may describe placeholders.
            if line.trim_start().starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            let directive = line
                .trim()
                .strip_prefix("${")
                .and_then(|d| d.strip_suffix('}'))
                .unwrap_or_default();
            let generated = if directive == "LLM_FILTERS" {
                Some(self.downstream_filters(envoy_facts)?)
            } else if let Some(kind) = directive.strip_prefix("UPSTREAM_FILTERS:") {
                Some(self.upstream_filters(kind)?)
            } else if let Some(name) = directive.strip_prefix("UPSTREAM_TLS:") {
                Some(self.upstream_tls(name)?)
            } else if directive == "RATE_LIMIT_FILTER" {
                Some(self.rate_limit_filter()?)
            } else if directive == "RATE_LIMIT_CLUSTER" {
                Some(self.rate_limit_cluster()?)
            } else if directive == "FALLBACK_ROUTES" {
                Some(self.fallback_routes(&out)?)
            } else if directive == "FALLBACK_CLUSTERS" {
                Some(self.fallback_clusters(&out)?)
            } else {
                None
            };
            match generated {
                Some(lines) => {
                    for generated in lines {
                        out.push_str(indent);
                        out.push_str(&generated);
                        out.push('\n');
                    }
                }
                None => {
                    let line = self
                        .substitute(line)
                        .map_err(|e| format!("line {}: {e}", number + 1))?;
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    /// Replaces `${NAME}` and `${NAME:-default}` in one line; a default may
    /// itself hold placeholders.
    fn substitute(&self, line: &str) -> Result<String, String> {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end =
                Self::closing_brace(after).ok_or_else(|| format!("unclosed `${{` in `{line}`"))?;
            let (name, default) = match after[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&after[..end], None),
            };
            match (self.vars.get(name), default) {
                (Some(value), _) => out.push_str(value),
                (None, Some(default)) => out.push_str(&self.substitute(default)?),
                (None, None) => return Err(format!("variable `{name}` is not set")),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The index of the `}` closing a placeholder whose `${` precedes `text`.
    fn closing_brace(text: &str) -> Option<usize> {
        let mut depth = 0usize;
        for (i, c) in text.char_indices() {
            match c {
                '{' if text[..i].ends_with('$') => depth += 1,
                '}' if depth == 0 => return Some(i),
                '}' => depth -= 1,
                _ => {}
            }
        }
        None
    }

    fn section(&self, name: &str) -> Option<&Value> {
        self.filters.get(name)
    }

    fn wasm_filter(&self, name: &str, vm_id: &str, module: &str, configuration: &Value) -> Value {
        let filename = self.wasm_dir.join(module);
        json!({
            "name": name,
            "typed_config": {
                "@type": WASM_FILTER_TYPE,
                "config": {
                    "name": name,
                    "root_id": name,
                    "vm_config": {
                        "vm_id": vm_id,
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": {"local": {"filename": filename.to_string_lossy()}}
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": configuration.to_string()
                    },
                    // A failed VM must not let traffic bypass PII scanning,
                    // limits or the audit: the request that met it fails (503),
                    // and Envoy starts a fresh VM for the next one rather than
                    // failing every later request on that worker (FAIL_CLOSED).
                    "failure_policy": "FAIL_RELOAD"
                }
            }
        })
    }

    fn downstream_filters(
        &self,
        envoy_facts: Option<&BTreeSet<Fact>>,
    ) -> Result<Vec<String>, String> {
        match self.layout {
            Layout::Bundle => {
                let mut config = self.filters.clone();
                if let (Some(facts), Some(fields)) = (envoy_facts, config.as_object_mut()) {
                    let names = facts.iter().map(|f| json!(f.name())).collect();
                    fields.insert(ENVOY_FACTS_KEY.to_owned(), Value::Array(names));
                }
                Ok(vec![format!(
                    "- {}",
                    self.wasm_filter(BUNDLE_NAME, BUNDLE_NAME, BUNDLE_WASM, &config)
                )])
            }
            Layout::Separate => MODULES
                .iter()
                .filter_map(|(section, module)| {
                    let config = self.section(section)?;
                    Some(self.module_configuration(section, config).map(|config| {
                        format!("- {}", self.wasm_filter(section, section, module, &config))
                    }))
                })
                .collect(),
        }
    }

    /// A separate module's plugin configuration: its section with the
    /// settings the bundle shares among its sections (`client_identity`,
    /// `teams`, `prices`) copied in, since each module gets only its own. A section
    /// with its own `prices` (the older spelling) beside the top-level ones
    /// is refused, as the bundle refuses it.
    fn module_configuration(&self, section: &str, config: &Value) -> Result<Value, String> {
        let mut config = config.clone();
        let Some(fields) = config.as_object_mut() else {
            return Ok(config);
        };
        for key in SHARED_SETTINGS {
            let Some(value) = self.filters.get(key) else {
                continue;
            };
            if fields.contains_key(key) {
                return Err(format!(
                    "`{section}.{key}` and the top-level `{key}` are both set; keep the top-level one"
                ));
            }
            fields.insert(key.to_owned(), value.clone());
        }
        Ok(config)
    }

    /// The kind of a provider, from the route configuration.
    fn provider_kind(&self, provider: &str) -> Result<ProviderKind, String> {
        let kind = self.filters["route_translate"]["providers"][provider]["kind"]
            .as_str()
            .ok_or_else(|| format!("provider `{provider}` is not in route_translate.providers"))?;
        ProviderKind::from_name(kind)
            .ok_or_else(|| format!("provider `{provider}` has an unknown kind `{kind}`"))
    }

    fn upstream_filters(&self, provider: &str) -> Result<Vec<String>, String> {
        let kind = self.provider_kind(provider)?;
        let mut filters = vec![self.translate_filter(self.translate_config(Some(kind)))];
        if self.sends_key(provider) {
            filters.push(self.credential_injector(provider, kind)?);
        }
        filters.push(Self::codec());
        Ok(filters.iter().map(|f| format!("- {f}")).collect())
    }

    /// The translate role's configuration for a provider's cluster (`kind`)
    /// or a fallback chain's (`None`): with the client headers each provider
    /// gets besides the defaults (`providers.<name>.forward_headers`).
    fn translate_config(&self, kind: Option<ProviderKind>) -> Value {
        let mut config = json!({"role": "translate"});
        if let Some(kind) = kind {
            config["provider"] = json!(kind.name());
        }
        let providers = self.filters["route_translate"]["providers"].as_object();
        // Global limits: Envoy's ratelimit filter builds its stream-done
        // descriptor from the request headers after the upstream attempt,
        // which changes the request's header map in place, so the key's
        // headers must survive the allowlist (they then reach the provider).
        let descriptor_headers = self.global_descriptor_headers();
        let forward: Map<String, Value> = providers
            .into_iter()
            .flatten()
            .filter_map(|(name, provider)| {
                let mut headers: Vec<Value> = provider
                    .get("forward_headers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                headers.extend(
                    descriptor_headers
                        .iter()
                        .map(|h| json!(h))
                        .filter(|h| !headers.contains(h))
                        .collect::<Vec<_>>(),
                );
                (!headers.is_empty()).then(|| (name.clone(), Value::Array(headers)))
            })
            .collect();
        if !forward.is_empty() {
            config["forward_headers"] = Value::Object(forward);
        }
        let base_paths: Map<String, Value> = providers
            .into_iter()
            .flatten()
            .filter_map(|(name, provider)| {
                let path = provider.get("base_path")?;
                Some((name.clone(), path.clone()))
            })
            .collect();
        if !base_paths.is_empty() {
            config["base_paths"] = Value::Object(base_paths);
        }
        config
    }

    /// Whether the gateway injects a key for `provider` (its `send_key`,
    /// true unless set to false).
    fn sends_key(&self, provider: &str) -> bool {
        self.filters["route_translate"]["providers"][provider]["send_key"] != json!(false)
    }

    /// The translate filter with its configuration.
    fn translate_filter(&self, translate: Value) -> Value {
        match self.layout {
            Layout::Bundle => {
                let config =
                    Value::Object(Map::from_iter([("route_translate".to_owned(), translate)]));
                self.wasm_filter(BUNDLE_NAME, BUNDLE_NAME, BUNDLE_WASM, &config)
            }
            Layout::Separate => self.wasm_filter(
                "route_translate",
                "route_translate",
                "route_translate.wasm",
                &translate,
            ),
        }
    }

    fn codec() -> Value {
        json!({
            "name": "envoy.filters.http.upstream_codec",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"}
        })
    }

    /// The fallback chains of the route configuration: each chain's cluster
    /// and its providers in order. Routes may share a chain's cluster only
    /// with the same providers in the same order.
    fn fallback_chains(&self) -> Result<Vec<(String, Vec<String>)>, String> {
        let mut chains: Vec<(String, Vec<String>)> = Vec::new();
        let models = self.filters["route_translate"]["models"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, route) in models.iter().enumerate() {
            let Some(fallback) = route.get("fallback") else {
                continue;
            };
            let name = |target: &Value| target["provider"].as_str().map(str::to_owned);
            let cluster = fallback["cluster"]
                .as_str()
                .ok_or(format!("models[{i}].fallback.cluster is missing"))?;
            let providers: Option<Vec<String>> = route["to"]
                .as_array()
                .and_then(|to| to.first())
                .into_iter()
                .chain(fallback["to"].as_array().into_iter().flatten())
                .map(name)
                .collect();
            let providers =
                providers.ok_or(format!("models[{i}]: a fallback target names no provider"))?;
            match chains.iter().find(|(c, _)| c == cluster) {
                Some((_, known)) if *known != providers => {
                    return Err(format!(
                    "models[{i}].fallback: the cluster `{cluster}` already serves another chain"
                ))
                }
                Some(_) => {}
                None => chains.push((cluster.to_owned(), providers)),
            }
        }
        Ok(chains)
    }

    /// A route per fallback chain: one attempt per provider, each retry on
    /// the next priority level of the chain's cluster. Provider rate limits
    /// (429) fall back too.
    fn fallback_routes(&self, rendered: &str) -> Result<Vec<String>, String> {
        let mut aliases = Aliases::default();
        let per_try_timeout = self.substitute("${PROVIDER_TRY_TIMEOUT:-300s}")?;
        self.fallback_chains()?
            .into_iter()
            .map(|(cluster, providers)| {
                let mut route = json!({
                    "match": {"prefix": "/", "filter_state": [{"key": "wasm.llm.cluster", "string_match": {"exact": cluster}}]},
                    "route": {
                        "cluster": cluster,
                        // Each attempt's Host is its provider's (their DNS names).
                        "auto_host_rewrite": true,
                        "timeout": "600s",
                        "retry_policy": {
                            "retry_on": "5xx,reset,connect-failure,refused-stream,retriable-status-codes",
                            "retriable_status_codes": [429],
                            "num_retries": providers.len() - 1,
                            "per_try_timeout": &per_try_timeout,
                            "retry_back_off": {"base_interval": "0.1s", "max_interval": "1s"},
                            "retry_priority": {
                                "name": "envoy.retry_priorities.previous_priorities",
                                "typed_config": {
                                    "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
                                    "update_frequency": 1
                                }
                            }
                        }
                    }
                });
                if rendered.contains("&internal ") {
                    route["request_headers_to_remove"] = aliases.alias("internal");
                }
                Ok(format!("- {}", aliases.resolve(&route)))
            })
            .collect()
    }

    /// A cluster per fallback chain: priority level `i` is the chain's
    /// `i`-th provider, its endpoint named in metadata for the translate
    /// stage (`llm.provider`) and for TLS (`envoy.transport_socket_match`);
    /// each provider's key is injected only on attempts that reach it.
    fn fallback_clusters(&self, rendered: &str) -> Result<Vec<String>, String> {
        let mut aliases = Aliases::default();
        let mut lines = Vec::new();
        for (cluster, providers) in self.fallback_chains()? {
            let mut endpoints = Vec::new();
            let mut tls = Vec::new();
            let mut filters = vec![self.translate_filter(self.translate_config(None))];
            for (priority, provider) in providers.iter().enumerate() {
                if !rendered.contains(&format!("&{provider}_endpoint ")) {
                    return Err(format!(
                        "the fallback chain `{cluster}` needs the endpoint of the provider `{provider}`: anchor it as `&{provider}_endpoint` in its cluster"
                    ));
                }
                endpoints.push(json!({
                    "priority": priority,
                    "lb_endpoints": [{
                        "endpoint": aliases.alias(&format!("{provider}_endpoint")),
                        "metadata": {"filter_metadata": {
                            "llm": {"provider": provider},
                            "envoy.transport_socket_match": {"provider": provider}
                        }}
                    }]
                }));
                if rendered.contains(&format!("&{provider}_tls "))
                    || rendered.contains(&format!("&{provider}_tls\n"))
                {
                    tls.push(json!({"name": provider, "match": {"provider": provider}, "transport_socket": aliases.alias(&format!("{provider}_tls"))}));
                }
                let kind = self.provider_kind(provider)?;
                if self.sends_key(provider) {
                    filters.push(Self::only_for_attempts_on(
                        provider,
                        self.credential_injector(provider, kind)?,
                    ));
                }
            }
            filters.push(Self::codec());
            // HTTP/2 by ALPN when every provider of the chain speaks TLS (ALPN
            // needs it on every endpoint), else HTTP/1.1.
            let protocol = if tls.len() < providers.len() {
                json!({"explicit_http_config": {"http_protocol_options": {}}})
            } else {
                json!({"auto_config": {"http2_protocol_options": {}, "http_protocol_options": {}}})
            };
            let mut options = json!({
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {"idle_timeout": "300s"},
                "http_filters": filters
            });
            if let (Some(options), Value::Object(protocol)) = (options.as_object_mut(), protocol) {
                options.extend(protocol);
            }
            let mut value = json!({
                "name": cluster,
                "type": "STRICT_DNS",
                "dns_lookup_family": "V4_PREFERRED",
                "connect_timeout": "10s",
                "per_connection_buffer_limit_bytes": 33_554_432,
                "load_assignment": {"cluster_name": cluster, "endpoints": endpoints},
                "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options}
            });
            if !tls.is_empty() {
                value["transport_socket_matches"] = Value::Array(tls);
            }
            if rendered.contains("&outliers ") {
                value["outlier_detection"] = aliases.alias("outliers");
            }
            lines.push(format!("- {}", aliases.resolve(&value)));
        }
        Ok(lines)
    }

    /// The request headers global mode's descriptors are built from (none
    /// in local mode; `client` is Envoy's own header, not the client's).
    fn global_descriptor_headers(&self) -> Vec<String> {
        if self.global_limits().is_none() {
            return Vec::new();
        }
        let section = &self.filters["token_limit"];
        let parts = section
            .get("key")
            .or_else(|| section.get("levels")?.get(0)?.get("key"));
        parts
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|part| Some(part.get("header")?.as_str()?.to_owned()))
            .collect()
    }

    /// The `token_limit.global` section, if global mode is on.
    fn global_limits(&self) -> Option<&Value> {
        self.filters.get("token_limit")?.get("global")
    }

    /// Envoy's `ratelimit` filter for global mode: one descriptor built from
    /// the limit key's parts (request headers; `client` is the
    /// authenticated `x-client-id`), charged the admission count when the
    /// request is admitted and the output when the stream is done (that
    /// descriptor marked `charge=done`: spent tokens, never refused). A
    /// `generic_key` entry keeps the descriptor alive when a key header is
    /// absent (those requests share one bucket instead of passing
    /// unlimited).
    fn rate_limit_filter(&self) -> Result<Vec<String>, String> {
        let Some(global) = self.global_limits() else {
            return Ok(Vec::new());
        };
        let mut actions =
            vec![json!({"generic_key": {"descriptor_key": "limit", "descriptor_value": "tokens"}})];
        // Global mode keeps one level: the shorthand's `key`, or `levels[0]`'s.
        let section = &self.filters["token_limit"];
        let parts = section
            .get("key")
            .or_else(|| section.get("levels")?.get(0)?.get("key"))
            .cloned()
            .unwrap_or_else(|| json!(["client"]));
        for part in parts.as_array().map(Vec::as_slice).unwrap_or_default() {
            let (header, key) = match (part.get("header").and_then(Value::as_str), part.as_str()) {
                (Some(header), _) => (header, header),
                (None, Some("client")) => (self.filters.get("client_identity").and_then(Value::as_str).unwrap_or("x-client-id"), "client"),
                _ => return Err(format!("token_limit.key part {part} cannot be a rate-limit descriptor (headers and `client` only)")),
            };
            actions.push(json!({"request_headers": {"header_name": header, "descriptor_key": key, "skip_if_absent": true}}));
        }
        // The stream-done charge is for tokens already spent: marked
        // `charge=done`, which a service must add without refusing (ours
        // does; see docs/ratelimit-service.md).
        let mut spent = actions.clone();
        spent
            .push(json!({"generic_key": {"descriptor_key": "charge", "descriptor_value": "done"}}));
        let filter = json!({
            "name": "envoy.filters.http.ratelimit",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
                "domain": global.get("domain").and_then(Value::as_str).unwrap_or("llm-gateway"),
                "failure_mode_deny": global.get("on_failure").and_then(Value::as_str) == Some("closed"),
                "timeout": "0.5s",
                "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
                "rate_limit_service": {
                    "grpc_service": {"envoy_grpc": {"cluster_name": self.rate_limit_cluster_name()}},
                    "transport_api_version": "V3"
                },
                "rate_limits": [
                    {"actions": actions, "hits_addend": {"format": "%FILTER_STATE(wasm.llm.tokens.admission:PLAIN)%"}},
                    {"actions": spent, "apply_on_stream_done": true, "hits_addend": {"format": "%FILTER_STATE(wasm.llm.tokens.output:PLAIN)%"}}
                ]
            }
        });
        Ok(vec![format!("- {filter}")])
    }

    fn rate_limit_cluster_name(&self) -> &str {
        self.global_limits()
            .and_then(|g| g.get("cluster"))
            .and_then(Value::as_str)
            .unwrap_or("ratelimit")
    }

    /// The rate-limit service's cluster (gRPC, so HTTP/2).
    fn rate_limit_cluster(&self) -> Result<Vec<String>, String> {
        if self.global_limits().is_none() {
            return Ok(Vec::new());
        }
        let host = self.substitute("${RATELIMIT_HOST:-127.0.0.1}")?;
        let port: u16 = self
            .substitute("${RATELIMIT_PORT:-8081}")?
            .parse()
            .map_err(|_| "RATELIMIT_PORT is not a port".to_owned())?;
        let name = self.rate_limit_cluster_name();
        let cluster = json!({
            "name": name,
            "type": "STRICT_DNS",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]},
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }}
        });
        Ok(vec![format!("- {cluster}")])
    }

    /// Wraps an upstream filter so that it runs only on attempts that reach
    /// `provider` (the translate stage publishes it as the filter state
    /// `wasm.llm.attempt.provider`) and is skipped on every other attempt.
    fn only_for_attempts_on(provider: &str, filter: Value) -> Value {
        json!({
            "name": format!("{provider}_only"),
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.common.matching.v3.ExtensionWithMatcher",
                "xds_matcher": {"matcher_list": {"matchers": [{
                    "predicate": {"not_matcher": {"single_predicate": {
                        "input": {
                            "name": "attempt_provider",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.FilterStateInput",
                                "key": "wasm.llm.attempt.provider"
                            }
                        },
                        "value_match": {"exact": provider}
                    }}},
                    "on_match": {"action": {
                        "name": "skip",
                        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.common.matcher.action.v3.SkipFilter"}
                    }}
                }]}},
                "extension_config": filter
            }
        })
    }

    /// Injects the provider's key in the header its API expects. The key is
    /// an SDS generic secret in a watched directory, so replacing the key file
    /// (an atomic rename) rotates it without a restart.
    /// Envoy's `credential_injector` sending `provider`'s key as its kind
    /// takes it (`llm_api::providers`).
    fn credential_injector(&self, provider: &str, kind: ProviderKind) -> Result<Value, String> {
        let Credential::Header {
            name: header,
            prefix,
        } = kind.descriptor().credential;
        let secrets = self.substitute(&format!("${{SECRETS_DIR:-{DEFAULT_SECRETS_DIR}}}"))?;
        Ok(json!({
            "name": "envoy.filters.http.credential_injector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
                "overwrite": true,
                "credential": {
                    "name": "envoy.http.injected_credentials.generic",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
                        "credential": {
                            "name": format!("{provider}_key"),
                            "sds_config": {
                                "path_config_source": {
                                    "path": format!("{secrets}/{provider}-key.yaml"),
                                    "watched_directory": {"path": secrets}
                                },
                                "resource_api_version": "V3"
                            }
                        },
                        "header": header,
                        "header_value_prefix": prefix
                    }
                }
            }
        }))
    }

    fn upstream_tls(&self, name: &str) -> Result<Vec<String>, String> {
        let upper = name.to_ascii_uppercase();
        let Some(sni) = self
            .vars
            .get(&format!("{upper}_TLS_SNI"))
            .filter(|s| !s.is_empty())
        else {
            return Ok(Vec::new());
        };
        let ca = self
            .vars
            .get("UPSTREAM_CA_FILE")
            .map(String::as_str)
            .unwrap_or("/etc/ssl/certs/ca-certificates.crt");
        let socket = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": sni,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": ca},
                        "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": sni}}]
                    }
                }
            }
        });
        Ok(vec![format!("transport_socket: &{name}_tls {socket}")])
    }
}

/// YAML aliases (`*name`) inside generated JSON, which has no syntax for
/// them: a placeholder string per alias, replaced after serialising.
#[derive(Default)]
struct Aliases(Vec<String>);

impl Aliases {
    const MARK: &'static str = "\u{1}alias:";

    fn alias(&mut self, anchor: &str) -> Value {
        self.0.push(anchor.to_owned());
        Value::String(format!("{}{anchor}", Self::MARK))
    }

    /// `value` as one line of flow YAML, with its aliases.
    fn resolve(&self, value: &Value) -> String {
        let mut text = value.to_string();
        for anchor in &self.0 {
            let placeholder =
                serde_json::to_string(&format!("{}{anchor}", Self::MARK)).unwrap_or_default();
            text = text.replace(&placeholder, &format!("*{anchor} "));
        }
        text
    }
}

/// The lines of a rendered config that are not comments.
fn config_lines(rendered: &str) -> impl Iterator<Item = &str> {
    rendered
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
}

/// Whether a rendered config holds a translate filter, the renderer's own
/// (provider clusters, fallback chains) or a template's: a `role` whose
/// value is `translate`, however its JSON is quoted or escaped.
fn has_translate_role(rendered: &str) -> bool {
    config_lines(rendered)
        .flat_map(|line| line.split("role").skip(1))
        .any(|rest| {
            rest.trim_start_matches(['"', '\\', '\'', ':', ' '])
                .starts_with("translate")
        })
}

/// The facts a rendered config reads: every `wasm.llm.*` filter state name
/// outside comments (`%FILTER_STATE(wasm.llm.audit.record:PLAIN)%`,
/// `key: wasm.llm.cluster`).
fn facts_read_by(rendered: &str) -> BTreeSet<Fact> {
    config_lines(rendered)
        .flat_map(|line| line.split("wasm.").skip(1))
        .filter_map(|rest| {
            let end = rest
                .find(|c: char| {
                    !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
                })
                .unwrap_or(rest.len());
            Fact::from_name(rest[..end].trim_end_matches('.'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(layout: Layout) -> Template {
        Template {
            template: PathBuf::from("unused"),
            filters: json!({"audit": {}, "route_translate": {"role": "route", "providers": {"claude": {"kind": "anthropic"}}}}),
            layout,
            wasm_dir: PathBuf::from("/w"),
            vars: BTreeMap::from([("PORT".to_owned(), "80".to_owned())]),
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        let t = template(Layout::Bundle);
        assert_eq!(
            t.render_text("  # see ${NAME}\n").unwrap(),
            "  # see ${NAME}\n"
        );
        assert_eq!(
            t.render_text("a: ${PORT} b: ${HOST:-localhost}\n").unwrap(),
            "a: 80 b: localhost\n"
        );
        assert!(t
            .render_text("x: ${MISSING}")
            .unwrap_err()
            .contains("`MISSING` is not set"));
        assert_eq!(
            t.render_text("h: ${HOST:-${PORT:-x}}.y\n").unwrap(),
            "h: 80.y\n"
        );
        assert_eq!(t.render_text("h: ${HOST:-${NONE:-x}}\n").unwrap(), "h: x\n");
    }

    #[test]
    fn bundle_is_one_filter_with_every_section() {
        let out = template(Layout::Bundle)
            .render_text("  f:\n  ${LLM_FILTERS}\n")
            .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("  - {"));
        let filter: Value = serde_json::from_str(&lines[1][4..]).unwrap();
        let config = filter["typed_config"]["config"].clone();
        assert_eq!(
            config["vm_config"]["code"]["local"]["filename"],
            "/w/llm_gateway_bundle.wasm"
        );
        let mut sections: Value =
            serde_json::from_str(config["configuration"]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            sections["envoy_facts"],
            json!([]),
            "nothing in the config reads a fact"
        );
        sections.as_object_mut().unwrap().remove("envoy_facts");
        assert_eq!(sections, t_filters());
    }

    /// The listener bundle's plugin configuration in a rendered config: the
    /// first filter loading the bundle.
    fn bundle_configuration(rendered: &str) -> Value {
        let line = rendered
            .lines()
            .find(|l| l.contains("llm_gateway_bundle.wasm"))
            .unwrap();
        let filter: Value = serde_json::from_str(line.trim().trim_start_matches("- ")).unwrap();
        serde_json::from_str(
            filter["typed_config"]["config"]["configuration"]["value"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_bundle_publishes_to_envoy_the_facts_the_config_reads() {
        let text = "\
# a comment naming wasm.llm.cost_usd does not count
  ${LLM_FILTERS}
  format: \"%FILTER_STATE(wasm.llm.audit.record:PLAIN)%\"
  filter_state: [{ key: wasm.llm.cluster, string_match: { exact: x } }]
";
        let facts = |rendered: &str| bundle_configuration(rendered)["envoy_facts"].clone();
        let t = template(Layout::Bundle);
        let out = t.render_text(text).unwrap();
        assert_eq!(facts(&out), json!(["llm.cluster", "llm.audit.record"]));

        // A provider cluster's translate filter reads the route's facts.
        let out = t
            .render_text(&format!("{text}  ${{UPSTREAM_FILTERS:claude}}\n"))
            .unwrap();
        let mut expected: Vec<&str> = route_translate::TRANSLATE_READS
            .iter()
            .chain([&Fact::Cluster, &Fact::AuditRecord])
            .map(|f| f.name())
            .collect();
        expected.sort_by_key(|name| Fact::from_name(name));
        assert_eq!(facts(&out), json!(expected));

        // A template's own translate filter counts too.
        let own =
            r#"  configuration: { value: "{\"route_translate\": {\"role\": \"translate\"}}" }"#;
        let out = t.render_text(&format!("{text}{own}\n")).unwrap();
        assert_eq!(facts(&out), json!(expected));

        let out = template(Layout::Separate).render_text(text).unwrap();
        assert!(!out.contains("envoy_facts"), "separate modules publish all");
    }

    fn t_filters() -> Value {
        template(Layout::Bundle).filters
    }

    #[test]
    fn upstream_filters_translate_inject_the_key_and_encode() {
        let mut t = template(Layout::Separate);
        t.set("SECRETS_DIR", "/s");
        let out = t.render_text("${UPSTREAM_FILTERS:claude}").unwrap();
        let filters: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(&l[2..]).unwrap())
            .collect();
        let names: Vec<&str> = filters
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "route_translate",
                "envoy.filters.http.credential_injector",
                "envoy.filters.http.upstream_codec"
            ]
        );
        let translate = filters[0]["typed_config"]["config"]["configuration"]["value"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(translate).unwrap(),
            json!({"role": "translate", "provider": "anthropic"})
        );
        let generic = &filters[1]["typed_config"]["credential"]["typed_config"];
        assert_eq!(generic["header"], "x-api-key");
        assert_eq!(
            generic["credential"]["sds_config"]["path_config_source"]["path"],
            "/s/claude-key.yaml"
        );
        assert!(t.render_text("${UPSTREAM_FILTERS:nobody}").is_err());
        t.filters["route_translate"]["providers"]["claude"]["forward_headers"] =
            json!(["anthropic-beta"]);
        let out = t.render_text("${UPSTREAM_FILTERS:claude}").unwrap();
        let translate: Value = serde_json::from_str(&out.lines().next().unwrap()[2..]).unwrap();
        let config = translate["typed_config"]["config"]["configuration"]["value"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(config).unwrap()["forward_headers"],
            json!({"claude": ["anthropic-beta"]})
        );
    }

    #[test]
    fn separate_layout_has_one_module_per_configured_filter() {
        let out = template(Layout::Separate)
            .render_text("${LLM_FILTERS}")
            .unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("/w/audit.wasm") && out.contains("/w/route_translate.wasm"));
        assert!(!out.contains("pii_scan.wasm"));
    }

    #[test]
    fn separate_modules_each_get_the_shared_settings() {
        let mut t = template(Layout::Separate);
        let prices = json!([{"model": "m", "input": 1, "output": 2}]);
        t.filters["prices"] = prices.clone();
        t.filters["client_identity"] = json!("x-user");
        let teams = json!({"platform": {"clients": ["demo"]}});
        t.filters["teams"] = teams.clone();
        let out = t.render_text("${LLM_FILTERS}").unwrap();
        for line in out.lines() {
            let filter: Value = serde_json::from_str(&line[2..]).unwrap();
            let config: Value = serde_json::from_str(
                filter["typed_config"]["config"]["configuration"]["value"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(config["prices"], prices, "{line}");
            assert_eq!(config["client_identity"], "x-user", "{line}");
            assert_eq!(config["teams"], teams, "{line}");
        }
        t.filters["audit"]["prices"] = prices;
        let err = t.render_text("${LLM_FILTERS}").unwrap_err();
        assert!(err.contains("`audit.prices`"), "{err}");
    }

    #[test]
    fn upstream_tls_only_when_sni_is_set() {
        let mut t = template(Layout::Bundle);
        assert_eq!(t.render_text("  ${UPSTREAM_TLS:openai}\n").unwrap(), "");
        t.set("OPENAI_TLS_SNI", "api.openai.com");
        let out = t.render_text("  ${UPSTREAM_TLS:openai}\n").unwrap();
        assert!(
            out.starts_with("  transport_socket: &openai_tls {")
                && out.contains("\"sni\":\"api.openai.com\""),
            "{out}"
        );
    }

    #[test]
    fn global_limits_add_the_ratelimit_filter_and_its_cluster() {
        let mut t = template(Layout::Bundle);
        assert_eq!(
            t.render_text("${RATE_LIMIT_FILTER}\n${RATE_LIMIT_CLUSTER}\n")
                .unwrap(),
            "",
            "local mode: nothing"
        );
        t.filters["token_limit"] = json!({"key": [{"header": "x-agent-id"}, "client"], "global": {"on_failure": "closed"}});
        t.set("RATELIMIT_PORT", 9999);
        let out = t
            .render_text("${RATE_LIMIT_FILTER}\n${RATE_LIMIT_CLUSTER}\n")
            .unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(&l[2..]).unwrap())
            .collect();
        let config = &lines[0]["typed_config"];
        assert_eq!(config["failure_mode_deny"], true);
        let limits = config["rate_limits"].as_array().unwrap();
        let keys = |i: usize| -> Vec<String> {
            limits[i]["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect()
        };
        assert_eq!(keys(0).len(), 3, "limit=tokens, the header, the client");
        assert!(keys(0)[2].contains("x-client-id"));
        assert!(
            limits[1]["apply_on_stream_done"].as_bool().unwrap()
                && keys(1).last().unwrap().contains("\"done\"")
        );
        assert_eq!(
            lines[1]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            9999
        );
        t.filters["token_limit"]["key"] = json!(["model"]);
        assert!(t
            .render_text("${RATE_LIMIT_FILTER}\n")
            .unwrap_err()
            .contains("headers and `client` only"));
    }

    #[test]
    fn a_fallback_chain_gets_a_cluster_with_a_priority_per_provider_and_a_route() {
        let mut t = template(Layout::Bundle);
        t.filters["route_translate"]["providers"]["openai"] =
            json!({"kind": "openai", "cluster": "openai"});
        t.filters["route_translate"]["models"] = json!([
            {"match": "m", "to": [{"provider": "openai"}], "fallback": {"cluster": "chain", "to": [{"provider": "claude", "model": "c"}]}},
            {"match": "n", "to": [{"provider": "openai"}], "fallback": {"cluster": "chain", "to": [{"provider": "claude"}]}}
        ]);
        let anchors = "e1: &openai_endpoint {a: 1}\ne2: &claude_endpoint {a: 2}\nt: &claude_tls\n";
        let out = t
            .render_text(&format!(
                "{anchors}c:\n${{FALLBACK_CLUSTERS}}\nr:\n${{FALLBACK_ROUTES}}\n"
            ))
            .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.len(),
            7,
            "one cluster and one route for the shared chain: {out}"
        );
        let cluster = lines[4];
        assert!(cluster.starts_with("- {\"name\":\"chain\""), "{cluster}");
        assert!(
            cluster.contains("\"endpoint\":*openai_endpoint ,")
                && cluster.contains("\"priority\":1"),
            "{cluster}"
        );
        assert!(
            cluster.contains("\"transport_socket\":*claude_tls }"),
            "{cluster}"
        );
        assert!(
            !cluster.contains("auto_config"),
            "ALPN only when every provider has TLS: {cluster}"
        );
        assert!(
            cluster.contains("\"name\":\"claude_only\"")
                && cluster.contains("\"exact\":\"claude\""),
            "{cluster}"
        );
        assert!(
            !cluster.contains("outlier_detection"),
            "no `&outliers` anchor, no outlier detection: {cluster}"
        );
        assert!(
            lines[6].contains("\"num_retries\":1") && lines[6].contains("previous_priorities"),
            "{}",
            lines[6]
        );
        assert!(
            !lines[6].contains("request_headers_to_remove"),
            "no `&internal` anchor"
        );
        let err = t.render_text("${FALLBACK_CLUSTERS}\n").unwrap_err();
        assert!(err.contains("anchor it as `&openai_endpoint`"), "{err}");
        t.filters["route_translate"]["models"][1]["fallback"]["to"][0]["provider"] =
            json!("openai");
        assert!(t
            .render_text("${FALLBACK_ROUTES}\n")
            .unwrap_err()
            .contains("already serves another chain"));
    }
}
