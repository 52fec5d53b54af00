//! Token counting (token-limit `count`): the exact count for both OpenAI
//! encodings, `count_up_to` stopping early, the calibrated estimate and the
//! model → encoding lookup, on arbitrary text.
//!
//! Input: byte 0: when its low 3 bits are 0, the text goes behind a filler
//! of 8192 − byte 1 bytes without chunk boundaries, so that `count_up_to`'s
//! first chunk boundary (searched from byte 8192 on) falls inside the
//! fuzzed text (costly: one input in eight); otherwise the text is counted
//! alone. Byte 2 picks a limit and a split point; the rest, made valid
//! UTF-8, is the text.
//!
//! Checks, beyond "no panic":
//! * `count` and the chunked `count_up_to` equal tiktoken-rs's
//!   `encode_ordinary(text).len()` on the whole text;
//! * the rule `count_up_to` chunks by holds: cut before every space between
//!   two ASCII letters, the pieces' counts add up to the whole's (exact.rs:
//!   "both vocabularies' pre-tokenizers always split there");
//! * `count_up_to(limit)` is `Ok(full)` whenever full ≤ limit, else
//!   `Err(at_least)` with limit < at_least ≤ full;
//! * the estimate is at least 1 exactly for non-empty text, and estimating
//!   a text in two pieces (`Features::add`) differs from the whole only by
//!   the word cut between them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_gateway_fuzz::header;
use token_limit::count::exact::{count, count_up_to};
use token_limit::count::{estimate, Encoding, EncodingMap, Family, Features};

const CHUNK_BYTES: usize = 8 * 1024;

fn oracle(encoding: Encoding, text: &str) -> usize {
    let bpe = match encoding {
        Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
    };
    bpe.encode_ordinary(text).len()
}

/// `count_up_to` at several limits agrees with the full count.
fn check_limits(encoding: Encoding, text: &str, full: usize, limits: &[usize]) {
    for &limit in limits {
        match count_up_to(encoding, text, limit) {
            Ok(n) => assert!(
                n == full && full <= limit,
                "{encoding:?}: Ok({n}) at limit {limit}, full {full}"
            ),
            Err(e) => assert!(
                full > limit && e.at_least > limit && e.at_least <= full,
                "{encoding:?}: {e:?} at limit {limit}, full {full}"
            ),
        }
    }
}

/// The text cut before every space between two ASCII letters: where
/// exact.rs says both pre-tokenizers always split, so the pieces' counts
/// add up to the whole's.
fn boundary_pieces(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    for i in 1..bytes.len().saturating_sub(1) {
        if bytes[i] == b' '
            && bytes[i - 1].is_ascii_alphabetic()
            && bytes[i + 1].is_ascii_alphabetic()
        {
            pieces.push(&text[start..i]);
            start = i;
        }
    }
    pieces.push(&text[start..]);
    pieces
}

/// A short text: the splitting rule itself, on every boundary, and the
/// limits (one chunk: `count_up_to` never cuts below 8 KiB).
fn check_short(encoding: Encoding, text: &str, seed: u8) {
    let full = oracle(encoding, text);
    assert_eq!(
        count(encoding, text),
        full,
        "{encoding:?}: count differs from tiktoken"
    );
    let pieces: usize = boundary_pieces(text)
        .iter()
        .map(|p| oracle(encoding, p))
        .sum();
    assert_eq!(
        pieces, full,
        "{encoding:?}: counts of the pieces between boundaries do not add up"
    );
    check_limits(
        encoding,
        text,
        full,
        &[full, full.saturating_sub(1), usize::from(seed)],
    );
}

/// A text past the first chunk: the filter's own chunking, end to end.
fn check_chunked(encoding: Encoding, text: &str) {
    let full = oracle(encoding, text);
    check_limits(encoding, text, full, &[full, full.saturating_sub(1)]);
}

fn check_estimate(text: &str, seed: u8) {
    for family in [
        Family::OpenAiO200k,
        Family::OpenAiCl100k,
        Family::Anthropic,
        Family::Gemini,
    ] {
        let n = estimate(family, text);
        assert_eq!(
            n >= 1,
            !text.is_empty(),
            "{family:?}: estimate {n} for {} bytes",
            text.len()
        );
    }
    let mut at = text.len() * usize::from(seed) / 255;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let (a, b) = text.split_at(at);
    let whole = Features::of(text);
    let mut pieces = Features::of(a);
    pieces.add(&Features::of(b));
    let (w, p) = (whole.as_array(), pieces.as_array());
    for (i, (w, p)) in w.iter().zip(p.iter()).enumerate() {
        // Indexes 1 and 7 count words: a word cut in two counts twice.
        let slack = if i == 1 || i == 7 { 1.0 } else { 0.0 };
        assert!(
            *p >= *w && *p <= *w + slack,
            "feature {i}: whole {w}, in pieces {p}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let ([flags, shift, seed], rest) = header::<3>(data);
    let fuzzed = String::from_utf8_lossy(rest);
    let model: String = fuzzed.chars().take(64).collect();
    let _ = EncodingMap::default().lookup(&model);
    check_estimate(&fuzzed, seed);
    if flags & 7 != 0 {
        for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
            check_short(encoding, &fuzzed, seed);
        }
    } else {
        // "lorem," repeated: no space between letters, so no chunk boundary
        // before the fuzzed text. 12 KiB of BPE per count: one input in 8.
        let len = CHUNK_BYTES - usize::from(shift);
        let filler: String = "lorem,".chars().cycle().take(len).collect();
        let text = filler + &fuzzed;
        for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
            check_chunked(encoding, &text);
        }
    }
});
