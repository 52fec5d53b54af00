//! audit: one structured record per LLM call, with metrics and cost.
//!
//! `record` builds one JSON record per call (never content, keys or PII
//! values) with its cost from the shared price map (`llm_api::pricing`),
//! `delivery` batches them to a collector with retries, from bounded rings
//! in Envoy's shared data,
//! `metrics` counts calls, tokens and cost by provider and model for
//! Prometheus, and `stage` gathers the facts of each call and also hands the
//! record to Envoy's access log.

mod config;
pub mod delivery;
mod metrics;
pub mod record;
mod request_id;
mod stage;

pub use config::AuditConfig;
pub use stage::Audit;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "audit";

/// Builds the stage from its JSON configuration and its module's settings.
pub fn stage(
    config: serde_json::Value,
    settings: &wasm_glue::ModuleSettings,
) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(Box::new(Audit::new(AuditConfig::from_json(
        config, settings,
    )?)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
