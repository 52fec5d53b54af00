//! The bundle, able to crash on request: a request with the header
//! `x-llm-gateway-test-crash` makes its VM trap (wasm-glue's
//! `fault-injection` feature). Used only to show that Envoy's failure policy
//! handles a failed VM; built by `make crash-bundle` into
//! `build/wasm-crash/llm_gateway_bundle.wasm`.

// Linked for its entry point and filters.
pub use llm_gateway_bundle as bundle;
pub use wasm_glue as glue;
