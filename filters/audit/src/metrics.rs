//! The GenAI metrics on Envoy's `/stats/prometheus`: requests, tokens and
//! cost by provider, model, status, team and client, and the duration and
//! time to first token histograms by provider and model, named after the
//! OpenTelemetry GenAI semantic conventions (`gen_ai.client.token.usage`,
//! `gen_ai.client.operation.duration`, `gen_ai.server.time_to_first_token`)
//! as far as Envoy's stats allow.
//!
//! Envoy stats have no labels of their own: the labels travel inside the
//! name (`…token.usage.token_type.input.provider.openai.team.platform.client.demo.model.gpt-4o-mini`)
//! and the bootstrap's `stats_tags` turn them back into Prometheus labels
//! (see docs/configuration.md). The model comes last because model names
//! hold dots (`gemini-2.5-flash`), which the tag regex takes to the end;
//! the client comes right before it and the team right before the client,
//! and their regexes match only there, since `gen_ai.client.token.usage`
//! holds a `client` segment of its own.
//! Only models the configuration names (`metric_models`, the price map) get
//! their own label, and no label can add a tag: a model such as
//! `x.status.500` would otherwise give a token counter a `status` label.
//! Teams and clients are labelled only as the configuration's `teams`
//! name them (`wasm_glue::teams`): any other client id is `other`.
//! Durations are milliseconds (Envoy's histogram buckets are tuned to them),
//! cost is in micro-dollars (Envoy counters are integers).

use crate::record::{millis_between as millis, Call, Facts};
use llm_api::pricing::PriceMap;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::SystemTime;
use wasm_glue::teams::{NO_LABEL, OTHER_LABEL, STAT_TAG_NAMES};
use wasm_glue::{Exchange, Host};

/// Distinct model labels per VM; beyond, models are counted as `other`.
/// Labels are only given to configured models, but a price map's dated
/// snapshots (`gpt-4o-2024-08-06`) are many.
const MAX_MODELS: usize = 200;
/// Longest model label kept.
const MAX_MODEL_LABEL: usize = 64;
/// Label sets whose metric names are kept; beyond, names are built per call.
const MAX_NAMED: usize = 1024;
#[derive(Debug, Default)]
pub struct Metrics {
    /// The configured models (`metric_models`).
    configured: HashSet<String>,
    /// The price map: priced models get their own label too.
    prices: Rc<PriceMap>,
    /// The model labels given so far.
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
    team: String,
    client: String,
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
        let Labels {
            provider,
            model,
            status,
            team,
            client,
        } = labels;
        let tags = format!("provider.{provider}.model.{model}");
        let who = format!("team.{team}.client.{client}.model.{model}");
        let status = status.map_or_else(|| NO_LABEL.to_owned(), |s| s.to_string());
        let tokens = |kind: &str| {
            format!(
                "llm_gateway.gen_ai.client.token.usage.token_type.{kind}.provider.{provider}.{who}"
            )
        };
        Names {
            requests: format!(
                "llm_gateway.gen_ai.requests.provider.{provider}.status.{status}.{who}"
            ),
            tokens: [tokens("input"), tokens("output"), tokens("cached_input")],
            cost: format!("llm_gateway.gen_ai.cost_micro_usd.provider.{provider}.{who}"),
            duration: format!("llm_gateway.gen_ai.client.operation.duration_ms.{tags}"),
            ttft: format!("llm_gateway.gen_ai.server.time_to_first_token_ms.{tags}"),
        }
    }
}

impl Metrics {
    pub fn new(configured: impl IntoIterator<Item = String>, prices: Rc<PriceMap>) -> Metrics {
        Metrics {
            configured: configured.into_iter().collect(),
            prices,
            ..Metrics::default()
        }
    }

    /// The label for `model`: itself, made tag-safe, when it is configured
    /// or priced and the set of labels has room; else `other`.
    fn model_label(&mut self, model: Option<&str>, provider: Option<&str>) -> String {
        let Some(model) = model else {
            return NO_LABEL.to_owned();
        };
        if !self.configured.contains(model) && self.prices.price(provider, model).is_none() {
            return OTHER_LABEL.to_owned();
        }
        let model = tag_safe(model);
        if self.models.contains(&model) {
            return model;
        }
        if self.models.len() < MAX_MODELS {
            self.models.insert(model.clone());
            return model;
        }
        OTHER_LABEL.to_owned()
    }

    /// The metric names of `labels`, built once per label set while there
    /// is room for it.
    fn names(&mut self, labels: Labels) -> Cow<'_, Names> {
        if self.names.len() >= MAX_NAMED && !self.names.contains_key(&labels) {
            return Cow::Owned(Names::of(&labels));
        }
        Cow::Borrowed(self.names.entry(labels).or_insert_with_key(Names::of))
    }

    /// Counts one finished call of the exchange `ex`.
    pub fn record(
        &mut self,
        call: &Call,
        facts: &Facts,
        ex: &Exchange,
        cost: Option<f64>,
        ended: SystemTime,
        host: &mut dyn Host,
    ) {
        let model = facts
            .served_upstream_model()
            .or(call.model_requested.as_deref());
        let (team, client) = client_labels(ex);
        let labels = Labels {
            provider: label(facts.served_provider().unwrap_or(NO_LABEL)),
            model: self.model_label(model, facts.served_provider()),
            status: call.status,
            team: team.to_owned(),
            client: client.to_owned(),
        };
        let names = self.names(labels);
        host.count(&names.requests, 1);
        if let Some(usage) = &call.usage {
            for (name, tokens) in
                names
                    .tokens
                    .iter()
                    .zip([usage.input, usage.output, usage.cached_input])
            {
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

/// The team and client labels of a call: a client's team and label when
/// the configuration's `teams` name it, team `none` and client `other` for
/// any other client id, and `none` for both without a client id.
fn client_labels(ex: &Exchange) -> (&str, &str) {
    match (ex.client_id(), ex.client()) {
        (None, _) => (NO_LABEL, NO_LABEL),
        (Some(_), None) => (NO_LABEL, OTHER_LABEL),
        (Some(_), Some(client)) => (&client.team, &client.label),
    }
}

/// A provider name as a label: names are validated by the route stage, but
/// a dot would shift every tag after it.
fn label(name: &str) -> String {
    name.replace('.', "_")
}

/// A model name as the last part of a stat name: at most
/// [`MAX_MODEL_LABEL`] characters of `[A-Za-z0-9._-]` (others become `_`),
/// and a dot before a segment named like a tag (`x.status.500`) becomes
/// `_`, so that the name keeps its dots (`gemini-2.5-flash`) but gains no
/// tag.
fn tag_safe(model: &str) -> String {
    let clean: String = model
        .chars()
        .take(MAX_MODEL_LABEL)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut out = String::with_capacity(clean.len());
    for (i, segment) in clean.split('.').enumerate() {
        if i > 0 {
            out.push(if STAT_TAG_NAMES.contains(&segment) {
                '_'
            } else {
                '.'
            });
        }
        out.push_str(segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_carry_the_labels_and_are_kept_for_a_bounded_number_of_label_sets() {
        let labels = |i: u16| Labels {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            status: Some(i),
            team: "platform".into(),
            client: "demo".into(),
        };
        let mut metrics = Metrics::default();
        let names = metrics.names(labels(200)).into_owned();
        assert_eq!(
            names.requests,
            "llm_gateway.gen_ai.requests.provider.openai.status.200.team.platform.client.demo.model.gpt-4o-mini"
        );
        assert_eq!(names.tokens[2], "llm_gateway.gen_ai.client.token.usage.token_type.cached_input.provider.openai.team.platform.client.demo.model.gpt-4o-mini");
        assert_eq!(
            names.cost,
            "llm_gateway.gen_ai.cost_micro_usd.provider.openai.team.platform.client.demo.model.gpt-4o-mini"
        );
        assert_eq!(
            names.ttft,
            "llm_gateway.gen_ai.server.time_to_first_token_ms.provider.openai.model.gpt-4o-mini",
            "the histograms are labelled by provider and model only"
        );
        let unknown = Labels {
            status: None,
            ..labels(0)
        };
        assert_eq!(
            metrics.names(unknown).requests,
            "llm_gateway.gen_ai.requests.provider.openai.status.none.team.platform.client.demo.model.gpt-4o-mini"
        );
        for i in 0..(MAX_NAMED as u16 + 10) {
            assert_eq!(*metrics.names(labels(i)), Names::of(&labels(i)));
        }
        assert_eq!(metrics.names.len(), MAX_NAMED);
        assert!(
            matches!(metrics.names(labels(200)), Cow::Borrowed(_)),
            "kept label sets stay"
        );
    }

    #[test]
    fn only_configured_or_priced_models_get_a_label_and_labels_are_bounded() {
        let prices = Rc::new(PriceMap::default());
        let mut metrics = Metrics::new(
            (0..MAX_MODELS + 1).map(|i| format!("m{i}")),
            Rc::clone(&prices),
        );
        for i in 0..MAX_MODELS {
            assert_eq!(
                metrics.model_label(Some(&format!("m{i}")), None),
                format!("m{i}")
            );
        }
        assert_eq!(
            metrics.model_label(Some(&format!("m{MAX_MODELS}")), None),
            "other",
            "the bound"
        );
        assert_eq!(
            metrics.model_label(Some("m7"), None),
            "m7",
            "known models keep their label"
        );
        let mut metrics = Metrics::new(["a b\n".to_owned(), "x".repeat(100)], prices);
        assert_eq!(
            metrics.model_label(Some("gpt-4o-mini"), Some("openai")),
            "gpt-4o-mini",
            "priced"
        );
        assert_eq!(
            metrics.model_label(Some("gpt-9"), Some("openai")),
            "other",
            "neither"
        );
        assert_eq!(metrics.model_label(Some("a b\n"), None), "a_b_");
        assert_eq!(metrics.model_label(None, None), "none");
        assert_eq!(
            metrics.model_label(Some(&"x".repeat(100)), None).len(),
            MAX_MODEL_LABEL
        );
    }

    #[test]
    fn team_and_client_labels_are_only_configured_names() {
        use std::rc::Rc;
        use wasm_glue::Teams;
        let teams = Teams::from_json(
            "audit",
            serde_json::json!({"platform": {"clients": ["demo", "ops.bot"]}}),
        )
        .unwrap();
        let teams = Rc::new(teams);
        let labels = |client: Option<&str>| {
            let headers = client
                .map(|c| ("x-client-id".to_owned(), c.to_owned()))
                .into_iter()
                .collect();
            let ex = Exchange::new(headers, Rc::from("x-client-id"), Rc::clone(&teams));
            let (team, client) = client_labels(&ex);
            (team.to_owned(), client.to_owned())
        };
        let pair = |team: &str, client: &str| (team.to_owned(), client.to_owned());
        assert_eq!(labels(Some("demo")), pair("platform", "demo"));
        assert_eq!(
            labels(Some("ops.bot")),
            pair("platform", "ops_bot"),
            "tag-safe"
        );
        assert_eq!(
            labels(Some("x.model.evil")),
            pair("none", "other"),
            "never an unconfigured id"
        );
        assert_eq!(labels(None), pair("none", "none"));
    }

    #[test]
    fn a_model_label_cannot_add_a_tag() {
        assert_eq!(tag_safe("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(tag_safe("x.status.500"), "x_status.500");
        assert_eq!(
            tag_safe("a.token_type.b.provider.c.model.d"),
            "a_token_type.b_provider.c_model.d"
        );
        assert_eq!(tag_safe("a:b=c d"), "a_b_c_d");
    }
}
