//! Command line: `llm-load closed|rate [options]`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "llm-load",
    about = "HTTP/1.1 keep-alive load generator for loopback benchmarks",
    after_help = "Exits 1 when no request succeeded or more than 1 % failed (non-2xx, transport \
                  errors, timeouts); the summary is printed all the same."
)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Closed loop: each connection sends its next request as soon as the
    /// previous response ended (throughput at fixed concurrency).
    Closed(Common),
    /// Open loop at a constant rate; latency from each request's scheduled
    /// send time (coordinated-omission corrected).
    Rate(RateArgs),
}

#[derive(Debug, Args)]
pub struct RateArgs {
    /// Requests per second, sent at fixed intervals.
    #[arg(long)]
    pub rate: f64,
    /// Connections that may be opened in all when every one is busy
    /// [default: 4 x --connections].
    #[arg(long)]
    pub max_connections: Option<usize>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct Common {
    /// http://HOST[:PORT]/PATH; HOST must be loopback (127.0.0.0/8, [::1], localhost).
    #[arg(long)]
    pub url: String,
    /// Request body file, sent as POST with content-type application/json
    /// (GET without it).
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// Extra header `name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Recorded seconds (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before recording starts.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Connections (closed: concurrency; rate: pool opened up front).
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Tokio worker threads (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Responses are SSE: also record time to first token.
    #[arg(long)]
    pub stream: bool,
    /// Print one JSON object on stdout instead of a human summary.
    #[arg(long)]
    pub json: bool,
}

impl Common {
    /// Range checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.duration.is_finite() && self.duration > 0.0) {
            return Err("--duration must be a positive number of seconds".to_owned());
        }
        if !(self.warmup.is_finite() && self.warmup >= 0.0) {
            return Err("--warmup must be zero or more seconds".to_owned());
        }
        if self.connections == 0 {
            return Err("--connections must be at least 1".to_owned());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".to_owned());
        }
        Ok(())
    }
}

impl RateArgs {
    /// The connection cap, checked against the pool size.
    pub fn cap(&self) -> Result<usize, String> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of requests per second".to_owned());
        }
        let cap = self
            .max_connections
            .unwrap_or(self.common.connections.saturating_mul(4));
        if cap < self.common.connections {
            return Err("--max-connections must be at least --connections".to_owned());
        }
        Ok(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(line.split_whitespace())
    }

    #[test]
    fn parses_both_modes() {
        let cli = parse(
            "llm-load rate --rate 500 --connections 4 --url http://127.0.0.1:1/ --header a:b \
             --header c:d --stream --json --duration 0.5",
        )
        .unwrap();
        let Mode::Rate(r) = cli.mode else {
            panic!("not rate")
        };
        assert_eq!(r.rate, 500.0);
        assert_eq!(r.cap().unwrap(), 16);
        assert_eq!(r.common.headers, ["a:b", "c:d"]);
        assert!(r.common.stream && r.common.json);
        assert_eq!(r.common.duration, 0.5);
        r.common.validate().unwrap();

        let cli = parse("llm-load closed --url http://127.0.0.1:1/").unwrap();
        let Mode::Closed(c) = cli.mode else {
            panic!("not closed")
        };
        assert_eq!(
            (c.connections, c.threads, c.duration, c.warmup),
            (8, 1, 10.0, 0.0)
        );
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse("llm-load closed").is_err());
        assert!(parse("llm-load rate --url http://127.0.0.1:1/").is_err());
        let Mode::Closed(c) = parse("llm-load closed --url u --connections 0")
            .unwrap()
            .mode
        else {
            panic!()
        };
        assert!(c.validate().is_err());
        let Mode::Rate(r) =
            parse("llm-load rate --url u --rate 10 --connections 4 --max-connections 2")
                .unwrap()
                .mode
        else {
            panic!()
        };
        assert!(r.cap().is_err());
        let Mode::Rate(r) = parse("llm-load rate --url u --rate 0").unwrap().mode else {
            panic!()
        };
        assert!(r.cap().is_err());
    }
}
