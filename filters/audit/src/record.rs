//! The audit record: one JSON object per LLM call, built when the stream is
//! done. It holds who called which model, what it cost in tokens, what the
//! gateway's policies did and how it ended, and never message content, keys
//! or PII values.

use llm_api::pricing::PriceMap;
use llm_api::Usage;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime};

/// The version of the record's shape; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// What the audit stage gathered about one call.
#[derive(Debug, Default)]
pub struct Call {
    pub started: Option<SystemTime>,
    pub request_id: Option<String>,
    pub api: &'static str,
    pub stream: bool,
    pub messages: Option<usize>,
    pub model_requested: Option<String>,
    /// Client identity: the authenticated id and the configured headers.
    pub client: Map<String, Value>,
    pub status: Option<u16>,
    pub error_type: Option<String>,
    pub first_byte: Option<SystemTime>,
    pub first_token: Option<SystemTime>,
    pub usage: Option<Usage>,
    pub served_model: Option<String>,
}

/// Facts the other stages published (read at the end of the stream).
#[derive(Debug, Default)]
pub struct Facts {
    /// The provider the route chose (the first of a fallback chain).
    pub provider: Option<String>,
    pub cluster: Option<String>,
    pub upstream_model: Option<String>,
    /// The provider and model of the last upstream attempt: the ones that
    /// served the call, after any fallback.
    pub attempt_provider: Option<String>,
    pub attempt_model: Option<String>,
    /// Upstream attempts, retries and fallbacks included.
    pub attempts: Option<u64>,
    pub ratelimit_key: Option<String>,
    pub ratelimit_remaining: Option<String>,
    pub input_estimated: Option<String>,
    /// `ENTITY:action:count,...` from pii_scan: in the request, and in the
    /// model's output when responses are scanned.
    pub pii: Option<String>,
    pub pii_response: Option<String>,
}

impl Facts {
    /// The provider that served the call.
    pub fn served_provider(&self) -> Option<&str> {
        self.attempt_provider.as_deref().or(self.provider.as_deref())
    }

    /// The model name the serving provider was asked for.
    pub fn served_upstream_model(&self) -> Option<&str> {
        self.attempt_model.as_deref().or(self.upstream_model.as_deref())
    }
}

/// What the call cost: its usage at the price of the model that served it
/// (the response's model, e.g. a dated snapshot, else the name the provider
/// was asked for). `None` without usage or without a price for the model.
pub fn cost(call: &Call, facts: &Facts, prices: &PriceMap) -> Option<f64> {
    let usage = call.usage.as_ref()?;
    let provider = facts.served_provider();
    let priced = |model: &str| prices.cost(provider, model, usage);
    call.served_model.as_deref().and_then(priced).or_else(|| facts.served_upstream_model().and_then(priced))
}

/// Dollars to the nearest billionth, so sums of floating-point prices do not
/// print as `0.30000000000000004`.
fn dollars(cost: Option<f64>) -> Value {
    cost.map_or(Value::Null, |c| json!((c * 1e9).round() / 1e9))
}

pub(crate) fn millis_between(from: Option<SystemTime>, to: Option<SystemTime>) -> Option<u64> {
    let elapsed = to?.duration_since(from?).unwrap_or(Duration::ZERO);
    Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

fn number(text: Option<&String>) -> Value {
    text.and_then(|t| t.parse::<u64>().ok()).map_or(Value::Null, Value::from)
}

/// The PII fact as `[{"entity", "action", "count"}]`.
fn pii_findings(fact: Option<&String>) -> Value {
    let findings: Vec<Value> = fact
        .map(|f| f.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            let mut parts = item.splitn(3, ':');
            let (entity, action, count) = (parts.next()?, parts.next()?, parts.next()?.parse::<u64>().ok()?);
            Some(json!({"entity": entity, "action": action, "count": count}))
        })
        .collect();
    Value::Array(findings)
}

/// The record for `call` ending at `ended`.
pub fn build(call: &Call, facts: &Facts, cost: Option<f64>, ended: SystemTime) -> Value {
    let timestamp = call.started.map(|t| humantime::format_rfc3339_millis(t).to_string());
    let usage = call.usage.map_or(Value::Null, |u| {
        json!({"input": u.input, "output": u.output, "total": u.total, "cached_input": u.cached_input})
    });
    json!({
        "schema_version": SCHEMA_VERSION,
        "timestamp": timestamp,
        "request_id": call.request_id,
        "duration_ms": millis_between(call.started, Some(ended)),
        "time_to_first_byte_ms": millis_between(call.started, call.first_byte),
        "time_to_first_token_ms": millis_between(call.started, call.first_token),
        "client": call.client,
        "api": call.api,
        "stream": call.stream,
        "messages": call.messages,
        "provider": facts.served_provider(),
        "fallback_from": facts.provider.as_deref().filter(|p| Some(*p) != facts.served_provider()),
        "attempts": facts.attempts,
        "upstream_cluster": facts.cluster,
        "model": {
            "requested": call.model_requested,
            "upstream": facts.served_upstream_model(),
            "served": call.served_model,
        },
        "tokens": {
            "input_estimated": number(facts.input_estimated.as_ref()),
            "usage": usage,
        },
        "cost_usd": dollars(cost),
        "ratelimit": {"key": facts.ratelimit_key, "remaining_tokens": number(facts.ratelimit_remaining.as_ref())},
        "pii": pii_findings(facts.pii.as_ref()),
        "pii_response": pii_findings(facts.pii_response.as_ref()),
        "status": call.status,
        "error_type": call.error_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn a_record_has_every_field_and_no_content() {
        let start = UNIX_EPOCH + Duration::from_millis(1_763_900_000_123);
        let call = Call {
            started: Some(start),
            request_id: Some("req-1".into()),
            api: "chat_completions",
            stream: true,
            messages: Some(2),
            model_requested: Some("gpt-4o-mini".into()),
            client: Map::from_iter([("id".to_owned(), json!("demo"))]),
            status: Some(200),
            first_byte: Some(start + Duration::from_millis(40)),
            first_token: Some(start + Duration::from_millis(55)),
            usage: Some(Usage { input: 12, output: 7, total: 19, cached_input: 3, cache_creation_input: 0 }),
            served_model: Some("gpt-4o-mini-2024-07-18".into()),
            ..Call::default()
        };
        let facts = Facts {
            provider: Some("openai".into()),
            pii: Some("EMAIL:redact:2,US_SSN:block:1".into()),
            input_estimated: Some("15".into()),
            ..Facts::default()
        };
        let cost = cost(&call, &facts, &PriceMap::default());
        let record = build(&call, &facts, cost, start + Duration::from_millis(250));
        assert_eq!(record["timestamp"], "2025-11-23T12:13:20.123Z");
        assert_eq!(record["duration_ms"], 250);
        assert_eq!(record["time_to_first_token_ms"], 55);
        assert_eq!(record["tokens"]["usage"]["cached_input"], 3);
        assert_eq!(record["tokens"]["input_estimated"], 15);
        assert_eq!(record["pii"][1], json!({"entity": "US_SSN", "action": "block", "count": 1}));
        assert_eq!(record["schema_version"], 1);
        // gpt-4o-mini (the dated snapshot's model): 9 input at $0.15/M,
        // 3 cached at $0.075/M, 7 output at $0.60/M.
        assert_eq!(record["cost_usd"], json!(0.000005775));
        assert_eq!((record["provider"].as_str(), record["fallback_from"].as_str()), (Some("openai"), None));
    }

    #[test]
    fn a_fallback_is_reported_and_priced_as_what_served() {
        let call = Call { usage: Some(Usage { input: 1000, output: 1000, total: 2000, ..Usage::default() }), ..Call::default() };
        let facts = Facts {
            provider: Some("openai".into()),
            upstream_model: Some("gpt-4o-mini".into()),
            attempt_provider: Some("anthropic".into()),
            attempt_model: Some("claude-haiku-4-5".into()),
            attempts: Some(3),
            ..Facts::default()
        };
        let cost = cost(&call, &facts, &PriceMap::default());
        let record = build(&call, &facts, cost, UNIX_EPOCH);
        assert_eq!((record["provider"].as_str(), record["fallback_from"].as_str()), (Some("anthropic"), Some("openai")));
        assert_eq!((record["attempts"].as_u64(), record["model"]["upstream"].as_str()), (Some(3), Some("claude-haiku-4-5")));
        assert_eq!(record["cost_usd"], json!(0.006), "claude-haiku-4-5: $1/M in, $5/M out");
        let unpriced = Facts { attempt_model: Some("my-model".into()), ..facts };
        assert_eq!(build(&call, &unpriced, cost_of(&call, &unpriced), UNIX_EPOCH)["cost_usd"], Value::Null);
    }

    fn cost_of(call: &Call, facts: &Facts) -> Option<f64> {
        cost(call, facts, &PriceMap::default())
    }
}
