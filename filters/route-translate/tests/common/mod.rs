//! What both roles' tests start from: the stage configured by a JSON
//! configuration, in its module with Envoy in memory (`wasm_glue::testing`).

use serde_json::Value;
use std::rc::Rc;
use wasm_glue::config::single_stage;
use wasm_glue::testing::MemoryHost;
use wasm_glue::{ConfigError, Stages};

/// The module of one stage configured by `config`, and the Envoy it runs in.
pub fn module(config: &Value) -> (Rc<Stages>, MemoryHost) {
    let stages = single_stage(
        route_translate::NAME,
        config.to_string().as_bytes(),
        route_translate::stage,
    )
    .unwrap();
    (Rc::new(stages), MemoryHost::default())
}

/// The error that refuses the configuration `config`.
pub fn refusal(config: &str) -> ConfigError {
    single_stage(
        route_translate::NAME,
        config.as_bytes(),
        route_translate::stage,
    )
    .err()
    .unwrap()
}
