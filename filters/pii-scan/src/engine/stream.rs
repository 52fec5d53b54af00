//! Scanning a response that arrives in chunks (SSE events, TCP reads):
//! values split across chunks are still found, and only the shortest tail
//! that more text could still change is held back.
//!
//! Hold-back bound: the scanner emits everything up to the start of the
//! earliest candidate that ran into the end of the buffer (its detector read
//! a byte past it, see `Scan::candidate`, or found it open), which is
//! * the last word (the text after the last whitespace), at most 4 KiB: it
//!   may still grow into an email, key, address or IBAN;
//! * a run of digit groups still open (`+1 555 `, `+49 (` may go on), at
//!   most 24 groups of at most 19 digits: under 600 bytes;
//! * a grouped IBAN (`DE89 3704 00`), at most 42 bytes;
//! * the value of a `key: "value` pair that is not closed yet, at most 512
//!   bytes (the key itself is in the kept context);
//! * a PEM private key block until its END line or a line that ends it (a
//!   cut between the two bytes of an escaped `\n` keeps it open), at most
//!   64 KiB;
//! * with PERSON or ADDRESS on: a name after its cue, or a street address
//!   with its postal code and city, still open, under 2 KiB;
//! * with custom detectors: `max_len` bytes per regex and the longest
//!   keyword.
//!
//! So the worst case is a PEM block without an END line, 64 KiB (and the few
//! bytes that tell an END line); otherwise 4 KiB or the longest custom
//! `max_len`.
//! On text without such a tail (ending in whitespace after prose) nothing is
//! held. The last `CONTEXT_KEEP` emitted bytes are kept, unemitted, as left
//! context for boundaries and context words, so that the result over any
//! chunking equals the result over the whole text.

use super::actions::Policy;
use super::entity::Finding;
use super::{scan, Engine};

/// Already emitted bytes kept as left context (context words look back at
/// most `context::MAX_WINDOW`, AWS keys `secret::AWS_WINDOW` bytes).
pub const CONTEXT_KEEP: usize = 256;

/// The state of one streamed response.
#[derive(Debug, Default, Clone)]
pub struct StreamScanner {
    /// Kept context (`..ctx`), then bytes not yet emitted.
    buf: Vec<u8>,
    ctx: usize,
    /// Stream offset of `buf[0]`.
    offset: usize,
}

/// What one chunk released.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scanned {
    /// Text now final, with the response actions applied.
    pub text: Vec<u8>,
    /// Findings in that text; offsets count from the start of the stream
    /// (of the input, before any replacement).
    pub findings: Vec<Finding>,
}

impl StreamScanner {
    pub fn new() -> Self {
        StreamScanner::default()
    }

    /// Takes the next chunk; returns the text that is now final.
    pub fn push(&mut self, engine: &Engine, policy: &Policy, chunk: &[u8]) -> Scanned {
        self.buf.extend_from_slice(chunk);
        self.release(engine, policy, false)
    }

    /// Ends the stream: releases everything held back.
    pub fn finish(&mut self, engine: &Engine, policy: &Policy) -> Scanned {
        self.release(engine, policy, true)
    }

    /// Bytes received but not yet emitted.
    pub fn held(&self) -> usize {
        self.buf.len() - self.ctx
    }

    fn release(&mut self, engine: &Engine, policy: &Policy, at_end: bool) -> Scanned {
        let (candidates, hold_from) = engine.candidates(&self.buf, at_end);
        let fresh: Vec<Finding> = candidates
            .into_iter()
            .filter(|f| f.start >= self.ctx)
            .collect();
        // Emit up to `cut`, moved back until no candidate straddles it.
        let mut cut = hold_from.max(self.ctx);
        loop {
            let straddling = fresh
                .iter()
                .filter(|f| f.start < cut && f.end > cut)
                .map(|f| f.start)
                .min();
            match straddling {
                Some(start) => cut = start,
                None => break,
            }
        }
        let ready: Vec<Finding> = fresh.into_iter().filter(|f| f.end <= cut).collect();
        let mut findings = scan::resolve(ready);
        for f in &mut findings {
            f.start -= self.ctx;
            f.end -= self.ctx;
        }
        let emitted = self.buf.get(self.ctx..cut).unwrap_or_default();
        let text = policy
            .redact_response(emitted, &findings)
            .unwrap_or_else(|| emitted.to_vec());
        let base = self.offset + self.ctx;
        for f in &mut findings {
            f.start += base;
            f.end += base;
        }
        // Keep CONTEXT_KEEP bytes before the cut as context.
        let keep_from = cut.saturating_sub(CONTEXT_KEEP);
        self.buf.drain(..keep_from);
        self.offset += keep_from;
        self.ctx = cut - keep_from;
        Scanned { text, findings }
    }
}
