//! The pii-scan stage: scans every user-visible text field of the request
//! (through llm-api's text visitor, in any API format) with the engine,
//! applies the configured action per entity type, reports the types found in
//! `x-pii-detected`, hands a `route` decision to the route stage, and on the
//! way back scans the model's output (when configured) and restores
//! tokenized values, in whole responses and in streams.

use crate::config::{Action, BinaryDocuments, PiiConfig};
use crate::engine::{Engine, EntityKind, Finding, Policy, StreamRestorer, StreamScanner, Vault};
use llm_api::document::{Unreadability, Unreadable};
use llm_api::fact::PiiRoute;
use llm_api::text::{for_each_response_text, rewrite_response_text};
use llm_api::{ApiError, ApiKind, Content, Fact, SseEvent, TextField, TextKind};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use wasm_glue::{Exchange, Flow, Host, Reply, Stage, StageStream};

pub struct PiiScan {
    shared: Rc<Shared>,
}

struct Shared {
    engine: Engine,
    policy: Policy,
    /// The policy for the model's output, when responses are scanned.
    response_policy: Option<Policy>,
    route_to: Option<PiiRoute>,
    /// Whether any action changes text (redact or tokenize), decided from the
    /// configuration so that `content-length` is dropped before the body.
    rewrites: bool,
    binary_documents: BinaryDocuments,
}

impl PiiScan {
    pub fn new(config: PiiConfig, engine: Engine) -> Self {
        let rewrites = std::iter::once(config.default_action)
            .chain(config.entities.values().copied())
            .any(|a| matches!(a, Action::Redact | Action::Tokenize));
        let response_policy = config
            .response
            .as_ref()
            .map(|r| Policy::for_responses(&config, r));
        let shared = Shared {
            policy: Policy::from(&config),
            response_policy,
            route_to: config.route_to,
            engine,
            rewrites,
            binary_documents: config.binary_documents,
        };
        PiiScan {
            shared: Rc::new(shared),
        }
    }
}

impl Stage for PiiScan {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn publishes(&self) -> &'static [Fact] {
        &[Fact::PiiFindings, Fact::PiiResponseFindings, Fact::PiiRoute]
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(PiiStream {
            shared: self.shared.clone(),
            vault: Vault::new(),
            found: BTreeMap::new(),
            found_in_response: BTreeMap::new(),
            texts: BTreeMap::new(),
            templates: BTreeMap::new(),
        })
    }
}

/// Findings per (entity type, action): counts only, never values.
type Found = BTreeMap<(String, &'static str), u64>;

struct PiiStream {
    shared: Rc<Shared>,
    /// Tokenized values of this request, restored in its response.
    vault: Vault,
    found: Found,
    found_in_response: Found,
    /// Streamed responses: one state per kind of text (message text and
    /// tool arguments are separate streams of deltas).
    texts: BTreeMap<TextKind, StreamedText>,
    /// Per kind, the last event that carried it: the template for the event
    /// that flushes what is still held when the text ends.
    templates: BTreeMap<TextKind, SseEvent>,
}

/// One streamed text on its way back: scanned first (the model's output as
/// the provider wrote it, placeholders included), then restored.
#[derive(Default)]
struct StreamedText {
    scanner: StreamScanner,
    restorer: StreamRestorer,
}

/// What log-probabilities become in a response this stage reads: they
/// repeat the output in token pieces, which cannot be scanned or restored
/// piece by piece, so they are dropped rather than let values through.
const DROPPED: &str = "null";

/// A whole text of the response (all of a whole response, and the stream
/// events that repeat a text): scanned by the response policy, then
/// restored. Log-probabilities are dropped.
fn whole_text(
    shared: &Shared,
    vault: &Vault,
    found: &mut Found,
    field: TextField<'_>,
) -> Option<String> {
    if field.kind == TextKind::LogProbs {
        return Some(DROPPED.to_owned());
    }
    let mut text = Cow::Borrowed(field.text);
    if let Some(policy) = &shared.response_policy {
        let findings = shared.engine.scan(text.as_bytes());
        count(found, policy, &findings);
        if let Some(redacted) = policy.redact_response(text.as_bytes(), &findings) {
            text = Cow::Owned(String::from_utf8_lossy(&redacted).into_owned());
        }
    }
    if !vault.is_empty() {
        text = Cow::Owned(vault.restore(&text).into_owned());
    }
    (text != field.text).then(|| text.into_owned())
}

/// The rejection of a document the scan cannot read: text that does not
/// decode always (it would otherwise pass unscanned), a binary document
/// when the configuration refuses them.
fn refusal(document: &Unreadable, binary: BinaryDocuments) -> Option<ApiError> {
    let part = document.part;
    match (document.reason, binary) {
        (Unreadability::Invalid, _) => Some(
            ApiError::invalid(format!(
                "A `{part}` part declared as text is not base64 of UTF-8 text, so this gateway cannot scan it; send it encoded as base64 of its UTF-8 text."
            ))
            .with_code("invalid_document"),
        ),
        (Unreadability::Binary, BinaryDocuments::Refuse) => Some(
            ApiError::invalid(format!(
                "A `{part}` part holds a binary document, which this gateway cannot scan; send its text instead."
            ))
            .with_code("unscannable_document"),
        ),
        (Unreadability::Binary, BinaryDocuments::Pass) => None,
    }
}

fn count(found: &mut Found, policy: &Policy, findings: &[Finding]) {
    for finding in findings {
        *found
            .entry((
                finding.entity.name().to_owned(),
                policy.action(&finding.entity).name(),
            ))
            .or_default() += 1;
    }
}

fn publish(found: &Found, fact: Fact, counter: &str, host: &mut dyn Host) {
    if found.is_empty() {
        return;
    }
    let summary: Vec<String> = found
        .iter()
        .map(|((e, a), n)| format!("{e}:{a}:{n}"))
        .collect();
    host.set_fact(fact, &summary.join(","));
    for ((entity, action), n) in found {
        host.count(
            &format!("llm_gateway.pii_scan.{counter}.{entity}.{action}"),
            *n,
        );
    }
}

impl StageStream for PiiStream {
    fn rewrites_request(&self, ex: &Exchange) -> bool {
        self.shared.rewrites && ex.api.has_json_body()
    }

    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        let api = ex.api.clone();
        let shared = self.shared.clone();
        // Most requests hold no PII: scan the body as sent (read in place),
        // and only when something is found take the owned copy a rewrite
        // needs, scanning again as it rewrites.
        let mut suspected = 0;
        let mut refused = None;
        if let Some(request) = &ex.request {
            request.for_each_content(&api, |content| match content {
                Content::Text(field) => {
                    suspected += shared.engine.scan(field.text.as_bytes()).len()
                }
                Content::Unreadable(document) => {
                    refused = refused
                        .take()
                        .or_else(|| refusal(&document, shared.binary_documents))
                }
            });
        }
        if let Some(err) = refused {
            return Flow::Respond(Reply::error(&err, &ex.api));
        }
        if suspected == 0 {
            return Flow::Continue;
        }
        let mut blocked = BTreeSet::new();
        let mut route = false;
        let mut handled = 0;
        let (vault, found) = (&mut self.vault, &mut self.found);
        ex.edit_request(|request| {
            let changed = request.rewrite_text(&api, |field| {
                let findings = shared.engine.scan(field.text.as_bytes());
                if findings.is_empty() {
                    return None;
                }
                handled += findings.len();
                count(found, &shared.policy, &findings);
                route |= findings
                    .iter()
                    .any(|f| shared.policy.action(&f.entity) == Action::Route);
                let applied = shared.policy.apply(field.text, &findings, vault);
                blocked.extend(
                    applied
                        .blocked
                        .iter()
                        .map(EntityKind::name)
                        .map(str::to_owned),
                );
                match applied.text {
                    Cow::Owned(text) => Some(text),
                    Cow::Borrowed(_) => None,
                }
            });
            // The body as sent repeats a member name, and an earlier value,
            // which the rewrite does not see (the last one counts, as for
            // the provider), held what was found: send the body without it.
            changed || handled < suspected
        });
        publish(&self.found, Fact::PiiFindings, "findings", host);
        if !blocked.is_empty() {
            let types: Vec<&str> = blocked.iter().map(String::as_str).collect();
            let err = ApiError::invalid(format!(
                "The request contains {} that this gateway does not let through; remove it and retry.",
                types.join(", ")
            ))
            .with_code("pii_blocked");
            return Flow::Respond(Reply::error(&err, &ex.api));
        }
        if let (true, Some(to)) = (route, &self.shared.route_to) {
            // The route stage, after this one, sends the request there.
            host.set_json_fact(to);
        }
        Flow::Continue
    }

    /// `x-pii-detected`: the entity types found in the request, never values.
    fn on_response_headers(&mut self, _ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        if !self.found.is_empty() {
            let types: BTreeSet<&str> = self.found.keys().map(|(e, _)| e.as_str()).collect();
            host.set_response_header(
                "x-pii-detected",
                Some(&types.into_iter().collect::<Vec<_>>().join(",")),
            );
        }
        Flow::Continue
    }

    fn reads_response(&self, ex: &Exchange) -> bool {
        !self.vault.is_empty() || (self.shared.response_policy.is_some() && ex.api.has_json_body())
    }

    fn reads_response_output(&self, ex: &Exchange) -> bool {
        self.reads_response(ex)
    }

    fn rewrites_response(&self, ex: &Exchange) -> bool {
        self.reads_response(ex)
    }

    /// Scans and restores a whole response.
    fn on_response(&mut self, ex: &mut Exchange, host: &mut dyn Host) {
        let api = ex.api.clone();
        let (shared, vault, found) = (&self.shared, &self.vault, &mut self.found_in_response);
        if let Some(body) = ex.response_mut() {
            rewrite_response_text(&api, body, |field| whole_text(shared, vault, found, field));
        }
        publish(
            &self.found_in_response,
            Fact::PiiResponseFindings,
            "response_findings",
            host,
        );
    }

    /// Scans and restores a stream, event by event. A value or placeholder
    /// split across events is held back only until it is complete (or
    /// cannot be one), then emitted with the next event's text; what is
    /// still held when the text ends (before an event that closes a block,
    /// an item or the stream, or at the end) goes out in one more event per
    /// kind of text, made from the last one that carried it.
    fn on_response_events(
        &mut self,
        ex: &mut Exchange,
        events: &mut Vec<SseEvent>,
        end: bool,
        host: &mut dyn Host,
    ) {
        if !self.reads_response(ex) {
            return;
        }
        let api = ex.api.clone();
        let mut out = Vec::with_capacity(events.len());
        let mut after_last_text = 0;
        for mut event in events.drain(..) {
            let Some(mut value) = event
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            else {
                if event.data.as_deref().is_some_and(|d| d.trim() == "[DONE]") {
                    self.flush(&api, &mut out);
                }
                out.push(event);
                continue;
            };
            if ends_text(&value) && !has_delta(&api, &value) {
                self.flush(&api, &mut out);
            }
            let mut had_text = false;
            let changed = rewrite_response_text(&api, &mut value, |field| {
                if !field.delta || field.kind == TextKind::LogProbs {
                    return whole_text(
                        &self.shared,
                        &self.vault,
                        &mut self.found_in_response,
                        field,
                    );
                }
                had_text = true;
                let out = self.push_text(field.kind, field.text.as_bytes());
                let out = String::from_utf8_lossy(&out).into_owned();
                (out != field.text).then_some(out)
            });
            if changed {
                event.data = Some(value.to_string());
            }
            if had_text {
                for kind in delta_kinds(&api, &value) {
                    self.templates.insert(kind, event.clone());
                }
                after_last_text = out.len() + 1;
            }
            out.push(event);
        }
        if end {
            let mut rest = Vec::new();
            self.flush(&api, &mut rest);
            out.splice(
                after_last_text.min(out.len())..after_last_text.min(out.len()),
                rest,
            );
            publish(
                &self.found_in_response,
                Fact::PiiResponseFindings,
                "response_findings",
                host,
            );
        }
        *events = out;
    }
}

/// Whether a stream event closes a text (the end of a block, a message, a
/// Responses part or item, or the stream's last choice): what is held back
/// must go out before it, or a client that stops reading there loses it.
fn ends_text(value: &Value) -> bool {
    match value.get("type").and_then(Value::as_str) {
        Some(kind) => {
            matches!(
                kind,
                "content_block_stop" | "message_delta" | "message_stop"
            ) || (kind.starts_with("response.")
                && !kind.ends_with(".delta")
                && !kind.ends_with(".added"))
        }
        None => value
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|choices| {
                choices
                    .iter()
                    .any(|c| c.get("finish_reason").is_some_and(|r| !r.is_null()))
            }),
    }
}

/// Whether an event carries a piece of a streamed text.
fn has_delta(api: &ApiKind, value: &Value) -> bool {
    !delta_kinds(api, value).is_empty()
}

/// The kinds of streamed text an event carries.
fn delta_kinds(api: &ApiKind, value: &Value) -> BTreeSet<TextKind> {
    let mut kinds = BTreeSet::new();
    for_each_response_text(api, value, |field| {
        if field.delta {
            kinds.insert(field.kind);
        }
    });
    kinds
}

impl PiiStream {
    /// One piece of streamed text of `kind`: what of it can go out now.
    fn push_text(&mut self, kind: TextKind, text: &[u8]) -> Vec<u8> {
        let shared = &self.shared;
        let state = self.texts.entry(kind).or_default();
        let scanned = match &shared.response_policy {
            Some(policy) => {
                let scanned = state.scanner.push(&shared.engine, policy, text);
                count(&mut self.found_in_response, policy, &scanned.findings);
                scanned.text
            }
            None => text.to_vec(),
        };
        if self.vault.is_empty() {
            return scanned;
        }
        state.restorer.push(&self.vault, &scanned)
    }

    /// Emits what the scanners and restorers still hold: per kind of text, a
    /// copy of the last event that carried that kind with its text replaced
    /// (the other texts of the copy emptied), appended to `out`.
    fn flush(&mut self, api: &ApiKind, out: &mut Vec<SseEvent>) {
        let shared = &self.shared;
        for (kind, state) in &mut self.texts {
            let mut bytes = Vec::new();
            if let Some(policy) = &shared.response_policy {
                let scanned = state.scanner.finish(&shared.engine, policy);
                count(&mut self.found_in_response, policy, &scanned.findings);
                bytes = state.restorer.push(&self.vault, &scanned.text);
            }
            bytes.extend(state.restorer.finish(&self.vault));
            let Some(template) = self.templates.get(kind).filter(|_| !bytes.is_empty()) else {
                continue;
            };
            let Some(mut value) = template
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            else {
                continue;
            };
            let rest = String::from_utf8_lossy(&bytes).into_owned();
            rewrite_response_text(api, &mut value, |field| match field.kind {
                TextKind::LogProbs => Some(DROPPED.to_owned()),
                other if field.delta => Some(if other == *kind {
                    rest.clone()
                } else {
                    String::new()
                }),
                _ => None,
            });
            out.push(SseEvent {
                data: Some(value.to_string()),
                ..template.clone()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_api::Role;

    #[test]
    fn undecodable_text_is_refused_and_binary_documents_as_configured() {
        let document = |reason| Unreadable {
            role: Role::User,
            part: "inlineData",
            reason,
        };
        let invalid = refusal(&document(Unreadability::Invalid), BinaryDocuments::Pass).unwrap();
        assert_eq!(
            (invalid.status(), invalid.code),
            (400, Some("invalid_document"))
        );
        assert!(
            invalid.message.contains("`inlineData`"),
            "{}",
            invalid.message
        );
        assert!(refusal(&document(Unreadability::Binary), BinaryDocuments::Pass).is_none());
        let binary = refusal(&document(Unreadability::Binary), BinaryDocuments::Refuse).unwrap();
        assert_eq!(binary.code, Some("unscannable_document"));
    }
}
