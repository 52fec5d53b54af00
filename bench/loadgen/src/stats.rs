//! What a run records (histograms and counters, shared by all connections)
//! and how it is summarised: JSON for scripts, a few lines for people.

use crate::client::{Reply, TransportError};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Histograms hold microseconds, 3 significant digits, up to this (longer
/// values are clamped to it).
const MAX_MICROS: u64 = 3_600_000_000;

/// The recorded part of a run: `[start, end)`, after the warm-up.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    pub fn contains(&self, t: Instant) -> bool {
        self.start <= t && t < self.end
    }

    pub fn secs(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// Counts and latencies of the recorded requests.
#[derive(Debug)]
pub struct Recorder {
    /// Start (closed mode) or scheduled time (rate mode) to the body's end.
    pub latency: Histogram<u64>,
    /// Start or scheduled time to the first content event (streaming, 2xx).
    pub ttft: Histogram<u64>,
    /// Scheduled time to the actual start (rate mode).
    pub send_lag: Histogram<u64>,
    pub ok: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    /// Rate mode: scheduled requests not finished (or never sent) when the
    /// drain deadline passed.
    pub timeouts: u64,
    /// Streaming 2xx responses without any content event.
    pub ttft_missing: u64,
    /// 2xx responses whose body ended inside the window: the throughput.
    pub completed_in_window: u64,
    pub connects: u64,
    /// The first transport error's message, to tell why a run failed.
    pub first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    // Constant bounds, valid for hdrhistogram: this cannot fail at run time.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid constant histogram bounds")
}

pub fn micros_of(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            ttft: histogram(),
            send_lag: histogram(),
            ok: 0,
            non_2xx: 0,
            transport_errors: 0,
            timeouts: 0,
            ttft_missing: 0,
            completed_in_window: 0,
            connects: 0,
            first_error: None,
        }
    }
}

impl Recorder {
    /// Records one finished exchange timed from `from` (actual or scheduled
    /// start) to `done`. Latency and TTFT are kept for 2xx only.
    pub fn record(
        &mut self,
        from: Instant,
        done: Instant,
        result: &Result<Reply, TransportError>,
        stream: bool,
    ) {
        match result {
            Ok(reply) if (200..300).contains(&reply.status) => {
                self.ok += 1;
                self.latency
                    .saturating_record(micros_of(done.saturating_duration_since(from)));
                if stream {
                    match reply.first_event {
                        Some(t) => self
                            .ttft
                            .saturating_record(micros_of(t.saturating_duration_since(from))),
                        None => self.ttft_missing += 1,
                    }
                }
            }
            Ok(_) => self.non_2xx += 1,
            Err(TransportError(message)) => {
                self.transport_errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(message.clone());
                }
            }
        }
    }

    /// Counts a 2xx response whose body ended inside the window: the
    /// throughput figure, whatever the request's own start or schedule.
    pub fn count_completion(
        &mut self,
        done: Instant,
        window: &Window,
        result: &Result<Reply, TransportError>,
    ) {
        if window.contains(done)
            && matches!(result, Ok(reply) if (200..300).contains(&reply.status))
        {
            self.completed_in_window += 1;
        }
    }

    pub fn failures(&self) -> u64 {
        self.non_2xx + self.transport_errors + self.timeouts
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.failures()
    }

    /// True when the figures mean something: requests completed and at most
    /// 1 % failed.
    pub fn trustworthy(&self) -> bool {
        self.ok > 0 && self.failures() * 100 <= self.requests()
    }
}

/// A recorder shared by the connection tasks. The lock is never held across
/// an await, so it is uncontended on the default single-thread runtime.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<Recorder>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Recorder> {
        // A poisoned lock still holds valid counts.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Open-loop facts (rate mode only).
#[derive(Debug, Clone, PartialEq)]
pub struct RateFacts {
    pub target_rps: f64,
    /// Requests scheduled inside the window.
    pub scheduled: u64,
    /// Of those, how many were handed to a connection.
    pub sent: u64,
    /// Requests scheduled before the window's end but not yet sent at its end.
    pub backlog_end: u64,
    pub connections_used: u64,
    pub connection_cap: u64,
}

/// Everything printed at the end of a run.
#[derive(Debug)]
pub struct Summary<'a> {
    pub mode: &'static str,
    pub url: &'a str,
    pub connections: u64,
    pub threads: u64,
    pub stream: bool,
    pub warmup_s: f64,
    pub window: Window,
    pub recorder: &'a Recorder,
    pub rate: Option<RateFacts>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// p50/p90/p99/p99.9/max/mean in ms, or null when nothing was recorded.
fn percentiles(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

impl Summary<'_> {
    pub fn rps(&self) -> f64 {
        self.recorder.completed_in_window as f64 / self.window.secs()
    }

    /// Rate mode: the target could not keep up (achieved < 95 % of the rate,
    /// or more than 10 ms worth of requests still waiting at the end).
    pub fn saturated(&self) -> Option<bool> {
        self.rate.as_ref().map(|r| {
            self.rps() < 0.95 * r.target_rps
                || r.backlog_end as f64 > (r.target_rps / 100.0).max(1.0)
        })
    }

    pub fn to_json(&self) -> Value {
        let r = self.recorder;
        let requests = r.requests();
        let mut out = json!({
            "mode": self.mode,
            "url": self.url,
            "connections": self.connections,
            "threads": self.threads,
            "stream": self.stream,
            "duration_s": self.window.secs(),
            "warmup_s": self.warmup_s,
            "requests": requests,
            "ok": r.ok,
            "non_2xx": r.non_2xx,
            "transport_errors": r.transport_errors,
            "timeouts": r.timeouts,
            "error_rate": if requests == 0 { 0.0 } else { r.failures() as f64 / requests as f64 },
            "first_error": r.first_error,
            "rps": self.rps(),
            "latency_ms": percentiles(&r.latency),
            "ttft_ms": if self.stream { percentiles(&r.ttft) } else { Value::Null },
            "ttft_missing": r.ttft_missing,
            "connects": r.connects,
            "trustworthy": r.trustworthy(),
        });
        if let (Some(rate), Some(obj)) = (&self.rate, out.as_object_mut()) {
            obj.insert(
                "rate".to_owned(),
                json!({
                    "target_rps": rate.target_rps,
                    "achieved_rps": self.rps(),
                    "scheduled": rate.scheduled,
                    "sent": rate.sent,
                    "backlog_end": rate.backlog_end,
                    "send_lag_ms": percentiles(&r.send_lag),
                    "connections_used": rate.connections_used,
                    "connection_cap": rate.connection_cap,
                    "saturated": self.saturated(),
                }),
            );
        }
        out
    }

    pub fn human(&self) -> String {
        let r = self.recorder;
        let mut s = format!(
            "{} {}: {} connections, {:.1} s (+{:.1} s warm-up)\n  {:.1} req/s   ok {}  non-2xx {}  transport errors {}  timeouts {}\n",
            self.mode, self.url, self.connections, self.window.secs(), self.warmup_s,
            self.rps(), r.ok, r.non_2xx, r.transport_errors, r.timeouts,
        );
        let line = |name: &str, h: &Histogram<u64>| {
            if h.is_empty() {
                format!("  {name:<12} -\n")
            } else {
                format!(
                    "  {name:<12} p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
                    ms(h.value_at_quantile(0.5)),
                    ms(h.value_at_quantile(0.9)),
                    ms(h.value_at_quantile(0.99)),
                    ms(h.value_at_quantile(0.999)),
                    ms(h.max()),
                )
            }
        };
        s += &line("latency ms", &r.latency);
        if self.stream {
            s += &line("ttft ms", &r.ttft);
        }
        if let Some(rate) = &self.rate {
            s += &line("send lag ms", &r.send_lag);
            s += &format!(
                "  target {:.1} req/s, connections used {} of {}, backlog at end {}{}\n",
                rate.target_rps,
                rate.connections_used,
                rate.connection_cap,
                rate.backlog_end,
                if self.saturated() == Some(true) {
                    ", SATURATED"
                } else {
                    ""
                },
            );
        }
        if let Some(e) = &r.first_error {
            s += &format!("  first transport error: {e}\n");
        }
        if !r.trustworthy() {
            s += "  FAILED: no request succeeded or more than 1 % failed\n";
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: Instant, secs: u64) -> Window {
        Window {
            start,
            end: start + Duration::from_secs(secs),
        }
    }

    fn ok(status: u16, first: Option<Instant>) -> Result<Reply, TransportError> {
        Ok(Reply {
            status,
            first_event: first,
        })
    }

    #[test]
    fn percentiles_and_counts_in_json() {
        let t0 = Instant::now();
        let mut r = Recorder::default();
        for i in 1..=1000u64 {
            let done = t0 + Duration::from_micros(i * 10);
            r.record(
                t0,
                done,
                &ok(200, Some(t0 + Duration::from_micros(i))),
                true,
            );
            r.completed_in_window += 1;
        }
        r.record(t0, t0, &ok(503, None), true);
        r.record(
            t0,
            t0,
            &Err(TransportError("connection refused".into())),
            true,
        );
        r.record(t0, t0, &ok(200, None), true);
        r.completed_in_window += 1;
        let s = Summary {
            mode: "closed",
            url: "http://127.0.0.1:1/",
            connections: 4,
            threads: 1,
            stream: true,
            warmup_s: 1.0,
            window: window(t0, 2),
            recorder: &r,
            rate: None,
        };
        let j = s.to_json();
        assert_eq!(j["ok"], 1001);
        assert_eq!(j["non_2xx"], 1);
        assert_eq!(j["transport_errors"], 1);
        assert_eq!(j["requests"], 1003);
        assert_eq!(j["ttft_missing"], 1);
        assert_eq!(j["first_error"], "connection refused");
        assert_eq!(j["rps"], 500.5);
        assert_eq!(j["trustworthy"], true);
        // 3 significant digits: within 0.1 %.
        let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() <= want * 0.001;
        assert!(close(&j["latency_ms"]["p50"], 5.0), "{}", j["latency_ms"]);
        assert!(close(&j["latency_ms"]["p99"], 9.9), "{}", j["latency_ms"]);
        assert!(close(&j["latency_ms"]["p999"], 9.99), "{}", j["latency_ms"]);
        assert!(close(&j["latency_ms"]["max"], 10.0), "{}", j["latency_ms"]);
        assert!(close(&j["ttft_ms"]["p50"], 0.5), "{}", j["ttft_ms"]);
        assert!(j.get("rate").is_none());
        assert!(s.human().contains("500.5 req/s"));
    }

    #[test]
    fn more_than_one_percent_failed_is_not_trustworthy() {
        let t0 = Instant::now();
        let mut r = Recorder::default();
        for _ in 0..99 {
            r.record(t0, t0, &ok(200, None), false);
        }
        r.record(t0, t0, &ok(500, None), false);
        assert!(r.trustworthy());
        r.timeouts += 1;
        assert!(!r.trustworthy());
        assert!(!Recorder::default().trustworthy());
    }

    #[test]
    fn saturation_from_rate_or_backlog() {
        let t0 = Instant::now();
        let mut r = Recorder {
            completed_in_window: 1000,
            ..Recorder::default()
        };
        let facts = |backlog_end| RateFacts {
            target_rps: 1000.0,
            scheduled: 1000,
            sent: 1000,
            backlog_end,
            connections_used: 2,
            connection_cap: 8,
        };
        let summary = |r: &Recorder, backlog| {
            let s = Summary {
                mode: "rate",
                url: "u",
                connections: 2,
                threads: 1,
                stream: false,
                warmup_s: 0.0,
                window: window(t0, 1),
                recorder: r,
                rate: Some(facts(backlog)),
            };
            (s.saturated(), s.to_json())
        };
        let (sat, j) = summary(&r, 1);
        assert_eq!(sat, Some(false));
        assert_eq!(j["rate"]["saturated"], false);
        assert_eq!(j["rate"]["achieved_rps"], 1000.0);
        assert_eq!(summary(&r, 11).0, Some(true));
        r.completed_in_window = 940;
        assert_eq!(summary(&r, 0).0, Some(true));
        assert_eq!(j["ttft_ms"], Value::Null);
    }
}
