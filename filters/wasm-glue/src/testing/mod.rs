//! Envoy in memory, for native tests of the pipeline and of every stage
//! (wasm-glue's `test-host` feature, which the stage crates enable only as a
//! dev-dependency): [`MemoryHost`] records what the stages ask of Envoy, and
//! [`Call`] drives one HTTP stream through a pipeline as the proxy-wasm
//! adapter does, so that a stage is tested on the paths Envoy runs, without
//! Envoy. What needs Envoy itself (routing on filter state, retries, the
//! SDKs against a real listener) stays in `tests/harness`.

mod call;
mod host;

pub use call::{Call, ClientRequest, Forwarded, Outcome, ProviderResponse};
pub use host::{HttpCall, MemoryHost};
