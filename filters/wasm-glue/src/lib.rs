//! The stage pipeline every filter of the gateway runs in.
//!
//! A filter is a [`Stage`]: a validated configuration that makes one
//! [`StageStream`] per HTTP stream. A [`Pipeline`] runs one or more stages in
//! order over one [`Exchange`], which holds the request parsed once for all of
//! them. A single filter's `.wasm` is a pipeline of one stage; the bundle is a
//! pipeline of all four, which is what makes it fast: one VM, one parse of each
//! body, at most one write of it.
//!
//! The pipeline talks to Envoy only through the [`Host`] trait, so it is tested
//! natively with an in-memory host ([`testing`], also for the stage crates'
//! tests); [`wasm`] is the thin adapter onto proxy-wasm.

pub mod body_limit;
pub mod config;
mod exchange;
mod facts;
mod host;
mod pipeline;
pub mod profile;
mod response;
pub mod teams;
#[cfg(any(test, feature = "test-host"))]
pub mod testing;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use config::{parse_section, ConfigError, ModuleSettings};
pub use exchange::Exchange;
pub use host::{Host, LogLevel, SharedConflict};
pub use pipeline::{Flow, Pipeline, Reply, Stage, StageStream, Stages, Step};
pub use response::{BodyNeed, BodyStep};
pub use teams::{Client, Teams};
