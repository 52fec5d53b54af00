//! `fake-provider`: a deterministic fake LLM provider (OpenAI, Anthropic,
//! Gemini and Azure OpenAI shapes) with faults on demand, request recording
//! and an audit collector, used by integration tests, the demo and
//! benchmarks. This file only parses the command line (by hand: two
//! subcommands do not justify an argument-parsing dependency).

mod anthropic;
mod body;
mod certs;
mod collector;
mod control;
mod embedding;
mod errors;
mod faults;
mod gemini;
mod openai;
mod recorder;
mod reply;
mod routes;
mod scripted;
mod server;
mod sse;
mod tls;
mod usage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage:
  fake-provider serve [--listen ADDR] [--tls-listen ADDR --tls-cert FILE --tls-key FILE]
                      [--collector-file FILE] [--collector-token TOKEN]
                      [--chunk-delay-ms N] [--ready-file FILE]
  fake-provider gen-certs --out DIR [--names NAME,NAME,...]

ADDR is IP:PORT; PORT 0 picks a free port. --listen defaults to 127.0.0.1:0.
After binding, serve prints `fake-provider listening http=ADDR tls=ADDR|-`.
--chunk-delay-ms defaults to 2.";

/// Default pause between stream writes: long enough that writes reach the
/// peer separately, short enough for tests.
const DEFAULT_CHUNK_DELAY_MS: u64 = 2;

enum Command {
    Serve(server::Config),
    GenCerts { out: PathBuf, names: Vec<String> },
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
    let addr = |v: &str| -> Result<SocketAddr, String> {
        v.parse().map_err(|_| format!("`{v}` is not IP:PORT"))
    };
    match command.as_str() {
        "serve" => {
            let (mut tls_listen, mut tls_cert, mut tls_key) = (None, None, None);
            let mut config = server::Config {
                listen: addr("127.0.0.1:0")?,
                tls: None,
                collector_file: None,
                collector_token: None,
                chunk_delay: Duration::from_millis(DEFAULT_CHUNK_DELAY_MS),
                ready_file: None,
            };
            for (name, value) in flags(rest)? {
                match name.as_str() {
                    "listen" => config.listen = addr(&value)?,
                    "tls-listen" => tls_listen = Some(addr(&value)?),
                    "tls-cert" => tls_cert = Some(PathBuf::from(value)),
                    "tls-key" => tls_key = Some(PathBuf::from(value)),
                    "collector-file" => config.collector_file = Some(PathBuf::from(value)),
                    "collector-token" => config.collector_token = Some(value),
                    "ready-file" => config.ready_file = Some(PathBuf::from(value)),
                    "chunk-delay-ms" => {
                        let ms = value
                            .parse()
                            .map_err(|_| format!("--chunk-delay-ms `{value}` is not a number"))?;
                        config.chunk_delay = Duration::from_millis(ms);
                    }
                    _ => return Err(format!("unknown option --{name} for serve")),
                }
            }
            config.tls = match (tls_listen, tls_cert, tls_key) {
                (Some(addr), Some(cert), Some(key)) => Some(server::TlsListen { addr, cert, key }),
                (None, None, None) => None,
                _ => return Err("--tls-listen, --tls-cert and --tls-key go together".to_owned()),
            };
            Ok(Command::Serve(config))
        }
        "gen-certs" => {
            let mut out = None;
            let mut names: Vec<String> = certs::DEFAULT_NAMES
                .iter()
                .map(ToString::to_string)
                .collect();
            for (name, value) in flags(rest)? {
                match name.as_str() {
                    "out" => out = Some(PathBuf::from(value)),
                    "names" => {
                        names = value
                            .split(',')
                            .map(str::trim)
                            .filter(|n| !n.is_empty())
                            .map(str::to_owned)
                            .collect();
                        if names.is_empty() {
                            return Err("--names is empty".to_owned());
                        }
                    }
                    _ => return Err(format!("unknown option --{name} for gen-certs")),
                }
            }
            let out = out.ok_or("gen-certs needs --out DIR")?;
            Ok(Command::GenCerts { out, names })
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(config)) => server::serve(config).await,
        Ok(Command::GenCerts { out, names }) => certs::generate(&out, &names),
        Err(message) => {
            eprintln!("fake-provider: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-provider: {message}");
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
        let Ok(Command::Serve(config)) = parse(&args(
            "serve --listen 127.0.0.1:0 --chunk-delay-ms=0 --tls-listen 127.0.0.1:0 --tls-cert c --tls-key k",
        )) else {
            unreachable!("serve parses")
        };
        assert_eq!(config.chunk_delay, Duration::ZERO);
        assert!(config.tls.is_some());
        assert!(parse(&args("serve --tls-listen 127.0.0.1:0")).is_err());
        assert!(parse(&args("serve --bogus 1")).is_err());
        assert!(parse(&args("serve --listen")).is_err());
    }

    #[test]
    fn parses_gen_certs() {
        let Ok(Command::GenCerts { names, .. }) =
            parse(&args("gen-certs --out d --names a.test,127.0.0.1"))
        else {
            unreachable!("gen-certs parses")
        };
        assert_eq!(names, vec!["a.test", "127.0.0.1"]);
        assert!(parse(&args("gen-certs")).is_err());
    }
}
