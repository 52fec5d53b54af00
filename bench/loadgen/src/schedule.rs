//! The open-loop send schedule: request `i` is due at `start + i / rate`.
//!
//! Each time is computed from `start`, never by adding an interval to the
//! previous one, so rounding cannot accumulate into drift over a long run.

use std::time::{Duration, Instant};

/// Fixed-interval send times at `rate` requests per second.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    rate: f64,
}

impl Schedule {
    /// `rate` must be positive and finite (the CLI checks it).
    pub fn new(start: Instant, rate: f64) -> Schedule {
        Schedule { start, rate }
    }

    /// When request `i` (0-based) is due.
    pub fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_intervals_from_start() {
        let start = Instant::now();
        let s = Schedule::new(start, 1000.0);
        assert_eq!(s.at(0), start);
        assert_eq!(s.at(1) - start, Duration::from_millis(1));
        assert_eq!(s.at(2500) - start, Duration::from_millis(2500));
    }

    #[test]
    fn no_drift_for_rates_that_do_not_divide_a_second() {
        let start = Instant::now();
        let s = Schedule::new(start, 3.0);
        // 3 req/s for an hour: request 10_800 is due at exactly 3600 s.
        let late = s.at(10_800) - start;
        assert!(late.abs_diff(Duration::from_secs(3600)) < Duration::from_micros(1));
        let s = Schedule::new(start, 7.0);
        let first = s.at(1) - start;
        assert!(first.abs_diff(Duration::from_nanos(142_857_143)) <= Duration::from_nanos(1));
    }
}
