//! token-limit: token counting and per-key token and request limits with
//! OpenAI-style 429s.
//!
//! `count` holds token counting (exact with OpenAI's vocabularies, calibrated
//! estimates, and the `auto` choice between them), `limit` the policy and the
//! sliding-window limiter over a compare-and-swap store, `stage` the filter
//! that runs them on each request with Envoy's shared data as the store,
//! `stream_usage` what a streamed response used, `usage` the answer to
//! `GET /v1/gateway/usage`.

mod config;
pub mod count;
pub mod limit;
mod max_output;
mod stage;
mod stream_usage;
mod usage;

pub use stage::TokenLimit;

/// The name of this filter in configuration, metrics and logs.
pub const NAME: &str = "token_limit";

/// Builds the stage from its JSON configuration and its module's settings.
pub fn stage(
    config: serde_json::Value,
    settings: &wasm_glue::ModuleSettings,
) -> Result<Box<dyn wasm_glue::Stage>, wasm_glue::ConfigError> {
    Ok(Box::new(TokenLimit::new(config::from_json(
        config, settings,
    )?)))
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
proxy_wasm::main! {{
    wasm_glue::wasm::start(|bytes| wasm_glue::config::single_stage(NAME, bytes, stage));
}}
