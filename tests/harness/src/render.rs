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
//!   when the variable `<NAME>_TLS_SNI` is set, else nothing.
//!
//! Generated filters are written as one-line JSON, which is valid YAML at any
//! indentation.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the suite's filters are loaded into Envoy.
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
const BUNDLE_WASM: &str = "llm_gateway_suite.wasm";
const BUNDLE_NAME: &str = "llm_gateway";

/// Where the production layout keeps secrets (`SECRETS_DIR` overrides it).
const DEFAULT_SECRETS_DIR: &str = "/etc/llm-gateway/secrets";

/// The separate modules, in chain order: (configuration section, module).
const MODULES: [(&str, &str); 4] = [
    ("audit", "audit.wasm"),
    ("pii_scan", "pii_scan.wasm"),
    ("token_limit", "token_limit.wasm"),
    ("provider_rewrite", "provider_rewrite.wasm"),
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
    /// A template with its filter configuration read from `filters`.
    pub fn load(template: &Path, filters: &Path, layout: Layout, wasm_dir: &Path) -> Result<Template, String> {
        let text = std::fs::read_to_string(filters).map_err(|e| format!("{}: {e}", filters.display()))?;
        let filters = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", filters.display()))?;
        Ok(Template { template: template.to_owned(), filters, layout, wasm_dir: wasm_dir.to_owned(), vars: BTreeMap::new() })
    }

    pub fn set(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.vars.insert(name.to_owned(), value.to_string());
        self
    }

    pub fn render(&self) -> Result<String, String> {
        let text = std::fs::read_to_string(&self.template).map_err(|e| format!("{}: {e}", self.template.display()))?;
        self.render_text(&text).map_err(|e| format!("{}: {e}", self.template.display()))
    }

    /// Renders and writes the config to `out`.
    pub fn write(&self, out: &Path) -> Result<(), String> {
        let rendered = self.render()?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(out, rendered).map_err(|e| format!("{}: {e}", out.display()))
    }

    fn render_text(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len() * 2);
        for (number, line) in text.lines().enumerate() {
            // Comments are copied as they are: they may describe placeholders.
            if line.trim_start().starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            let directive = line.trim().strip_prefix("${").and_then(|d| d.strip_suffix('}')).unwrap_or_default();
            let generated = if directive == "LLM_FILTERS" {
                Some(self.downstream_filters()?)
            } else if let Some(kind) = directive.strip_prefix("UPSTREAM_FILTERS:") {
                Some(self.upstream_filters(kind)?)
            } else if let Some(name) = directive.strip_prefix("UPSTREAM_TLS:") {
                Some(self.upstream_tls(name)?)
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
                    let line = self.substitute(line).map_err(|e| format!("line {}: {e}", number + 1))?;
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
            let end = Self::closing_brace(after).ok_or_else(|| format!("unclosed `${{` in `{line}`"))?;
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

    fn wasm_filter(&self, name: &str, vm_id: &str, module: &str, configuration: &Value) -> Result<String, String> {
        let filename = self.wasm_dir.join(module);
        let filter = json!({
            "name": name,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
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
                    // A broken VM must not let traffic bypass PII scanning or
                    // limits; Envoy answers 503 instead.
                    "failure_policy": "FAIL_CLOSED"
                }
            }
        });
        Ok(format!("- {filter}"))
    }

    fn downstream_filters(&self) -> Result<Vec<String>, String> {
        match self.layout {
            Layout::Bundle => Ok(vec![self.wasm_filter(BUNDLE_NAME, BUNDLE_NAME, BUNDLE_WASM, &self.filters)?]),
            Layout::Separate => MODULES
                .iter()
                .filter_map(|(section, module)| {
                    let config = self.section(section)?;
                    Some(self.wasm_filter(section, section, module, config))
                })
                .collect(),
        }
    }

    /// The API kind of a provider, from the route configuration.
    fn provider_kind(&self, provider: &str) -> Result<String, String> {
        self.filters["provider_rewrite"]["providers"][provider]["kind"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("provider `{provider}` is not in provider_rewrite.providers"))
    }

    fn upstream_filters(&self, provider: &str) -> Result<Vec<String>, String> {
        let kind = self.provider_kind(provider)?;
        let translate = json!({"role": "translate", "provider": kind});
        let filter = match self.layout {
            Layout::Bundle => {
                let config = Value::Object(Map::from_iter([("provider_rewrite".to_owned(), translate)]));
                self.wasm_filter(BUNDLE_NAME, BUNDLE_NAME, BUNDLE_WASM, &config)?
            }
            Layout::Separate => self.wasm_filter("provider_rewrite", "provider_rewrite", "provider_rewrite.wasm", &translate)?,
        };
        let codec = json!({
            "name": "envoy.filters.http.upstream_codec",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"}
        });
        Ok(vec![filter, format!("- {}", self.credential_injector(provider, &kind)?), format!("- {codec}")])
    }

    /// Injects the provider's key in the header its API expects. The key is
    /// an SDS generic secret in a watched directory, so replacing the key file
    /// (an atomic rename) rotates it without a restart.
    fn credential_injector(&self, provider: &str, kind: &str) -> Result<Value, String> {
        let (header, prefix) = match kind {
            "openai" => ("authorization", "Bearer "),
            "anthropic" => ("x-api-key", ""),
            "gemini" => ("x-goog-api-key", ""),
            "azure" => ("api-key", ""),
            other => return Err(format!("no credential header known for provider kind `{other}`")),
        };
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
        let Some(sni) = self.vars.get(&format!("{upper}_TLS_SNI")).filter(|s| !s.is_empty()) else {
            return Ok(Vec::new());
        };
        let ca = self.vars.get("UPSTREAM_CA_FILE").map(String::as_str).unwrap_or("/etc/ssl/certs/ca-certificates.crt");
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
        Ok(vec![format!("transport_socket: {socket}")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(layout: Layout) -> Template {
        Template {
            template: PathBuf::from("unused"),
            filters: json!({"audit": {}, "provider_rewrite": {"role": "route", "providers": {"claude": {"kind": "anthropic"}}}}),
            layout,
            wasm_dir: PathBuf::from("/w"),
            vars: BTreeMap::from([("PORT".to_owned(), "80".to_owned())]),
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        let t = template(Layout::Bundle);
        assert_eq!(t.render_text("  # see ${NAME}\n").unwrap(), "  # see ${NAME}\n");
        assert_eq!(t.render_text("a: ${PORT} b: ${HOST:-localhost}\n").unwrap(), "a: 80 b: localhost\n");
        assert!(t.render_text("x: ${MISSING}").unwrap_err().contains("`MISSING` is not set"));
        assert_eq!(t.render_text("h: ${HOST:-${PORT:-x}}.y\n").unwrap(), "h: 80.y\n");
        assert_eq!(t.render_text("h: ${HOST:-${NONE:-x}}\n").unwrap(), "h: x\n");
    }

    #[test]
    fn bundle_is_one_filter_with_every_section() {
        let out = template(Layout::Bundle).render_text("  f:\n  ${LLM_FILTERS}\n").unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("  - {"));
        let filter: Value = serde_json::from_str(&lines[1][4..]).unwrap();
        let config = filter["typed_config"]["config"].clone();
        assert_eq!(config["vm_config"]["code"]["local"]["filename"], "/w/llm_gateway_suite.wasm");
        let sections: Value = serde_json::from_str(config["configuration"]["value"].as_str().unwrap()).unwrap();
        assert_eq!(sections, t_filters());
    }

    fn t_filters() -> Value {
        template(Layout::Bundle).filters
    }

    #[test]
    fn upstream_filters_translate_inject_the_key_and_encode() {
        let mut t = template(Layout::Separate);
        t.set("SECRETS_DIR", "/s");
        let out = t.render_text("${UPSTREAM_FILTERS:claude}").unwrap();
        let filters: Vec<Value> = out.lines().map(|l| serde_json::from_str(&l[2..]).unwrap()).collect();
        let names: Vec<&str> = filters.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["provider_rewrite", "envoy.filters.http.credential_injector", "envoy.filters.http.upstream_codec"]);
        let translate = filters[0]["typed_config"]["config"]["configuration"]["value"].as_str().unwrap();
        assert_eq!(serde_json::from_str::<Value>(translate).unwrap(), json!({"role": "translate", "provider": "anthropic"}));
        let generic = &filters[1]["typed_config"]["credential"]["typed_config"];
        assert_eq!(generic["header"], "x-api-key");
        assert_eq!(generic["credential"]["sds_config"]["path_config_source"]["path"], "/s/claude-key.yaml");
        assert!(t.render_text("${UPSTREAM_FILTERS:nobody}").is_err());
    }

    #[test]
    fn separate_layout_has_one_module_per_configured_filter() {
        let out = template(Layout::Separate).render_text("${LLM_FILTERS}").unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("/w/audit.wasm") && out.contains("/w/provider_rewrite.wasm"));
        assert!(!out.contains("pii_scan.wasm"));
    }

    #[test]
    fn upstream_tls_only_when_sni_is_set() {
        let mut t = template(Layout::Bundle);
        assert_eq!(t.render_text("  ${UPSTREAM_TLS:openai}\n").unwrap(), "");
        t.set("OPENAI_TLS_SNI", "api.openai.com");
        let out = t.render_text("  ${UPSTREAM_TLS:openai}\n").unwrap();
        assert!(out.starts_with("  transport_socket: {") && out.contains("\"sni\":\"api.openai.com\""), "{out}");
    }
}
