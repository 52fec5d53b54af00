//! audit: one structured record per LLM call, with metrics and cost.
//!
//! Foundation state: the configuration is loaded and validated, and the stage
//! publishes what the request is (API, requested model, stream flag, client)
//! as facts for access logs. Records, delivery and metrics come with the
//! audit issue.

mod config;
mod stage;

pub use config::AuditConfig;
pub use stage::Audit;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "audit";

/// Builds the stage from its JSON configuration.
pub fn stage(config: serde_json::Value) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(Box::new(Audit::new(AuditConfig::from_json(config)?)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
