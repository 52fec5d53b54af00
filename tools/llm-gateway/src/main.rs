//! `llm-gateway`: render and validate the gateway's Envoy configs, run the
//! demo gateway, and report usage from audit records. `llm-gateway --help`
//! and `llm-gateway <command> --help` say how.

use clap::{Parser, Subcommand};
use llm_api::ProviderKind;
use llm_gateway::demo::{self, Up};
use llm_gateway::providers;
use llm_gateway::usage::{Dimension, Options, Usage};
use llm_gateway::validate::{self, Checked, Module};
use llm_gateway::{paths, Layout, Template};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(Parser)]
#[command(
    name = "llm-gateway",
    version,
    about = "The operator tool of the LLM gateway filters for Envoy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render an Envoy config template of envoy/ (see envoy/README.md).
    Render {
        /// The template, e.g. envoy/production.yaml.
        #[arg(long)]
        template: PathBuf,
        /// The filter configuration, e.g. envoy/filters/production.json.
        #[arg(long)]
        filters: PathBuf,
        /// Where to write the config; standard output if not given.
        #[arg(long)]
        out: Option<PathBuf>,
        /// `bundle` (one module running every filter) or `separate` (the
        /// four filter modules).
        #[arg(long, default_value = "bundle")]
        layout: Layout,
        /// The directory Envoy loads the .wasm files from [default:
        /// $WASM_DIR, else build/wasm of the checkout].
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
        /// A template variable, NAME=VALUE; may repeat.
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = variable)]
        sets: Vec<(String, String)>,
    },
    /// Check filter configurations with the filters' own code, without Envoy.
    ///
    /// A file is a filter configuration (JSON or YAML), or an Envoy config,
    /// resource list, Kubernetes ConfigMap or Istio WasmPlugin, of which
    /// every configuration of the gateway's modules is checked. Exits
    /// non-zero, naming the field, if one is refused.
    Validate {
        /// The files; `-` is standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The files are this module's own configuration: llm_gateway (the
        /// bundle, the default for a filter configuration), audit, pii_scan,
        /// token_limit or route_translate.
        #[arg(long, value_parser = module)]
        module: Option<Module>,
    },
    /// Run the demo gateway on 127.0.0.1:10000 until Ctrl-C.
    ///
    /// Envoy (admin on 127.0.0.1:9901) and the fake providers, from a
    /// checkout with `make wasm tools` done. <P>_UPSTREAM=https://... and
    /// <P>_API_KEY (P: a provider's name upper-cased, e.g. OPENAI; see
    /// `llm-gateway providers`) send a provider's calls to its real API.
    Demo {
        #[arg(long, default_value = "bundle")]
        layout: Layout,
    },
    /// Run the demo gateway on free ports, for tests and benchmarks.
    ///
    /// Logs go to files; the info file (JSON: addresses, log files, process
    /// ids) is written once the gateway is ready, and it runs until killed.
    Up {
        #[arg(long)]
        info_file: PathBuf,
        #[arg(long, default_value = "bundle")]
        layout: Layout,
        /// The gateway's port; 0 is a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The admin interface's port; 0 is a free one.
        #[arg(long, default_value_t = 0)]
        admin_port: u16,
        /// Another filter configuration than envoy/filters/demo.json.
        #[arg(long)]
        filters: Option<PathBuf>,
    },
    /// Print what differs per provider, as JSON.
    ///
    /// One object per provider: its name, the credential the gateway's key
    /// is sent as (header and prefix), its public host and port (TLS), the
    /// client APIs it serves, its stream framing, the paths of its API the
    /// gateway understands (exact or regex) and the <NAME>_UPSTREAM variable
    /// that points it elsewhere.
    Providers {
        /// Print only the names, one a line (for shell scripts).
        #[arg(long)]
        names: bool,
    },
    /// Report calls, errors, tokens and cost from audit records.
    ///
    /// Reads the collector's JSON lines or Envoy's access log; rows are
    /// grouped by team, client, agent, model and provider, most costly
    /// first. Lines that are not audit records are skipped.
    Usage {
        /// The files; standard input if none (or `-`).
        files: Vec<PathBuf>,
        /// What the rows are grouped by, comma-separated.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "team,client,agent,model,provider"
        )]
        by: Vec<Dimension>,
        /// The client header that names the agent in the records.
        #[arg(long, default_value = "x-agent-id")]
        agent_header: String,
        /// Only calls since this time: RFC 3339 (2025-11-23T00:00:00Z) or
        /// a duration back from now (24h, 7days).
        #[arg(long, value_parser = time)]
        since: Option<SystemTime>,
        /// Only calls before this time, in the same forms as `--since`.
        #[arg(long, value_parser = time)]
        until: Option<SystemTime>,
        /// Print JSON instead of a table.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV instead of a table: a header line and one line per row.
        #[arg(long)]
        csv: bool,
        /// Distinct groups to keep; the records of any further group are
        /// summed in one `(other)` row.
        #[arg(long, default_value_t = 10_000)]
        max_groups: usize,
    },
}

fn variable(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got `{text}`"))
}

fn module(name: &str) -> Result<Module, String> {
    Module::named(name).ok_or_else(|| format!("one of {}", Module::names().join(", ")))
}

fn time(text: &str) -> Result<SystemTime, String> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    let ago = humantime::parse_duration(text)
        .map_err(|e| format!("neither an RFC 3339 time nor a duration: {e}"))?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("{text} ago is before the epoch"))
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Render {
            template,
            filters,
            out,
            layout,
            wasm_dir,
            sets,
        } => render(&template, &filters, out.as_deref(), layout, wasm_dir, &sets),
        Command::Validate { files, module } => validate(&files, module),
        Command::Demo { layout } => demo::demo(layout),
        Command::Up {
            info_file,
            layout,
            port,
            admin_port,
            filters,
        } => demo::up(&Up {
            info_file,
            layout,
            port,
            admin_port,
            filters,
        }),
        Command::Providers { names } => providers(names),
        Command::Usage {
            files,
            by,
            agent_header,
            since,
            until,
            json,
            csv,
            max_groups,
        } => {
            let format = if json {
                Format::Json
            } else if csv {
                Format::Csv
            } else {
                Format::Table
            };
            usage(
                &files,
                Options {
                    by,
                    agent_header,
                    since,
                    until,
                    max_groups,
                },
                format,
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("llm-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

fn render(
    template: &Path,
    filters: &Path,
    out: Option<&Path>,
    layout: Layout,
    wasm_dir: Option<PathBuf>,
    sets: &[(String, String)],
) -> Result<(), String> {
    let wasm_dir = wasm_dir.unwrap_or_else(paths::wasm_dir);
    let mut template = Template::load(template, filters, layout, &wasm_dir)?;
    for (name, value) in sets {
        template.set(name, value);
    }
    match out {
        Some(out) => template.write(out),
        None => io::stdout()
            .write_all(template.render()?.as_bytes())
            .map_err(|e| format!("standard output: {e}")),
    }
}

fn validate(files: &[PathBuf], module: Option<Module>) -> Result<(), String> {
    let mut refused = 0;
    for file in files {
        let checked = if file.as_os_str() == "-" {
            read_stdin().and_then(|text| validate::check_text(&text, module))
        } else {
            validate::check_file(file, module)
        };
        let checked: Vec<Checked> = checked.map_err(|e| format!("{}: {e}", file.display()))?;
        for Checked {
            place,
            module,
            result,
        } in checked
        {
            let place = if place.is_empty() {
                String::new()
            } else {
                format!(" {place}:")
            };
            match result {
                Ok(()) => println!("{}:{place} {module}: ok", file.display()),
                Err(error) => {
                    refused += 1;
                    eprintln!("{}:{place} {error}", file.display());
                }
            }
        }
    }
    match refused {
        0 => Ok(()),
        1 => Err("1 configuration refused".to_owned()),
        n => Err(format!("{n} configurations refused")),
    }
}

fn read_stdin() -> Result<String, String> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("standard input: {e}"))?;
    Ok(text)
}

fn providers(names: bool) -> Result<(), String> {
    let text = if names {
        ProviderKind::ALL.map(ProviderKind::name).join("\n") + "\n"
    } else {
        format!("{:#}\n", providers::listing())
    };
    io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| format!("standard output: {e}"))
}

/// How `llm-gateway usage` prints its report.
enum Format {
    Table,
    Json,
    Csv,
}

fn usage(files: &[PathBuf], options: Options, format: Format) -> Result<(), String> {
    if let (Some(since), Some(until)) = (options.since, options.until) {
        if until <= since {
            return Err("--until must be later than --since".to_owned());
        }
    }
    let mut usage = Usage::new(options);
    if files.is_empty() {
        usage
            .read(io::stdin().lock())
            .map_err(|e| format!("standard input: {e}"))?;
    }
    for file in files {
        let read = if file.as_os_str() == "-" {
            usage.read(io::stdin().lock())
        } else {
            std::fs::File::open(file).and_then(|f| usage.read(f))
        };
        read.map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let report = match format {
        Format::Table => usage.to_table(),
        Format::Json => format!("{:#}\n", usage.to_json()),
        Format::Csv => usage.to_csv(),
    };
    io::stdout()
        .write_all(report.as_bytes())
        .map_err(|e| format!("standard output: {e}"))?;
    if usage.skipped_lines > 0 {
        eprintln!(
            "llm-gateway: skipped {} lines that are not audit records",
            usage.skipped_lines
        );
    }
    Ok(())
}
