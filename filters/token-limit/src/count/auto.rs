//! The admission count: the padded estimate normally, the exact count only
//! when the padded estimate would cross the remaining budget (where the
//! exact count can change the decision).

use super::exact::Exceeded;
use crate::limit::policy::CountingMode;

/// Which count admission used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// estimate × (1 + margin), rounded up.
    PaddedEstimate,
    /// The tokenizer's count.
    Exact,
    /// The tokenizer stopped once it passed the budget: `tokens` is a lower
    /// bound that already exceeds it.
    ExactExceeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionCount {
    /// What to reserve.
    pub tokens: u64,
    pub method: Method,
    /// The raw estimate, for records.
    pub estimate: u64,
}

/// Decides the admission count. `estimate` is the calibrated estimate;
/// `remaining` the tightest remaining input-token budget (`None`: no token
/// limit applies); `exact` counts exactly up to a limit, and is `None` when
/// no tokenizer knows the model (then the estimate is all there is).
pub fn admission_count(
    mode: CountingMode,
    estimate: u64,
    margin: f64,
    remaining: Option<u64>,
    exact: Option<&mut dyn FnMut(u64) -> Result<u64, Exceeded>>,
) -> AdmissionCount {
    let padded = (estimate as f64 * (1.0 + margin)).ceil() as u64;
    let estimated = AdmissionCount {
        tokens: padded,
        method: Method::PaddedEstimate,
        estimate,
    };
    let Some(exact) = exact else { return estimated };
    let limit = match (mode, remaining) {
        (CountingMode::Estimate, _) => return estimated,
        (CountingMode::Exact, _) => u64::MAX,
        (CountingMode::Auto, None) => return estimated,
        (CountingMode::Auto, Some(r)) if padded <= r => return estimated,
        (CountingMode::Auto, Some(r)) => r,
    };
    match exact(limit) {
        Ok(tokens) => AdmissionCount {
            tokens,
            method: Method::Exact,
            estimate,
        },
        Err(e) => AdmissionCount {
            tokens: e.at_least as u64,
            method: Method::ExactExceeded,
            estimate,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_only_near_the_budget() {
        let calls = std::cell::Cell::new(0);
        let mut exact = |limit: u64| {
            calls.set(calls.get() + 1);
            if 100 <= limit {
                Ok(100)
            } else {
                Err(Exceeded {
                    at_least: limit as usize + 1,
                })
            }
        };
        let far = admission_count(CountingMode::Auto, 100, 0.3, Some(10_000), Some(&mut exact));
        assert_eq!((far.tokens, far.method), (130, Method::PaddedEstimate));
        let near = admission_count(CountingMode::Auto, 100, 0.3, Some(120), Some(&mut exact));
        assert_eq!((near.tokens, near.method), (100, Method::Exact));
        let over = admission_count(CountingMode::Auto, 100, 0.3, Some(50), Some(&mut exact));
        assert_eq!((over.tokens, over.method), (51, Method::ExactExceeded));
        assert_eq!(calls.get(), 2);
        let always = admission_count(CountingMode::Exact, 100, 0.3, None, Some(&mut exact));
        assert_eq!(always.method, Method::Exact);
        let no_tokenizer = admission_count(CountingMode::Exact, 100, 0.3, Some(1), None);
        assert_eq!(
            (no_tokenizer.tokens, no_tokenizer.method),
            (130, Method::PaddedEstimate)
        );
    }
}
