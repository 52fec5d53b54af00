//! The bundle: all four filters in one `.wasm`, run as one pipeline.
//!
//! One filter context runs the configured stages in the chain order of
//! docs/architecture.md (audit, pii_scan, token_limit, route_translate), so the whole
//! chain costs one VM per worker, one parse of each body and at most one write
//! of it. Its configuration has one optional section per filter, each exactly
//! the configuration of that filter's own `.wasm`:
//!
//! ```json
//! {"audit": {}, "pii_scan": {}, "token_limit": {}, "route_translate": {"role": "route", ...}}
//! ```
//!
//! Beside the sections, `client_identity`, `teams` and `prices` are set
//! once for all of them ([`ModuleSettings`]).
//!
//! On a provider cluster the same module runs as an upstream filter with only
//! `{"route_translate": {"role": "translate", ...}}`.

use serde_json::Value;
use wasm_glue::config::{parse_json, single_stage, StageBuilder};
use wasm_glue::{ConfigError, ModuleSettings, Stage, Stages};

/// The name of the bundle in logs and configuration errors.
pub const NAME: &str = "llm_gateway";

/// The filters in chain order, by their configuration section name.
const SECTIONS: [(&str, StageBuilder); 4] = [
    (audit::NAME, audit::stage),
    (pii_scan::NAME, pii_scan::stage),
    (token_limit::NAME, token_limit::stage),
    (route_translate::NAME, route_translate::stage),
];

/// Builds the configured stages, in chain order, from the bundle's JSON:
/// one section per filter, and the settings all of them share:
/// `client_identity` (the header naming the authenticated client,
/// `x-client-id` by default), `teams` (the clients of each team) and `prices`
/// (the price table of the audit's costs and of cost budgets).
pub fn load(bytes: &[u8]) -> Result<Stages, ConfigError> {
    let mut config = parse_json(NAME, bytes)?;
    let settings = ModuleSettings::take(NAME, &mut config)?;
    let Value::Object(mut sections) = config else {
        return Err(ConfigError::new(
            NAME,
            "",
            "must be a JSON object with one section per filter",
        ));
    };
    route_translate::unalias_section(&mut sections)?;
    if let Some(unknown) = sections
        .keys()
        .find(|k| !SECTIONS.iter().any(|(name, _)| name == k))
    {
        let known: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
        return Err(ConfigError::new(
            NAME,
            unknown.clone(),
            format!("unknown filter; expected one of {}", known.join(", ")),
        ));
    }
    share_route_models(&mut sections);
    let stages: Vec<Box<dyn Stage>> = SECTIONS
        .iter()
        .filter_map(|(name, build)| {
            sections
                .remove(*name)
                .map(|section| build(section, &settings))
        })
        .collect::<Result<_, _>>()?;
    if stages.is_empty() {
        return Err(ConfigError::new(NAME, "", "no filter is configured"));
    }
    Ok(Stages::new(stages).with_settings(&settings))
}

/// Builds the stage of one filter's own module (`filter` is its section
/// name) from its plugin configuration, as that module does.
pub fn load_filter(filter: &str, bytes: &[u8]) -> Result<Stages, ConfigError> {
    let Some((name, build)) = SECTIONS.iter().find(|(name, _)| *name == filter) else {
        return Err(ConfigError::new(filter, "", "no such filter"));
    };
    single_stage(name, bytes, *build)
}

/// Gives the audit section, unless it names its own, the route table's exact
/// model names as `metric_models`: the models the operator configured get
/// their own metric label, any other a client names is `other`.
fn share_route_models(sections: &mut serde_json::Map<String, Value>) {
    let Some(route) = sections.get(route_translate::NAME) else {
        return;
    };
    let mut models: Vec<Value> = Vec::new();
    for entry in route
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let targets = entry
            .get("to")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let names = entry
            .get("match")
            .into_iter()
            .chain(targets.filter_map(|to| to.get("model")));
        for name in names
            .filter_map(Value::as_str)
            .filter(|n| !n.is_empty() && !n.contains(['*', '?']))
        {
            if !models.iter().any(|m| m == name) {
                models.push(name.into());
            }
        }
    }
    if let Some(Value::Object(audit)) = sections.get_mut(audit::NAME) {
        audit.entry("metric_models").or_insert(Value::Array(models));
    }
}

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    wasm_glue::wasm::start(load);
}}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_stages_in_chain_order_whatever_the_section_order() {
        let config = br#"{
            "route_translate": {"role": "route", "providers": {"o": {"kind": "openai", "cluster": "c"}}, "default_provider": "o"},
            "token_limit": {}, "audit": {}, "pii_scan": {}
        }"#;
        let names: Vec<&str> = load(config).unwrap().iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            ["audit", "pii_scan", "token_limit", "provider_route"]
        );
    }

    #[test]
    fn the_route_tables_exact_models_are_the_audits_metric_models() {
        let mut sections = serde_json::json!({
            "audit": {},
            "route_translate": {"role": "route", "models": [
                {"match": "fast", "to": [{"provider": "o", "model": "gpt-4o-mini"}, {"provider": "a"}]},
                {"match": "claude-*", "to": [{"provider": "a"}]}, {"match": "gpt-4o-mini", "to": [{"provider": "o"}]}
            ]}
        });
        let Value::Object(map) = &mut sections else {
            unreachable!()
        };
        share_route_models(map);
        assert_eq!(
            map["audit"]["metric_models"],
            serde_json::json!(["fast", "gpt-4o-mini"])
        );
        map["audit"]["metric_models"] = serde_json::json!(["mine"]);
        share_route_models(map);
        assert_eq!(
            map["audit"]["metric_models"],
            serde_json::json!(["mine"]),
            "the audit's own list wins"
        );
    }

    #[test]
    fn a_section_alone_is_a_valid_bundle() {
        let names: Vec<&str> =
            load(br#"{"route_translate": {"role": "translate", "provider": "azure"}}"#)
                .unwrap()
                .iter()
                .map(|s| s.name())
                .collect();
        assert_eq!(names, ["provider_translate"]);
    }

    #[test]
    fn errors_name_the_section_and_field() {
        let err = load(br#"{"audit": {"client_headers": ["Bad Header"]}}"#)
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "invalid audit configuration: field `client_headers[0]`: `Bad Header` is not a lowercase HTTP header name");
        let err = load(br#"{"audits": {}}"#).err().unwrap();
        assert_eq!(err.field, "audits");
        let err = load(br#"{"audit": {}, "client_identity": "X Client"}"#)
            .err()
            .unwrap();
        assert_eq!(err.field, "client_identity");
        assert!(load(br#"{"audit": {}, "client_identity": "x-jwt-sub"}"#).is_ok());
        assert!(load(b"[]").is_err());
        assert!(load(b"{}").is_err());
    }

    #[test]
    fn the_route_translate_section_may_be_spelled_provider_rewrite() {
        let translate = r#"{"role": "translate", "provider": "azure"}"#;
        for section in ["route_translate", "provider_rewrite"] {
            let stages = load(format!(r#"{{"{section}": {translate}}}"#).as_bytes()).unwrap();
            let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
            assert_eq!(names, ["provider_translate"], "{section}");
        }
        let route = r#"{"role": "route", "providers": {"o": {"kind": "openai", "cluster": "c"}}, "default_provider": "o"}"#;
        assert!(load(format!(r#"{{"provider_rewrite": {route}}}"#).as_bytes()).is_ok());
        let err = load(
            format!(r#"{{"route_translate": {translate}, "provider_rewrite": {translate}}}"#)
                .as_bytes(),
        )
        .err()
        .unwrap();
        assert_eq!(err.field, "provider_rewrite");
    }

    #[test]
    fn the_top_level_prices_serve_every_section_and_conflict_with_a_sections_own() {
        let price = r#"[{"model": "m", "input": 1, "output": 2}]"#;
        assert!(load(
            format!(r#"{{"prices": {price}, "audit": {{}}, "token_limit": {{}}}}"#).as_bytes()
        )
        .is_ok());
        assert!(
            load(
                format!(
                    r#"{{"audit": {{"prices": {price}}}, "token_limit": {{"prices": {price}}}}}"#
                )
                .as_bytes()
            )
            .is_ok(),
            "the old spelling loads"
        );
        let err = load(
            format!(
                r#"{{"prices": {price}, "audit": {{}}, "token_limit": {{"prices": {price}}}}}"#
            )
            .as_bytes(),
        )
        .err()
        .unwrap();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("token_limit", "prices")
        );
        let err = load(br#"{"prices": [{"model": "m", "input": 1}], "audit": {}}"#)
            .err()
            .unwrap();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("llm_gateway", "prices[0]")
        );
    }

    #[test]
    fn a_filters_own_module_takes_the_shared_settings_off_its_configuration() {
        let config =
            br#"{"prices": [{"model": "m", "input": 1, "output": 2}], "client_identity": "x-user",
            "teams": {"platform": {"clients": ["demo"]}}}"#;
        assert!(load_filter("token_limit", config).is_ok());
        assert!(load_filter("pii_scan", config).is_ok());
        let route =
            br#"{"role": "route", "providers": {"openai": {"kind": "openai", "cluster": "openai"}},
            "default_provider": "openai", "clients": {"allowed_models": {"demo": ["gpt-4o"]}},
            "teams": {"platform": {"clients": ["demo"]}}}"#;
        assert!(load_filter("route_translate", route).is_ok());
        let err = load_filter("audit", br#"{"teams": {"a.b": {"clients": ["demo"]}}}"#)
            .err()
            .unwrap();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("audit", "teams.a.b")
        );
        let err = load_filter(
            "audit",
            br#"{"prices": [{"model": "", "input": 1, "output": 2}]}"#,
        )
        .err()
        .unwrap();
        assert_eq!(
            (err.filter.as_str(), err.field.as_str()),
            ("audit", "prices[0]")
        );
        assert!(load_filter("audits", b"{}").is_err());
    }
}
