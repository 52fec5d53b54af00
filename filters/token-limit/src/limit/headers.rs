//! OpenAI's rate-limit headers from the limiter's state, so SDK back-off
//! works unchanged.

use super::limiter::{LimitState, Rejection};
use super::policy::Measure;

/// `x-ratelimit-*` for the tightest request limit and the tightest token
/// limit (least remaining), and on a rejection `retry-after` (whole
/// seconds, rounded up) and `retry-after-ms`.
pub fn openai_headers(
    limits: &[LimitState],
    rejection: Option<&Rejection>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(8);
    let tightest = |is: fn(Measure) -> bool| {
        limits
            .iter()
            .filter(|s| is(s.limit.measure))
            .min_by_key(|s| (s.remaining(), std::cmp::Reverse(s.reset_ms)))
    };
    if let Some(s) = tightest(|m| m == Measure::Requests) {
        out.push(("x-ratelimit-limit-requests", s.limit.max.to_string()));
        out.push(("x-ratelimit-remaining-requests", s.remaining().to_string()));
        out.push(("x-ratelimit-reset-requests", duration(s.reset_ms)));
    }
    if let Some(s) = tightest(|m| {
        matches!(
            m,
            Measure::InputTokens | Measure::OutputTokens | Measure::TotalTokens
        )
    }) {
        out.push(("x-ratelimit-limit-tokens", s.limit.max.to_string()));
        out.push(("x-ratelimit-remaining-tokens", s.remaining().to_string()));
        out.push(("x-ratelimit-reset-tokens", duration(s.reset_ms)));
    }
    if let Some(ms) = rejection.and_then(|r| r.retry_after_ms) {
        out.push(("retry-after", ms.div_ceil(1000).to_string()));
        out.push(("retry-after-ms", ms.to_string()));
    }
    out
}

/// A duration as OpenAI writes it (Go's format at millisecond precision):
/// `250ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, ms / 60_000 % 60);
    let (s, frac) = (ms / 1000 % 60, ms % 1000);
    let mut seconds = s.to_string();
    if frac > 0 {
        let f = format!("{frac:03}");
        seconds = format!("{s}.{}", f.trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::limiter::Reason;
    use crate::limit::policy::{Limit, MINUTE_MS};

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(20), "20ms");
        assert_eq!(duration(1000), "1s");
        assert_eq!(duration(1500), "1.5s");
        assert_eq!(duration(360_000), "6m0s");
        assert_eq!(duration(3_723_004), "1h2m3.004s");
    }

    #[test]
    fn headers_pick_the_tightest_limits() {
        let st = |measure, max, used, reset_ms| LimitState {
            limit: Limit {
                measure,
                window_ms: MINUTE_MS,
                max,
            },
            used,
            reset_ms,
        };
        let limits = [
            st(Measure::Requests, 10, 10, 6000),
            st(Measure::InputTokens, 1000, 100, 1000),
            st(Measure::TotalTokens, 500, 450, 60_000),
        ];
        let rejection = Rejection {
            reason: Reason::OverLimit,
            limit: None,
            retry_after_ms: Some(1200),
        };
        let h = openai_headers(&limits, Some(&rejection));
        let get = |n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-ratelimit-limit-requests"), Some("10"));
        assert_eq!(get("x-ratelimit-remaining-requests"), Some("0"));
        assert_eq!(get("x-ratelimit-reset-requests"), Some("6s"));
        assert_eq!(get("x-ratelimit-limit-tokens"), Some("500"));
        assert_eq!(get("x-ratelimit-remaining-tokens"), Some("50"));
        assert_eq!(get("x-ratelimit-reset-tokens"), Some("1m0s"));
        assert_eq!(get("retry-after"), Some("2"));
        assert_eq!(get("retry-after-ms"), Some("1200"));
        assert!(openai_headers(&[], None).is_empty());
    }
}
