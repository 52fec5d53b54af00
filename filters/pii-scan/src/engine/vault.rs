//! Reversible masking: the per-request vault of placeholder -> value, and
//! restoring values into response text, whole or streamed.

use super::entity::EntityKind;
use super::splice::{splice, spliced_text};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

/// The longest name-and-number of a placeholder-like text (`<NAME_n>`)
/// noted as typed by the client: longer ones cannot collide with a
/// placeholder the vault issues (custom entity names are at most
/// `custom::MAX_NAME` bytes).
const MAX_PLACEHOLDER: usize = super::custom::MAX_NAME + 24;

/// The placeholders handed out in one request and the values they stand
/// for. The same value of the same type always gets the same placeholder
/// (`<EMAIL_1>`), so the model can still tell values apart. Its `Debug`
/// output shows the number of entries only.
#[derive(Default, Clone)]
pub struct Vault {
    values: BTreeMap<String, String>,
    placeholders: BTreeMap<(EntityKind, String), String>,
    counters: BTreeMap<EntityKind, usize>,
    longest: usize,
    /// Placeholder-like texts found in the request's own text, never issued.
    typed: HashSet<String>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({} placeholders)", self.values.len())
    }
}

impl Vault {
    pub fn new() -> Self {
        Vault::default()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Notes the placeholder-like texts (`<NAME_n>`) that `text` holds, so
    /// that [`Vault::tokenize`] never issues one the user typed and
    /// restoring cannot replace the user's own text. One pass over `text`:
    /// each `<` starts at most one run of name characters, and runs end at
    /// the next `<`.
    pub fn note_typed(&mut self, text: &str) {
        for span in placeholder_spans(text.as_bytes(), MAX_PLACEHOLDER) {
            if let Some(placeholder) = text.get(span) {
                self.typed.insert(placeholder.to_owned());
            }
        }
    }

    /// The placeholder for `value`, issuing `<NAME_n>` the first time,
    /// skipping the numbers noted as typed ([`Vault::note_typed`]). Each
    /// typed placeholder is skipped at most once per entity type, so issuing
    /// stays linear in the text however many the client typed.
    pub fn tokenize(&mut self, entity: &EntityKind, value: &str) -> String {
        let key = (entity.clone(), value.to_owned());
        if let Some(placeholder) = self.placeholders.get(&key) {
            return placeholder.clone();
        }
        let counter = self.counters.entry(entity.clone()).or_insert(0);
        let placeholder = loop {
            *counter += 1;
            let candidate = format!("<{}_{}>", entity.name(), counter);
            if !self.typed.contains(&candidate) {
                break candidate;
            }
        };
        self.longest = self.longest.max(placeholder.len());
        self.values.insert(placeholder.clone(), key.1.clone());
        self.placeholders.insert(key, placeholder.clone());
        placeholder
    }

    /// The value a placeholder stands for.
    pub fn value(&self, placeholder: &str) -> Option<&str> {
        self.values.get(placeholder).map(String::as_str)
    }

    /// Puts the values back in place of their placeholders.
    pub fn restore<'t>(&self, text: &'t str) -> Cow<'t, str> {
        spliced_text(text, self.restore_bytes(text.as_bytes()))
    }

    /// `restore` over bytes (a response chunk need not be valid UTF-8);
    /// `None` if no placeholder occurs.
    pub fn restore_bytes(&self, text: &[u8]) -> Option<Vec<u8>> {
        if self.values.is_empty() {
            return None;
        }
        let spans = placeholder_spans(text, self.longest).map(|span| (span, ()));
        splice(text, spans, |(), placeholder| {
            std::str::from_utf8(placeholder)
                .ok()
                .and_then(|p| self.values.get(p))
        })
    }

    /// Whether `tail` (starting with `<`, no `>` yet) could still become one
    /// of the placeholders handed out.
    fn could_become_placeholder(&self, tail: &[u8]) -> bool {
        let Ok(tail) = std::str::from_utf8(tail) else {
            return false;
        };
        self.values
            .range::<str, _>((std::ops::Bound::Included(tail), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(p, _)| p.starts_with(tail))
    }
}

/// The spans of the placeholder-like texts in `text` (`<`, at most `max`
/// name bytes, `>`), in order. One pass: a run of name bytes ends before the
/// next `<`, so no byte is read twice, whatever a client or model sends
/// (many `<EMAIL_` never closed, say).
fn placeholder_spans(text: &[u8], max: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || loop {
        let start = i + text.get(i..)?.iter().position(|&b| b == b'<')?;
        let name = text
            .get(start + 1..)
            .unwrap_or_default()
            .iter()
            .take(max)
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
            .count();
        let end = start + 1 + name;
        i = end;
        if name > 0 && text.get(end) == Some(&b'>') {
            return Some(start..end + 1);
        }
    })
}

/// Restores placeholders in a response that arrives in chunks of any size.
/// It holds back only a tail that is a proper prefix of a placeholder the
/// vault handed out (at most the longest placeholder minus one byte), so
/// text flows on as soon as it cannot be part of one.
#[derive(Debug, Default, Clone)]
pub struct StreamRestorer {
    pending: Vec<u8>,
}

impl StreamRestorer {
    pub fn new() -> Self {
        StreamRestorer::default()
    }

    /// Takes the next chunk; returns the restored text that is now final.
    pub fn push(&mut self, vault: &Vault, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let cut = match self.pending.iter().rposition(|&b| b == b'<') {
            Some(lt) => {
                let tail = self.pending.get(lt..).unwrap_or_default();
                if !tail.contains(&b'>') && vault.could_become_placeholder(tail) {
                    lt
                } else {
                    self.pending.len()
                }
            }
            None => self.pending.len(),
        };
        let ready: Vec<u8> = self.pending.drain(..cut).collect();
        vault.restore_bytes(&ready).unwrap_or(ready)
    }

    /// Ends the stream: returns what was held back, restored.
    pub fn finish(&mut self, vault: &Vault) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        vault.restore_bytes(&rest).unwrap_or(rest)
    }

    /// Bytes currently held back.
    pub fn held(&self) -> usize {
        self.pending.len()
    }
}
