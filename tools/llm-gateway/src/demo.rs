//! `llm-gateway demo` and `llm-gateway up`: the demo gateway, run until
//! SIGINT (Ctrl-C) or SIGTERM.

use crate::providers::variable_prefix;
use crate::stack::upstream_vars;
use crate::{paths, secrets};
use crate::{Layout, Stack, StackOptions};
use llm_api::ProviderKind;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The demo on 127.0.0.1:10000 (admin 9901), logs on the terminal, configs,
/// secrets and audit records kept in `build/demo`. `<P>_UPSTREAM` points a
/// provider at a real API (`OPENAI_UPSTREAM=https://api.openai.com`) and
/// `<P>_API_KEY` gives the key injected there.
pub fn demo(layout: Layout) -> Result<(), String> {
    let mut options = StackOptions::demo("demo");
    options.layout = layout;
    options.listener_port = 10000;
    options.admin_port = 9901;
    options.vars = upstream_overrides()?;
    for kind in ProviderKind::ALL {
        if let Ok(key) = std::env::var(format!("{}_API_KEY", variable_prefix(kind))) {
            options.provider_keys.insert(kind.name().to_owned(), key);
        }
    }
    options.inherit_output = true;
    options.keep_dir = Some(paths::root().join("build/demo"));
    let stack = Stack::start(options)?;
    print_banner(&stack);
    wait_for_signal();
    println!("stopping the demo");
    drop(stack);
    Ok(())
}

/// Template variables from `<P>_UPSTREAM` environment variables such as
/// `OPENAI_UPSTREAM=https://api.openai.com`.
fn upstream_overrides() -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for kind in ProviderKind::ALL {
        let prefix = variable_prefix(kind);
        if let Ok(url) = std::env::var(format!("{prefix}_UPSTREAM")) {
            vars.extend(
                upstream_vars(&prefix, &url).map_err(|e| format!("{prefix}_UPSTREAM: {e}"))?,
            );
        }
    }
    Ok(vars)
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

/// What `llm-gateway up` starts.
pub struct Up {
    /// Written (JSON: addresses, log paths, pids) once the stack is ready.
    pub info_file: PathBuf,
    pub layout: Layout,
    /// 0: a free port.
    pub port: u16,
    pub admin_port: u16,
    /// Another filter configuration than `envoy/filters/demo.json`.
    pub filters: Option<PathBuf>,
}

/// The demo on free ports (or the given ones), logs in files, for pytest
/// and the benchmarks: writes the info file once ready and runs until a
/// signal.
pub fn up(up: &Up) -> Result<(), String> {
    let mut options = StackOptions::demo("up");
    options.layout = up.layout;
    options.listener_port = up.port;
    options.admin_port = up.admin_port;
    if let Some(filters) = &up.filters {
        options.filters.clone_from(filters);
    }
    let stack = Stack::start(options)?;
    let info = serde_json::json!({
        "gateway": stack.gateway(),
        "admin": stack.envoy.admin,
        "fake_provider": stack.fake.http,
        "envoy_log": stack.envoy.process.log_path(),
        "fake_provider_log": stack.fake.process.log_path(),
        "collector_file": stack.fake.collector_file,
        "start_to_ready_ms": u64::try_from(stack.envoy.start_to_ready.as_millis()).unwrap_or(u64::MAX),
        "pid": std::process::id(),
        "envoy_pid": stack.envoy.process.pid(),
    });
    secrets::write_atomic(&up.info_file, &info.to_string())?;
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
