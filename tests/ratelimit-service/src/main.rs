//! `ratelimit-service`: the command line and the log setup.

use clap::Parser;
use ratelimit_service::config::LimitsFile;
use ratelimit_service::{limits, server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Envoy's rate-limit service protocol on limitador, for the gateway's
/// global token limits (tests and demo).
#[derive(Parser)]
#[command(name = "ratelimit-service")]
enum Cli {
    /// Answers ShouldRateLimit. After binding it prints `ratelimit-service
    /// listening grpc=ADDR storage=redis|memory` and writes {"grpc": ADDR,
    /// ...} to the ready file.
    Serve {
        /// The limits file (JSON; see docs/ratelimit-service.md).
        #[arg(long)]
        limits: PathBuf,
        /// IP:PORT; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// redis://HOST:PORT[/DB]: counters in Redis, shared by every
        /// instance using it; without it, counters are in memory.
        #[arg(long, value_parser = redis_url)]
        redis: Option<String>,
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// error, warn, info, debug or trace. Descriptor values are never
        /// logged; decisions and counts only at debug.
        #[arg(long, default_value = "info")]
        log_level: LevelFilter,
    },
    /// Validates the limits file and exits.
    Check {
        #[arg(long)]
        limits: PathBuf,
    },
}

fn redis_url(value: &str) -> Result<String, String> {
    if value.starts_with("redis://") {
        Ok(value.to_owned())
    } else {
        Err(format!("`{value}` is not redis://HOST:PORT"))
    }
}

/// Logs go to stderr; stdout carries only the ready line. Only this crate
/// and limitador log at `level`; the gRPC and Redis plumbing (h2, tonic,
/// redis) stays at warn, so debug shows decisions, not frames.
fn init_logging(level: LevelFilter) {
    let targets = Targets::new()
        .with_target("ratelimit_service", level)
        .with_target("limitador", level)
        .with_default(level.min(LevelFilter::WARN));
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .finish()
        .with(targets)
        .init();
}

fn check(path: &std::path::Path) -> Result<(), String> {
    let file = LimitsFile::load(path).map_err(|e| e.to_string())?;
    let count = limits::to_limitador(&file)?.len();
    println!("{}: {count} limits, valid", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Serve {
            limits,
            listen,
            redis,
            ready_file,
            log_level,
        } => {
            init_logging(log_level);
            server::serve(server::Config {
                listen,
                limits_file: limits,
                redis,
                ready_file,
            })
            .await
        }
        Cli::Check { limits } => check(&limits),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ratelimit-service: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ratelimit-service").chain(line.split_whitespace()))
    }

    #[test]
    fn parses_serve_and_check() {
        let Ok(Cli::Serve { listen, redis, log_level, .. }) =
            parse("serve --limits l.json --listen 127.0.0.1:9 --redis redis://127.0.0.1:6379 --log-level=debug")
        else {
            unreachable!("serve parses")
        };
        assert_eq!(listen.port(), 9);
        assert_eq!(redis.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(log_level, LevelFilter::DEBUG);
        assert!(parse("serve").is_err(), "--limits is required");
        assert!(parse("serve --limits l --redis 127.0.0.1:6379").is_err());
        assert!(parse("serve --limits l --log-level loud").is_err());
        assert!(parse("check --limits l --listen 127.0.0.1:0").is_err());
        assert!(matches!(parse("check --limits l"), Ok(Cli::Check { .. })));
    }
}
