//! Every Envoy config in the repository passes `envoy --mode validate` (which
//! loads the wasm VMs and runs the filters' configuration), and a bad filter
//! configuration is refused at load with an error naming the field. The
//! `llm-gateway` tool renders the same configs and, without Envoy, accepts
//! and refuses the same filter configurations.

use gateway_harness::paths;
use gateway_harness::process::{Output, Process};
use gateway_harness::stack::{Envoy, RunDir};
use gateway_harness::{tool, Layout, Template};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The config templates and the filter configuration each is rendered with.
const TEMPLATES: [(&str, &str); 2] = [
    ("demo.yaml", "filters/demo.json"),
    ("production.yaml", "filters/production.json"),
];

fn render(dir: &Path, template: &str, filters: Value, layout: Layout) -> std::path::PathBuf {
    let envoy = paths::envoy_dir();
    let mut t = Template::load(
        &envoy.join(template),
        &envoy.join("filters/demo.json"),
        layout,
        &paths::wasm_dir(),
    )
    .unwrap();
    t.filters = filters;
    t.set("SECRETS_DIR", envoy.join("secrets").display());
    let out = dir.join(format!("{template}-{layout:?}.yaml"));
    t.write(&out).unwrap();
    out
}

/// Runs `envoy --mode validate` and returns (success, output).
fn validate(config: &Path) -> (bool, String) {
    let out = Command::new(paths::envoy())
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn filters(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(paths::envoy_dir().join(file)).unwrap()).unwrap()
}

#[test]
fn every_config_validates_in_both_layouts() {
    let dir = RunDir::new("configs-valid").unwrap();
    for (template, filter_file) in TEMPLATES {
        for layout in [Layout::Bundle, Layout::Separate] {
            let config = render(&dir.path, template, filters(filter_file), layout);
            let (ok, output) = validate(&config);
            assert!(ok, "{template} ({layout:?}) does not validate:\n{output}");
        }
    }
}

/// A demo filter configuration with one bad field, and the field's path as
/// the error must name it.
fn bad_configs() -> Vec<(Value, &'static str)> {
    let mut bad_header = filters("filters/demo.json");
    bad_header["audit"]["client_headers"] = json!(["x-agent-id", "Not A Header"]);
    let mut bad_action = filters("filters/demo.json");
    bad_action["pii_scan"]["entities"] = json!({"EMAIL": "shred"});
    let mut bad_counting = filters("filters/demo.json");
    bad_counting["token_limit"]["counting"] = json!("guess");
    let mut bad_default = filters("filters/demo.json");
    bad_default["route_translate"]["default_provider"] = json!("mistral");
    vec![
        (bad_header, "field `client_headers[1]`"),
        (bad_action, "field `entities.EMAIL`"),
        (bad_counting, "field `counting`"),
        (bad_default, "field `default_provider`"),
    ]
}

#[test]
fn validate_mode_rejects_bad_filter_configs_naming_the_field() {
    let dir = RunDir::new("configs-bad").unwrap();
    for layout in [Layout::Bundle, Layout::Separate] {
        for (filters, field) in bad_configs() {
            let config = render(&dir.path, "demo.yaml", filters, layout);
            let (ok, output) = validate(&config);
            assert!(!ok, "{layout:?}: a config with a bad {field} validated");
            assert!(
                output.contains(field),
                "{layout:?}: the error does not name {field}:\n{output}"
            );
        }
    }
}

/// `llm-gateway render` of every template in both layouts writes the config
/// the tests above give Envoy, and `llm-gateway validate` finds every
/// module's configuration in it and accepts it, as it accepts the filter
/// configurations themselves.
#[test]
fn the_tool_renders_and_validates_every_shipped_config() {
    let dir = RunDir::new("configs-tool").unwrap();
    let envoy = paths::envoy_dir();
    let secrets = envoy.join("secrets");
    for (template, filter_file) in TEMPLATES {
        let filter_path = envoy.join(filter_file).display().to_string();
        let run = tool::run(&["validate", &filter_path]);
        assert!(run.success, "{run:?}");
        assert_eq!(run.stdout, format!("{filter_path}: llm_gateway: ok\n"));
        for (layout, flag, modules) in [
            (Layout::Bundle, "bundle", &["llm_gateway"][..]),
            (
                Layout::Separate,
                "separate",
                &["audit", "pii_scan", "token_limit", "route_translate"][..],
            ),
        ] {
            let out = dir.path.join(format!("{template}-{flag}-by-the-tool.yaml"));
            let run = tool::run(&[
                "render",
                "--template",
                &envoy.join(template).display().to_string(),
                "--filters",
                &filter_path,
                "--layout",
                flag,
                "--set",
                &format!("SECRETS_DIR={}", secrets.display()),
                "--out",
                &out.display().to_string(),
            ]);
            assert!(run.success, "{run:?}");
            let by_the_library = render(&dir.path, template, filters(filter_file), layout);
            assert_eq!(
                std::fs::read_to_string(&out).unwrap(),
                std::fs::read_to_string(&by_the_library).unwrap(),
                "{template} {flag}"
            );
            let run = tool::run(&["validate", &out.display().to_string()]);
            assert!(run.success, "{template} {flag}: {run:?}");
            let found: BTreeSet<&str> = run
                .stdout
                .lines()
                .map(|line| {
                    line.strip_suffix(": ok")
                        .unwrap()
                        .rsplit(": ")
                        .next()
                        .unwrap()
                })
                .collect();
            assert_eq!(
                found,
                modules.iter().copied().collect(),
                "{template} {flag}"
            );
            // The downstream filters and each provider cluster's translate filter.
            assert!(
                run.stdout.lines().count() >= modules.len() + 4,
                "{template} {flag}: {}",
                run.stdout
            );
        }
    }
}

/// Each bad configuration Envoy refuses, the tool refuses too, naming the
/// same field: as a filter configuration and inside a rendered config of
/// either layout.
#[test]
fn the_tool_refuses_bad_filter_configs_naming_the_field() {
    let dir = RunDir::new("configs-tool-bad").unwrap();
    for (i, (filters, field)) in bad_configs().into_iter().enumerate() {
        let file = dir.path.join(format!("bad-{i}.json"));
        std::fs::write(&file, filters.to_string()).unwrap();
        let mut files = vec![file];
        for layout in [Layout::Bundle, Layout::Separate] {
            files.push(render(&dir.path, "demo.yaml", filters.clone(), layout));
        }
        for file in files {
            let run = tool::run(&["validate", &file.display().to_string()]);
            assert!(
                !run.success && run.stderr.contains(field),
                "{}: {field} not refused: {run:?}",
                file.display()
            );
        }
    }
}

#[test]
fn envoy_refuses_to_start_on_a_bad_filter_config() {
    let dir = RunDir::new("configs-start").unwrap();
    let (filters, field) = bad_configs().remove(0);
    let config = render(&dir.path, "demo.yaml", filters, Layout::Bundle);
    let log = dir.path.join("envoy.log");
    let mut envoy = Process::spawn(
        "envoy",
        Command::new(paths::envoy())
            .args(["--disable-hot-restart", "-c"])
            .arg(&config),
        Output::File(&log),
    )
    .unwrap();
    let status = envoy
        .wait_exit(Duration::from_secs(30))
        .expect("Envoy kept running with a bad filter config");
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("invalid audit configuration") && text.contains(field),
        "{text}"
    );
    // And a good config starts (the same render path, so the failure above is the filter's).
    let good = render(
        &dir.path,
        "demo.yaml",
        self::filters("filters/demo.json"),
        Layout::Bundle,
    );
    let started = Envoy::start(
        &good,
        &dir.path,
        1,
        Output::File(&dir.path.join("good.log")),
    );
    assert!(started.is_ok(), "{:?}", started.err());
}
