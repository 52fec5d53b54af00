//! Every Envoy config in the repository passes `envoy --mode validate` (which
//! loads the wasm VMs and runs the filters' configuration), and a bad filter
//! configuration is refused at load with an error naming the field.

use gateway_harness::paths;
use gateway_harness::process::{Output, Process};
use gateway_harness::stack::{Envoy, RunDir};
use gateway_harness::{Layout, Template};
use serde_json::{json, Value};
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
    bad_default["provider_rewrite"]["default_provider"] = json!("mistral");
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
