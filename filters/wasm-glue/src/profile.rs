//! Where a call's time goes inside Envoy: the wall time of each stage's
//! callbacks, of the parses and of each kind of host call, per request.
//!
//! Native profiles (callgrind on the chain bench) miss what only Envoy has:
//! the V8 code, the host calls and their copies back into the module, cold
//! caches under load. So a bundle built with the `span-profile` feature
//! (`make wasm-profile`) times each [`span`] with Envoy's clock and every
//! [`REPORT_EVERY`] requests logs, per worker, the totals as one warning line
//! `span-profile {json}`; `bench/compare.py spans` drives load through it and
//! prints the table (docs/benchmarks.md). Each span adds two clock reads
//! (about 0.3 µs), so figures are a little high, small spans most.
//!
//! Without the feature a span is the call itself: nothing is timed, stored
//! or logged, and `what` is never evaluated.

/// Runs `f`, timed as `what` (a stage's name, `host`, `request`, ...) and
/// `part` (the callback or the kind of host call) when profiling.
#[inline(always)]
pub fn span<R>(
    what: impl FnOnce() -> &'static str,
    part: &'static str,
    f: impl FnOnce() -> R,
) -> R {
    #[cfg(all(feature = "span-profile", target_arch = "wasm32"))]
    {
        profiling::span(what(), part, f)
    }
    #[cfg(not(all(feature = "span-profile", target_arch = "wasm32")))]
    {
        let _ = (what, part);
        f()
    }
}

/// A request ended (its stream's log callback ran): reports when due.
#[inline(always)]
pub fn request_done() {
    #[cfg(all(feature = "span-profile", target_arch = "wasm32"))]
    profiling::request_done();
}

/// Requests per report, per worker.
pub const REPORT_EVERY: u64 = 1000;

#[cfg(all(feature = "span-profile", target_arch = "wasm32"))]
mod profiling {
    use super::REPORT_EVERY;
    use proxy_wasm::hostcalls;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    #[derive(Default)]
    struct Totals {
        requests: u64,
        /// (what, part) → (nanoseconds, calls).
        spans: BTreeMap<(&'static str, &'static str), (u64, u64)>,
    }

    thread_local! {
        static TOTALS: RefCell<Totals> = RefCell::new(Totals::default());
    }

    fn now_ns() -> u64 {
        let now = hostcalls::get_current_time().unwrap_or(UNIX_EPOCH);
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn span<R>(what: &'static str, part: &'static str, f: impl FnOnce() -> R) -> R {
        let started = now_ns();
        let result = f();
        let took = now_ns().saturating_sub(started);
        TOTALS.with(|totals| {
            let mut totals = totals.borrow_mut();
            let entry = totals.spans.entry((what, part)).or_default();
            entry.0 += took;
            entry.1 += 1;
        });
        result
    }

    pub(super) fn request_done() {
        TOTALS.with(|totals| {
            let mut totals = totals.borrow_mut();
            totals.requests += 1;
            if totals.requests < REPORT_EVERY {
                return;
            }
            let spans: Vec<_> = totals
                .spans
                .iter()
                .map(|((what, part), (ns, calls))| serde_json::json!({"what": what, "part": part, "ns": ns, "calls": calls}))
                .collect();
            let report = serde_json::json!({"requests": totals.requests, "spans": spans});
            let _ = hostcalls::log(proxy_wasm::types::LogLevel::Warn, &format!("span-profile {report}"));
            *totals = Totals::default();
        });
    }
}
