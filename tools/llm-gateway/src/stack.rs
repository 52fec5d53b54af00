//! The fake providers and Envoy, started together on loopback ports.

// Indexing here is into `serde_json::Value`s (the fake provider's and
// Envoy's JSON answers): reading an absent member gives `Null` and never
// panics.
#![allow(clippy::indexing_slicing)]

use crate::paths;
use crate::process::{Output, Process};
use crate::providers::variable_prefix;
use crate::render::{Layout, Template};
use crate::secrets;
use llm_api::ProviderKind;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A small HTTP client for control and inspection calls (readiness, the fake
/// provider's records, Envoy's admin); the gateway itself is driven with curl
/// and the official SDKs.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GETs `url` and returns (status, body).
pub fn get(url: &str) -> Result<(u16, String), String> {
    let mut response = http()
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok((status, body))
}

/// A directory for one run's configs, certificates and logs. Removed when
/// dropped, except after a failure (a panicking thread), to be inspected.
pub struct RunDir {
    pub path: PathBuf,
    keep: bool,
}

impl RunDir {
    /// A fresh directory under `target/test-runs`.
    pub fn new(name: &str) -> Result<RunDir, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = paths::root()
            .join("target/test-runs")
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self::create(path, false)
    }

    /// A directory that outlives the run (the demo's logs and audit records).
    pub fn kept(path: PathBuf) -> Result<RunDir, String> {
        Self::create(path, true)
    }

    fn create(path: PathBuf, keep: bool) -> Result<RunDir, String> {
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(RunDir { path, keep })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn wait_for_file(path: &Path, process: &mut Process, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return Ok(text);
            }
        }
        process.check_alive()?;
        if Instant::now() > deadline {
            return Err(format!(
                "timed out waiting for {}{}",
                path.display(),
                process.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The fake provider server (`tests/fake-provider`).
pub struct FakeProvider {
    pub process: Process,
    /// `127.0.0.1:port` of the plain HTTP listener.
    pub http: String,
    /// `127.0.0.1:port` of the TLS listener, when started with certificates.
    pub tls: Option<String>,
    /// The JSON-lines file the audit collector appends to.
    pub collector_file: PathBuf,
}

/// Certificates from `fake-provider gen-certs`: a test CA and a server leaf.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// Generates a CA and a server certificate for `names` into `dir`.
    pub fn generate(dir: &Path, names: &[&str]) -> Result<Certs, String> {
        let status = Command::new(paths::fake_provider())
            .args(["gen-certs", "--out"])
            .arg(dir)
            .args(["--names", &names.join(",")])
            .status()
            .map_err(|e| format!("fake-provider gen-certs: {e}"))?;
        if !status.success() {
            return Err(format!("fake-provider gen-certs failed: {status}"));
        }
        Ok(Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        })
    }
}

impl FakeProvider {
    /// Starts the fake providers on free ports, with a TLS listener when
    /// `certs` are given. `output` is its log.
    pub fn start(
        dir: &Path,
        certs: Option<&Certs>,
        output: Output,
    ) -> Result<FakeProvider, String> {
        let ready = dir.join("fake-provider.ready.json");
        // A kept directory (the demo's) holds the last run's file.
        let _ = std::fs::remove_file(&ready);
        let collector_file = dir.join("audit-records.jsonl");
        let mut command = Command::new(paths::fake_provider());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready);
        command.arg("--collector-file").arg(&collector_file);
        if let Some(certs) = certs {
            command
                .args(["--tls-listen", "127.0.0.1:0", "--tls-cert"])
                .arg(&certs.cert)
                .arg("--tls-key")
                .arg(&certs.key);
        }
        let mut process =
            Process::spawn("fake-provider", &mut command, output).map_err(|e| e.to_string())?;
        let info: Value = serde_json::from_str(&wait_for_file(
            &ready,
            &mut process,
            Duration::from_secs(10),
        )?)
        .map_err(|e| format!("fake-provider ready file: {e}"))?;
        let http = info["http"]
            .as_str()
            .ok_or("fake-provider ready file has no http address")?
            .to_owned();
        let tls = info["tls"].as_str().map(str::to_owned);
        Ok(FakeProvider {
            process,
            http,
            tls,
            collector_file,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The requests the fake providers received, oldest first.
    pub fn requests(&self) -> Result<Vec<Value>, String> {
        let (_, body) = get(&self.url("/__requests"))?;
        let value: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(value["requests"].as_array().cloned().unwrap_or_default())
    }

    /// Queues `fault` (the `x-fake-fault` syntax) for the next `count`
    /// requests whose path starts with `path_prefix`.
    pub fn queue_fault(&self, fault: &str, count: u32, path_prefix: &str) -> Result<(), String> {
        http()
            .post(&self.url("/__control/faults"))
            .send_json(
                serde_json::json!({"fault": fault, "count": count, "path_prefix": path_prefix}),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The audit records the collector stored, once it holds at least `n`
    /// or `timeout` has passed (the audit filter sends batches from a timer).
    pub fn collected_records(&self, n: usize, timeout: Duration) -> Result<Vec<Value>, String> {
        wait_for_json_lines(&self.collector_file, n, timeout)
    }

    pub fn clear_requests(&self) -> Result<(), String> {
        http()
            .delete(&self.url("/__requests"))
            .call()
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// How long Envoy may take from start to ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running Envoy.
pub struct Envoy {
    pub process: Process,
    /// `127.0.0.1:port` of the admin interface.
    pub admin: String,
    /// Listener name → `127.0.0.1:port`.
    pub listeners: BTreeMap<String, String>,
    /// From spawning the process to `/ready` answering 200.
    pub start_to_ready: Duration,
}

impl Envoy {
    /// Starts Envoy on `config` with `concurrency` workers and waits until it
    /// is ready. Listener and admin ports may be 0; the bound ones are read
    /// back from the admin interface.
    pub fn start(
        config: &Path,
        dir: &Path,
        concurrency: u32,
        output: Output,
    ) -> Result<Envoy, String> {
        let admin_file = dir.join("envoy-admin-address");
        let _ = std::fs::remove_file(&admin_file);
        let mut command = Command::new(paths::envoy());
        command
            .arg("-c")
            .arg(config)
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--disable-hot-restart",
            ])
            .args([
                "--log-level",
                "info",
                "--component-log-level",
                "upstream:warning,main:warning,config:warning",
            ])
            .arg("--admin-address-path")
            .arg(&admin_file);
        let started = Instant::now();
        let mut process =
            Process::spawn("envoy", &mut command, output).map_err(|e| e.to_string())?;
        // V8 compiles every module eagerly in every VM: with the separate
        // modules and several Envoys starting at once on two loaded cores
        // that has taken over 30 s.
        let admin = wait_for_file(&admin_file, &mut process, READY_TIMEOUT)?
            .trim()
            .to_owned();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok((200, _)) = get(&format!("http://{admin}/ready")) {
                break;
            }
            process.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "envoy not ready after {} s{}",
                    READY_TIMEOUT.as_secs(),
                    process.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let start_to_ready = started.elapsed();
        let listeners = Self::read_listeners(&admin)?;
        Ok(Envoy {
            process,
            admin,
            listeners,
            start_to_ready,
        })
    }

    fn read_listeners(admin: &str) -> Result<BTreeMap<String, String>, String> {
        let (_, body) = get(&format!("http://{admin}/listeners?format=json"))?;
        let value: Value =
            serde_json::from_str(&body).map_err(|e| format!("admin /listeners: {e}"))?;
        let mut listeners = BTreeMap::new();
        for status in value["listener_statuses"].as_array().into_iter().flatten() {
            let socket = &status["local_address"]["socket_address"];
            if let (Some(name), Some(address), Some(port)) = (
                status["name"].as_str(),
                socket["address"].as_str(),
                socket["port_value"].as_u64(),
            ) {
                listeners.insert(name.to_owned(), format!("{address}:{port}"));
            }
        }
        Ok(listeners)
    }

    /// The value of a counter or gauge from the admin `/stats` endpoint.
    pub fn stat(&self, name: &str) -> Result<Option<u64>, String> {
        let (_, body) = get(&format!(
            "http://{}/stats?filter=^{}$",
            self.admin,
            name.replace('.', "\\.")
        ))?;
        Ok(body
            .lines()
            .find_map(|line| {
                line.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(": "))
            })
            .and_then(|v| v.trim().parse().ok()))
    }

    /// Envoy's `/stats/prometheus` page.
    pub fn prometheus(&self) -> Result<String, String> {
        Ok(get(&format!("http://{}/stats/prometheus", self.admin))?.1)
    }

    /// Envoy's log so far (tests only: the demo logs to the terminal).
    pub fn log(&self) -> String {
        self.process
            .log_path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
}

/// The JSON lines of `path` (a file another process appends to), once it
/// holds at least `n` or `timeout` has passed. A last line still being
/// written is left for the next look; any other line that is not JSON is an
/// error.
fn wait_for_json_lines(path: &Path, n: usize, timeout: Duration) -> Result<Vec<Value>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        let lines = whole
            .lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
            })
            .collect::<Result<Vec<Value>, String>>()?;
        if lines.len() >= n || Instant::now() >= deadline {
            return Ok(lines);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The file in the run directory where Envoy's access log writes each
/// call's audit record (the template's `AUDIT_LOG`).
pub const AUDIT_LOG: &str = "audit-log.jsonl";

/// The template variables that point `provider` (its variable prefix, e.g.
/// `OPENAI`: [`variable_prefix`]) at `url`
/// (`http(s)://host[:port]`), with TLS origination for https.
pub fn upstream_vars(provider: &str, url: &str) -> Result<BTreeMap<String, String>, String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        _ => return Err(format!("expected http(s)://host[:port], got {url}")),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.to_owned()),
        None => (authority, if tls { "443" } else { "80" }.to_owned()),
    };
    let mut vars = BTreeMap::from([
        (format!("{provider}_HOST"), host.to_owned()),
        (format!("{provider}_PORT"), port),
    ]);
    if tls {
        vars.insert(format!("{provider}_TLS_SNI"), host.to_owned());
    }
    Ok(vars)
}

/// What to start.
pub struct StackOptions {
    pub name: String,
    pub template: PathBuf,
    pub filters: PathBuf,
    pub layout: Layout,
    pub listener_port: u16,
    pub admin_port: u16,
    pub concurrency: u32,
    /// Extra template variables (override the ones the stack sets).
    pub vars: BTreeMap<String, String>,
    /// Send logs to the terminal (the demo) instead of files in the run dir.
    pub inherit_output: bool,
    /// A directory to keep configs, logs and audit records in, instead of a
    /// fresh one removed after the run.
    pub keep_dir: Option<PathBuf>,
    /// Provider name → the key injected upstream (default `sk-demo-<name>`).
    pub provider_keys: BTreeMap<String, String>,
    /// Where the `.wasm` files come from (`build/wasm`, or the crash
    /// bundle's directory in the VM failure tests).
    pub wasm_dir: PathBuf,
}

impl StackOptions {
    /// The demo configuration on free ports, logging to files: what tests use.
    pub fn demo(name: &str) -> StackOptions {
        StackOptions {
            name: name.to_owned(),
            template: paths::envoy_dir().join("demo.yaml"),
            filters: paths::envoy_dir().join("filters/demo.json"),
            layout: Layout::Bundle,
            listener_port: 0,
            admin_port: 0,
            concurrency: 2,
            vars: BTreeMap::new(),
            inherit_output: false,
            keep_dir: None,
            provider_keys: BTreeMap::new(),
            wasm_dir: paths::wasm_dir(),
        }
    }
}

impl StackOptions {
    /// The demo with its filter configuration changed by `edit`: the new
    /// configuration is written into `dir`, which must outlive the start.
    pub fn demo_with_filters(
        name: &str,
        dir: &RunDir,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Result<StackOptions, String> {
        let mut options = StackOptions::demo(name);
        let text = std::fs::read_to_string(&options.filters)
            .map_err(|e| format!("{}: {e}", options.filters.display()))?;
        let mut filters: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| e.to_string())?;
        edit(&mut filters);
        options.filters = dir.path.join("filters.json");
        std::fs::write(&options.filters, filters.to_string())
            .map_err(|e| format!("{}: {e}", options.filters.display()))?;
        Ok(options)
    }
}

/// The key the demo injects for `provider` when no real one is given: the
/// fake providers accept anything, and tests look for it upstream.
pub fn demo_provider_key(provider: &str) -> String {
    format!("sk-demo-{provider}")
}

/// The demo gateway: fake providers behind a real Envoy.
pub struct Stack {
    // Field order is drop order: Envoy stops before its upstreams, and the
    // run directory goes last.
    pub envoy: Envoy,
    pub fake: FakeProvider,
    pub config: PathBuf,
    pub dir: RunDir,
}

impl Stack {
    pub fn start(options: StackOptions) -> Result<Stack, String> {
        let dir = match &options.keep_dir {
            Some(path) => RunDir::kept(path.clone())?,
            None => RunDir::new(&options.name)?,
        };
        let output = |name: &str| -> PathBuf { dir.path.join(name) };
        let fake_log = output("fake-provider.log");
        let fake = FakeProvider::start(
            &dir.path,
            None,
            if options.inherit_output {
                Output::Inherit
            } else {
                Output::File(&fake_log)
            },
        )?;
        let (fake_host, fake_port) = fake
            .http
            .rsplit_once(':')
            .ok_or("bad fake-provider address")?;
        let mut template = Template::load(
            &options.template,
            &options.filters,
            options.layout,
            &options.wasm_dir,
        )?;
        let secrets = dir.path.join("secrets");
        std::fs::create_dir_all(&secrets).map_err(|e| format!("{}: {e}", secrets.display()))?;
        secrets::write_client_keys(&secrets, &secrets::DEMO_CLIENTS)?;
        // The demo names each provider after its kind.
        for kind in ProviderKind::ALL {
            let provider = kind.name();
            let key = options
                .provider_keys
                .get(provider)
                .cloned()
                .unwrap_or_else(|| demo_provider_key(provider));
            secrets::write_provider_key(&secrets, provider, &key)?;
        }
        template.set("SECRETS_DIR", secrets.display());
        template
            .set("LISTENER_PORT", options.listener_port)
            .set("ADMIN_PORT", options.admin_port);
        template.set("COLLECTOR_PORT", fake_port);
        template.set("AUDIT_LOG", dir.path.join(AUDIT_LOG).display());
        for kind in ProviderKind::ALL {
            let prefix = variable_prefix(kind);
            template
                .set(&format!("{prefix}_HOST"), fake_host)
                .set(&format!("{prefix}_PORT"), fake_port);
        }
        for (name, value) in &options.vars {
            template.set(name, value);
        }
        let config = dir.path.join("envoy.yaml");
        template.write(&config)?;
        let envoy_log = output("envoy.log");
        let envoy = Envoy::start(
            &config,
            &dir.path,
            options.concurrency,
            if options.inherit_output {
                Output::Inherit
            } else {
                Output::File(&envoy_log)
            },
        )?;
        Ok(Stack {
            envoy,
            fake,
            config,
            dir,
        })
    }

    /// The gateway listener's address.
    pub fn gateway(&self) -> &str {
        self.envoy
            .listeners
            .get("gateway")
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway())
    }

    /// The audit records Envoy's access log wrote, in order, once there are
    /// at least `n` or `timeout` has passed (Envoy flushes its log files
    /// from a buffer, about every second).
    pub fn access_log_records(&self, n: usize, timeout: Duration) -> Result<Vec<Value>, String> {
        wait_for_json_lines(&self.dir.path.join(AUDIT_LOG), n, timeout)
    }

    /// Where the running gateway reads its secrets from.
    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.path.join("secrets")
    }
}
