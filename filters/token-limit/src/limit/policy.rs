//! The limiter's configuration, as the lead plugs it into `config.rs`:
//! which limits apply to which key, how the key is built, how tokens are
//! counted, and how the shared store behaves under contention.

use crate::count::encoding::glob_match;
use crate::count::EncodingRule;
use llm_api::pricing::PriceEntry;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Limits of one key; every one optional, all that are set apply.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub requests_per_minute: Option<u64>,
    pub input_tokens_per_minute: Option<u64>,
    pub input_tokens_per_hour: Option<u64>,
    pub output_tokens_per_minute: Option<u64>,
    pub total_tokens_per_day: Option<u64>,
    /// A sliding 30-day window, not the calendar month, so that there is no
    /// month boundary at which a whole second budget becomes available.
    pub cost_usd_per_month: Option<f64>,
}

/// A key (or `*` glob of keys) with its own limits: a tier's, or its own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub key: String,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// One part of the limit key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyPart {
    /// A request header's value, e.g. `{"header": "x-agent-id"}`.
    Header(String),
    /// The client id established by Envoy's authentication.
    Client,
    /// The model the request names.
    Model,
    /// The route (provider-rewrite's decision or Envoy's route name).
    Route,
}

/// What a request gets when a key part is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingKey {
    /// All such requests share one bucket, `default`.
    #[default]
    SharedBucket,
    /// 401 in the caller's format.
    Reject,
}

/// How input tokens are counted before admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CountingMode {
    /// The estimate times (1 + margin); exact only near a limit.
    #[default]
    Auto,
    /// Always the tokenizer (OpenAI models; others fall back to the estimate).
    Exact,
    /// Always the estimate times (1 + margin).
    Estimate,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountingConfig {
    #[serde(default)]
    pub mode: CountingMode,
    /// Relative margin added to estimates; must cover the estimate's worst
    /// underestimate (0.3 covers the measured 0.796, see `count::estimate`).
    #[serde(default = "default_margin")]
    pub safety_margin: f64,
    /// Model → encoding rules tried before the built-in table.
    #[serde(default)]
    pub encodings: Vec<EncodingRule>,
}

impl Default for CountingConfig {
    fn default() -> Self {
        CountingConfig { mode: CountingMode::Auto, safety_margin: default_margin(), encodings: Vec::new() }
    }
}

fn default_margin() -> f64 {
    0.3
}

/// What happens when the shared store stays contended past the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Admit without reserving (availability over the limit's exactness).
    #[default]
    Open,
    /// Reject with 429 and a short retry-after.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Shared-data entries the keys are hashed into; bounds the store's
    /// key count, since Envoy never frees a shared-data key's name.
    #[serde(default = "default_slots")]
    pub slots: u32,
    /// Read–modify–CAS-write attempts before `on_contention` applies.
    #[serde(default = "default_retries")]
    pub cas_retries: u32,
    #[serde(default)]
    pub on_contention: FailMode,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { slots: default_slots(), cas_retries: default_retries(), on_contention: FailMode::Open }
    }
}

fn default_slots() -> u32 {
    65_536
}

fn default_retries() -> u32 {
    16
}

/// The proposed `token_limit` configuration (besides what `config.rs`
/// already holds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitPolicy {
    #[serde(default = "default_key")]
    pub key: Vec<KeyPart>,
    #[serde(default)]
    pub missing_key: MissingKey,
    /// Limits of keys without an override.
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub tiers: BTreeMap<String, Limits>,
    /// First match wins.
    #[serde(default)]
    pub overrides: Vec<Override>,
    #[serde(default)]
    pub counting: CountingConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// Limits kept by a rate-limit service shared by every Envoy replica
    /// (Envoy's `ratelimit` filter after the suite) instead of this Envoy's
    /// shared data; the limits then live in the service's configuration.
    #[serde(default)]
    pub global: Option<GlobalMode>,
    /// Prices (US dollars per million tokens) that replace or add to the
    /// built-in list prices for `cost_usd_per_month`; the same shape and
    /// built-in map as the audit filter's, so both agree on costs.
    #[serde(default)]
    pub prices: Vec<PriceEntry>,
}

/// Global mode: what the Envoy `ratelimit` filter the config renderer adds
/// is told. The stage itself only counts and publishes the counts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMode {
    /// The rate-limit service's domain for these limits.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// When the service cannot be reached: `open` lets requests through,
    /// `closed` refuses them.
    #[serde(default)]
    pub on_failure: FailMode,
    /// The Envoy cluster of the rate-limit service.
    #[serde(default = "default_ratelimit_cluster")]
    pub cluster: String,
}

fn default_domain() -> String {
    "llm-gateway".to_owned()
}

fn default_ratelimit_cluster() -> String {
    "ratelimit".to_owned()
}

fn default_key() -> Vec<KeyPart> {
    vec![KeyPart::Header("x-agent-id".to_owned())]
}

/// Why a policy cannot be used; `field` is the path to name in the
/// `ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

impl LimitPolicy {
    /// Checks what serde cannot: tier names exist, numbers are sane.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |field: String, message: &str| Err(PolicyError { field, message: message.to_owned() });
        if self.key.is_empty() {
            return err("key".into(), "needs at least one part");
        }
        for (i, o) in self.overrides.iter().enumerate() {
            match (&o.tier, &o.limits) {
                (Some(tier), None) if !self.tiers.contains_key(tier) => {
                    return err(format!("overrides[{i}].tier"), "names no tier in `tiers`")
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => return err(format!("overrides[{i}]"), "needs exactly one of `tier` and `limits`"),
            }
        }
        let all = std::iter::once(("limits".to_owned(), &self.limits))
            .chain(self.tiers.iter().map(|(n, l)| (format!("tiers.{n}"), l)))
            .chain(self.overrides.iter().enumerate().filter_map(|(i, o)| Some((format!("overrides[{i}].limits"), o.limits.as_ref()?))));
        for (field, limits) in all {
            if let Some(usd) = limits.cost_usd_per_month {
                if !(0.0..1e9).contains(&usd) {
                    return err(format!("{field}.cost_usd_per_month"), "must be between 0 and 1e9");
                }
            }
        }
        let m = self.counting.safety_margin;
        if !(m.is_finite() && (0.0..=10.0).contains(&m)) {
            return err("counting.safety_margin".into(), "must be between 0 and 10");
        }
        if self.global.is_some() {
            // The descriptor is built by Envoy from request headers.
            if let Some(i) = self.key.iter().position(|p| matches!(p, KeyPart::Model | KeyPart::Route)) {
                return err(format!("key[{i}]"), "global mode keys on headers and the client only (`model` and `route` are not request headers)");
            }
            if self.limits != Limits::default() || !self.tiers.is_empty() || !self.overrides.is_empty() {
                return err("global".into(), "in global mode the limits live in the rate-limit service's configuration; remove `limits`, `tiers` and `overrides`");
            }
        }
        if self.store.slots == 0 || self.store.cas_retries == 0 {
            return err("store".into(), "`slots` and `cas_retries` must be at least 1");
        }
        Ok(())
    }

    /// The limits that apply to `key`: the first matching override's (its
    /// tier's or its own), else the default ones.
    pub fn limits_for(&self, key: &str) -> &Limits {
        self.overrides
            .iter()
            .find(|o| glob_match(&o.key, key))
            .and_then(|o| o.limits.as_ref().or_else(|| self.tiers.get(o.tier.as_deref()?)))
            .unwrap_or(&self.limits)
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    Requests,
    InputTokens,
    OutputTokens,
    TotalTokens,
    /// Billionths of a US dollar.
    CostNanoUsd,
}

pub const MINUTE_MS: u64 = 60_000;
pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 86_400_000;
pub const MONTH_MS: u64 = 30 * DAY_MS;

/// One limit: at most `max` of `measure` in any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub measure: Measure,
    pub window_ms: u64,
    pub max: u64,
}

impl Limit {
    /// The stable id of this limit's counters in a key's state.
    pub(crate) fn id(&self) -> u8 {
        let window = match self.window_ms {
            MINUTE_MS => 0,
            HOUR_MS => 1,
            DAY_MS => 2,
            _ => 3,
        };
        (self.measure as u8) << 2 | window
    }
}

/// The window length of a limit id (see [`Limit::id`]).
pub(crate) fn window_of_id(id: u8) -> u64 {
    match id & 3 {
        0 => MINUTE_MS,
        1 => HOUR_MS,
        2 => DAY_MS,
        _ => MONTH_MS,
    }
}

impl Limits {
    /// The limits that are set, as the limiter checks them.
    pub fn to_set(&self) -> Vec<Limit> {
        let l = |measure, window_ms, max: Option<u64>| max.map(|max| Limit { measure, window_ms, max });
        let cost = self.cost_usd_per_month.map(|usd| (usd * 1e9).round() as u64);
        [
            l(Measure::Requests, MINUTE_MS, self.requests_per_minute),
            l(Measure::InputTokens, MINUTE_MS, self.input_tokens_per_minute),
            l(Measure::InputTokens, HOUR_MS, self.input_tokens_per_hour),
            l(Measure::OutputTokens, MINUTE_MS, self.output_tokens_per_minute),
            l(Measure::TotalTokens, DAY_MS, self.total_tokens_per_day),
            l(Measure::CostNanoUsd, MONTH_MS, cost),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> LimitPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn full_example_parses_and_resolves() {
        let p = policy(json!({
            "key": [{"header": "x-agent-id"}, "model"],
            "missing_key": "reject",
            "limits": {"requests_per_minute": 60, "input_tokens_per_minute": 100000},
            "tiers": {"free": {"requests_per_minute": 3, "cost_usd_per_month": 1.5}, "pro": {"input_tokens_per_hour": 5000000}},
            "overrides": [{"key": "demo-limited|*", "limits": {"input_tokens_per_minute": 2000}}, {"key": "trial-*", "tier": "free"}],
            "counting": {"mode": "auto", "safety_margin": 0.3, "encodings": [{"pattern": "my-*", "encoding": "o200k_base"}]},
            "store": {"slots": 1024, "cas_retries": 8, "on_contention": "closed"}
        }));
        p.validate().unwrap();
        assert_eq!(p.limits_for("demo-limited|gpt-4o").input_tokens_per_minute, Some(2000));
        assert_eq!(p.limits_for("trial-7|gpt-4o").requests_per_minute, Some(3));
        assert_eq!(p.limits_for("other|gpt-4o").requests_per_minute, Some(60));
        let free = p.limits_for("trial-1").to_set();
        assert_eq!(free.len(), 2);
        assert_eq!(free[1], Limit { measure: Measure::CostNanoUsd, window_ms: MONTH_MS, max: 1_500_000_000 });
    }

    #[test]
    fn defaults_and_errors() {
        let p = policy(json!({}));
        assert_eq!(p.key, vec![KeyPart::Header("x-agent-id".into())]);
        assert_eq!(p.counting.safety_margin, 0.3);
        assert!(p.limits.to_set().is_empty());
        assert!(serde_json::from_value::<LimitPolicy>(json!({"limits": {"rpm": 1}})).is_err());
        let bad_tier = policy(json!({"overrides": [{"key": "a", "tier": "gold"}]}));
        assert_eq!(bad_tier.validate().unwrap_err().field, "overrides[0].tier");
        let bad_cost = policy(json!({"tiers": {"x": {"cost_usd_per_month": -1.0}}}));
        assert_eq!(bad_cost.validate().unwrap_err().field, "tiers.x.cost_usd_per_month");
    }
}
