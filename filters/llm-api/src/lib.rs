//! The one place that knows the shapes of the LLM APIs the gateway speaks.
//!
//! Every filter sees requests through this crate instead of hand-rolling JSON
//! paths: [`api`] tells which API a request speaks (and so in which format an
//! error must be written), [`request`] parses a request body once for the whole
//! filter chain, and [`error`] renders rejections in the caller's format.
//!
//! Nothing here calls proxy-wasm, so all of it is tested natively.

pub mod api;
pub mod error;
pub mod request;

pub use api::{ApiKind, Dialect};
pub use error::{ApiError, ErrorKind};
pub use request::LlmRequest;
