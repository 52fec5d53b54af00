//! `gateway-stack`: the demo gateway and config rendering from the command line.
//!
//! ```text
//! gateway-stack demo [--layout bundle|separate]
//!     The demo on 127.0.0.1:10000 (admin 9901), logs on the terminal; Ctrl-C stops it.
//!     OPENAI_UPSTREAM, ANTHROPIC_UPSTREAM, GEMINI_UPSTREAM, AZURE_UPSTREAM
//!     (e.g. https://api.openai.com) point a provider at a real API instead.
//! gateway-stack up --info-file FILE [--layout L] [--port N] [--admin-port N] [--filters FILE]
//!     The demo on free ports (or the given ones), logs in files; writes FILE
//!     (JSON: addresses, log paths) once ready and runs until killed. For pytest.
//! gateway-stack render --template T --filters F --out O [--layout L] [--wasm-dir D] [--set NAME=VALUE]...
//!     Renders an Envoy config template (see envoy/README.md).
//! ```

use gateway_harness::stack::{upstream_vars, PROVIDERS};
use gateway_harness::{paths, Layout, Stack, StackOptions, Template};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&Flags::parse(&args[1..])),
        Some("up") => up(&Flags::parse(&args[1..])),
        Some("render") => render(&Flags::parse(&args[1..])),
        _ => Err("usage: gateway-stack demo | up --info-file FILE | render --template T --filters F --out O".to_owned()),
    };
    if let Err(message) = result {
        eprintln!("gateway-stack: {message}");
        std::process::exit(1);
    }
}

/// `--name value` flags; `--set` may repeat.
struct Flags {
    values: BTreeMap<String, String>,
    sets: Vec<(String, String)>,
}

impl Flags {
    fn parse(args: &[String]) -> Flags {
        let mut flags = Flags {
            values: BTreeMap::new(),
            sets: Vec::new(),
        };
        for pair in args.chunks(2) {
            let (name, value) = (
                pair[0].trim_start_matches("--"),
                pair.get(1).cloned().unwrap_or_default(),
            );
            if name == "set" {
                if let Some((k, v)) = value.split_once('=') {
                    flags.sets.push((k.to_owned(), v.to_owned()));
                }
            } else {
                flags.values.insert(name.to_owned(), value);
            }
        }
        flags
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn layout(&self) -> Result<Layout, String> {
        self.get("layout").unwrap_or("bundle").parse()
    }

    fn port(&self, name: &str, default: u16) -> Result<u16, String> {
        self.get(name).map_or(Ok(default), |p| {
            p.parse().map_err(|_| format!("--{name}: not a port: {p}"))
        })
    }
}

/// Template variables from `<P>_UPSTREAM` environment variables such as
/// `OPENAI_UPSTREAM=https://api.openai.com`.
fn upstream_overrides() -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for provider in PROVIDERS {
        if let Ok(url) = std::env::var(format!("{provider}_UPSTREAM")) {
            vars.extend(
                upstream_vars(provider, &url).map_err(|e| format!("{provider}_UPSTREAM: {e}"))?,
            );
        }
    }
    Ok(vars)
}

fn demo(flags: &Flags) -> Result<(), String> {
    let dir = paths::root().join("build/demo");
    let mut options = StackOptions::demo("demo");
    options.layout = flags.layout()?;
    options.listener_port = 10000;
    options.admin_port = 9901;
    options.vars = upstream_overrides()?;
    // Real keys for providers pointed at real APIs, e.g. OPENAI_API_KEY.
    for provider in PROVIDERS {
        if let Ok(key) = std::env::var(format!("{provider}_API_KEY")) {
            options
                .provider_keys
                .insert(provider.to_ascii_lowercase(), key);
        }
    }
    options.inherit_output = true;
    options.keep_dir = Some(dir.clone());
    let stack = Stack::start(options)?;
    print_banner(&stack);
    wait_for_signal();
    println!("stopping the demo");
    drop(stack);
    Ok(())
}

fn print_banner(stack: &Stack) {
    let gw = stack.gateway();
    println!(
        r#"
==================================================================
 LLM gateway demo is up (Envoy ready in {ready} ms)
   gateway   http://{gw}      admin http://{admin}
   config    {config}
   audit     {audit}
 Try it:
   curl -s http://{gw}/v1/chat/completions -H 'Authorization: Bearer demo-key' \
     -H 'content-type: application/json' \
     -d '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"Hello"}}]}}'

   python3 -c 'from openai import OpenAI; c = OpenAI(base_url="http://{gw}/v1", api_key="demo-key"); print(c.chat.completions.create(model="gpt-4o-mini", messages=[{{"role":"user","content":"Hello"}}]).choices[0].message.content)'

   python3 -c 'import anthropic; c = anthropic.Anthropic(base_url="http://{gw}", api_key="demo-key"); print(c.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{{"role":"user","content":"Hello"}}]).content[0].text)'
 (the SDKs are in .venv: .venv/bin/python3). Ctrl-C stops everything.
=================================================================="#,
        ready = stack.envoy.start_to_ready.as_millis(),
        admin = stack.envoy.admin,
        config = stack.config.display(),
        audit = stack.fake.collector_file.display(),
    );
}

fn up(flags: &Flags) -> Result<(), String> {
    let info_file = PathBuf::from(flags.require("info-file")?);
    let mut options = StackOptions::demo("up");
    options.layout = flags.layout()?;
    options.listener_port = flags.port("port", 0)?;
    options.admin_port = flags.port("admin-port", 0)?;
    if let Some(filters) = flags.get("filters") {
        options.filters = PathBuf::from(filters);
    }
    let stack = Stack::start(options)?;
    let info = serde_json::json!({
        "gateway": stack.gateway(),
        "admin": stack.envoy.admin,
        "fake_provider": stack.fake.http,
        "envoy_log": stack.envoy.process.log_path(),
        "fake_provider_log": stack.fake.process.log_path(),
        "collector_file": stack.fake.collector_file,
        "start_to_ready_ms": stack.envoy.start_to_ready.as_millis() as u64,
        "pid": std::process::id(),
        "envoy_pid": stack.envoy.process.pid(),
    });
    let tmp = info_file.with_extension("tmp");
    std::fs::write(&tmp, info.to_string()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &info_file).map_err(|e| format!("{}: {e}", info_file.display()))?;
    wait_for_signal();
    drop(stack);
    Ok(())
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Returns once SIGINT (Ctrl-C) or SIGTERM arrives, so the stack is dropped
/// and its processes are stopped and reaped here. (Were this process killed
/// outright, its children would still die: they carry PR_SET_PDEATHSIG.)
fn wait_for_signal() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn render(flags: &Flags) -> Result<(), String> {
    let wasm_dir = flags
        .get("wasm-dir")
        .map(PathBuf::from)
        .unwrap_or_else(paths::wasm_dir);
    let mut template = Template::load(
        &PathBuf::from(flags.require("template")?),
        &PathBuf::from(flags.require("filters")?),
        flags.layout()?,
        &wasm_dir,
    )?;
    for (name, value) in &flags.sets {
        template.set(name, value);
    }
    template.write(&PathBuf::from(flags.require("out")?))
}
