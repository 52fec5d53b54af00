//! The operator tool of the LLM gateway filters, as a library: the binary
//! `llm-gateway` is a thin command line over it, and the end-to-end tests
//! (`gateway-harness`) start their gateways with it.
//!
//! - [`render`]: the Envoy config templates of `envoy/` into Envoy configs;
//! - [`validate`]: filter configurations, alone or inside an Envoy config,
//!   loaded by the filters' own code, natively, without Envoy;
//! - [`stack`]: the demo gateway, Envoy and the fake providers started
//!   together on loopback ports ([`demo`] runs it until a signal);
//! - [`usage`]: tokens, cost and calls per client, agent, model and
//!   provider, from audit records;
//! - [`providers`]: what differs per provider, for scripts and tests.

pub mod demo;
pub mod paths;
pub mod process;
pub mod providers;
pub mod render;
pub mod secrets;
pub mod stack;
pub mod usage;
pub mod validate;

pub use render::{Layout, Template};
pub use stack::{RunDir, Stack, StackOptions};
