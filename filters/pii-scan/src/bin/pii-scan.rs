//! pii-scan: runs the filter's detection engine and actions over your own
//! data, to try a configuration before deploying it.
//!
//! ```text
//! pii-scan [--config FILE] [--jsonl]
//! ```
//!
//! * `--config FILE`: the `pii_scan` filter's JSON configuration (the same
//!   schema the filter reads); without it every entity type is redacted.
//! * `--jsonl`: reads lines of `{"text": "..."}` and writes one line per
//!   input line: `{"text": "<text after the actions>", "findings":
//!   [{"entity": "EMAIL", "start": 12, "end": 30}]}`, offsets in bytes into
//!   the input text; `"blocked": ["US_SSN"]` is added when a `block` action
//!   applies. A line that cannot be read yields `{"error": "..."}` and exit
//!   status 1 at the end.
//! * Without `--jsonl`: redacts stdin to stdout (exit status 3 if a `block`
//!   action applied, naming the entity types on stderr).
//!
//! Tokenize uses a fresh vault per line (per input without `--jsonl`).

use pii_scan::engine::{Engine, Policy, Vault};
use pii_scan::PiiConfig;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: pii-scan [--config FILE] [--jsonl]";

struct Args {
    config: Option<String>,
    jsonl: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        jsonl: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--jsonl" => args.jsonl = true,
            "--config" => args.config = Some(it.next().ok_or("--config needs a file")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

/// The engine and the policy of the configuration at `path` (every entity
/// type redacted without one).
fn load(path: Option<&str>) -> Result<(Engine, Policy), String> {
    let value = match path {
        None => serde_json::json!({}),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?
        }
    };
    let config = PiiConfig::from_json(value).map_err(|e| e.to_string())?;
    let engine = Engine::new(&config.engine).map_err(|e| e.to_string())?;
    Ok((engine, Policy::from(&config)))
}

/// Scans and applies the policy to one text: the new text, the findings as
/// JSON, and the blocked entity types.
fn process(engine: &Engine, policy: &Policy, text: &str) -> serde_json::Value {
    let findings = engine.scan(text.as_bytes());
    let mut vault = Vault::new();
    let applied = policy.apply(text, &findings, &mut vault);
    let listed: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| serde_json::json!({"entity": f.entity.name(), "start": f.start, "end": f.end}))
        .collect();
    let mut out = serde_json::json!({"text": applied.text, "findings": listed});
    if !applied.blocked.is_empty() {
        let blocked: Vec<&str> = applied.blocked.iter().map(|e| e.name()).collect();
        if let Some(fields) = out.as_object_mut() {
            fields.insert("blocked".to_owned(), serde_json::json!(blocked));
        }
    }
    out
}

fn run_jsonl(engine: &Engine, policy: &Policy) -> Result<ExitCode, String> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    for (n, line) in stdin.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&line).ok();
        let out = match parsed
            .as_ref()
            .and_then(|v| v.get("text"))
            .and_then(|t| t.as_str())
        {
            Some(text) => process(engine, policy, text),
            None => {
                failed = true;
                serde_json::json!({"error": format!("line {}: expected a JSON object with a string field `text`", n + 1)})
            }
        };
        writeln!(stdout, "{out}").map_err(|e| format!("cannot write stdout: {e}"))?;
    }
    stdout
        .flush()
        .map_err(|e| format!("cannot write stdout: {e}"))?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_text(engine: &Engine, policy: &Policy) -> Result<ExitCode, String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let text = String::from_utf8_lossy(&input);
    let findings = engine.scan(text.as_bytes());
    let mut vault = Vault::new();
    let applied = policy.apply(&text, &findings, &mut vault);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(applied.text.as_bytes())
        .map_err(|e| format!("cannot write stdout: {e}"))?;
    stdout
        .flush()
        .map_err(|e| format!("cannot write stdout: {e}"))?;
    if applied.blocked.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let names: Vec<&str> = applied.blocked.iter().map(|e| e.name()).collect();
        eprintln!("pii-scan: blocked: {}", names.join(","));
        Ok(ExitCode::from(3))
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("pii-scan: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = load(args.config.as_deref()).and_then(|(engine, policy)| {
        if args.jsonl {
            run_jsonl(&engine, &policy)
        } else {
            run_text(&engine, &policy)
        }
    });
    result.unwrap_or_else(|message| {
        eprintln!("pii-scan: {message}");
        ExitCode::from(2)
    })
}
