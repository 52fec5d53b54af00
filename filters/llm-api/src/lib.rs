//! The one place that knows the shapes of the LLM APIs the gateway speaks.
//!
//! Every filter sees requests through this crate instead of hand-rolling JSON
//! paths: [`api`] tells which API a request speaks (and so in which format an
//! error must be written), [`request`] parses a request body once for the whole
//! filter chain into a [`body`] that the walkers read in place through
//! [`json`], [`text`] visits or rewrites every user-visible text field
//! (base64 text documents decoded through [`document`]),
//! [`response`] parses a response, for its metadata alone when no filter
//! reads its output, [`usage`] reads what the provider says was used, [`pricing`] turns it into
//! dollars, [`sse`] parses and writes
//! event streams incrementally, [`translate`] turns one API into another, and
//! [`error`] renders rejections in the caller's format; [`member`] looks up
//! the members of the small JSON objects those walks visit; [`fact`] names
//! the facts the filters publish to each other and to Envoy. What differs
//! from one provider to another is in one table, [`providers`]; what is
//! specific to one provider's wire format lives in its own module
//! ([`openai`], [`anthropic`], [`gemini`], [`azure`]).
//!
//! Nothing here calls proxy-wasm, so all of it is tested natively.

pub mod anthropic;
pub mod api;
pub mod azure;
pub mod body;
pub mod document;
pub mod error;
pub mod fact;
pub mod gemini;
pub mod json;
pub mod member;
pub mod openai;
pub mod pricing;
pub mod providers;
pub mod request;
pub mod response;
pub mod sse;
pub mod text;
pub mod translate;
pub mod usage;

pub use api::{ApiKind, Dialect};
pub use body::{Body, BodyRef};
pub use error::{ApiError, ErrorKind};
pub use fact::{Fact, JsonFact};
pub use json::Json;
pub use providers::ProviderKind;
pub use request::LlmRequest;
pub use sse::{SseEvent, SseParser};
pub use text::{Content, Role, TextField, TextKind};
pub use translate::{translator, TranslateOptions, Translator, UpstreamRequest};
pub use usage::{Usage, UsageAccumulator};
