//! What the end-to-end tests share. The gateway itself (the config renderer,
//! the fake providers and Envoy started together on loopback ports, torn
//! down on drop and, through `PR_SET_PDEATHSIG`, when this process dies) is
//! the `llm-gateway` tool's library, re-exported here under the names the
//! tests use; this crate adds curl as the tests' client, the production
//! config on loopback, and the tool's binary.

pub mod client;
pub mod curl;
pub mod production;
pub mod tool;

pub use llm_gateway::{paths, process, render, secrets, stack};
pub use llm_gateway::{Layout, RunDir, Stack, StackOptions, Template};
