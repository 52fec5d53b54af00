//! `ratelimit-service`: the command line (parsed by hand, as in
//! tests/fake-provider: two subcommands do not justify a parser dependency)
//! and the log setup.

use ratelimit_service::config::LimitsFile;
use ratelimit_service::{limits, server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

const USAGE: &str = "\
usage:
  ratelimit-service serve --limits FILE [--listen ADDR] [--redis URL]
                          [--ready-file FILE] [--log-level LEVEL]
  ratelimit-service check --limits FILE

ADDR is IP:PORT; PORT 0 picks a free port. --listen defaults to 127.0.0.1:0.
URL is redis://HOST:PORT[/DB]: counters in Redis, shared by every instance
using it; without --redis, counters are in memory.
After binding, serve prints `ratelimit-service listening grpc=ADDR storage=redis|memory`
and writes {\"grpc\": ADDR, ...} to the ready file.
LEVEL is error, warn, info (default), debug or trace; descriptor values are
never logged, decisions and counts only at debug.
check validates the limits file and exits.";

enum Command {
    Serve(server::Config, LevelFilter),
    Check(PathBuf),
    Help,
}

/// `--name value` and `--name=value` pairs, in order.
fn flags(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument `{arg}`"));
        };
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => {
                let value = iter.next().ok_or(format!("--{name} needs a value"))?;
                (name.to_owned(), value.clone())
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("missing command".to_owned());
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") || command == "--help" || command == "-h" {
        return Ok(Command::Help);
    }
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (mut limits_file, mut redis, mut ready_file) = (None, None, None);
    let mut level = LevelFilter::INFO;
    for (name, value) in flags(rest)? {
        match (command.as_str(), name.as_str()) {
            (_, "limits") => limits_file = Some(PathBuf::from(value)),
            ("serve", "listen") => {
                listen = value
                    .parse()
                    .map_err(|_| format!("--listen `{value}` is not IP:PORT"))?
            }
            ("serve", "redis") => {
                if !value.starts_with("redis://") {
                    return Err(format!("--redis `{value}` is not redis://HOST:PORT"));
                }
                redis = Some(value);
            }
            ("serve", "ready-file") => ready_file = Some(PathBuf::from(value)),
            ("serve", "log-level") => {
                level = value
                    .parse()
                    .map_err(|_| format!("--log-level `{value}` is not error, warn, info, debug or trace"))?;
            }
            _ => return Err(format!("unknown option --{name} for {command}")),
        }
    }
    let limits_file = limits_file.ok_or(format!("{command} needs --limits FILE"))?;
    match command.as_str() {
        "serve" => Ok(Command::Serve(
            server::Config {
                listen,
                limits_file,
                redis,
                ready_file,
            },
            level,
        )),
        "check" => Ok(Command::Check(limits_file)),
        other => Err(format!("unknown command `{other}`")),
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(config, level)) => {
            init_logging(level);
            server::serve(config).await
        }
        Ok(Command::Check(path)) => check(&path),
        Err(message) => {
            eprintln!("ratelimit-service: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
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

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_serve() {
        let Ok(Command::Serve(config, level)) = parse(&args(
            "serve --limits l.json --listen 127.0.0.1:9 --redis redis://127.0.0.1:6379 --log-level=debug",
        )) else {
            unreachable!("serve parses")
        };
        assert_eq!(config.listen.port(), 9);
        assert_eq!(config.redis.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(level, LevelFilter::DEBUG);
        assert!(parse(&args("serve")).is_err(), "--limits is required");
        assert!(parse(&args("serve --limits l --redis 127.0.0.1:6379")).is_err());
        assert!(parse(&args("serve --limits l --log-level loud")).is_err());
        assert!(parse(&args("check --limits l --listen 127.0.0.1:0")).is_err());
        assert!(matches!(parse(&args("check --limits l")), Ok(Command::Check(_))));
    }
}
