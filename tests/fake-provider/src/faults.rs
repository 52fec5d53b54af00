//! Faults on demand, so tests can exercise retries, timeouts and broken
//! streams without a flaky real network.
//!
//! Syntax (header `x-fake-fault` or the `fault` field of `POST /__control/faults`),
//! comma-separated items:
//! * `status=NNN` – answer NNN (400–599) with an error body in the path's
//!   provider format (`retry-after: 1` on 429);
//! * `delay=500ms` | `delay=2s` | `delay=500` (ms) – wait before answering;
//! * `reset` – close the connection without any response;
//! * `truncate=N` – streams: send only the first N events, then drop the
//!   connection; JSON answers: send the first N bytes (with the full
//!   `content-length`), then drop the connection.

use hyper::StatusCode;
use serde_json::{json, Value};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    pub status: Option<StatusCode>,
    pub delay: Option<Duration>,
    pub reset: bool,
    pub truncate: Option<usize>,
}

impl Fault {
    pub fn parse(spec: &str) -> Result<Fault, String> {
        let mut fault = Fault::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            match (key, value) {
                ("reset", None) => fault.reset = true,
                ("status", Some(v)) => {
                    let code: u16 = v.parse().map_err(|_| format!("bad status `{v}`"))?;
                    if !(400..=599).contains(&code) {
                        return Err(format!("status {code} is not in 400..=599"));
                    }
                    fault.status = StatusCode::from_u16(code).ok();
                }
                ("delay", Some(v)) => fault.delay = Some(parse_duration(v)?),
                ("truncate", Some(v)) => {
                    fault.truncate = Some(v.parse().map_err(|_| format!("bad truncate `{v}`"))?)
                }
                _ => return Err(format!("unknown fault item `{item}`")),
            }
        }
        Ok(fault)
    }

    /// Field-wise union; `self` wins where both set a value.
    pub fn merge(self, other: Fault) -> Fault {
        Fault {
            status: self.status.or(other.status),
            delay: self.delay.or(other.delay),
            reset: self.reset || other.reset,
            truncate: self.truncate.or(other.truncate),
        }
    }
}

fn parse_duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("bad delay `{v}` (use 500ms, 2s or 500)");
    if let Some(ms) = v.strip_suffix("ms") {
        ms.parse().map(Duration::from_millis).map_err(|_| bad())
    } else if let Some(s) = v.strip_suffix('s') {
        s.parse().map(Duration::from_secs).map_err(|_| bad())
    } else {
        v.parse().map(Duration::from_millis).map_err(|_| bad())
    }
}

struct Queued {
    spec: String,
    fault: Fault,
    remaining: u64,
    path_prefix: String,
}

/// Faults queued by `POST /__control/faults`, consumed by matching requests
/// in queue order (the first match applies; one entry per request).
#[derive(Default)]
pub struct FaultQueue {
    entries: Mutex<Vec<Queued>>,
}

impl FaultQueue {
    /// Queues from the control body `{"fault", "count" (default 1),
    /// "path_prefix" (default "/")}`; answers the pending list.
    pub fn push_json(&self, body: &Value) -> Result<Value, String> {
        let spec = body
            .get("fault")
            .and_then(Value::as_str)
            .ok_or("`fault` (string) is required")?;
        let fault = Fault::parse(spec)?;
        let remaining = match body.get("count") {
            None | Some(Value::Null) => 1,
            Some(c) => c
                .as_u64()
                .filter(|&c| c > 0)
                .ok_or("`count` must be a positive integer")?,
        };
        let path_prefix = match body.get("path_prefix") {
            None | Some(Value::Null) => "/".to_owned(),
            Some(p) => p
                .as_str()
                .ok_or("`path_prefix` must be a string")?
                .to_owned(),
        };
        self.lock().push(Queued {
            spec: spec.to_owned(),
            fault,
            remaining,
            path_prefix,
        });
        Ok(self.list())
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// `{"faults": [{"fault", "remaining", "path_prefix"}]}`.
    pub fn list(&self) -> Value {
        let faults: Vec<Value> = self
            .lock()
            .iter()
            .map(|q| json!({"fault": q.spec, "remaining": q.remaining, "path_prefix": q.path_prefix}))
            .collect();
        json!({ "faults": faults })
    }

    /// Consumes one use of the first queued fault whose prefix matches `path`.
    pub fn take(&self, path: &str) -> Option<Fault> {
        let mut entries = self.lock();
        let index = entries
            .iter()
            .position(|q| path.starts_with(&q.path_prefix))?;
        let entry = &mut entries[index];
        entry.remaining -= 1;
        let fault = entry.fault.clone();
        if entry.remaining == 0 {
            entries.remove(index);
        }
        Some(fault)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item() {
        let f = Fault::parse("status=503, delay=250ms,reset,truncate=3").unwrap();
        assert_eq!(f.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(f.delay, Some(Duration::from_millis(250)));
        assert!(f.reset);
        assert_eq!(f.truncate, Some(3));
        assert_eq!(
            Fault::parse("delay=2s").unwrap().delay,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            Fault::parse("delay=40").unwrap().delay,
            Some(Duration::from_millis(40))
        );
        assert_eq!(Fault::parse("").unwrap(), Fault::default());
    }

    #[test]
    fn rejects_bad_items() {
        assert!(Fault::parse("status=200").is_err());
        assert!(Fault::parse("status=abc").is_err());
        assert!(Fault::parse("explode").is_err());
        assert!(Fault::parse("reset=1").is_err());
        assert!(Fault::parse("delay=fast").is_err());
        assert!(Fault::parse("truncate=-1").is_err());
    }

    #[test]
    fn merge_prefers_self() {
        let a = Fault::parse("status=429").unwrap();
        let b = Fault::parse("status=500,delay=1").unwrap();
        let m = a.merge(b);
        assert_eq!(m.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(m.delay, Some(Duration::from_millis(1)));
    }

    #[test]
    fn queue_counts_down_and_matches_prefix() {
        let q = FaultQueue::default();
        q.push_json(&json!({"fault": "status=503", "count": 2, "path_prefix": "/v1/chat"}))
            .unwrap();
        assert_eq!(q.take("/v1/embeddings"), None);
        assert!(q.take("/v1/chat/completions").is_some());
        assert_eq!(q.list()["faults"][0]["remaining"], 1);
        assert!(q.take("/v1/chat/completions").is_some());
        assert_eq!(q.take("/v1/chat/completions"), None);
        assert!(q
            .push_json(&json!({"fault": "status=503", "count": 0}))
            .is_err());
        assert!(q.push_json(&json!({"count": 1})).is_err());
        q.push_json(&json!({"fault": "reset"})).unwrap();
        q.clear();
        assert_eq!(q.take("/anything"), None);
    }
}
