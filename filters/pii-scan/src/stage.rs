//! The pii-scan stage: scans every user-visible text field of the request
//! (through llm-api's text visitor, in any API format) with the engine,
//! applies the configured action per entity type, reports the types found in
//! `x-pii-detected`, and restores tokenized values in the response.

use crate::config::{Action, PiiConfig};
use crate::engine::{Engine, EntityKind, Policy, StreamRestorer, Vault};
use llm_api::text::rewrite_response_text;
use llm_api::{ApiError, SseEvent, TextKind};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use wasm_glue::{Exchange, Flow, Host, Reply, Stage, StageStream};

pub struct PiiScan {
    shared: Rc<Shared>,
}

struct Shared {
    engine: Engine,
    policy: Policy,
    /// Whether any action changes text (redact or tokenize), decided from the
    /// configuration so that `content-length` is dropped before the body.
    rewrites: bool,
}

impl PiiScan {
    pub fn new(config: PiiConfig, engine: Engine) -> Self {
        let rewrites = std::iter::once(config.default_action)
            .chain(config.entities.values().copied())
            .any(|a| matches!(a, Action::Redact | Action::Tokenize));
        PiiScan { shared: Rc::new(Shared { policy: Policy::from(&config), engine, rewrites }) }
    }
}

impl Stage for PiiScan {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(PiiStream {
            shared: self.shared.clone(),
            vault: Vault::new(),
            found: BTreeMap::new(),
            restorers: HashMap::new(),
            last_text_event: None,
        })
    }
}

struct PiiStream {
    shared: Rc<Shared>,
    /// Tokenized values of this request, restored in its response.
    vault: Vault,
    /// Findings per (entity type, action): counts only, never values.
    found: BTreeMap<(String, &'static str), u64>,
    /// Streamed responses: one restorer per kind of text (message text and
    /// tool arguments are separate streams of deltas).
    restorers: HashMap<TextKind, StreamRestorer>,
    /// The last event that carried text: the template for the event that
    /// flushes what the restorers still hold at the end of the stream.
    last_text_event: Option<SseEvent>,
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Detect => "detect",
        Action::Redact => "redact",
        Action::Block => "block",
        Action::Tokenize => "tokenize",
    }
}

impl StageStream for PiiStream {
    fn rewrites_request(&self, ex: &Exchange) -> bool {
        self.shared.rewrites && ex.api.has_json_body()
    }

    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        let api = ex.api.clone();
        let shared = self.shared.clone();
        let mut blocked = BTreeSet::new();
        let (vault, found) = (&mut self.vault, &mut self.found);
        ex.edit_request(|request| {
            request.rewrite_text(&api, |field| {
                let findings = shared.engine.scan(field.text.as_bytes());
                if findings.is_empty() {
                    return None;
                }
                for finding in &findings {
                    let action = shared.policy.action(&finding.entity);
                    *found.entry((finding.entity.name().to_owned(), action_name(action))).or_default() += 1;
                }
                let applied = shared.policy.apply(field.text, &findings, vault);
                blocked.extend(applied.blocked.iter().map(EntityKind::name).map(str::to_owned));
                match applied.text {
                    std::borrow::Cow::Owned(text) => Some(text),
                    std::borrow::Cow::Borrowed(_) => None,
                }
            })
        });
        if !self.found.is_empty() {
            let summary: Vec<String> = self.found.iter().map(|((e, a), n)| format!("{e}:{a}:{n}")).collect();
            host.set_fact("llm.pii.findings", &summary.join(","));
            for ((entity, action), n) in &self.found {
                host.count(&format!("llm_gateway.pii_scan.findings.{entity}.{action}"), *n);
            }
        }
        if blocked.is_empty() {
            return Flow::Continue;
        }
        let types: Vec<&str> = blocked.iter().map(String::as_str).collect();
        let err = ApiError::invalid(format!(
            "The request contains {} that this gateway does not let through; remove it and retry.",
            types.join(", ")
        ))
        .with_code("pii_blocked");
        Flow::Respond(Reply::error(&err, &ex.api))
    }

    /// `x-pii-detected`: the entity types found in the request, never values.
    fn on_response_headers(&mut self, _ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        if !self.found.is_empty() {
            let types: BTreeSet<&str> = self.found.keys().map(|(e, _)| e.as_str()).collect();
            host.set_response_header("x-pii-detected", Some(&types.into_iter().collect::<Vec<_>>().join(",")));
        }
        Flow::Continue
    }

    fn reads_response(&self, _ex: &Exchange) -> bool {
        !self.vault.is_empty()
    }

    fn rewrites_response(&self, _ex: &Exchange) -> bool {
        !self.vault.is_empty()
    }

    /// Puts tokenized values back into a whole response.
    fn on_response(&mut self, ex: &mut Exchange, _host: &mut dyn Host) {
        let api = ex.api.clone();
        let vault = &self.vault;
        if let Some(body) = ex.response_mut() {
            rewrite_response_text(&api, body, |field| match vault.restore(field.text) {
                std::borrow::Cow::Owned(text) => Some(text),
                std::borrow::Cow::Borrowed(_) => None,
            });
        }
    }

    /// Puts tokenized values back into a stream, event by event. A
    /// placeholder split across events is held back only until it is
    /// complete (or cannot be one), then emitted with the next event's text;
    /// what is still held at the end goes out in one more text event, made
    /// from the last one, placed before the stream's closing events.
    fn on_response_events(&mut self, ex: &mut Exchange, events: &mut Vec<SseEvent>, end: bool, _host: &mut dyn Host) {
        if self.vault.is_empty() {
            return;
        }
        let api = ex.api.clone();
        let mut last_text_index = None;
        for (index, event) in events.iter_mut().enumerate() {
            let Some(mut value) = event.data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) else {
                continue;
            };
            let (vault, restorers) = (&self.vault, &mut self.restorers);
            let mut had_text = false;
            let changed = rewrite_response_text(&api, &mut value, |field| {
                had_text = true;
                let restored = restorers.entry(field.kind).or_default().push(vault, field.text.as_bytes());
                let restored = String::from_utf8_lossy(&restored).into_owned();
                (restored != field.text).then_some(restored)
            });
            if changed {
                event.data = Some(value.to_string());
            }
            if had_text {
                self.last_text_event = Some(event.clone());
                last_text_index = Some(index);
            }
        }
        if end {
            self.flush(&api, events, last_text_index.map_or(0, |i| i + 1));
        }
    }
}

impl PiiStream {
    /// Emits what the restorers still hold, as a copy of the last text event
    /// with its text replaced, inserted at `at`.
    fn flush(&mut self, api: &llm_api::ApiKind, events: &mut Vec<SseEvent>, at: usize) {
        let mut rest: HashMap<TextKind, String> = HashMap::new();
        for (kind, restorer) in &mut self.restorers {
            let bytes = restorer.finish(&self.vault);
            if !bytes.is_empty() {
                rest.insert(*kind, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        let Some(template) = self.last_text_event.take() else { return };
        if rest.is_empty() {
            return;
        }
        let Some(mut value) = template.data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) else {
            return;
        };
        rewrite_response_text(api, &mut value, |field| Some(rest.remove(&field.kind).unwrap_or_default()));
        events.insert(at.min(events.len()), SseEvent { data: Some(value.to_string()), ..template });
    }
}
