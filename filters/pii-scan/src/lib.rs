//! pii-scan: PII and secret detection with detect, redact, block, tokenize and
//! route actions, on requests and streamed responses.
//!
//! `engine` holds detection (one pass, then validation, built-in and custom
//! detectors), the actions and the tokenize vault; `stage` runs it over every
//! text field of a request, and over the model's output (whole or streamed,
//! values split across events still found) when response scanning is on, and
//! restores tokenized values in the response; `config` is what the filter
//! configuration says.

mod config;
pub mod engine;
mod stage;

pub use config::{Action, Entity, PiiConfig, ResponsePolicy};
pub use stage::PiiScan;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "pii_scan";

/// Builds the stage from its JSON configuration.
pub fn stage(
    config: serde_json::Value,
    _settings: &wasm_glue::ModuleSettings,
) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    let config = PiiConfig::from_json(config)?;
    let engine = engine::Engine::new(&config.engine)?;
    Ok(Box::new(PiiScan::new(config, engine)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
