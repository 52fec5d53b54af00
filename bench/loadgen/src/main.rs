//! `llm-load`: the load generator `make bench` drives every target with.
//! See README.md for what it measures and the JSON it prints.

mod cli;
mod client;
mod closed;
mod plan;
mod rate;
mod request;
mod schedule;
mod sse;
mod stats;
mod target;

use bytes::Bytes;
use clap::Parser;
use cli::{Cli, Common, Mode};
use plan::Plan;
use request::RequestTemplate;
use stats::Summary;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use target::Target;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("llm-load: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the mode and prints its summary; `Ok(false)` when the figures are not
/// to be trusted (see `Recorder::trustworthy`).
fn run(cli: Cli) -> Result<bool, String> {
    let (common, rate) = match &cli.mode {
        Mode::Closed(common) => (common, None),
        Mode::Rate(args) => {
            let config = rate::RateConfig {
                rate: args.rate,
                connections: args.common.connections,
                cap: args.cap()?,
            };
            (&args.common, Some(config))
        }
    };
    common.validate()?;
    let plan = Arc::new(plan(common)?);
    let runtime = if common.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(common.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start the runtime: {e}"))?;

    let (recorder, window, facts, mode) = match rate {
        None => {
            let (recorder, window) = runtime.block_on(closed::run(plan, common.connections));
            (recorder, window, None, "closed")
        }
        Some(config) => {
            let (recorder, window, facts) = runtime.block_on(rate::run(plan, config));
            (recorder, window, Some(facts), "rate")
        }
    };
    let summary = Summary {
        mode,
        url: &common.url,
        connections: common.connections as u64,
        threads: common.threads as u64,
        stream: common.stream,
        warmup_s: common.warmup,
        window,
        recorder: &recorder,
        rate: facts,
    };
    if common.json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.human());
    }
    Ok(recorder.trustworthy())
}

fn plan(common: &Common) -> Result<Plan, String> {
    let target = Target::parse(&common.url)?;
    let body = match &common.body {
        Some(path) => Some(Bytes::from(
            std::fs::read(path).map_err(|e| format!("--body {}: {e}", path.display()))?,
        )),
        None => None,
    };
    let template = RequestTemplate::new(&target, body, &common.headers)?;
    Ok(Plan {
        target,
        template,
        stream: common.stream,
        warmup: Duration::from_secs_f64(common.warmup),
        duration: Duration::from_secs_f64(common.duration),
    })
}
