//! A small Envoy rate-limit service (`envoy.service.ratelimit.v3`) built
//! from existing libraries: limitador keeps the counters (in Redis, shared by
//! every instance, or in memory) and envoy-types provides the protocol on
//! tonic. It exists because neither envoyproxy/ratelimit nor Limitador's
//! server can be installed here, and the token-limit filter's global mode
//! needs a real service behind Envoy's rate-limit filter in its tests and
//! demo. The limits file format and the semantics are in
//! docs/ratelimit-service.md.

pub mod config;
pub mod limiter;
pub mod limits;
pub mod server;
pub mod service;
pub mod status;
