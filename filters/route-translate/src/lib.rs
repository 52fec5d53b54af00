//! route-translate: one OpenAI-compatible endpoint routed to OpenAI,
//! Anthropic, Azure OpenAI and Gemini, with translation between their APIs.
//!
//! The filter has two roles. `route` runs in the listener's filter chain: it
//! decides the provider once the whole request is known and selects its
//! cluster through a header the route table reads (Envoy's `buffer` filter
//! after the bundle holds the headers until then; see docs/architecture.md).
//! `translate` runs as an upstream filter on each provider's cluster, once per
//! attempt, so a retry or fallback is translated for the provider it reaches.
//!
//! Routing: header, `provider/model` prefix, model table with globs and
//! weighted splits, default, allow-lists, `GET /v1/models`. Translation: the
//! translators of `llm_api::translate`, per attempt, requests, responses and
//! streams.

mod config;
mod headers;
mod route;
pub mod routing;
mod translate;

pub use config::{Provider, RouteTranslateConfig, TranslateConfig};
pub use translate::READS as TRANSLATE_READS;

/// The name of this filter in configuration and logs.
pub const NAME: &str = "route_translate";

/// Another spelling of this filter's configuration section, read as
/// [`NAME`] so that configurations written with it keep loading.
pub const SECTION_ALIAS: &str = "provider_rewrite";

/// Renames a [`SECTION_ALIAS`] section of a bundle-shaped configuration to
/// [`NAME`]; an error (the field) if both are present.
pub fn unalias_section(
    sections: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), wasm_glue::ConfigError> {
    let Some(section) = sections.remove(SECTION_ALIAS) else {
        return Ok(());
    };
    if sections.contains_key(NAME) {
        return Err(wasm_glue::ConfigError::new(
            NAME,
            SECTION_ALIAS,
            format!("`{SECTION_ALIAS}` is another spelling of `{NAME}`; give only one of them"),
        ));
    }
    sections.insert(NAME.to_owned(), section);
    Ok(())
}

/// Builds the stage for the configured role from its JSON configuration.
pub fn stage(
    config: serde_json::Value,
    _settings: &wasm_glue::ModuleSettings,
) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(match RouteTranslateConfig::from_json(config)? {
        RouteTranslateConfig::Route(router) => Box::new(route::RouteStage::new(*router)),
        RouteTranslateConfig::Translate(config) => Box::new(translate::TranslateStage::new(config)),
    })
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
