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
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;
use wasm_glue::Host;

/// Distinct model labels per VM; beyond, models are counted as `other`, so
/// that clients naming arbitrary models (with a default provider) cannot
/// grow the stats without bound.
const MAX_MODELS: usize = 200;
/// Longest model label kept.
const MAX_MODEL_LABEL: usize = 64;
/// Label sets whose metric names are kept; beyond, names are built per call.
const MAX_NAMED: usize = 1024;

#[derive(Debug, Default)]
pub struct Metrics {
    models: HashSet<String>,
    /// The metric names of each label set seen: formatting seven names of
    /// about 80 bytes was a fifth of the stage's work per call in wasm.
    names: HashMap<Labels, Names>,
}

/// The labels one call's metrics carry.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Labels {
    provider: String,
    model: String,
    status: Option<u16>,
}

/// The names of one label set's metrics.
#[derive(Debug, Clone, PartialEq)]
struct Names {
    requests: String,
    /// Token usage: input, output, cached input.
    tokens: [String; 3],
    cost: String,
    duration: String,
    ttft: String,
}

impl Names {
    fn of(labels: &Labels) -> Names {
        let Labels { provider, model, status } = labels;
        let tags = format!("provider.{provider}.model.{model}");
        let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        let tokens = |kind: &str| format!("llm_gateway.gen_ai.client.token.usage.token_type.{kind}.{tags}");
        Names {
            requests: format!("llm_gateway.gen_ai.requests.provider.{provider}.status.{status}.model.{model}"),
            tokens: [tokens("input"), tokens("output"), tokens("cached_input")],
            cost: format!("llm_gateway.gen_ai.cost_micro_usd.{tags}"),
            duration: format!("llm_gateway.gen_ai.client.operation.duration_ms.{tags}"),
            ttft: format!("llm_gateway.gen_ai.server.time_to_first_token_ms.{tags}"),
        }
    }
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

    /// The metric names of `labels`, built once per label set while there
    /// is room for it.
    fn names(&mut self, labels: Labels) -> Cow<'_, Names> {
        if self.names.len() >= MAX_NAMED && !self.names.contains_key(&labels) {
            return Cow::Owned(Names::of(&labels));
        }
        Cow::Borrowed(self.names.entry(labels).or_insert_with_key(Names::of))
    }

    /// Counts one finished call.
    pub fn record(&mut self, call: &Call, facts: &Facts, cost: Option<f64>, ended: SystemTime, host: &mut dyn Host) {
        let labels = Labels {
            provider: label(facts.served_provider().unwrap_or("none")),
            model: self.model_label(facts.served_upstream_model().or(call.model_requested.as_deref())),
            status: call.status,
        };
        let names = self.names(labels);
        host.count(&names.requests, 1);
        if let Some(usage) = &call.usage {
            for (name, tokens) in names.tokens.iter().zip([usage.input, usage.output, usage.cached_input]) {
                if tokens > 0 {
                    host.count(name, tokens);
                }
            }
        }
        if let Some(cost) = cost {
            // Rounded up, so that many tiny calls are not all counted as free.
            let micros = (cost * 1e6).ceil();
            if micros >= 1.0 {
                host.count(&names.cost, micros as u64);
            }
        }
        if let Some(duration) = millis(call.started, Some(ended)) {
            host.record(&names.duration, duration);
        }
        if let Some(ttft) = millis(call.started, call.first_token) {
            host.record(&names.ttft, ttft);
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
    fn metric_names_carry_the_labels_and_are_kept_for_a_bounded_number_of_label_sets() {
        let labels = |i: u16| Labels { provider: "openai".into(), model: "gpt-4o-mini".into(), status: Some(i) };
        let mut metrics = Metrics::default();
        let names = metrics.names(labels(200)).into_owned();
        assert_eq!(names.requests, "llm_gateway.gen_ai.requests.provider.openai.status.200.model.gpt-4o-mini");
        assert_eq!(names.tokens[2], "llm_gateway.gen_ai.client.token.usage.token_type.cached_input.provider.openai.model.gpt-4o-mini");
        assert_eq!(names.ttft, "llm_gateway.gen_ai.server.time_to_first_token_ms.provider.openai.model.gpt-4o-mini");
        let unknown = Labels { status: None, ..labels(0) };
        assert_eq!(metrics.names(unknown).requests, "llm_gateway.gen_ai.requests.provider.openai.status.none.model.gpt-4o-mini");
        for i in 0..(MAX_NAMED as u16 + 10) {
            assert_eq!(*metrics.names(labels(i)), Names::of(&labels(i)));
        }
        assert_eq!(metrics.names.len(), MAX_NAMED);
        assert!(matches!(metrics.names(labels(200)), Cow::Borrowed(_)), "kept label sets stay");
    }

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
