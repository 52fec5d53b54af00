//! Exact OpenAI token counts: tiktoken's `encode_ordinary(text).len()`,
//! over the compact vocabularies of `count::vocabulary`.
//!
//! Why not tiktoken-rs itself, or GitHub's faster `bpe-openai`: see
//! `count::vocabulary` (memory per VM and build time).
//!
//! A vocabulary is built once per VM, when a count or [`warm`] first asks
//! for it: 8 ms for o200k natively, 14–28 ms for both in wasm.

use std::sync::OnceLock;

use super::vocabulary::Vocabulary;
use super::Encoding;

/// Counts are split at boundaries where the pre-tokenizer always splits, in
/// chunks of about this many bytes, so that [`count_up_to`] can stop early.
const CHUNK_BYTES: usize = 8 * 1024;

static O200K: OnceLock<Option<Vocabulary>> = OnceLock::new();
static CL100K: OnceLock<Option<Vocabulary>> = OnceLock::new();

/// `None` only if the vocabulary's pattern failed to compile, which a unit
/// test rules out; counts then fall back to one token per byte, an
/// over-count.
fn vocabulary(encoding: Encoding) -> Option<&'static Vocabulary> {
    cell(encoding)
        .get_or_init(|| Vocabulary::build(encoding).ok())
        .as_ref()
}

fn cell(encoding: Encoding) -> &'static OnceLock<Option<Vocabulary>> {
    match encoding {
        Encoding::O200kBase => &O200K,
        Encoding::Cl100kBase => &CL100K,
    }
}

fn count_one(vocabulary: Option<&Vocabulary>, text: &str) -> usize {
    vocabulary.map_or(text.len(), |v| v.count(text))
}

/// Builds the vocabulary now (from a timer right after start) so that no
/// request waits for it. True if this call built it (false when it was
/// already built, e.g. by an earlier configuration of the same VM).
pub fn warm(encoding: Encoding) -> bool {
    let built_now = cell(encoding).get().is_none();
    vocabulary(encoding);
    built_now
}

/// The exact token count of `text`, special-token strings such as
/// `<|endoftext|>` counted as ordinary text (the API does the same for
/// message content).
pub fn count(encoding: Encoding, text: &str) -> usize {
    count_one(vocabulary(encoding), text)
}

/// A count that stopped early because it passed the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// Tokens counted before stopping: more than the limit, at most the
    /// full count.
    pub at_least: usize,
}

/// The exact count of `text` if it is at most `limit`, else
/// `Err(Exceeded)` as soon as the chunks counted so far pass the limit.
pub fn count_up_to(encoding: Encoding, text: &str, limit: usize) -> Result<usize, Exceeded> {
    let vocabulary = vocabulary(encoding);
    let mut total = 0usize;
    for chunk in (Chunks { rest: text }) {
        total += count_one(vocabulary, chunk);
        if total > limit {
            return Err(Exceeded { at_least: total });
        }
    }
    Ok(total)
}

/// Splits text before a space that sits between two ASCII letters (`a b`).
/// Both vocabularies' pre-tokenizers always split there: every pattern that
/// matches a letter ends at a space, and ` b` starts a new word piece. So the
/// sum of the chunks' counts is the count of the whole. Text without such a
/// boundary (CJK, one long token run) is one chunk.
struct Chunks<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        let boundary = (CHUNK_BYTES.max(1)..bytes.len().saturating_sub(1)).find(|&i| {
            bytes.get(i) == Some(&b' ')
                && bytes.get(i - 1).is_some_and(u8::is_ascii_alphabetic)
                && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic)
        });
        let at = boundary.unwrap_or(bytes.len());
        // `at` is an ASCII space or the end, so a char boundary.
        let (chunk, rest) = self.rest.split_at(at);
        self.rest = rest;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_counts_equal_whole_counts() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(2000)
            + &"混合テキスト and more words, {\"json\": [1, 2]} ".repeat(500);
        for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
            let whole = count(encoding, &text);
            assert!(Chunks { rest: &text }.count() > 5);
            assert_eq!(count_up_to(encoding, &text, usize::MAX), Ok(whole));
            assert_eq!(count_up_to(encoding, &text, whole), Ok(whole));
            let err = count_up_to(encoding, &text, whole - 1).unwrap_err();
            assert!(err.at_least > whole - 1 && err.at_least <= whole);
            let early = count_up_to(encoding, &text, 10).unwrap_err();
            assert!(
                early.at_least < whole / 5,
                "stops early: {early:?} of {whole}"
            );
        }
    }

    #[test]
    fn warm_builds_once() {
        warm(Encoding::Cl100kBase);
        assert!(!warm(Encoding::Cl100kBase), "already built");
        assert!(cell(Encoding::Cl100kBase)
            .get()
            .is_some_and(Option::is_some));
    }

    #[test]
    fn empty_text() {
        assert_eq!(count(Encoding::O200kBase, ""), 0);
        assert_eq!(count_up_to(Encoding::O200kBase, "", 0), Ok(0));
    }
}
