//! The pii-scan command-line tool, run as a built binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], input: &str) -> (String, String, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pii-scan"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code(),
    )
}

/// Each line of `--jsonl` output, parsed.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn jsonl_redacts_everything_by_default_with_offsets_into_the_input() {
    let input = "{\"text\": \"Mail jane.doe@example.com or call (415) 555-0132.\"}\n{\"text\": \"nothing here\"}\n";
    let (stdout, _, code) = run(&["--jsonl"], input);
    assert_eq!(code, Some(0));
    let lines = json_lines(&stdout);
    assert_eq!(
        lines,
        vec![
            serde_json::json!({"text": "Mail [EMAIL_REDACTED] or call [PHONE_REDACTED].", "findings": [
                {"entity": "EMAIL", "start": 5, "end": 25},
                {"entity": "PHONE", "start": 34, "end": 48}
            ]}),
            serde_json::json!({"text": "nothing here", "findings": []}),
        ]
    );
}

#[test]
fn config_selects_actions_per_entity() {
    let dir = std::env::temp_dir().join(format!("pii-scan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"default_action": "detect", "entities": {"EMAIL": "tokenize", "US_SSN": "block"}}"#,
    )
    .unwrap();
    let input =
        "{\"text\": \"a@x.io, b@y.io, a@x.io, 10.0.0.1\"}\n{\"text\": \"SSN 078-05-1120\"}\n";
    let (stdout, _, code) = run(&["--config", config.to_str().unwrap(), "--jsonl"], input);
    assert_eq!(code, Some(0));
    let lines = json_lines(&stdout);
    assert_eq!(
        lines[0]["text"],
        "<EMAIL_1>, <EMAIL_2>, <EMAIL_1>, 10.0.0.1"
    );
    assert_eq!(lines[0]["findings"].as_array().unwrap().len(), 4);
    assert_eq!(lines[1]["blocked"], serde_json::json!(["US_SSN"]));
    assert!(
        !stdout.contains("078-05-1120"),
        "a blocked value must not be echoed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plain_mode_redacts_stdin_to_stdout() {
    let (stdout, _, code) = run(
        &[],
        "key: sk-proj-Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z\nhost 10.0.0.1\n",
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "key: [SECRET_REDACTED]\nhost [IP_ADDRESS_REDACTED]\n"
    );
}

#[test]
fn bad_lines_and_bad_configs_are_reported() {
    let (stdout, _, code) = run(&["--jsonl"], "not json\n{\"text\": \"ok\"}\n");
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("\"error\""));
    let (_, stderr, code) = run(&["--config", "/nonexistent/pii.json"], "");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read"), "{stderr}");
    let (_, stderr, code) = run(&["--bogus"], "");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("usage"), "{stderr}");
}
