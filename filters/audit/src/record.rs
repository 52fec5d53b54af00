//! The audit record: one JSON object per LLM call, built when the stream is
//! done. It holds who called which model, what it cost in tokens, what the
//! gateway's policies did and how it ended, and never message content, keys
//! or PII values.

use llm_api::pricing::PriceMap;
use llm_api::Usage;
use serde::Serialize;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

/// The version of the record's shape; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// What the audit stage gathered about one call.
#[derive(Debug, Default)]
pub struct Call {
    pub started: Option<SystemTime>,
    /// The id the gateway gave the call (see `stage::RequestIds`).
    pub request_id: Option<String>,
    /// The `x-request-id` the call arrived with, bounded: the client's own
    /// when it sent one, a claim the record keeps but never keys on.
    pub client_request_id: Option<String>,
    pub api: &'static str,
    pub stream: bool,
    pub messages: Option<usize>,
    pub model_requested: Option<String>,
    /// Client identity: the authenticated id, its team (`null` when no team
    /// of the configuration's `teams` names it) and the configured headers.
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
        self.attempt_provider
            .as_deref()
            .or(self.provider.as_deref())
    }

    /// The model name the serving provider was asked for.
    pub fn served_upstream_model(&self) -> Option<&str> {
        self.attempt_model
            .as_deref()
            .or(self.upstream_model.as_deref())
    }
}

/// Longest client- or provider-controlled text a record (or a fact) holds:
/// model names, header values, error types. Beyond any real value, so only
/// a hostile or broken peer is cut.
pub const MAX_VALUE: usize = 256;

/// `text` cut to at most [`MAX_VALUE`] bytes (on a character boundary),
/// ending in `…` when cut, so a reader sees it is not the whole value.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_VALUE {
        return text.to_owned();
    }
    const MARK: &str = "…";
    let mut end = MAX_VALUE - MARK.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(MAX_VALUE);
    cut.push_str(text.get(..end).unwrap_or_default());
    cut.push_str(MARK);
    cut
}

/// What the call cost: its usage at the price of the model that served it
/// (the response's model, e.g. a dated snapshot, else the name the provider
/// was asked for). `None` without usage or without a price for the model.
pub fn cost(call: &Call, facts: &Facts, prices: &PriceMap) -> Option<f64> {
    let usage = call.usage.as_ref()?;
    let provider = facts.served_provider();
    let priced = |model: &str| prices.cost(provider, model, usage);
    call.served_model
        .as_deref()
        .and_then(priced)
        .or_else(|| facts.served_upstream_model().and_then(priced))
}

/// Dollars to the nearest billionth, so sums of floating-point prices do not
/// print as `0.30000000000000004`.
fn dollars(cost: Option<f64>) -> Option<f64> {
    cost.map(|c| (c * 1e9).round() / 1e9)
}

pub(crate) fn millis_between(from: Option<SystemTime>, to: Option<SystemTime>) -> Option<u64> {
    let elapsed = to?.duration_since(from?).unwrap_or(Duration::ZERO);
    Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

fn number(text: Option<&String>) -> Option<u64> {
    text.and_then(|t| t.parse::<u64>().ok())
}

/// The PII fact as `[{"entity", "action", "count"}]`.
fn pii_findings(fact: Option<&str>) -> Vec<Finding<'_>> {
    fact.into_iter()
        .flat_map(|f| f.split(','))
        .filter_map(|item| {
            let mut parts = item.splitn(3, ':');
            let (entity, action, count) = (
                parts.next()?,
                parts.next()?,
                parts.next()?.parse::<u64>().ok()?,
            );
            Some(Finding {
                entity,
                action,
                count,
            })
        })
        .collect()
}

/// One audit record, serialised in this field order. A typed record
/// borrowing what the call gathered, rather than a `serde_json::Value`
/// built key by key, because it is built on every call: the benchmark
/// measured the `Value` at about 15 µs a call in wasm.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    schema_version: u32,
    timestamp: Option<String>,
    request_id: Option<&'a str>,
    client_request_id: Option<&'a str>,
    duration_ms: Option<u64>,
    time_to_first_byte_ms: Option<u64>,
    time_to_first_token_ms: Option<u64>,
    client: &'a Map<String, Value>,
    api: &'a str,
    stream: bool,
    messages: Option<usize>,
    provider: Option<&'a str>,
    fallback_from: Option<&'a str>,
    attempts: Option<u64>,
    upstream_cluster: Option<&'a str>,
    model: Models<'a>,
    tokens: Tokens,
    cost_usd: Option<f64>,
    ratelimit: RateLimit<'a>,
    pii: Vec<Finding<'a>>,
    pii_response: Vec<Finding<'a>>,
    status: Option<u16>,
    error_type: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Models<'a> {
    requested: Option<&'a str>,
    upstream: Option<&'a str>,
    served: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Tokens {
    input_estimated: Option<u64>,
    usage: Option<TokenUsage>,
}

#[derive(Debug, Serialize)]
struct TokenUsage {
    input: u64,
    output: u64,
    total: u64,
    cached_input: u64,
}

#[derive(Debug, Serialize)]
struct RateLimit<'a> {
    key: Option<&'a str>,
    remaining_tokens: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Finding<'a> {
    entity: &'a str,
    action: &'a str,
    count: u64,
}

impl Record<'_> {
    /// The record as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain fields, strings and a `Map` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The record for `call` ending at `ended`.
pub fn build<'a>(
    call: &'a Call,
    facts: &'a Facts,
    cost: Option<f64>,
    ended: SystemTime,
) -> Record<'a> {
    Record {
        schema_version: SCHEMA_VERSION,
        timestamp: call
            .started
            .map(|t| humantime::format_rfc3339_millis(t).to_string()),
        request_id: call.request_id.as_deref(),
        client_request_id: call.client_request_id.as_deref(),
        duration_ms: millis_between(call.started, Some(ended)),
        time_to_first_byte_ms: millis_between(call.started, call.first_byte),
        time_to_first_token_ms: millis_between(call.started, call.first_token),
        client: &call.client,
        api: call.api,
        stream: call.stream,
        messages: call.messages,
        provider: facts.served_provider(),
        fallback_from: facts
            .provider
            .as_deref()
            .filter(|p| Some(*p) != facts.served_provider()),
        attempts: facts.attempts,
        upstream_cluster: facts.cluster.as_deref(),
        model: Models {
            requested: call.model_requested.as_deref(),
            upstream: facts.served_upstream_model(),
            served: call.served_model.as_deref(),
        },
        tokens: Tokens {
            input_estimated: number(facts.input_estimated.as_ref()),
            usage: call.usage.map(|u| TokenUsage {
                input: u.input,
                output: u.output,
                total: u.total,
                cached_input: u.cached_input,
            }),
        },
        cost_usd: dollars(cost),
        ratelimit: RateLimit {
            key: facts.ratelimit_key.as_deref(),
            remaining_tokens: number(facts.ratelimit_remaining.as_ref()),
        },
        pii: pii_findings(facts.pii.as_deref()),
        pii_response: pii_findings(facts.pii_response.as_deref()),
        status: call.status,
        error_type: call.error_type.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn json_of(call: &Call, facts: &Facts, cost: Option<f64>, ended: SystemTime) -> Value {
        serde_json::from_str(&build(call, facts, cost, ended).to_json()).unwrap()
    }

    #[test]
    fn fields_keep_their_order_and_absent_values_are_null() {
        let record = build(&Call::default(), &Facts::default(), None, UNIX_EPOCH).to_json();
        assert!(record.starts_with(r#"{"schema_version":1,"timestamp":null,"request_id":null,"client_request_id":null,"duration_ms":null,"#), "{record}");
        assert!(
            record.ends_with(r#""pii":[],"pii_response":[],"status":null,"error_type":null}"#),
            "{record}"
        );
        assert!(
            record.contains(r#""tokens":{"input_estimated":null,"usage":null},"cost_usd":null,"#),
            "{record}"
        );
    }

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
            usage: Some(Usage {
                input: 12,
                output: 7,
                total: 19,
                cached_input: 3,
                cache_creation_input: 0,
            }),
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
        let record = json_of(&call, &facts, cost, start + Duration::from_millis(250));
        assert_eq!(record["timestamp"], "2025-11-23T12:13:20.123Z");
        assert_eq!(record["duration_ms"], 250);
        assert_eq!(record["time_to_first_token_ms"], 55);
        assert_eq!(record["tokens"]["usage"]["cached_input"], 3);
        assert_eq!(record["tokens"]["input_estimated"], 15);
        assert_eq!(
            record["pii"][1],
            json!({"entity": "US_SSN", "action": "block", "count": 1})
        );
        assert_eq!(record["schema_version"], 1);
        // gpt-4o-mini (the dated snapshot's model): 9 input at $0.15/M,
        // 3 cached at $0.075/M, 7 output at $0.60/M.
        assert_eq!(record["cost_usd"], json!(0.000005775));
        assert_eq!(
            (
                record["provider"].as_str(),
                record["fallback_from"].as_str()
            ),
            (Some("openai"), None)
        );
    }

    #[test]
    fn a_fallback_is_reported_and_priced_as_what_served() {
        let call = Call {
            usage: Some(Usage {
                input: 1000,
                output: 1000,
                total: 2000,
                ..Usage::default()
            }),
            ..Call::default()
        };
        let facts = Facts {
            provider: Some("openai".into()),
            upstream_model: Some("gpt-4o-mini".into()),
            attempt_provider: Some("anthropic".into()),
            attempt_model: Some("claude-haiku-4-5".into()),
            attempts: Some(3),
            ..Facts::default()
        };
        let cost = cost(&call, &facts, &PriceMap::default());
        let record = json_of(&call, &facts, cost, UNIX_EPOCH);
        assert_eq!(
            (
                record["provider"].as_str(),
                record["fallback_from"].as_str()
            ),
            (Some("anthropic"), Some("openai"))
        );
        assert_eq!(
            (
                record["attempts"].as_u64(),
                record["model"]["upstream"].as_str()
            ),
            (Some(3), Some("claude-haiku-4-5"))
        );
        assert_eq!(
            record["cost_usd"],
            json!(0.006),
            "claude-haiku-4-5: $1/M in, $5/M out"
        );
        let unpriced = Facts {
            attempt_model: Some("my-model".into()),
            ..facts
        };
        assert_eq!(
            json_of(&call, &unpriced, cost_of(&call, &unpriced), UNIX_EPOCH)["cost_usd"],
            Value::Null
        );
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary_and_marked() {
        assert_eq!(bounded("gpt-4o-mini"), "gpt-4o-mini");
        let exact = "m".repeat(MAX_VALUE);
        assert_eq!(bounded(&exact), exact);
        let cut = bounded(&"é".repeat(MAX_VALUE));
        assert!(cut.len() <= MAX_VALUE && cut.ends_with('…'), "{cut}");
        assert!(cut.trim_end_matches('…').chars().all(|c| c == 'é'));
    }

    fn cost_of(call: &Call, facts: &Facts) -> Option<f64> {
        cost(call, facts, &PriceMap::default())
    }
}
