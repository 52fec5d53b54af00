//! Runs the real gateway for tests and for `make demo`: renders an Envoy
//! config template, starts the fake providers and Envoy with the real `.wasm`
//! files on loopback ports, waits until both are ready, and tears everything
//! down when dropped (and, through `PR_SET_PDEATHSIG`, when this process dies).

pub mod curl;
pub mod paths;
pub mod process;
pub mod production;
pub mod render;
pub mod secrets;
pub mod stack;

pub use stack::RunDir;

pub use render::{Layout, Template};
pub use stack::{Stack, StackOptions};
