//! `GET /v1/gateway/usage`: the calling client's own limits, what it has
//! used of each in its window and when the window frees up, the way users
//! check a key's quota on other gateways.
//!
//! Only levels keyed on the client report, with the caller's own values for
//! any header parts: such a key always holds the authenticated client id,
//! so no header a caller sends names another client's bucket. Levels keyed
//! without the client (shared by every client, such as a per-model budget),
//! on the team (its figures are the other clients' of the team too) or on
//! the model or API (a GET names neither) are left out.

use crate::limit::key::build_key;
use crate::limit::limiter::{LimitState, Limiter};
use crate::limit::policy::{KeyPart, LimitPolicy, Measure, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::limit::store::Store;
use serde_json::{json, Value};

/// The answer for `client`, whose request headers `header` reads.
pub fn report<'a>(
    policy: &LimitPolicy,
    limiter: &Limiter,
    store: &dyn Store,
    client: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    now_ms: u64,
) -> Value {
    let mut levels = Vec::new();
    for level in &policy.levels {
        let reported = level.key.contains(&KeyPart::Client)
            && level
                .key
                .iter()
                .all(|p| matches!(p, KeyPart::Client | KeyPart::Header(_)));
        if !reported {
            continue;
        }
        // A level that refuses requests without a header has no bucket for
        // a caller who sends none.
        let Ok(key) = build_key(&level.key, level.missing_key, |part| match part {
            KeyPart::Client => Some(client),
            KeyPart::Header(name) => header(name),
            KeyPart::Team | KeyPart::Model | KeyPart::Api => None,
        }) else {
            continue;
        };
        let limits = level.limits_for(&key).to_set();
        if limits.is_empty() {
            continue;
        }
        let store_key = format!("{}\u{1f}{key}", level.name);
        let states = limiter.peek(store, &store_key, &limits, now_ms);
        levels.push(json!({
            "level": level.name,
            "key": key,
            "limits": states.iter().map(limit).collect::<Vec<_>>(),
        }));
    }
    json!({"object": "gateway.usage", "client": client, "levels": levels})
}

/// One limit as the answer shows it; a cost budget in dollars.
fn limit(state: &LimitState) -> Value {
    let window = match state.limit.window_ms {
        MINUTE_MS => "minute",
        HOUR_MS => "hour",
        DAY_MS => "day",
        _ => "30 days",
    };
    let (kind, limit, used, remaining) = match state.limit.measure {
        Measure::CostNanoUsd => {
            let usd = |nano: u64| Value::from(nano as f64 / 1e9);
            (
                "cost_usd",
                usd(state.limit.max),
                usd(state.used),
                usd(state.remaining()),
            )
        }
        measure => (
            match measure {
                Measure::Requests => "requests",
                Measure::InputTokens => "input_tokens",
                Measure::OutputTokens => "output_tokens",
                _ => "total_tokens",
            },
            state.limit.max.into(),
            state.used.into(),
            state.remaining().into(),
        ),
    };
    json!({
        "type": kind,
        "window": window,
        "limit": limit,
        "used": used,
        "remaining": remaining,
        "resets_in_ms": state.reset_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::limiter::{Demand, Outcome};
    use crate::limit::store::MemoryStore;

    fn policy() -> LimitPolicy {
        serde_json::from_value(json!({
            "levels": [
                {"name": "client", "key": ["client"], "limits": {"requests_per_minute": 10, "cost_usd_per_month": 5.0}},
                {"name": "agent", "key": ["client", {"header": "x-agent-id"}], "limits": {"input_tokens_per_minute": 1000}},
                {"name": "model", "key": ["model"], "limits": {"requests_per_minute": 100}},
                {"name": "team", "key": [{"header": "x-team"}], "limits": {"requests_per_minute": 100}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_client_sees_its_own_levels_and_no_one_elses() {
        let policy = policy();
        let limiter = Limiter::new(&policy.store);
        let mut store = MemoryStore::default();
        let limits = policy.levels[1].limits_for("alice|a1").to_set();
        let demand = Demand {
            input_tokens: 300,
            ..Demand::default()
        };
        let admitted = limiter.admit(&mut store, "agent\u{1f}alice|a1", &limits, demand, 0);
        assert!(matches!(admitted.outcome, Outcome::Admitted(_)));
        let headers = |name: &str| match name {
            "x-agent-id" => Some("a1"),
            "x-team" => Some("everyone"),
            _ => None,
        };
        let alice = report(&policy, &limiter, &store, "alice", headers, 1000);
        assert_eq!(alice["client"], "alice");
        let levels: Vec<&str> = alice["levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["level"].as_str().unwrap())
            .collect();
        assert_eq!(
            levels,
            ["client", "agent"],
            "levels without the client are left out"
        );
        let agent = &alice["levels"][1]["limits"][0];
        assert_eq!(
            (
                agent["type"].as_str(),
                agent["used"].as_u64(),
                agent["remaining"].as_u64()
            ),
            (Some("input_tokens"), Some(300), Some(700))
        );
        assert!(agent["resets_in_ms"].as_u64().unwrap() > 0);
        let cost = &alice["levels"][0]["limits"][1];
        assert_eq!(
            (cost["type"].as_str(), cost["limit"].as_f64()),
            (Some("cost_usd"), Some(5.0))
        );
        // Bob naming Alice's agent reads his own bucket for it.
        let bob = report(&policy, &limiter, &store, "bob", headers, 1000);
        assert_eq!(bob["levels"][1]["limits"][0]["used"], 0);
        assert_eq!(bob["levels"][1]["key"], "bob|a1");
        // Without the header, the caller's own "no agent" bucket.
        let none = report(&policy, &limiter, &store, "alice", |_| None, 1000);
        assert_eq!(none["levels"][1]["key"], "alice|%none");
    }
}
