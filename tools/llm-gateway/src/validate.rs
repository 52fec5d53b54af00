//! `llm-gateway validate`: filter configurations checked by the filters' own
//! loading code, linked natively: the code each module runs when Envoy hands
//! it its configuration. A configuration that passes here is one the module
//! accepts, and one that fails is refused with the message Envoy would log,
//! naming the field, before anything is deployed.
//!
//! A file is either
//! - a filter configuration (`envoy/filters/*.json`, JSON or YAML): the
//!   bundle's, one section per filter, or, with a [`Module`] given, that
//!   module's own (what a separate module or an Istio WasmPlugin gets); or
//! - a file holding plugin configurations: an Envoy config (rendered, with
//!   its YAML anchors and aliases), a list of resources (LDS, ECDS),
//!   Kubernetes ConfigMaps holding Envoy configs, Istio WasmPlugins. Each
//!   configuration of one of the gateway's modules in it is checked; the
//!   module is known by its file name, else by its plugin name, and other
//!   wasm filters are left alone.

use crate::render::{BUNDLE_NAME, BUNDLE_WASM, MODULES, WASM_FILTER_TYPE};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;
use wasm_glue::ConfigError;

/// Top-level keys that make a document an Envoy config or a Kubernetes
/// resource rather than a filter configuration.
const CONTAINER_KEYS: [&str; 6] = [
    "static_resources",
    "dynamic_resources",
    "admin",
    "resources",
    "apiVersion",
    "kind",
];

/// One of the gateway's modules, as its configuration is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// The bundle (`llm_gateway_bundle.wasm`): one section per filter.
    Bundle,
    /// One filter's own module, by its configuration section.
    Filter(&'static str),
}

impl Module {
    /// The module a plugin name stands for: `llm_gateway` (the bundle),
    /// `audit`, `pii_scan`, `token_limit`, `route_translate` (also spelled
    /// `provider_rewrite`).
    pub fn named(name: &str) -> Option<Module> {
        let name = if name == route_translate::SECTION_ALIAS {
            route_translate::NAME
        } else {
            name
        };
        if name == BUNDLE_NAME {
            return Some(Module::Bundle);
        }
        MODULES
            .iter()
            .find(|(section, _)| *section == name)
            .map(|(section, _)| Module::Filter(section))
    }

    /// The module loaded from `file`, a path whose last part is the
    /// module's file name (`/etc/llm-gateway/wasm/audit.wasm`).
    fn from_file(file: &str) -> Option<Module> {
        let base = file.rsplit('/').next().unwrap_or(file);
        let name = if base == BUNDLE_WASM {
            BUNDLE_NAME
        } else if base.strip_suffix(".wasm") == Some(route_translate::SECTION_ALIAS) {
            route_translate::SECTION_ALIAS
        } else {
            MODULES.iter().find(|(_, module)| *module == base)?.0
        };
        Module::named(name)
    }

    /// Every name [`Module::named`] knows, for messages.
    pub fn names() -> Vec<&'static str> {
        std::iter::once(BUNDLE_NAME)
            .chain(MODULES.iter().map(|(section, _)| *section))
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Module::Bundle => BUNDLE_NAME,
            Module::Filter(section) => section,
        }
    }

    /// Loads a plugin configuration as the module does when Envoy
    /// configures it.
    pub fn load(self, configuration: &[u8]) -> Result<(), ConfigError> {
        match self {
            Module::Bundle => llm_gateway_bundle::load(configuration).map(drop),
            Module::Filter(section) => {
                llm_gateway_bundle::load_filter(section, configuration).map(drop)
            }
        }
    }
}

/// One plugin configuration and what its module made of it.
#[derive(Debug)]
pub struct Checked {
    /// Where in the file it is (`static_resources.listeners[gateway]...`,
    /// list items by their name, else their index); empty when the file is
    /// the configuration.
    pub place: String,
    pub module: &'static str,
    pub result: Result<(), ConfigError>,
}

/// Checks every plugin configuration in the file at `path` (see the module
/// documentation); `module` says the file is that module's configuration.
/// An error is a file that cannot be read or holds no configuration.
pub fn check_file(path: &Path, module: Option<Module>) -> Result<Vec<Checked>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    check_text(&text, module)
}

/// [`check_file`] of a file's text.
pub fn check_text(text: &str, module: Option<Module>) -> Result<Vec<Checked>, String> {
    let (documents, is_json) = documents(text)?;
    let whole = |module: Module, document: &Value| -> Vec<Checked> {
        // The module gets the JSON exactly as written, when it is JSON.
        let bytes = if is_json {
            text.as_bytes().to_vec()
        } else {
            document.to_string().into_bytes()
        };
        vec![Checked {
            place: String::new(),
            module: module.name(),
            result: module.load(&bytes),
        }]
    };
    if let Some(module) = module {
        return match documents.as_slice() {
            [document] => Ok(whole(module, document)),
            _ => Err(format!(
                "a {} configuration is one document, found {}",
                module.name(),
                documents.len()
            )),
        };
    }
    let mut checked = Vec::new();
    for (i, document) in documents.iter().enumerate() {
        let place = if documents.len() > 1 {
            format!("document {}: ", i + 1)
        } else {
            String::new()
        };
        find(document, &place, &mut checked)?;
    }
    if !checked.is_empty() {
        return Ok(checked);
    }
    match documents.as_slice() {
        [document @ Value::Object(fields)]
            if !CONTAINER_KEYS.iter().any(|k| fields.contains_key(*k)) =>
        {
            Ok(whole(Module::Bundle, document))
        }
        _ => Err(format!(
            "no configuration of the gateway's modules ({}) found: neither a filter configuration nor an Envoy config or resource loading them",
            Module::names().join(", ")
        )),
    }
}

/// The documents of a JSON or (multi-document) YAML text, and whether it
/// was JSON. Empty YAML documents are left out.
fn documents(text: &str) -> Result<(Vec<Value>, bool), String> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok((vec![value], true));
    }
    let documents = serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).map_err(|e| format!("not JSON or YAML: {e}")))
        .filter(|document| !matches!(document, Ok(Value::Null)))
        .collect::<Result<Vec<Value>, String>>()?;
    Ok((documents, false))
}

/// `place` and a member `key`, as a path.
fn member(place: &str, key: &str) -> String {
    if place.is_empty() || place.ends_with(": ") {
        format!("{place}{key}")
    } else {
        format!("{place}.{key}")
    }
}

/// Collects the plugin configurations in `value` and checks each.
fn find(value: &Value, place: &str, checked: &mut Vec<Checked>) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                // Envoy's lists are of named things: a name says more than
                // an index.
                let index = match item.get("name").and_then(Value::as_str) {
                    Some(name) => format!("{place}[{name}]"),
                    None => format!("{place}[{i}]"),
                };
                find(item, &index, checked)?;
            }
        }
        Value::Object(fields) => {
            if fields.get("@type").and_then(Value::as_str) == Some(WASM_FILTER_TYPE) {
                envoy_wasm_filter(fields, place, checked);
                return Ok(());
            }
            match fields.get("kind").and_then(Value::as_str) {
                Some("WasmPlugin") => {
                    istio_wasm_plugin(fields, place, checked);
                    return Ok(());
                }
                Some("ConfigMap") => return config_map(fields, place, checked),
                _ => {}
            }
            for (key, value) in fields {
                find(value, &member(place, key), checked)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// An Envoy wasm filter (`envoy.extensions.filters.http.wasm.v3.Wasm`).
fn envoy_wasm_filter(fields: &Map<String, Value>, place: &str, checked: &mut Vec<Checked>) {
    let config = fields.get("config").unwrap_or(&Value::Null);
    let text = |pointer: &str| config.pointer(pointer).and_then(Value::as_str);
    let module = text("/vm_config/code/local/filename")
        .and_then(Module::from_file)
        .or_else(|| text("/root_id").and_then(Module::named))
        .or_else(|| text("/name").and_then(Module::named));
    let Some(module) = module else {
        return;
    };
    // Envoy passes the plugin a `google.protobuf.StringValue`'s text.
    let result = match config.get("configuration") {
        None => module.load(b""),
        Some(configuration) => match configuration.get("value").and_then(Value::as_str) {
            Some(value)
                if configuration.get("@type").and_then(Value::as_str)
                    == Some("type.googleapis.com/google.protobuf.StringValue") =>
            {
                module.load(value.as_bytes())
            }
            _ => Err(ConfigError::new(
                module.name(),
                "",
                "the plugin configuration must be a google.protobuf.StringValue holding JSON",
            )),
        },
    };
    checked.push(Checked {
        place: place.to_owned(),
        module: module.name(),
        result,
    });
}

/// An Istio `WasmPlugin`: Istio hands `spec.pluginConfig` to the module
/// named by `spec.pluginName` as JSON.
fn istio_wasm_plugin(fields: &Map<String, Value>, place: &str, checked: &mut Vec<Checked>) {
    let spec = fields.get("spec").unwrap_or(&Value::Null);
    let Some(module) = spec
        .get("pluginName")
        .and_then(Value::as_str)
        .and_then(Module::named)
    else {
        return;
    };
    let configuration = spec
        .get("pluginConfig")
        .map(Value::to_string)
        .unwrap_or_default();
    let name = fields
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    checked.push(Checked {
        place: member(place, &format!("WasmPlugin {name}: spec.pluginConfig")),
        module: module.name(),
        result: module.load(configuration.as_bytes()),
    });
}

/// A Kubernetes `ConfigMap`: its YAML and JSON entries, as Envoy configs.
fn config_map(
    fields: &Map<String, Value>,
    place: &str,
    checked: &mut Vec<Checked>,
) -> Result<(), String> {
    let entries = fields.get("data").and_then(Value::as_object);
    for (key, value) in entries.into_iter().flatten() {
        let (Some(text), true) = (
            value.as_str(),
            [".yaml", ".yml", ".json"].iter().any(|e| key.ends_with(e)),
        ) else {
            continue;
        };
        let entry = member(place, &format!("data.{key}"));
        let (documents, _) = documents(text).map_err(|e| format!("{entry}: {e}"))?;
        for document in &documents {
            find(document, &format!("{entry}: "), checked)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths;

    fn refusals(checked: &[Checked]) -> Vec<String> {
        checked
            .iter()
            .filter_map(|c| c.result.as_ref().err().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn route_translate_is_also_known_as_provider_rewrite() {
        for name in ["route_translate", "provider_rewrite"] {
            assert_eq!(
                Module::named(name),
                Some(Module::Filter("route_translate")),
                "{name}"
            );
        }
        assert_eq!(
            Module::from_file("/w/provider_rewrite.wasm"),
            Some(Module::Filter("route_translate"))
        );
    }

    #[test]
    fn the_shipped_filter_configurations_pass() {
        for name in ["demo", "production"] {
            let path = paths::envoy_dir().join(format!("filters/{name}.json"));
            let checked = check_file(&path, None).unwrap();
            assert_eq!(checked.len(), 1, "{name}");
            assert_eq!(checked[0].module, "llm_gateway");
            assert!(checked[0].result.is_ok(), "{name}: {:?}", checked[0].result);
        }
    }

    #[test]
    fn a_bad_field_is_named_by_the_filter_that_refuses_it() {
        let checked = check_text(
            r#"{"audit": {"client_headers": ["x-agent-id", "Bad Header"]}}"#,
            None,
        )
        .unwrap();
        let errors = refusals(&checked);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("invalid audit configuration: field `client_headers[1]`"),
            "{}",
            errors[0]
        );
        let yaml = "token_limit:\n  levels:\n  - key: [client]\n    limits: {input_tokens_per_minut: 10}\n";
        let errors = refusals(&check_text(yaml, None).unwrap());
        assert!(
            errors.len() == 1 && errors[0].contains("field `levels[0].limits"),
            "{errors:?}"
        );
        let errors = refusals(&check_text(r#"{"audti": {}}"#, None).unwrap());
        assert!(
            errors[0].contains("field `audti`: unknown filter"),
            "{errors:?}"
        );
    }

    #[test]
    fn one_filters_own_configuration_with_its_module() {
        let pii = Module::named("pii_scan").unwrap();
        let ok = check_text("default_action: redact\n", Some(pii)).unwrap();
        assert!(ok[0].result.is_ok(), "{:?}", ok[0].result);
        let bad = check_text(r#"{"default_action": "shred"}"#, Some(pii)).unwrap();
        let errors = refusals(&bad);
        assert!(
            errors[0].starts_with("invalid pii_scan configuration: field `default_action`"),
            "{errors:?}"
        );
        let audit = Module::named("audit").unwrap();
        let errors =
            refusals(&check_text(r#"{"client_identity": "Bad Header"}"#, Some(audit)).unwrap());
        assert!(
            errors[0].starts_with("invalid audit configuration: field `client_identity`"),
            "{errors:?}"
        );
        let ok = check_text(r#"{"client_identity": "x-user"}"#, Some(audit)).unwrap();
        assert!(ok[0].result.is_ok(), "{:?}", ok[0].result);
        assert!(Module::named("pii-scan").is_none());
    }

    /// A rendered config's shape: filters on a listener and on a cluster
    /// behind a YAML alias, a filter of another module left alone.
    #[test]
    fn every_plugin_configuration_in_an_envoy_config_is_checked() {
        let filter = |file: &str, configuration: &str| {
            format!(
                r#"{{"name": "{}", "typed_config": {{"@type": "{WASM_FILTER_TYPE}", "config": {{"vm_config": {{"code": {{"local": {{"filename": "/w/{file}"}}}}}}, "configuration": {{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": {}}}}}}}}}"#,
                file.trim_end_matches(".wasm"),
                serde_json::to_string(configuration).unwrap()
            )
        };
        let envoy = format!(
            "static_resources:\n  listeners:\n  - name: gateway\n    filters:\n    - {}\n    - {}\n    - {}\n  clusters:\n  - upstream: &up\n    - {}\n  - again: *up\n",
            filter("llm_gateway_bundle.wasm", r#"{"audit": {}}"#),
            filter("token_limit.wasm", r#"{"levels": "many"}"#),
            filter("someone_elses.wasm", "not json"),
            filter(
                "llm_gateway_bundle.wasm",
                r#"{"route_translate": {"role": "translate", "provider": "azure"}}"#
            ),
        );
        let checked = check_text(&envoy, None).unwrap();
        let found: Vec<(&str, &str, bool)> = checked
            .iter()
            .map(|c| (c.place.as_str(), c.module, c.result.is_ok()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "static_resources.listeners[gateway].filters[llm_gateway_bundle].typed_config",
                    "llm_gateway",
                    true
                ),
                (
                    "static_resources.listeners[gateway].filters[token_limit].typed_config",
                    "token_limit",
                    false
                ),
                (
                    "static_resources.clusters[0].upstream[llm_gateway_bundle].typed_config",
                    "llm_gateway",
                    true
                ),
                (
                    "static_resources.clusters[1].again[llm_gateway_bundle].typed_config",
                    "llm_gateway",
                    true
                ),
            ]
        );
        assert!(refusals(&checked)[0].contains("invalid token_limit configuration: field `levels`"));
    }

    #[test]
    fn wasm_plugins_and_config_maps_are_looked_into() {
        let yaml = r#"
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: llm-gateway-audit}
spec:
  pluginName: audit
  pluginConfig:
    client_headers: [x-agent-id]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: envoy}
data:
  README: "not a config"
  envoy.yaml: |
    static_resources:
      listeners:
      - typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
          config:
            root_id: llm_gateway
            configuration:
              "@type": type.googleapis.com/google.protobuf.StringValue
              value: '{"pii_scan": {"entities": {"EMAIL": "explode"}}}'
"#;
        let checked = check_text(yaml, None).unwrap();
        assert_eq!(checked.len(), 2, "{checked:?}");
        assert_eq!(
            checked[0].place,
            "document 1: WasmPlugin llm-gateway-audit: spec.pluginConfig"
        );
        assert!(checked[0].result.is_ok(), "{:?}", checked[0].result);
        assert_eq!(
            checked[1].place,
            "document 2: data.envoy.yaml: static_resources.listeners[0].typed_config"
        );
        assert!(
            refusals(&checked)[0].contains("invalid pii_scan configuration: field `entities"),
            "{checked:?}"
        );
    }

    #[test]
    fn files_without_a_gateway_configuration_are_refused() {
        for text in [
            "static_resources: {listeners: []}\n",
            "[1, 2]",
            "",
            "a: [unclosed",
        ] {
            assert!(check_text(text, None).is_err(), "{text:?}");
        }
        let err = check_text("{}\n---\n{}\n", Module::named("audit")).unwrap_err();
        assert!(err.contains("one document, found 2"), "{err}");
    }
}
