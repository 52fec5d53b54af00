//! The detection engine: host-independent, no allocation per byte, one pass
//! over the text.
//!
//! * [`Engine::scan`] finds [`Finding`]s (entity type, byte span, confidence)
//!   in a whole text; [`StreamScanner`] does the same over a response that
//!   arrives in chunks.
//! * [`Policy`] holds an [`Action`](crate::Action) per entity type and
//!   applies it: detect, redact (label), block (a decision naming entity
//!   types), tokenize (stable placeholders kept in a per-request [`Vault`]).
//! * [`Vault::restore`] and [`StreamRestorer`] put tokenized values back
//!   into response text, whole or streamed.
//!
//! How a scan works: one byte-class pass (`scan.rs`) finds the candidates
//! of all built-in detectors that are on by default; the opt-in ones
//! (PERSON, ADDRESS) run in a pass of their own (`opt_in.rs`) only when
//! configured; custom keywords are found by one aho-corasick pass and
//! custom regexes run as configured. Candidates are validated
//! where found (Luhn, mod-97, ranges, shapes), adjusted by context words,
//! dropped below `min_confidence`, and overlaps are resolved (longest wins,
//! then the more specific type).

mod actions;
mod address;
mod checksum;
mod context;
mod custom;
mod email;
mod entity;
mod entropy;
mod iban;
mod ipv6;
mod keyvalue;
mod numbers;
mod opt_in;
mod person;
mod prose;
mod scan;
mod secret;
mod splice;
mod stream;
mod userinfo;
mod vault;
mod words;

pub use actions::{Applied, Policy};
pub use custom::{ContextRule, CustomDetector, EngineConfig, Validator};
pub use entity::{EntityKind, Finding};
pub use stream::{Scanned, StreamScanner, CONTEXT_KEEP};
pub use vault::{StreamRestorer, Vault};

use aho_corasick::{AhoCorasick, MatchKind};
use custom::{CustomRegex, Keyword};
use opt_in::OptIn;
use scan::Scan;
use wasm_glue::ConfigError;

/// A stream holds back at most this much of a last word that has no end
/// yet: no finding is that long, and it bounds the rescanning per chunk.
const MAX_HELD_WORD: usize = 4096;

/// A configured detector set, built once per configuration and shared by
/// all requests.
#[derive(Debug)]
pub struct Engine {
    /// Custom keywords, if any are configured.
    keyword_finder: Option<AhoCorasick>,
    regexes: Vec<CustomRegex>,
    keywords: Vec<Keyword>,
    rules: Vec<context::Rule>,
    min_confidence: f32,
    /// PERSON and ADDRESS, when the configuration turns them on.
    opt_in: Option<OptIn>,
}

impl Engine {
    /// Compiles the built-in detectors with the configured custom detectors
    /// and context rules. Errors name the offending field.
    pub fn new(config: &EngineConfig) -> Result<Engine, ConfigError> {
        let custom::Compiled {
            regexes,
            keywords,
            rules,
        } = custom::compile(config)?;
        let keyword_finder = if keywords.is_empty() {
            None
        } else {
            let finder = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(keywords.iter().map(|k| &k.word))
                .map_err(|e| ConfigError::new(crate::NAME, "custom", format!("keywords: {e}")))?;
            Some(finder)
        };
        Ok(Engine {
            keyword_finder,
            regexes,
            keywords,
            rules,
            min_confidence: config.min_confidence,
            opt_in: OptIn::new(&config.opt_in),
        })
    }

    /// The built-in detectors that are on by default (not PERSON or
    /// ADDRESS), with the default threshold.
    pub fn builtin() -> Result<Engine, ConfigError> {
        Engine::new(&EngineConfig::default())
    }

    /// Finds the sensitive values in `text`: sorted by start, not
    /// overlapping. Offsets are byte offsets into `text`; built-in findings
    /// always start and end on character boundaries.
    pub fn scan(&self, text: &[u8]) -> Vec<Finding> {
        scan::resolve(self.candidates(text, true).0)
    }

    /// The candidates in `text` (overlapping, above the threshold) and, when
    /// more text may follow (`!at_end`), where the earliest candidate starts
    /// that more text could still change.
    pub(crate) fn candidates(&self, text: &[u8], at_end: bool) -> (Vec<Finding>, usize) {
        let mut scan = Scan::new(text, at_end);
        if let Some(finder) = &self.keyword_finder {
            for m in finder.find_iter(text) {
                self.keyword(&mut scan, m.pattern().as_usize(), m.start(), m.end());
            }
        }
        scan::structural(&mut scan);
        if let Some(opt_in) = &self.opt_in {
            opt_in.scan(&mut scan);
        }
        for custom in &self.regexes {
            for m in custom.regex.find_iter(text) {
                if custom.validates(m.as_bytes()) {
                    scan.add_kind(
                        custom.entity.clone(),
                        m.start(),
                        m.end(),
                        custom.confidence,
                        false,
                    );
                }
            }
            scan.open(text.len().saturating_sub(custom.max_len));
        }
        if !at_end {
            self.hold_tail(&mut scan);
        }
        context::adjust(&self.rules, text, &mut scan.found);
        let min = self.min_confidence;
        scan.found.retain(|f| f.confidence >= min);
        (scan.found, scan.hold_from)
    }

    fn keyword(&self, scan: &mut Scan, i: usize, start: usize, end: usize) {
        let Some(keyword) = self.keywords.get(i) else {
            return;
        };
        let edge = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
        let left_ok = !edge(keyword.word.first()) || !scan.before(start).is_ascii_alphanumeric();
        let right_ok = !edge(keyword.word.last()) || !scan.at(end).is_ascii_alphanumeric();
        if left_ok && right_ok {
            scan.add_kind(
                keyword.entity.clone(),
                start,
                end,
                keyword.confidence,
                false,
            );
        }
    }

    /// In a stream, the last word may still grow into a finding (`john` +
    /// `@example.com`), and the tail may be the start of a keyword phrase.
    fn hold_tail(&self, scan: &mut Scan) {
        let text = scan.text;
        let from = text.len().saturating_sub(MAX_HELD_WORD);
        let word_start = text
            .get(from..)
            .unwrap_or_default()
            .iter()
            .rposition(u8::is_ascii_whitespace);
        scan.open(word_start.map_or(from, |i| from + i + 1));
        let longest = self
            .keywords
            .iter()
            .map(|k| k.word.len())
            .max()
            .unwrap_or(0);
        for p in text.len().saturating_sub(longest)..text.len() {
            let tail = text.get(p..).unwrap_or_default();
            if self.keywords.iter().any(|k| {
                k.word
                    .get(..tail.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(tail))
            }) {
                scan.open(p);
                break;
            }
        }
    }
}

#[cfg(test)]
mod opt_in_tests;
#[cfg(test)]
mod recall_tests;
#[cfg(test)]
mod tests;
