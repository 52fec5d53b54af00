//! Engine throughput over prompt-like text with few findings (one email and
//! one phone number per ~2 KB): the default detectors (`scan_all_detectors`)
//! and with the opt-in PERSON and ADDRESS detectors on too
//! (`scan_with_names_and_addresses`), over the same text, which holds
//! capitalised words, numbers and street-type words but no name or
//! address.
//!
//! cargo bench -p pii-scan --bench engine -- --warm-up-time 1 --measurement-time 3

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pii_scan::engine::{Engine, EngineConfig};
use pii_scan::Entity;
use std::hint::black_box;

/// Mixed prose, code, JSON and log lines, in several languages; numbers,
/// dates, versions and hashes that are not findings; rare real findings.
const PARAGRAPHS: &[&str] = &[
    "Please summarise the following meeting notes for the product team. We agreed to ship version 2.4.1 on \
     2024-06-03 after the load test (p99 latency 184 ms at 1,200 requests per second) and to revisit pricing in Q3. ",
    "Der Kunde meldet, dass der Export seit dem Update vom 12.03.2024 fehlschlägt. Bitte prüfe die Logdatei und \
     schlage eine Lösung vor; die Bestellung 2024/0815 ist betroffen. ",
    "fn parse(input: &str) -> Result<Config, Error> {\n    let value: serde_json::Value = serde_json::from_str(input)?;\n    \
     Ok(Config { retries: 3, timeout_ms: 2500 })\n}\n",
    "{\"model\": \"gpt-4o-mini\", \"temperature\": 0.2, \"max_tokens\": 512, \"user\": \"agent-7\", \"stream\": true}\n",
    "2024-06-03T10:15:22.381Z INFO worker[3] processed batch 8812 in 42ms (commit 9fceb02d0ae598e95dc970b74767f19372d61af8)\n",
    "Le client souhaite une réponse avant vendredi : pouvez-vous reformuler ce paragraphe de manière plus concise \
     et garder le ton professionnel ? ",
    "El equipo revisará la propuesta el martes; por favor, incluye un resumen de los riesgos y una estimación de costes. ",
    "Contact me at jordan.lee@example.com if the numbers look off. ",
    "Reach the on-call engineer at (415) 555-0132 after hours. ",
];

fn text_of(size: usize) -> String {
    let mut text = String::with_capacity(size + 512);
    let mut i = 0;
    while text.len() < size {
        // Findings are the last two paragraphs: use them once per cycle of
        // four passes over the others, so findings stay rare.
        let p = PARAGRAPHS[i % PARAGRAPHS.len()];
        if i % PARAGRAPHS.len() < PARAGRAPHS.len() - 2 || (i / PARAGRAPHS.len()) % 4 == 0 {
            text.push_str(p);
        }
        i += 1;
    }
    text.truncate(
        text.char_indices()
            .map(|(i, _)| i)
            .take_while(|&i| i <= size)
            .last()
            .unwrap_or(0),
    );
    text
}

fn bench(c: &mut Criterion) {
    let default = Engine::builtin().unwrap();
    let opt_in = Engine::new(&EngineConfig {
        opt_in: vec![Entity::Person, Entity::Address],
        ..EngineConfig::default()
    })
    .unwrap();
    for (group_name, engine) in [
        ("scan_all_detectors", &default),
        ("scan_with_names_and_addresses", &opt_in),
    ] {
        let mut group = c.benchmark_group(group_name);
        for (name, size) in [("2KB", 2 << 10), ("64KB", 64 << 10), ("1MB", 1 << 20)] {
            let text = text_of(size);
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
                b.iter(|| engine.scan(black_box(text.as_bytes())))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
