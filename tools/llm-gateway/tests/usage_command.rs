//! `llm-gateway usage` as an operator runs it, over the known audit file
//! (tests/fixtures/audit-records.jsonl): a time range, CSV by team and the
//! refusals of arguments that cannot go together.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::{Command, Output};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/audit-records.jsonl"
);

fn usage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
        .arg("usage")
        .args(args)
        .arg(FIXTURE)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn csv_by_team_over_a_time_range() {
    // The fixture's calls start between 18:10:05.205 and 18:10:05.566.
    let all = stdout(&usage(&["--csv", "--by", "team"]));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(
        lines[0],
        "team,requests,errors,input_tokens,output_tokens,total_tokens,cost_usd"
    );
    let requests = |line: &str| line.split(',').nth(1).unwrap().parse::<u64>().unwrap();
    let platform = lines.iter().find(|l| l.starts_with("platform,")).unwrap();
    let research = lines.iter().find(|l| l.starts_with("research,")).unwrap();
    assert_eq!((requests(platform), requests(research)), (15, 2));
    assert_eq!(lines.len(), 3, "a header and one line per team: {all}");

    let range = [
        "--json",
        "--by",
        "team",
        "--since",
        "2026-12-07T18:10:05.250Z",
        "--until",
        "2026-12-07T18:10:05.438Z",
    ];
    let report: serde_json::Value = serde_json::from_str(&stdout(&usage(&range))).unwrap();
    // .250 .277 .291 .301 .320 .332 .421 (.438 is the end, left out).
    assert_eq!(report["total"]["requests"], 7);
    assert_eq!(
        (report["earlier"].as_u64(), report["later"].as_u64()),
        (Some(3), Some(7))
    );
}

#[test]
fn arguments_that_cannot_go_together_are_refused() {
    let backwards = usage(&[
        "--since",
        "2026-12-08T00:00:00Z",
        "--until",
        "2026-12-07T00:00:00Z",
    ]);
    assert!(!backwards.status.success());
    assert!(
        String::from_utf8_lossy(&backwards.stderr).contains("--until must be later than --since"),
        "{backwards:?}"
    );
    let both = usage(&["--json", "--csv"]);
    assert!(!both.status.success(), "{both:?}");
    let unknown = usage(&["--until", "yesterday-ish"]);
    assert!(!unknown.status.success(), "{unknown:?}");
}
