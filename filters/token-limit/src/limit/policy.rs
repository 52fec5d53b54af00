//! The limiter's configuration, as `config.rs` reads it:
//! which limits apply to which key, how the key is built, how tokens are
//! counted, and how the shared store behaves under contention.

use crate::count::encoding::glob_match;
use crate::count::EncodingRule;
use llm_api::pricing::{Price, PriceEntry};
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
    /// The authenticated client's team, from the configuration's `teams`:
    /// a level keyed on it caps every client of the team together.
    Team,
    /// The model the request names.
    Model,
    /// The API the caller speaks (`ApiKind::name`, e.g. `chat_completions`).
    /// Spelled `"api"`; `"route"` is accepted as the same part.
    #[serde(alias = "route")]
    Api,
}

/// What a request gets when one of a level's key parts is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingKey {
    /// Only the missing part is replaced, by [`MISSING_PART`]: requests of
    /// one client without an agent id share that client's "no agent"
    /// bucket, never another client's.
    #[default]
    Placeholder,
    /// 401 in the caller's format.
    Reject,
}

/// What stands for a missing key part in a key. A `%` inside a value is
/// escaped (`%25`), so no value a client sends can build it.
pub const MISSING_PART: &str = "%none";

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
        CountingConfig {
            mode: CountingMode::Auto,
            safety_margin: default_margin(),
            encodings: Vec::new(),
        }
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
    /// The most bytes a slot may hold before a new key is refused a place
    /// in it (handled as contention): bounds the store at `slots` times
    /// this, however many distinct keys clients make up. Keys already in a
    /// slot keep being counted.
    #[serde(default = "default_max_slot_bytes")]
    pub max_slot_bytes: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            slots: default_slots(),
            cas_retries: default_retries(),
            on_contention: FailMode::Open,
            max_slot_bytes: default_max_slot_bytes(),
        }
    }
}

/// About 15 keys with every limit set, 40 with two.
fn default_max_slot_bytes() -> u32 {
    4096
}

fn default_slots() -> u32 {
    65_536
}

fn default_retries() -> u32 {
    16
}

/// One level of limits: a key built from request parts, and the limits of
/// each key. A request is charged against every level and admitted only if
/// every level admits it, so a level keyed on the client caps what all of
/// that client's agents together spend, whatever agent ids it sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// Named in 429s and in the `llm.ratelimit.key` fact; by default the
    /// key's parts joined by `+` (`client+x-agent-id`).
    #[serde(default)]
    pub name: String,
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
}

/// The `token_limit` configuration (besides what `config.rs` holds).
///
/// Either `levels`, or the one-level shorthand `key`, `missing_key`,
/// `limits`, `tiers` and `overrides` at the top; [`LimitPolicy::validate`]
/// turns the shorthand into `levels`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitPolicy {
    #[serde(default)]
    pub levels: Vec<Level>,
    #[serde(default)]
    key: Option<Vec<KeyPart>>,
    #[serde(default)]
    missing_key: Option<MissingKey>,
    #[serde(default)]
    limits: Option<Limits>,
    #[serde(default)]
    tiers: Option<BTreeMap<String, Limits>>,
    #[serde(default)]
    overrides: Option<Vec<Override>>,
    #[serde(default)]
    pub counting: CountingConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// Limits kept by a rate-limit service shared by every Envoy replica
    /// (Envoy's `ratelimit` filter after the bundle) instead of this Envoy's
    /// shared data; the limits then live in the service's configuration.
    #[serde(default)]
    pub global: Option<GlobalMode>,
    /// The older spelling of the plugin configuration's top-level `prices`
    /// (one table for cost budgets and the audit's costs), loaded when that
    /// is absent.
    #[serde(default)]
    pub prices: Option<Vec<PriceEntry>>,
    /// What a model without a price costs under a cost budget.
    #[serde(default)]
    pub unpriced_models: Unpriced,
    /// The output a request is expected to produce when it sets no
    /// `max_tokens` (or its dialect's name for it): reserved at admission
    /// against output, total-token and cost limits, then replaced by the
    /// reported usage.
    #[serde(default = "default_output_tokens")]
    pub default_output_tokens: u64,
}

/// What a cost budget charges for a model that has no price:
/// `"reject"` (the default: a 400 naming the model, so no call under a cost
/// budget is ever free) or a price (`{"input", "output", ...}` per million
/// tokens) charged for every unpriced model.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Default)]
#[serde(try_from = "UnpricedJson")]
pub enum Unpriced {
    #[default]
    Reject,
    Price(Price),
}

/// [`Unpriced`] as written in the configuration.
#[derive(Deserialize)]
#[serde(untagged)]
enum UnpricedJson {
    Word(String),
    Price(UnpricedPrice),
}

/// The price object of `unpriced_models`; a misspelt field is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnpricedPrice {
    input: f64,
    output: f64,
    #[serde(default)]
    cached_input: Option<f64>,
    #[serde(default)]
    cache_write: Option<f64>,
}

impl TryFrom<UnpricedJson> for Unpriced {
    type Error = String;

    fn try_from(json: UnpricedJson) -> Result<Self, String> {
        match json {
            UnpricedJson::Word(word) if word == "reject" => Ok(Unpriced::Reject),
            UnpricedJson::Word(word) => Err(format!(
                "expected \"reject\" or a price object, got `{word}`"
            )),
            UnpricedJson::Price(UnpricedPrice {
                input,
                output,
                cached_input,
                cache_write,
            }) => {
                let price = Price {
                    input,
                    output,
                    cached_input,
                    cache_write,
                };
                let all = [Some(input), Some(output), cached_input, cache_write];
                if all
                    .into_iter()
                    .flatten()
                    .all(|usd| usd.is_finite() && (0.0..1e6).contains(&usd))
                {
                    Ok(Unpriced::Price(price))
                } else {
                    Err("prices must be between 0 and 1e6 dollars per million tokens".to_owned())
                }
            }
        }
    }
}

fn default_output_tokens() -> u64 {
    1024
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

/// The shorthand's key when none is given: the authenticated client.
fn default_key() -> Vec<KeyPart> {
    vec![KeyPart::Client]
}

impl KeyPart {
    /// How the part reads in a level's default name.
    fn label(&self) -> &str {
        match self {
            KeyPart::Header(name) => name,
            KeyPart::Client => "client",
            KeyPart::Team => "team",
            KeyPart::Model => "model",
            KeyPart::Api => "api",
        }
    }
}

/// Why a policy cannot be used; `field` is the path to name in the
/// `ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

impl LimitPolicy {
    /// Checks what serde cannot (tier names exist, numbers are sane, level
    /// names are unique) and turns the one-level shorthand into `levels`.
    pub fn validate(&mut self) -> Result<(), PolicyError> {
        let err = |field: String, message: &str| {
            Err(PolicyError {
                field,
                message: message.to_owned(),
            })
        };
        let shorthand = [
            ("key", self.key.is_some()),
            ("missing_key", self.missing_key.is_some()),
            ("limits", self.limits.is_some()),
            ("tiers", self.tiers.is_some()),
            ("overrides", self.overrides.is_some()),
        ];
        let one_level = self.levels.is_empty();
        if one_level {
            self.levels.push(Level {
                name: String::new(),
                key: self.key.take().unwrap_or_else(default_key),
                missing_key: self.missing_key.take().unwrap_or_default(),
                limits: self.limits.take().unwrap_or_default(),
                tiers: self.tiers.take().unwrap_or_default(),
                overrides: self.overrides.take().unwrap_or_default(),
            });
        } else if let Some((field, _)) = shorthand.iter().find(|(_, set)| *set) {
            return err(
                (*field).to_owned(),
                "set it inside each of `levels`, not beside them",
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (l, level) in self.levels.iter_mut().enumerate() {
            // The shorthand's fields are named as written, at the top.
            let at = |field: &str| {
                if one_level {
                    field.to_owned()
                } else {
                    format!("levels[{l}].{field}")
                }
            };
            if level.key.is_empty() {
                return err(at("key"), "needs at least one part");
            }
            if level.name.is_empty() {
                // Header names are checked where the configuration is loaded.
                level.name = level
                    .key
                    .iter()
                    .map(KeyPart::label)
                    .collect::<Vec<_>>()
                    .join("+");
            } else if !(level.name.len() <= 64
                && level
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+')))
            {
                return err(
                    at("name"),
                    "must be at most 64 letters, digits, `-`, `_` or `+`",
                );
            }
            if !names.insert(level.name.clone()) {
                return err(
                    at("name"),
                    "is the name of another level (give each level its own `name`)",
                );
            }
            level.validate().map_err(|e| PolicyError {
                field: at(&e.field),
                message: e.message,
            })?;
        }
        let m = self.counting.safety_margin;
        if !(m.is_finite() && (0.0..=10.0).contains(&m)) {
            return err("counting.safety_margin".into(), "must be between 0 and 10");
        }
        if self.global.is_some() {
            let [level] = self.levels.as_slice() else {
                return err(
                    "levels".into(),
                    "global mode keeps one level (the rate-limit service's descriptors)",
                );
            };
            // The descriptor is built by Envoy from request headers.
            if let Some(i) = level
                .key
                .iter()
                .position(|p| matches!(p, KeyPart::Team | KeyPart::Model | KeyPart::Api))
            {
                return err(format!("key[{i}]"), "global mode keys on headers and the client only (`team`, `model` and `api` are not request headers)");
            }
            if level.limits != Limits::default()
                || !level.tiers.is_empty()
                || !level.overrides.is_empty()
            {
                return err("global".into(), "in global mode the limits live in the rate-limit service's configuration; remove `limits`, `tiers` and `overrides`");
            }
        }
        if self.store.slots == 0 || self.store.cas_retries == 0 {
            return err(
                "store".into(),
                "`slots` and `cas_retries` must be at least 1",
            );
        }
        if self.store.max_slot_bytes < 512 {
            return err(
                "store.max_slot_bytes".into(),
                "must be at least 512 (a key with every limit takes about 300 bytes)",
            );
        }
        Ok(())
    }
}

impl Level {
    /// Tier names exist; cost budgets are sane. Fields are relative to the level.
    fn validate(&self) -> Result<(), PolicyError> {
        let err = |field: String, message: &str| {
            Err(PolicyError {
                field,
                message: message.to_owned(),
            })
        };
        for (i, o) in self.overrides.iter().enumerate() {
            match (&o.tier, &o.limits) {
                (Some(tier), None) if !self.tiers.contains_key(tier) => {
                    return err(format!("overrides[{i}].tier"), "names no tier in `tiers`")
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return err(
                        format!("overrides[{i}]"),
                        "needs exactly one of `tier` and `limits`",
                    )
                }
            }
        }
        let all =
            std::iter::once(("limits".to_owned(), &self.limits))
                .chain(self.tiers.iter().map(|(n, l)| (format!("tiers.{n}"), l)))
                .chain(self.overrides.iter().enumerate().filter_map(|(i, o)| {
                    Some((format!("overrides[{i}].limits"), o.limits.as_ref()?))
                }));
        for (field, limits) in all {
            if let Some(usd) = limits.cost_usd_per_month {
                if !(0.0..1e9).contains(&usd) {
                    return err(
                        format!("{field}.cost_usd_per_month"),
                        "must be between 0 and 1e9",
                    );
                }
            }
        }
        Ok(())
    }

    /// The limits that apply to `key`: the first matching override's (its
    /// tier's or its own), else the level's default ones.
    pub fn limits_for(&self, key: &str) -> &Limits {
        self.overrides
            .iter()
            .find(|o| glob_match(&o.key, key))
            .and_then(|o| {
                o.limits
                    .as_ref()
                    .or_else(|| self.tiers.get(o.tier.as_deref()?))
            })
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
        let l = |measure, window_ms, max: Option<u64>| {
            max.map(|max| Limit {
                measure,
                window_ms,
                max,
            })
        };
        let cost = self
            .cost_usd_per_month
            .map(|usd| (usd * 1e9).round() as u64);
        [
            l(Measure::Requests, MINUTE_MS, self.requests_per_minute),
            l(
                Measure::InputTokens,
                MINUTE_MS,
                self.input_tokens_per_minute,
            ),
            l(Measure::InputTokens, HOUR_MS, self.input_tokens_per_hour),
            l(
                Measure::OutputTokens,
                MINUTE_MS,
                self.output_tokens_per_minute,
            ),
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
        let mut p = policy(json!({
            "key": [{"header": "x-agent-id"}, "model"],
            "missing_key": "reject",
            "limits": {"requests_per_minute": 60, "input_tokens_per_minute": 100000},
            "tiers": {"free": {"requests_per_minute": 3, "cost_usd_per_month": 1.5}, "pro": {"input_tokens_per_hour": 5000000}},
            "overrides": [{"key": "demo-limited|*", "limits": {"input_tokens_per_minute": 2000}}, {"key": "trial-*", "tier": "free"}],
            "counting": {"mode": "auto", "safety_margin": 0.3, "encodings": [{"pattern": "my-*", "encoding": "o200k_base"}]},
            "store": {"slots": 1024, "cas_retries": 8, "on_contention": "closed"}
        }));
        p.validate().unwrap();
        let [level] = p.levels.as_slice() else {
            panic!("the shorthand is one level")
        };
        assert_eq!(level.name, "x-agent-id+model");
        assert_eq!(level.missing_key, MissingKey::Reject);
        assert_eq!(
            level
                .limits_for("demo-limited|gpt-4o")
                .input_tokens_per_minute,
            Some(2000)
        );
        assert_eq!(
            level.limits_for("trial-7|gpt-4o").requests_per_minute,
            Some(3)
        );
        assert_eq!(
            level.limits_for("other|gpt-4o").requests_per_minute,
            Some(60)
        );
        let free = level.limits_for("trial-1").to_set();
        assert_eq!(free.len(), 2);
        assert_eq!(
            free[1],
            Limit {
                measure: Measure::CostNanoUsd,
                window_ms: MONTH_MS,
                max: 1_500_000_000
            }
        );
    }

    #[test]
    fn the_api_part_is_spelled_api_or_route() {
        for spelling in ["api", "route"] {
            let mut p = policy(json!({"key": ["client", spelling]}));
            p.validate().unwrap();
            assert_eq!(p.levels[0].key, [KeyPart::Client, KeyPart::Api]);
            assert_eq!(p.levels[0].name, "client+api");
        }
    }

    #[test]
    fn a_team_level_is_named_after_it_and_kept_out_of_global_mode() {
        let mut p = policy(
            json!({"levels": [{"key": ["team"], "limits": {"input_tokens_per_minute": 1}}]}),
        );
        p.validate().unwrap();
        assert_eq!(
            (p.levels[0].key.as_slice(), p.levels[0].name.as_str()),
            ([KeyPart::Team].as_slice(), "team")
        );
        let err = policy(json!({"key": ["client", "team"], "global": {}}))
            .validate()
            .unwrap_err();
        assert_eq!(err.field, "key[1]");
        assert!(err.message.contains("`team`"), "{}", err.message);
    }

    #[test]
    fn levels_each_have_their_own_limits_tiers_and_overrides() {
        let mut p = policy(json!({"levels": [
            {"key": ["client"], "limits": {"input_tokens_per_minute": 5000}, "tiers": {"free": {"requests_per_minute": 1}},
             "overrides": [{"key": "trial", "tier": "free"}]},
            {"name": "agent", "key": ["client", {"header": "x-agent-id"}], "missing_key": "reject",
             "overrides": [{"key": "*|demo-limited", "limits": {"input_tokens_per_minute": 2000}}]}
        ]}));
        p.validate().unwrap();
        let names: Vec<&str> = p.levels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["client", "agent"]);
        assert_eq!(p.levels[0].limits_for("trial").requests_per_minute, Some(1));
        assert_eq!(
            p.levels[1]
                .limits_for("intern|demo-limited")
                .input_tokens_per_minute,
            Some(2000)
        );
        assert!(p.levels[1].limits_for("intern|other").to_set().is_empty());
    }

    #[test]
    fn defaults_and_errors() {
        let mut p = policy(json!({}));
        p.validate().unwrap();
        assert_eq!(
            p.levels[0].key,
            vec![KeyPart::Client],
            "the authenticated client, never a header the client sets"
        );
        assert_eq!(p.levels[0].missing_key, MissingKey::Placeholder);
        assert_eq!(p.counting.safety_margin, 0.3);
        assert_eq!(
            (p.unpriced_models, p.default_output_tokens),
            (Unpriced::Reject, 1024)
        );
        assert!(p.levels[0].limits.to_set().is_empty());
        assert!(serde_json::from_value::<LimitPolicy>(json!({"limits": {"rpm": 1}})).is_err());
        assert!(
            serde_json::from_value::<LimitPolicy>(json!({"missing_key": "shared_bucket"})).is_err()
        );
        let field = |v| policy(v).validate().unwrap_err().field;
        assert_eq!(
            field(json!({"overrides": [{"key": "a", "tier": "gold"}]})),
            "overrides[0].tier"
        );
        assert_eq!(
            field(json!({"tiers": {"x": {"cost_usd_per_month": -1.0}}})),
            "tiers.x.cost_usd_per_month"
        );
        assert_eq!(
            field(json!({"levels": [{"key": ["client"]}], "limits": {}})),
            "limits"
        );
        assert_eq!(
            field(json!({"levels": [{"key": ["client"]}, {"key": ["client"]}]})),
            "levels[1].name"
        );
        assert_eq!(field(json!({"levels": [{"key": []}]})), "levels[0].key");
        assert_eq!(
            field(json!({"levels": [{"name": "a b", "key": ["client"]}]})),
            "levels[0].name"
        );
        assert_eq!(
            field(
                json!({"levels": [{"key": ["model"], "overrides": [{"key": "m", "tier": "t"}]}]})
            ),
            "levels[0].overrides[0].tier"
        );
        assert_eq!(
            field(json!({"levels": [{"key": ["client"]}, {"key": ["model"]}], "global": {}})),
            "levels"
        );
    }

    #[test]
    fn unpriced_models_reject_or_carry_a_price() {
        let p = policy(json!({"unpriced_models": {"input": 10, "output": 30}}));
        assert_eq!(
            p.unpriced_models,
            Unpriced::Price(Price {
                input: 10.0,
                output: 30.0,
                cached_input: None,
                cache_write: None
            })
        );
        assert_eq!(
            policy(json!({"unpriced_models": "reject"})).unpriced_models,
            Unpriced::Reject
        );
        assert!(serde_json::from_value::<LimitPolicy>(json!({"unpriced_models": "free"})).is_err());
        assert!(serde_json::from_value::<LimitPolicy>(
            json!({"unpriced_models": {"input": -1, "output": 0}})
        )
        .is_err());
        assert!(serde_json::from_value::<LimitPolicy>(
            json!({"unpriced_models": {"input": 1, "output": 1, "cached": 1}})
        )
        .is_err());
    }
}
