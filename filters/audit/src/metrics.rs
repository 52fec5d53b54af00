//! The GenAI metrics on Envoy's `/stats/prometheus`: requests, tokens and
//! cost by provider, model and status, and the duration and time to first
//! token histograms, named after the OpenTelemetry GenAI semantic
//! conventions (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`,
//! `gen_ai.server.time_to_first_token`) as far as Envoy's stats allow.
//!
//! Envoy stats have no labels of their own: the labels travel inside the
//! name (`…token.usage.token_type.input.provider.openai.model.gpt-4o-mini`)
//! and the bootstrap's `stats_tags` turn them back into Prometheus labels
//! (see docs/configuration.md). The model comes last because model names
//! hold dots (`gemini-2.5-flash`), which the tag regex takes to the end.
//! Durations are milliseconds (Envoy's histogram buckets are tuned to them),
//! cost is in micro-dollars (Envoy counters are integers).

use crate::record::{millis_between as millis, Call, Facts};
use std::collections::HashSet;
use std::time::SystemTime;
use wasm_glue::Host;

/// Distinct model labels per VM; beyond, models are counted as `other`, so
/// that clients naming arbitrary models (with a default provider) cannot
/// grow the stats without bound.
const MAX_MODELS: usize = 200;
/// Longest model label kept.
const MAX_MODEL_LABEL: usize = 64;

#[derive(Debug, Default)]
pub struct Metrics {
    models: HashSet<String>,
}

impl Metrics {
    /// The label for `model`: itself while the set of labels has room.
    fn model_label(&mut self, model: Option<&str>) -> String {
        let model: String = model
            .unwrap_or("none")
            .chars()
            .take(MAX_MODEL_LABEL)
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        if self.models.contains(&model) {
            return model;
        }
        if self.models.len() < MAX_MODELS {
            self.models.insert(model.clone());
            return model;
        }
        "other".to_owned()
    }

    /// Counts one finished call.
    pub fn record(&mut self, call: &Call, facts: &Facts, cost: Option<f64>, ended: SystemTime, host: &mut dyn Host) {
        let provider = label(facts.served_provider().unwrap_or("none"));
        let model = self.model_label(facts.served_upstream_model().or(call.model_requested.as_deref()));
        let tags = format!("provider.{provider}.model.{model}");
        let status = call.status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        host.count(&format!("llm_gateway.gen_ai.requests.provider.{provider}.status.{status}.model.{model}"), 1);
        if let Some(usage) = &call.usage {
            for (kind, tokens) in [("input", usage.input), ("output", usage.output), ("cached_input", usage.cached_input)] {
                if tokens > 0 {
                    host.count(&format!("llm_gateway.gen_ai.client.token.usage.token_type.{kind}.{tags}"), tokens);
                }
            }
        }
        if let Some(cost) = cost {
            // Rounded up, so that many tiny calls are not all counted as free.
            let micros = (cost * 1e6).ceil();
            if micros >= 1.0 {
                host.count(&format!("llm_gateway.gen_ai.cost_micro_usd.{tags}"), micros as u64);
            }
        }
        if let Some(duration) = millis(call.started, Some(ended)) {
            host.record(&format!("llm_gateway.gen_ai.client.operation.duration_ms.{tags}"), duration);
        }
        if let Some(ttft) = millis(call.started, call.first_token) {
            host.record(&format!("llm_gateway.gen_ai.server.time_to_first_token_ms.{tags}"), ttft);
        }
    }
}

/// A provider name as a label: names are validated by the route stage, but
/// a dot would shift every tag after it.
fn label(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_labels_are_bounded() {
        let mut metrics = Metrics::default();
        for i in 0..MAX_MODELS {
            assert_eq!(metrics.model_label(Some(&format!("m{i}"))), format!("m{i}"));
        }
        assert_eq!(metrics.model_label(Some("one-too-many")), "other");
        assert_eq!(metrics.model_label(Some("m7")), "m7", "known models keep their label");
        let mut metrics = Metrics::default();
        assert_eq!(metrics.model_label(Some("a b\n")), "a_b_");
        assert_eq!(metrics.model_label(None), "none");
        assert_eq!(metrics.model_label(Some(&"x".repeat(100))).len(), MAX_MODEL_LABEL);
    }
}
