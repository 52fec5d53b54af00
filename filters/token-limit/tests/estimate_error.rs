//! The estimate's error against tiktoken on the testdata corpus, per class
//! of text. Prints the table documented in `count/estimate.rs`; with
//! `CALIBRATE=1` it prints the feature rows the weights are fitted on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use token_limit::count::{exact, Encoding, Family, Features};

struct Sample {
    class: &'static str,
    text: String,
}

fn class_of(file: &str) -> &'static str {
    match file.split('_').next().unwrap_or_default() {
        "en" | "de" | "fr" | "es" => "latin prose",
        "code" | "json" | "markdown" => "code/json/markdown",
        "zh" | "ja" | "ko" => "cjk",
        _ => "other scripts",
    }
}

/// Whole files, their paragraphs, and lines of at least 40 bytes.
fn samples() -> Vec<Sample> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let class = class_of(&name);
        let paragraphs = text
            .split("\n\n")
            .filter(|p| p.len() >= 40)
            .map(str::to_owned);
        let lines = text.lines().filter(|l| l.len() >= 40).map(str::to_owned);
        for t in std::iter::once(text.clone()).chain(paragraphs).chain(lines) {
            out.push(Sample { class, text: t });
        }
    }
    out
}

#[test]
fn estimate_error_per_class() {
    let samples = samples();
    let calibrate = std::env::var("CALIBRATE").is_ok();
    for (family, encoding) in [
        (Family::OpenAiO200k, Encoding::O200kBase),
        (Family::OpenAiCl100k, Encoding::Cl100kBase),
    ] {
        let mut rows: Vec<(&str, f64)> = Vec::new();
        for s in &samples {
            let f = Features::of(&s.text);
            let exact = exact::count(encoding, &s.text);
            if calibrate {
                let x: Vec<String> = f.as_array().iter().map(|v| v.to_string()).collect();
                println!("CAL,{family:?},{},{exact},{}", s.class, x.join(","));
            }
            rows.push((s.class, f.estimate(family) as f64 / exact as f64));
        }
        println!("{family:?}: estimate / exact over {} samples", rows.len());
        println!("| class | samples | mean | min | max |");
        let mut classes: Vec<&str> = rows.iter().map(|r| r.0).collect();
        classes.dedup();
        classes.sort();
        classes.dedup();
        classes.push("all");
        for class in classes {
            let r: Vec<f64> = rows
                .iter()
                .filter(|r| class == "all" || r.0 == class)
                .map(|r| r.1)
                .collect();
            let mean = r.iter().sum::<f64>() / r.len() as f64;
            let min = r.iter().cloned().fold(f64::MAX, f64::min);
            let max = r.iter().cloned().fold(f64::MIN, f64::max);
            println!(
                "| {class} | {} | {mean:.3} | {min:.3} | {max:.3} |",
                r.len()
            );
            if !calibrate {
                // The default safety margin (0.3) must cover the worst
                // underestimate, and the estimate must not be wildly high.
                assert!(
                    min * 1.3 >= 1.0,
                    "{family:?} {class}: worst underestimate {min:.3}"
                );
                assert!(
                    max <= 1.4,
                    "{family:?} {class}: worst overestimate {max:.3}"
                );
                assert!(
                    (0.95..=1.05).contains(&mean),
                    "{family:?} {class}: mean {mean:.3}"
                );
            }
        }
    }
}
