//! One-off costs of the exact tokenizers, natively: the time of the first
//! build of each vocabulary and the resident memory it adds, ours beside
//! tiktoken-rs's (whose counts ours equal). Not a criterion bench because a
//! build happens once per process (the vocabularies are cached statics), so
//! each figure is one cold measurement.
//!
//! Run: `cargo bench -p token-limit --bench tokenizer_load`

use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4)
}

fn measure(name: &str, load: impl FnOnce() -> usize) {
    let before = rss_kib();
    let start = Instant::now();
    let tokens = load();
    let took = start.elapsed();
    let after = rss_kib();
    println!(
        "{name:<28} first build + 1 count: {:>7.1} ms, RSS +{:>5.1} MiB ({tokens} tokens)",
        took.as_secs_f64() * 1e3,
        (after.saturating_sub(before)) as f64 / 1024.0
    );
}

fn main() {
    use token_limit::count::{exact, Encoding};
    let text = "Hello, world! Counting a few tokens.";
    measure("ours o200k_base", || {
        exact::count(Encoding::O200kBase, text)
    });
    measure("ours cl100k_base", || {
        exact::count(Encoding::Cl100kBase, text)
    });
    measure("tiktoken-rs o200k_base", || {
        tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len()
    });
    measure("tiktoken-rs cl100k_base", || {
        tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary(text)
            .len()
    });
}
