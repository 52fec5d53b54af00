//! OpenAI's BPE vocabularies in a compact form, and the byte-pair merges
//! that count tokens with them.
//!
//! Why not tiktoken-rs's `CoreBPE`, which gives the same counts: it holds a
//! vocabulary as hash maps keyed and valued by one heap-allocated `Vec<u8>`
//! per token, plus a sorted copy of them, built at first use from the base64
//! text files it embeds: 44 MiB and 0.15–0.23 s for o200k natively, in every
//! Envoy VM (one per worker and two on the main thread). Here the tokens'
//! bytes sit in one static blob in rank order, written by build.rs from
//! tiktoken-rs's own vocabulary at build time, and the only thing built at
//! run time is an index of ranks hashed by their bytes: about 6 MiB and
//! 8 ms for o200k natively (docs/benchmarks.md). No crate counts over such
//! a layout: tiktoken-rs, riptoken and kitoken all key maps by owned byte
//! vectors, and bpe-openai ships prebuilt automata of 32 MB for o200k.
//!
//! The counts must equal tiktoken's: tests/counting.rs and the fuzz target
//! `token_count` compare them with tiktoken-rs's on corpus text and on
//! arbitrary input.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use fancy_regex::Regex;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::Encoding;

/// The rank of a byte string that is no token: a pair that does not merge.
const NO_TOKEN: u32 = u32::MAX;

/// Pieces at least this long merge through a heap, O(n log n). Shorter ones
/// rescan their pairs after each merge, O(n²) but faster at the lengths most
/// pieces have (a word, a number, a run of punctuation).
const HEAP_MERGE_BYTES: usize = 64;

/// o200k_base's pre-tokenizer: the pattern tiktoken publishes for it.
const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);

/// cl100k_base's pre-tokenizer, likewise.
const CL100K_PATTERN: &str = concat!(
    r"'(?i:[sdmt]|ll|ve|re)",
    r"|[^\r\n\p{L}\p{N}]?+\p{L}++",
    r"|\p{N}{1,3}+",
    r"| ?[^\s\p{L}\p{N}]++[\r\n]*+",
    r"|\s++$",
    r"|\s*[\r\n]",
    r"|\s+(?!\S)",
    r"|\s",
);

/// Each vocabulary as build.rs writes it: every token's bytes concatenated
/// in rank order, and one byte per token giving its length.
static O200K_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bytes"));
static O200K_LENGTHS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.lengths"));
static CL100K_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.bytes"));
static CL100K_LENGTHS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.lengths"));

/// One vocabulary, ready to count with.
pub(crate) struct Vocabulary {
    /// Every token's bytes, in rank order.
    bytes: &'static [u8],
    /// Token `r` is `bytes[starts[r]..starts[r + 1]]`.
    starts: Vec<u32>,
    /// The ranks, hashed by their token's bytes.
    index: HashTable<u32>,
    /// Splits text into the pieces that merge independently.
    pretokenizer: Regex,
}

fn hash(bytes: &[u8]) -> u64 {
    FxBuildHasher.hash_one(bytes)
}

/// Token `rank`'s bytes (empty for a rank past the vocabulary).
fn token<'a>(bytes: &'a [u8], starts: &[u32], rank: u32) -> &'a [u8] {
    let r = rank as usize;
    match (starts.get(r), starts.get(r + 1)) {
        (Some(&from), Some(&to)) => bytes.get(from as usize..to as usize).unwrap_or_default(),
        _ => &[],
    }
}

impl Vocabulary {
    /// Indexes `encoding`'s tokens and compiles its pre-tokenizer. Fails
    /// only if the pattern above does not compile (a unit test compiles it).
    pub(crate) fn build(encoding: Encoding) -> Result<Self, Box<fancy_regex::Error>> {
        let (bytes, lengths, pattern) = match encoding {
            Encoding::O200kBase => (O200K_BYTES, O200K_LENGTHS, O200K_PATTERN),
            Encoding::Cl100kBase => (CL100K_BYTES, CL100K_LENGTHS, CL100K_PATTERN),
        };
        let pretokenizer = Regex::new(pattern).map_err(Box::new)?;
        let mut starts = Vec::with_capacity(lengths.len() + 1);
        let mut at = 0u32;
        starts.push(at);
        for &length in lengths {
            at += u32::from(length);
            starts.push(at);
        }
        let mut index = HashTable::with_capacity(lengths.len());
        for (rank, _) in (0u32..).zip(lengths) {
            let rehash = |&r: &u32| hash(token(bytes, &starts, r));
            index.insert_unique(hash(token(bytes, &starts, rank)), rank, rehash);
        }
        Ok(Vocabulary {
            bytes,
            starts,
            index,
            pretokenizer,
        })
    }

    fn rank(&self, piece: &[u8]) -> u32 {
        self.index
            .find(hash(piece), |&r| {
                token(self.bytes, &self.starts, r) == piece
            })
            .copied()
            .unwrap_or(NO_TOKEN)
    }

    /// The rank of `piece[from..to]`, [`NO_TOKEN`] if it is none.
    fn span_rank(&self, piece: &[u8], from: usize, to: usize) -> u32 {
        piece.get(from..to).map_or(NO_TOKEN, |span| self.rank(span))
    }

    /// The number of tokens tiktoken's `encode_ordinary` gives `text`.
    pub(crate) fn count(&self, text: &str) -> usize {
        let mut parts = Vec::new();
        let mut total = 0;
        let mut counted_to = 0;
        for piece in self.pretokenizer.find_iter(text) {
            match piece {
                Ok(piece) => {
                    total += self.piece_tokens(piece.as_str().as_bytes(), &mut parts);
                    counted_to = piece.end();
                }
                // fancy-regex gave up backtracking (its limit is far above
                // what these patterns need): the rest counts a token per
                // byte, an over-count, never an under-count.
                Err(_) => return total + text.len().saturating_sub(counted_to),
            }
        }
        total
    }

    /// The tokens of one piece: every byte is a token, and adjacent parts
    /// merge, the pair whose joined bytes have the lowest rank first (the
    /// leftmost among equals), until no adjacent pair joins into a token.
    fn piece_tokens(&self, piece: &[u8], parts: &mut Vec<(usize, u32)>) -> usize {
        if piece.len() < 2 {
            piece.len()
        } else if self.rank(piece) != NO_TOKEN {
            1
        } else if piece.len() < HEAP_MERGE_BYTES {
            self.merge_rescanning(piece, parts)
        } else {
            self.merge_with_heap(piece)
        }
    }

    /// `parts[i]` is where part `i` starts and the rank of part `i` joined
    /// with part `i + 1`; a last entry marks the end of the piece.
    fn merge_rescanning(&self, piece: &[u8], parts: &mut Vec<(usize, u32)>) -> usize {
        parts.clear();
        parts.extend((0..piece.len()).map(|i| (i, self.span_rank(piece, i, i + 2))));
        parts.push((piece.len(), NO_TOKEN));
        // The rank of the parts from entry `first` up to entry `end` joined.
        let joined = |parts: &[(usize, u32)], first: usize, end: usize| match (
            parts.get(first),
            parts.get(end),
        ) {
            (Some(&(from, _)), Some(&(to, _))) => self.span_rank(piece, from, to),
            _ => NO_TOKEN,
        };
        // `min_by_key` returns the first of equal minima: the leftmost pair.
        while let Some((at, _)) = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1 != NO_TOKEN)
            .min_by_key(|(_, p)| p.1)
        {
            // Part `at` absorbs part `at + 1`: the pairs on either side of
            // the joined part change, then the absorbed entry goes.
            if let Some(before) = at.checked_sub(1) {
                let rank = joined(parts, before, at + 2);
                if let Some(entry) = parts.get_mut(before) {
                    entry.1 = rank;
                }
            }
            let rank = joined(parts, at, at + 3);
            if let Some(entry) = parts.get_mut(at) {
                entry.1 = rank;
            }
            // A ranked pair at `at` has an entry at `at + 1` (its end is
            // at `at + 2` or later), so this always removes one.
            if at + 1 < parts.len() {
                parts.remove(at + 1);
            }
        }
        parts.len() - 1
    }

    /// The same merges for a long piece, whose pairs would be rescanned too
    /// often: the parts form a linked list and the candidate pairs a heap
    /// ordered by (rank, start); a pair made stale by an earlier merge is
    /// skipped when it comes up.
    fn merge_with_heap(&self, piece: &[u8]) -> usize {
        let n = piece.len();
        // Indexed by where a part starts: where the next one starts (`n`
        // for the last), where the previous one starts, and whether a part
        // still starts there.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut previous: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut starts_part = vec![true; n];
        let mut pairs = BinaryHeap::with_capacity(n);
        let push = |pairs: &mut BinaryHeap<_>, from: usize, to: usize| {
            let rank = self.span_rank(piece, from, to);
            if rank != NO_TOKEN {
                pairs.push(Reverse((rank, from, to)));
            }
        };
        for i in 0..n - 1 {
            push(&mut pairs, i, i + 2);
        }
        let mut parts = n;
        while let Some(Reverse((_, left, end))) = pairs.pop() {
            // Current only if `left` still starts a part whose next part
            // ends at `end`: then the pair's bytes, and so its rank, are
            // the ones pushed.
            let Some(&right) = next
                .get(left)
                .filter(|_| starts_part.get(left) == Some(&true))
            else {
                continue;
            };
            if next.get(right) != Some(&end) {
                continue;
            }
            if let Some(flag) = starts_part.get_mut(right) {
                *flag = false;
            }
            if let Some(following) = next.get_mut(left) {
                *following = end;
            }
            if let Some(preceding) = previous.get_mut(end) {
                *preceding = Some(left);
            }
            parts -= 1;
            if let Some(Some(before)) = previous.get(left).copied() {
                push(&mut pairs, before, end);
            }
            if let Some(&after) = next.get(end) {
                push(&mut pairs, left, after);
            }
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_vocabularies_build_with_every_token_indexed() {
        for (encoding, tokens) in [
            (Encoding::O200kBase, 199_998),
            (Encoding::Cl100kBase, 100_256),
        ] {
            let v = Vocabulary::build(encoding).unwrap();
            assert_eq!(v.starts.len(), tokens + 1, "{encoding:?}");
            assert_eq!(v.index.len(), tokens, "{encoding:?}");
            for rank in [0, 1_000, tokens as u32 - 1] {
                assert_eq!(
                    v.rank(token(v.bytes, &v.starts, rank)),
                    rank,
                    "{encoding:?}"
                );
            }
            assert_eq!(v.rank(b""), NO_TOKEN);
        }
    }

    #[test]
    fn long_pieces_merge_as_short_ones_do() {
        let v = Vocabulary::build(Encoding::O200kBase).unwrap();
        let mut parts = Vec::new();
        for piece in [
            "=-=-=-=-=-=-=-=-=-=-=-",
            "!!!??!!!...,,,;;;:::",
            "\u{1F600}\u{1F601}\u{1F602}\u{1F603}",
        ] {
            let piece = piece.as_bytes();
            assert_eq!(
                v.merge_with_heap(piece),
                v.merge_rescanning(piece, &mut parts),
                "{piece:?}"
            );
        }
    }
}
