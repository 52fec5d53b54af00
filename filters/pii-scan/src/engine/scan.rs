//! One pass over the text. A 256-entry byte table sends the few bytes that
//! can start a candidate to their detector: `@` and `%40` (email), `:` and
//! `=` (key=value secrets, URL passwords, Telegram tokens, IPv6), digits,
//! `+` and `(` (phone, SSN, card, IPv4), `-----BEGIN` (PEM), the first
//! letter of a word (IBAN, prefixed secrets such as `sk-` or `AKIA`,
//! passwords named in prose) and the lead byte of `パスワード`. Every other
//! byte costs one table lookup, and the rest of a word is skipped whole.
//!
//! The same pass serves whole texts and streams: with `at_end == false` a
//! detector that runs into the end of the buffer while a candidate could
//! still grow records the candidate's start in `hold_from`, and the
//! streaming scanner holds back the text from there.
//!
//! "Runs into the end" is not left to each detector's bounds checks: a
//! lookahead of two bytes (`(` then a digit, `\` then `n`) or a literal
//! cut short (`-----EN`) is easy to miss that way, and a missed one lets a
//! stream emit a value whole-text scanning finds. Instead every read past
//! the end ([`Scan::at`], [`Scan::has`], [`Scan::ends`]) is recorded, and
//! [`Scan::candidate`] opens the candidate whose decision made such a read.

use super::entity::{EntityKind, Finding};
use super::{email, iban, ipv6, keyvalue, numbers, prose, secret, userinfo};
use crate::config::Entity;
use std::cell::Cell;

/// The state of one scan: the text, what was found, and where an unfinished
/// candidate begins.
pub(crate) struct Scan<'t> {
    pub text: &'t [u8],
    /// No more text follows (a whole text, or the last chunk of a stream).
    pub at_end: bool,
    pub found: Vec<Finding>,
    /// Start of the earliest candidate that more text could change.
    pub hold_from: usize,
    /// Scratch space for digit groups, reused across runs.
    pub groups: Vec<numbers::Group>,
    /// A read looked past the end of the text since the current
    /// [`Scan::candidate`] began: its outcome depends on bytes not seen yet.
    past_end: Cell<bool>,
}

impl<'t> Scan<'t> {
    pub fn new(text: &'t [u8], at_end: bool) -> Self {
        Scan {
            text,
            at_end,
            found: Vec::new(),
            hold_from: text.len(),
            groups: Vec::new(),
            past_end: Cell::new(false),
        }
    }

    /// The byte at `i`, or 0 past either end (0 is a non-word byte, which is
    /// what every boundary check wants there). A read past the end is
    /// recorded for [`Scan::candidate`].
    pub fn at(&self, i: usize) -> u8 {
        match self.text.get(i) {
            Some(&b) => b,
            None => {
                self.past_end.set(true);
                0
            }
        }
    }

    /// Whether `literal` occurs at `i`. A text that ends inside a prefix of
    /// it (`-----EN` for `-----END `) counts as a read past the end: more
    /// text may complete it.
    pub fn has(&self, i: usize, literal: &[u8]) -> bool {
        let rest = self.text.get(i..).unwrap_or_default();
        if rest.len() < literal.len() && literal.starts_with(rest) {
            self.past_end.set(true);
        }
        rest.starts_with(literal)
    }

    /// Whether the text ends at or before `i`. For a stream that answer is
    /// provisional, so a yes counts as a read past the end.
    pub fn ends(&self, i: usize) -> bool {
        let ends = i >= self.text.len();
        if ends {
            self.past_end.set(true);
        }
        ends
    }

    /// Runs `detect` on the candidate that starts at `start`. If it read
    /// past the end of the text, more text could change its outcome, so the
    /// candidate is open (see [`Scan::open`]). Detectors whose candidates
    /// may contain whitespace run under this: the streaming scanner's
    /// last-word hold does not cover them.
    pub fn candidate<R>(&mut self, start: usize, detect: impl FnOnce(&mut Self) -> R) -> R {
        self.past_end.set(false);
        let outcome = detect(self);
        if self.past_end.get() {
            self.open(start);
        }
        outcome
    }

    /// The byte before `i`, or 0 at the start.
    pub fn before(&self, i: usize) -> u8 {
        i.checked_sub(1).map_or(0, |j| self.at(j))
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Records that a candidate starting at `start` ran into the end of the
    /// buffer and could still change if more text followed.
    pub fn open(&mut self, start: usize) {
        if !self.at_end {
            self.hold_from = self.hold_from.min(start);
        }
    }

    pub fn add(&mut self, entity: Entity, start: usize, end: usize, confidence: f32) {
        self.add_kind(EntityKind::Builtin(entity), start, end, confidence, false);
    }

    pub fn add_kind(
        &mut self,
        entity: EntityKind,
        start: usize,
        end: usize,
        confidence: f32,
        private: bool,
    ) {
        if start < end && end <= self.text.len() {
            self.found.push(Finding {
                entity,
                start,
                end,
                confidence,
                private,
            });
        }
    }

    /// The end of the word (`[A-Za-z0-9_]` run) starting at `i`.
    pub fn word_end(&self, i: usize) -> usize {
        let rest = self.text.get(i..).unwrap_or_default();
        i + rest.iter().position(|&b| !is_word(b)).unwrap_or(rest.len())
    }
}

/// `[A-Za-z0-9_]`, by table: the scan asks this for most bytes of a text.
pub(crate) fn is_word(b: u8) -> bool {
    WORDS.get(usize::from(b)).copied().unwrap_or(false)
}

/// A table of `$value` for every byte `$c`, built at compile time (a const
/// fn cannot take the closure).
macro_rules! byte_table {
    ($default:expr, |$c:ident| $value:expr) => {{
        let mut t = [$default; 256];
        let mut b = 0;
        while b < 256 {
            let $c = b as u8;
            // Const evaluation: an out-of-range index would fail the build,
            // not panic.
            #[allow(clippy::indexing_slicing)]
            {
                t[b] = $value;
            }
            b += 1;
        }
        t
    }};
}

const WORDS: [bool; 256] = byte_table!(false, |c| c.is_ascii_alphanumeric() || c == b'_');

const OTHER: u8 = 0;
const WORD: u8 = 1;
const UPPER: u8 = 2;
const NUMBER: u8 = 3;
const AT: u8 = 4;
const COLON: u8 = 5;
const EQUALS: u8 = 6;
const DASH: u8 = 7;
const PERCENT: u8 = 8;
/// 0xE3, the lead byte of katakana (`パスワード`).
const KANA: u8 = 9;

const CLASSES: [u8; 256] =
    byte_table!(OTHER, |c| if c.is_ascii_digit() || c == b'+' || c == b'(' {
        NUMBER
    } else if c.is_ascii_uppercase() {
        UPPER
    } else if c.is_ascii_lowercase() || c == b'_' {
        WORD
    } else if c == b'@' {
        AT
    } else if c == b':' {
        COLON
    } else if c == b'=' {
        EQUALS
    } else if c == b'-' {
        DASH
    } else if c == b'%' {
        PERCENT
    } else if c == 0xE3 {
        KANA
    } else {
        OTHER
    });

/// Runs the structural detectors (email, numbers, IBAN, IPv6) over the text.
pub(crate) fn structural(scan: &mut Scan) {
    let text = scan.text;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let class = CLASSES.get(usize::from(b)).copied().unwrap_or(OTHER);
        i = match class {
            OTHER => i + 1,
            WORD | UPPER => {
                if !is_word(scan.before(i)) {
                    if class == UPPER {
                        scan.candidate(i, |scan| iban::at(scan, i));
                    }
                    if secret::may_start_word(scan, i) {
                        secret::at_word(scan, i);
                    }
                    if prose::may_start(scan, i) {
                        scan.candidate(i, |scan| prose::at_word(scan, i));
                    }
                }
                scan.word_end(i)
            }
            NUMBER => scan.candidate(i, |scan| numbers::at(scan, i)),
            AT => email::at(scan, i),
            PERCENT => email::at_encoded(scan, i),
            COLON => {
                keyvalue::at(scan, i);
                scan.candidate(i, |scan| userinfo::at(scan, i));
                secret::at_telegram(scan, i);
                ipv6::at(scan, i)
            }
            EQUALS => keyvalue::at(scan, i),
            KANA => {
                if prose::may_start(scan, i) {
                    scan.candidate(i, |scan| prose::at_word(scan, i));
                }
                i + 1
            }
            _ => {
                // Most dashes start no PEM block; the next byte tells (at
                // the end of a stream's buffer, `at_pem` decides).
                if matches!(text.get(i + 1), Some(b'-') | None) {
                    scan.candidate(i, |scan| secret::at_pem(scan, i));
                }
                i + 1
            }
        }
        .max(i + 1);
    }
}

/// Resolves overlapping findings deterministically: walking in order of
/// start, a finding that overlaps the last kept one replaces it only if it
/// is longer, or as long with a higher priority. Input order does not matter.
pub(crate) fn resolve(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.len().cmp(&a.len()))
            .then(b.entity.priority().cmp(&a.entity.priority()))
            .then(a.entity.cmp(&b.entity))
    });
    let mut kept: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match kept.last_mut() {
            Some(last) if f.start < last.end => {
                let better = f.len() > last.len()
                    || (f.len() == last.len() && f.entity.priority() > last.entity.priority());
                if better {
                    *last = f;
                }
            }
            _ => kept.push(f),
        }
    }
    kept
}
