//! pii-scan: PII and secret detection with detect, redact, block, tokenize and
//! route actions, on requests and streamed responses.
//!
//! `engine` holds detection (one pass, then validation), the actions and the
//! tokenize vault; `stage` runs it over every text field of a request and
//! restores tokenized values in whole responses. Streamed restore, response
//! scanning and custom detectors in the filter configuration are next.

pub mod engine;
mod config;
mod stage;

pub use config::{Action, Entity, PiiConfig};
pub use stage::PiiScan;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "pii_scan";

/// Builds the stage from its JSON configuration.
pub fn stage(config: serde_json::Value) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(Box::new(PiiScan::new(PiiConfig::from_json(config)?, engine::Engine::builtin()?)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
