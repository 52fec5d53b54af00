//! Counting throughput (exact and estimate) for 1 KB, 16 KB and 256 KB
//! prompts made of the testdata corpus, the estimate also for English
//! prose alone (all ASCII, as most prompts), and the limiter's admission
//! cost.
//!
//! Run: `cargo bench -p token-limit --bench counting -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use token_limit::count::{estimate, exact, Encoding, Family};
use token_limit::limit::policy::StoreConfig;
use token_limit::limit::{Demand, Limiter, Limits, MemoryStore};

fn corpus() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn prompt(corpus: &str, size: usize) -> String {
    let mut text = String::with_capacity(size + corpus.len());
    while text.len() < size {
        text.push_str(corpus);
    }
    let mut end = size;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

fn counting(c: &mut Criterion) {
    let corpus = corpus();
    exact::warm(Encoding::O200kBase);
    let mut group = c.benchmark_group("count");
    let english = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/corpus/en_prose.txt"
    ))
    .unwrap_or_default();
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        let text = prompt(&corpus, size);
        let english = prompt(&english, size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("exact_o200k", size), &text, |b, t| {
            b.iter(|| exact::count(Encoding::O200kBase, black_box(t)))
        });
        group.bench_with_input(BenchmarkId::new("estimate", size), &text, |b, t| {
            b.iter(|| estimate(Family::OpenAiO200k, black_box(t)))
        });
        group.bench_with_input(
            BenchmarkId::new("estimate_english", size),
            &english,
            |b, t| b.iter(|| estimate(Family::OpenAiO200k, black_box(t))),
        );
        group.bench_with_input(BenchmarkId::new("exact_up_to_1000", size), &text, |b, t| {
            b.iter(|| exact::count_up_to(Encoding::O200kBase, black_box(t), 1000))
        });
    }
    group.finish();
}

fn admission(c: &mut Criterion) {
    let limiter = Limiter::new(&StoreConfig::default());
    let limits = Limits {
        requests_per_minute: Some(u64::MAX / 2),
        input_tokens_per_minute: Some(u64::MAX / 2),
        ..Limits::default()
    }
    .to_set();
    let mut store = MemoryStore::default();
    // 100k keys in the store (~2 per slot), as a busy gateway would have.
    for i in 0..100_000u64 {
        limiter.admit(
            &mut store,
            &format!("agent-{i}"),
            &limits,
            Demand {
                input_tokens: 10,
                ..Demand::default()
            },
            0,
        );
    }
    let mut now = 0u64;
    c.bench_function("admit_2_limits_100k_keys", |b| {
        b.iter(|| {
            now += 1;
            limiter.admit(
                &mut store,
                black_box("agent-42"),
                &limits,
                Demand {
                    input_tokens: 500,
                    ..Demand::default()
                },
                now,
            )
        })
    });
}

criterion_group!(benches, counting, admission);
criterion_main!(benches);
