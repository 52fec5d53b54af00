//! Per-key limits on requests, tokens and cost over sliding windows, kept in
//! a compare-and-swap store shared by all workers.

pub mod headers;
pub mod key;
pub mod limiter;
pub mod policy;
mod state;
pub mod store;
mod window;

pub use headers::openai_headers;
pub use key::{build_key, KeyError, MAX_PART_BYTES};
pub use limiter::{
    Actual, Contended, Decision, Demand, LimitState, Limiter, Outcome, Reason, Rejection,
    Reservation, Sweep, MAX_OWED,
};
pub use policy::{Level, Limit, LimitPolicy, Limits, Measure, Unpriced};
pub use store::{CasMismatch, KeptReads, MemoryStore, Store};
pub use window::BUCKETS;
