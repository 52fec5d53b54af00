//! pii-scan: PII and secret detection with detect, redact, block, tokenize and
//! route actions, on requests and streamed responses.
//!
//! Foundation state: the policy (an action per entity type) is loaded and
//! validated and the stage sits in the path. Detection comes with the
//! pii-scan issue.

pub mod engine;
mod config;
mod stage;

pub use config::{Action, Entity, PiiConfig};
pub use stage::PiiScan;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "pii_scan";

/// Builds the stage from its JSON configuration.
pub fn stage(config: serde_json::Value) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(Box::new(PiiScan::new(PiiConfig::from_json(config)?)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
