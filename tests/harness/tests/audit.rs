//! Audit records through a real Envoy: exactly one per request whatever the
//! outcome, delivered to the demo's collector, surviving a collector outage,
//! and never holding prompt text, keys or PII values; `llm-gateway usage`
//! over them.

use gateway_harness::client::post;
use gateway_harness::curl::{curl, post_json, Response, DEMO_AUTH};
use gateway_harness::stack::AUDIT_LOG;
use gateway_harness::{tool, RunDir, Stack, StackOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Text that must never appear in a record or a log line.
const CANARY: &str = "PROMPT-CANARY-7731";
const EMAIL: &str = "jane.canary@example.com";

fn chat(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"{CANARY} mail {EMAIL}"}}]}}"#
    )
}

/// Waits until the collector holds `n` records and returns them by request id.
fn records(stack: &Stack, n: usize) -> BTreeMap<String, Value> {
    let lines = stack
        .fake
        .collected_records(n, Duration::from_secs(20))
        .unwrap();
    assert_eq!(lines.len(), n, "records: {lines:?}");
    lines
        .into_iter()
        .map(|r| (r["request_id"].as_str().unwrap().to_owned(), r))
        .collect()
}

/// `llm-gateway usage --json` by client, agent and provider over `file`.
fn usage_report(file: &Path) -> Value {
    let run = tool::run(&[
        "usage",
        "--json",
        "--by",
        "client,agent,provider",
        &file.display().to_string(),
    ]);
    assert!(run.success, "{run:?}");
    assert_eq!(run.stderr, "", "every line is a record");
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn one_record_per_request_whatever_the_outcome_and_no_content() {
    let dir = RunDir::new("audit-outcomes-filters").unwrap();
    let options = StackOptions::demo_with_filters("audit-outcomes", &dir, |filters| {
        filters["pii_scan"]["entities"] = serde_json::json!({"US_SSN": "block"});
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let ok = post_json(&url, &chat("gpt-4o-mini"), &["-H", "x-agent-id: agent-7"]).unwrap();
    let streamed = post(
        &stack,
        "/v1/messages",
        &format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":32,"stream":true,"messages":[{{"role":"user","content":"{CANARY}"}}]}}"#
        ),
        &["-N"],
    );
    let unknown = post_json(&url, &chat("gpt-9"), &[]).unwrap();
    let upstream_400 = post_json(
        &url,
        &chat("gpt-4o-mini"),
        &["-H", "x-fake-fault: status=400"],
    )
    .unwrap();
    // A 5xx is retried once on the same provider, then reaches the client.
    let upstream_500 = post_json(
        &url,
        &chat("claude-sonnet-4-5"),
        &["-H", "x-fake-fault: status=500"],
    )
    .unwrap();
    // ~1,300 tokens each against the demo-limited agent's 2,000 a minute.
    let big = chat("gpt-4o-mini").replace("mail", &"quick ".repeat(1300));
    let limited = ["-H", "x-agent-id: demo-limited"];
    let admitted = post_json(&url, &big, &limited).unwrap();
    let rejected = post_json(&url, &big, &limited).unwrap();
    let blocked = post_json(
        &url,
        &chat("gpt-4o-mini").replace("mail", "SSN 123-45-6789 mail"),
        &[],
    )
    .unwrap();
    // OpenAI fails, Azure serves.
    stack
        .fake
        .queue_fault("status=503", 1, "/v1/chat/completions")
        .unwrap();
    let fell_back = post_json(&url, &chat("gpt-4o-mini"), &[]).unwrap();
    let statuses = [
        &ok,
        &streamed,
        &unknown,
        &upstream_400,
        &upstream_500,
        &admitted,
        &rejected,
        &blocked,
        &fell_back,
    ]
    .map(|r| r.status);
    assert_eq!(statuses, [200, 200, 400, 400, 500, 200, 429, 400, 200]);
    // The client gives up while the provider is still thinking.
    let aborted = curl(&[
        &url,
        "-H",
        DEMO_AUTH,
        "-H",
        "x-fake-fault: delay=3s",
        "-H",
        "x-request-id: aborted-call",
        "--max-time",
        "0.5",
        "--data-binary",
        &chat("gpt-4o-mini"),
    ]);
    assert!(aborted.is_err(), "curl gave up");

    let records = records(&stack, 10);
    let ok_record = &records[&ok.request_id()];
    assert_eq!(ok_record["status"], 200);
    assert_eq!(ok_record["provider"], "openai");
    assert_eq!(
        (
            ok_record["attempts"].as_u64(),
            ok_record["fallback_from"].as_str()
        ),
        (Some(1), None)
    );
    assert_eq!(ok_record["model"]["requested"], "gpt-4o-mini");
    assert_eq!(ok_record["client"]["id"], "demo");
    assert_eq!(ok_record["client"]["team"], "platform");
    assert_eq!(ok_record["client"]["x-agent-id"], "agent-7");
    assert!(ok_record["tokens"]["usage"]["total"].as_u64().unwrap() > 0);
    assert!(ok_record["tokens"]["input_estimated"].as_u64().unwrap() > 0);
    assert!(ok_record["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(ok_record["pii"][0]["entity"], "EMAIL");
    assert_eq!(ok_record["schema_version"], 1);
    assert!(
        ok_record["duration_ms"].is_u64()
            && ok_record["timestamp"].as_str().unwrap().ends_with('Z')
    );

    let stream_record = &records[&streamed.request_id()];
    assert_eq!(stream_record["stream"], true);
    assert_eq!(stream_record["api"], "anthropic_messages");
    assert!(
        stream_record["tokens"]["usage"]["output"].as_u64().unwrap() > 0,
        "usage from the stream"
    );
    assert!(stream_record["time_to_first_token_ms"].is_u64());

    let outcome = |response: &Response| {
        let record = &records[&response.request_id()];
        (
            record["status"].as_u64(),
            record["error_type"].as_str().map(str::to_owned),
            record["attempts"].as_u64(),
        )
    };
    assert_eq!(
        outcome(&unknown),
        (Some(400), Some("invalid_request_error".into()), None),
        "never went upstream"
    );
    assert_eq!(outcome(&upstream_400).0, Some(400));
    assert_eq!(
        outcome(&upstream_500),
        (Some(500), Some("server_error".into()), Some(2)),
        "one retry"
    );
    assert_eq!(
        outcome(&rejected),
        (Some(429), Some("rate_limit_exceeded".into()), None)
    );
    assert_eq!(
        records[&rejected.request_id()]["ratelimit"]["key"],
        "client=demo;agent=demo|demo-limited"
    );
    assert_eq!(outcome(&blocked).0, Some(400));
    assert!(records[&blocked.request_id()]["pii"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["entity"] == "US_SSN" && f["action"] == "block"));
    let fallback = &records[&fell_back.request_id()];
    assert_eq!(
        (
            fallback["provider"].as_str(),
            fallback["fallback_from"].as_str()
        ),
        (Some("azure"), Some("openai"))
    );
    assert_eq!(fallback["attempts"], 2);
    let aborted = records
        .values()
        .find(|r| r["client_request_id"] == "aborted-call")
        .expect("the aborted call's record");
    assert_eq!(
        (aborted["status"].as_u64(), aborted["error_type"].as_str()),
        (None, Some("client_aborted"))
    );

    // Envoy's access log carries the same records, for operators who ship
    // logs.
    let logged: Vec<String> = stack
        .access_log_records(10, Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged.len(), 10, "one line per call");
    assert!(logged.iter().all(|id| records.contains_key(id)));

    // `llm-gateway usage` over either source sums what the records hold.
    let access_log = stack.dir.path.join(AUDIT_LOG);
    let report = usage_report(&stack.fake.collector_file);
    assert_eq!(
        report,
        usage_report(&access_log),
        "the same from both sources"
    );
    assert_eq!(report["total"]["requests"], 10);
    let mut expected: BTreeMap<Vec<String>, (u64, u64, u64, f64)> = BTreeMap::new();
    for record in records.values() {
        let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
        let key = vec![
            text(&record["client"]["id"]),
            text(&record["client"]["x-agent-id"]),
            text(&record["provider"]),
        ];
        let sums = expected.entry(key).or_default();
        sums.0 += 1;
        sums.1 += u64::from(!(200..400).contains(&record["status"].as_u64().unwrap_or(0)));
        sums.2 += record["tokens"]["usage"]["total"].as_u64().unwrap_or(0);
        sums.3 += record["cost_usd"].as_f64().unwrap_or(0.0);
    }
    let rows: BTreeMap<Vec<String>, (u64, u64, u64, f64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let key = ["client", "agent", "provider"].map(|d| row[d].as_str().unwrap().to_owned());
            let number = |name: &str| row[name].as_u64().unwrap();
            (
                key.to_vec(),
                (
                    number("requests"),
                    number("errors"),
                    number("total_tokens"),
                    row["cost_usd"].as_f64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (key, (requests, errors, tokens, cost)) in &expected {
        let row = &rows[key];
        assert_eq!(
            (row.0, row.1, row.2),
            (*requests, *errors, *tokens),
            "{key:?}"
        );
        assert!((row.3 - cost).abs() < 1e-9, "{key:?}: {} != {cost}", row.3);
    }
    assert!(
        expected.contains_key(["demo", "agent-7", "openai"].map(String::from).as_slice())
            && expected.values().any(|sums| sums.1 > 0),
        "agents, providers and failures are all in the report: {expected:?}"
    );
    let table = tool::run(&[
        "usage",
        "--by",
        "client,agent,provider",
        &stack.fake.collector_file.display().to_string(),
    ]);
    assert!(
        table.success && table.stdout.lines().count() == rows.len() + 2,
        "{table:?}"
    );

    let everything = [
        std::fs::read_to_string(&stack.fake.collector_file).unwrap(),
        std::fs::read_to_string(&access_log).unwrap(),
        stack.envoy.log(),
        std::fs::read_to_string(stack.fake.process.log_path().unwrap()).unwrap(),
        report.to_string(),
        table.stdout,
    ]
    .concat();
    // Prompt text, completion text (the fake providers' answers), keys and
    // PII values.
    for secret in [
        CANARY,
        EMAIL,
        "123-45-6789",
        "Hello from the fake",
        "demo-key",
        "sk-demo-openai",
        "sk-demo-anthropic",
        "sk-demo-azure",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} appears in a record or a log"
        );
    }
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.llm_gateway.audit.records_sent")
            .unwrap(),
        Some(10)
    );
    let prometheus = stack.envoy.prometheus().unwrap();
    for line in [
        r#"llm_gateway_pii_scan_findings{entity="US_SSN",action="block"} 1"#,
        r#"llm_gateway_gen_ai_requests{provider="anthropic",status="500",team="platform",client="demo",model="claude-sonnet-4-5"} 1"#,
        r#"llm_gateway_gen_ai_requests{provider="azure",status="200",team="platform",client="demo",model="gpt-4o-mini"} 1"#,
        "llm_gateway_token_limit_rejected{} 1",
        "llm_gateway_audit_records_sent{} 10",
    ] {
        assert!(prometheus.contains(line), "{line} missing");
    }
}

/// Each provider format, whole and streamed: the record's usage is what the
/// provider reported and its cost is that usage at the model's list price;
/// the GenAI metrics on `/stats/prometheus` add up to the records.
#[test]
fn usage_cost_and_metrics_for_every_provider_format() {
    let stack = Stack::start(StackOptions::demo("audit-usage")).unwrap_or_else(|e| panic!("{e}"));
    // (path, model, $/M input, $/M output, provider, upstream model)
    let cases = [
        (
            "/v1/chat/completions",
            "gpt-4o-mini",
            0.15,
            0.60,
            "openai",
            "gpt-4o-mini",
        ),
        (
            "/v1/chat/completions",
            "gpt-4o-mini-azure",
            0.15,
            0.60,
            "azure",
            "gpt-4o-mini",
        ),
        (
            "/v1/chat/completions",
            "claude-sonnet-4-5",
            3.0,
            15.0,
            "anthropic",
            "claude-sonnet-4-5",
        ),
        (
            "/v1/chat/completions",
            "gemini-2.5-flash",
            0.30,
            2.50,
            "gemini",
            "gemini-2.5-flash",
        ),
        (
            "/v1/messages",
            "claude-sonnet-4-5",
            3.0,
            15.0,
            "anthropic",
            "claude-sonnet-4-5",
        ),
    ];
    let mut ids = Vec::new();
    for (path, model, _, _, _, _) in cases {
        for stream in [false, true] {
            let body = format!(
                r#"{{"model":"{model}","max_tokens":64,"stream":{stream},"stream_options":{{"include_usage":true}},"messages":[{{"role":"user","content":"Say hello in five words"}}]}}"#
            );
            let body = if path == "/v1/messages" {
                body.replace(r#""stream_options":{"include_usage":true},"#, "")
            } else {
                body
            };
            let response = post(&stack, path, &body, &["-N"]);
            assert_eq!(
                response.status,
                200,
                "{path} {model} stream={stream}: {}",
                response.text()
            );
            ids.push(response.request_id());
        }
    }
    let records = records(&stack, ids.len());
    let mut expected_requests: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut expected_tokens: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    for (i, (path, model, input_price, output_price, provider, upstream)) in
        cases.iter().enumerate()
    {
        for (j, stream) in [false, true].iter().enumerate() {
            let record = &records[&ids[i * 2 + j]];
            let usage = &record["tokens"]["usage"];
            let (input, output) = (
                usage["input"].as_u64().unwrap(),
                usage["output"].as_u64().unwrap(),
            );
            assert!(
                input > 0 && output > 0,
                "{path} {model} stream={stream}: {record}"
            );
            assert_eq!(record["provider"], *provider);
            let cost = (input as f64 * input_price + output as f64 * output_price) / 1e6;
            let recorded = record["cost_usd"].as_f64().unwrap();
            assert!(
                (recorded - cost).abs() < 1e-9,
                "{model}: {recorded} != {cost}"
            );
            *expected_requests.entry((provider, upstream)).or_default() += 1;
            *expected_tokens
                .entry((provider, upstream, "input"))
                .or_default() += input;
            *expected_tokens
                .entry((provider, upstream, "output"))
                .or_default() += output;
        }
    }
    let prometheus = stack.envoy.prometheus().unwrap();
    for ((provider, model), n) in expected_requests {
        let line = format!(
            r#"llm_gateway_gen_ai_requests{{provider="{provider}",status="200",team="platform",client="demo",model="{model}"}} {n}"#
        );
        assert!(
            prometheus.contains(&line),
            "{line} missing from:\n{prometheus}"
        );
    }
    for ((provider, model, kind), n) in expected_tokens {
        let line = format!(
            r#"llm_gateway_gen_ai_client_token_usage{{token_type="{kind}",provider="{provider}",team="platform",client="demo",model="{model}"}} {n}"#
        );
        assert!(prometheus.contains(&line), "{line} missing");
    }
    assert!(prometheus.contains(
        r#"llm_gateway_gen_ai_cost_micro_usd{provider="anthropic",team="platform",client="demo",model="claude-sonnet-4-5"}"#
    ));
    // Histograms reach /stats/prometheus at Envoy's stats flush (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    let flushed = r#"llm_gateway_gen_ai_client_operation_duration_ms_count{provider="openai",model="gpt-4o-mini"} 2"#;
    while !stack.envoy.prometheus().unwrap().contains(flushed) {
        assert!(Instant::now() < deadline, "{flushed} never appeared");
        std::thread::sleep(Duration::from_millis(250));
    }
    let prometheus = stack.envoy.prometheus().unwrap();
    assert!(prometheus.contains(r#"llm_gateway_gen_ai_server_time_to_first_token_ms_count{provider="gemini",model="gemini-2.5-flash"} 1"#));
}

#[test]
fn records_survive_a_collector_outage() {
    let stack = Stack::start(StackOptions::demo("audit-outage")).unwrap_or_else(|e| panic!("{e}"));
    // The collector fails everything for 10 s.
    stack
        .fake
        .queue_fault("status=503", 1000, "/collector")
        .unwrap();
    let ids: Vec<String> = (0..5)
        .map(|_| post(&stack, "/v1/chat/completions", &chat("gpt-4o-mini"), &[]).request_id())
        .collect();
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        std::fs::read_to_string(&stack.fake.collector_file).unwrap_or_default(),
        "",
        "nothing stored yet"
    );
    let retried = stack
        .envoy
        .stat("wasmcustom.llm_gateway.audit.records_retried")
        .unwrap()
        .unwrap_or(0);
    assert!(retried >= 5, "each failed batch counted: {retried}");
    curl(&["-X", "DELETE", &stack.fake.url("/__control/faults")]).unwrap();
    // Back-off is at most 30 s; the records arrive at the next attempt.
    let delivered = stack
        .fake
        .collected_records(5, Duration::from_secs(35))
        .unwrap();
    assert!(
        delivered.len() >= 5,
        "records not delivered after the outage"
    );
    let records = records(&stack, 5);
    for id in &ids {
        assert!(records.contains_key(id), "record {id} lost");
    }
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.llm_gateway.audit.records_sent")
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.llm_gateway.audit.records_dropped")
            .unwrap(),
        Some(0),
        "defined at start"
    );
    let unused = curl(&[&stack.fake.url("/__collector")]).unwrap();
    assert_eq!(unused.json()["records"], 5);
}
