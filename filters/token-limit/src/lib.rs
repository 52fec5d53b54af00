//! token-limit: token counting and per-key token and request limits with
//! OpenAI-style 429s.
//!
//! Foundation state: the configuration (how the key is built, how tokens are
//! counted) is loaded and validated, and the stage publishes the limit key.
//! Counting and limiting come with the token-limit issue.

pub mod count;
pub mod limit;
mod config;
mod stage;

pub use config::{Counting, TokenLimitConfig};
pub use stage::TokenLimit;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "token_limit";

/// Builds the stage from its JSON configuration.
pub fn stage(config: serde_json::Value) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(Box::new(TokenLimit::new(TokenLimitConfig::from_json(config)?)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
