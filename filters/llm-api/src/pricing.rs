//! What a call cost in US dollars, from the usage the provider reported and
//! a price map: per model, the price of a million input, cached input, cache
//! write and output tokens.
//!
//! One map serves the audit filter (the cost in each record and in the cost
//! metric) and the token-limit filter (monthly cost budgets), so that both
//! agree on what a call cost. The built-in list prices cover the main models
//! of each provider; a filter's `prices` configuration overrides or extends
//! them (negotiated prices, new models, self-hosted models at zero).

use crate::usage::Usage;
use serde::Deserialize;
use std::collections::HashMap;

/// When the built-in prices were taken from the providers' public price
/// lists (standard tier, no batch discount, prompts under any long-context
/// surcharge threshold).
pub const BUILT_IN_AS_OF: &str = "2026-06";

/// US dollars per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Prompt tokens read from the provider's cache; the input price when
    /// the provider has no cache discount.
    pub cached_input: Option<f64>,
    /// Prompt tokens written to the cache (Anthropic charges extra for
    /// those); the input price when unset.
    pub cache_write: Option<f64>,
}

impl Price {
    const fn new(input: f64, cached_input: f64, output: f64) -> Price {
        Price {
            input,
            output,
            cached_input: Some(cached_input),
            cache_write: None,
        }
    }

    /// Anthropic's scheme: cache reads at a tenth of the input price, cache
    /// writes (five-minute cache) at 1.25 times.
    const fn anthropic(input: f64, output: f64) -> Price {
        Price {
            input,
            output,
            cached_input: Some(input / 10.0),
            cache_write: Some(input * 1.25),
        }
    }

    /// What `usage` costs at this price.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_input.min(usage.input);
        let written = usage.cache_creation_input.min(usage.input - cached);
        let plain = usage.input - cached - written;
        let per_token =
            |price_per_million: f64, tokens: u64| price_per_million * tokens as f64 / 1_000_000.0;
        per_token(self.input, plain)
            + per_token(self.cached_input.unwrap_or(self.input), cached)
            + per_token(self.cache_write.unwrap_or(self.input), written)
            + per_token(self.output, usage.output)
    }
}

/// The built-in list prices, by model name as the provider names it.
/// Azure OpenAI deployments are priced as the OpenAI model they serve.
const BUILT_IN: &[(&str, Price)] = &[
    // OpenAI
    ("gpt-5", Price::new(1.25, 0.125, 10.0)),
    ("gpt-5-mini", Price::new(0.25, 0.025, 2.0)),
    ("gpt-5-nano", Price::new(0.05, 0.005, 0.40)),
    ("gpt-4.1", Price::new(2.0, 0.50, 8.0)),
    ("gpt-4.1-mini", Price::new(0.40, 0.10, 1.60)),
    ("gpt-4.1-nano", Price::new(0.10, 0.025, 0.40)),
    ("gpt-4o", Price::new(2.50, 1.25, 10.0)),
    ("gpt-4o-mini", Price::new(0.15, 0.075, 0.60)),
    ("o3", Price::new(2.0, 0.50, 8.0)),
    ("o3-mini", Price::new(1.10, 0.55, 4.40)),
    ("o4-mini", Price::new(1.10, 0.275, 4.40)),
    ("text-embedding-3-small", Price::new(0.02, 0.02, 0.0)),
    ("text-embedding-3-large", Price::new(0.13, 0.13, 0.0)),
    // Anthropic
    ("claude-opus-4-5", Price::anthropic(5.0, 25.0)),
    ("claude-opus-4-1", Price::anthropic(15.0, 75.0)),
    ("claude-sonnet-4-5", Price::anthropic(3.0, 15.0)),
    ("claude-sonnet-4", Price::anthropic(3.0, 15.0)),
    ("claude-haiku-4-5", Price::anthropic(1.0, 5.0)),
    ("claude-3-5-haiku", Price::anthropic(0.80, 4.0)),
    // Gemini (prompts up to 200k tokens)
    ("gemini-2.5-pro", Price::new(1.25, 0.125, 10.0)),
    ("gemini-2.5-flash", Price::new(0.30, 0.03, 2.50)),
    ("gemini-2.5-flash-lite", Price::new(0.10, 0.01, 0.40)),
    ("gemini-embedding-001", Price::new(0.15, 0.15, 0.0)),
];

/// One configured price (US dollars per million tokens): for `model`, or
/// for `model` on one `provider` only (a provider name of the routing
/// configuration, e.g. a self-hosted one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    pub model: String,
    #[serde(default)]
    pub provider: Option<String>,
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// The prices in force: the built-in list overlaid with the configured ones.
#[derive(Debug, Clone)]
pub struct PriceMap {
    /// Keyed by model name, or by `provider/model` for provider-only entries.
    prices: HashMap<String, Price>,
}

impl Default for PriceMap {
    fn default() -> Self {
        PriceMap {
            prices: BUILT_IN
                .iter()
                .map(|(model, price)| ((*model).to_owned(), *price))
                .collect(),
        }
    }
}

impl PriceMap {
    /// The built-in prices with `entries` replacing or adding to them.
    /// Returns the index and reason of the first invalid entry.
    pub fn with(entries: &[PriceEntry]) -> Result<PriceMap, (usize, String)> {
        let mut map = PriceMap::default();
        for (i, entry) in entries.iter().enumerate() {
            let price = Price {
                input: entry.input,
                output: entry.output,
                cached_input: entry.cached_input,
                cache_write: entry.cache_write,
            };
            let prices = [
                Some(price.input),
                Some(price.output),
                price.cached_input,
                price.cache_write,
            ];
            if prices
                .into_iter()
                .flatten()
                .any(|v| !v.is_finite() || v < 0.0)
            {
                return Err((i, "prices must be finite and not negative".into()));
            }
            if entry.model.is_empty() {
                return Err((i, "`model` must not be empty".into()));
            }
            let key = match &entry.provider {
                Some(provider) => format!("{provider}/{}", entry.model),
                None => entry.model.clone(),
            };
            map.prices.insert(key, price);
        }
        Ok(map)
    }

    /// The price of `model` as `provider` serves it: a provider-only entry
    /// first, then the model's own; a dated snapshot (`-2024-07-18`,
    /// `-20250929`) is priced as its model when not listed itself.
    pub fn price(&self, provider: Option<&str>, model: &str) -> Option<&Price> {
        let lookup = |name: &str| {
            provider
                .and_then(|p| self.prices.get(&format!("{p}/{name}")))
                .or_else(|| self.prices.get(name))
        };
        lookup(model).or_else(|| lookup(without_date(model)?))
    }

    /// What `usage` of `model` on `provider` cost, if the model has a price.
    pub fn cost(&self, provider: Option<&str>, model: &str, usage: &Usage) -> Option<f64> {
        Some(self.price(provider, model)?.cost(usage))
    }
}

/// `model` without a trailing snapshot date, if it has one.
fn without_date(model: &str) -> Option<&str> {
    let is_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, date)) = model.rsplit_once('-') {
        if is_digits(date, 8) {
            return Some(base);
        }
    }
    // -YYYY-MM-DD
    let mut parts = model.rsplitn(4, '-');
    let (day, month, year, base) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (is_digits(year, 4) && is_digits(month, 2) && is_digits(day, 2)).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, cached: u64, written: u64, output: u64) -> Usage {
        Usage {
            input,
            output,
            total: input + output,
            cached_input: cached,
            cache_creation_input: written,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn cost_charges_each_kind_of_token_at_its_price() {
        let map = PriceMap::default();
        // gpt-4o-mini: 1M plain input 0.15, 1M output 0.60.
        let cost = map
            .cost(
                Some("openai"),
                "gpt-4o-mini",
                &usage(1_000_000, 0, 0, 1_000_000),
            )
            .unwrap();
        assert!(close(cost, 0.75), "{cost}");
        // Half the prompt from the cache at half price.
        let cost = map
            .cost(None, "gpt-4o-mini", &usage(1_000_000, 500_000, 0, 0))
            .unwrap();
        assert!(close(cost, 0.075 + 0.0375), "{cost}");
        // Anthropic: reads at 0.1x, writes at 1.25x the input price.
        let cost = map
            .cost(
                None,
                "claude-sonnet-4-5",
                &usage(3_000_000, 1_000_000, 1_000_000, 0),
            )
            .unwrap();
        assert!(close(cost, 3.0 + 0.30 + 3.75), "{cost}");
    }

    #[test]
    fn snapshots_are_priced_as_their_model_and_unknown_models_have_no_price() {
        let map = PriceMap::default();
        assert_eq!(
            map.price(None, "gpt-4o-mini-2024-07-18"),
            map.price(None, "gpt-4o-mini")
        );
        assert_eq!(
            map.price(None, "claude-sonnet-4-5-20250929"),
            map.price(None, "claude-sonnet-4-5")
        );
        assert!(map.price(None, "gpt-4o-mini-2024-07").is_none());
        assert!(map.price(None, "my-fine-tune").is_none());
        assert_eq!(without_date("a-1-22-333"), None);
    }

    #[test]
    fn configured_prices_override_and_extend_by_provider() {
        let entries: Vec<PriceEntry> = serde_json::from_value(serde_json::json!([
            {"model": "gpt-4o-mini", "input": 0.1, "output": 0.5},
            {"model": "llama-3.1-8b", "provider": "local", "input": 0.0, "output": 0.0}
        ]))
        .unwrap();
        let map = PriceMap::with(&entries).unwrap();
        assert_eq!(map.price(None, "gpt-4o-mini").unwrap().input, 0.1);
        assert!(map.price(Some("local"), "llama-3.1-8b").is_some());
        assert!(
            map.price(Some("openai"), "llama-3.1-8b").is_none(),
            "only on its provider"
        );
        let bad: Vec<PriceEntry> = serde_json::from_value(
            serde_json::json!([{"model": "m", "input": -1.0, "output": 0.0}]),
        )
        .unwrap();
        assert_eq!(PriceMap::with(&bad).unwrap_err().0, 0);
        let unknown = serde_json::from_value::<Vec<PriceEntry>>(
            serde_json::json!([{"model": "m", "input": 1.0, "output": 1.0, "x": 1}]),
        );
        assert!(unknown.is_err(), "unknown fields are refused");
    }
}
