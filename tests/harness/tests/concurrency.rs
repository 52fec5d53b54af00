//! 200 concurrent clients for 30 s through the demo gateway (the bundle, 2
//! workers), half of them streaming: every call answered, exactly one audit
//! record per call, no token lost or counted twice (client-seen usage =
//! audit records = Prometheus counters = what the limiter charged), and
//! memory that stops growing. `SOAK_SECONDS` makes it the soak variant of
//! `make soak`.

use gateway_harness::stack::http;
use gateway_harness::{RunDir, Stack, StackOptions};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 200;
/// Agents sharing the clients, each with its own daily token budget.
const AGENTS: usize = 20;
const DAILY_TOKENS: u64 = 1_000_000_000_000;

fn seconds() -> u64 {
    std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn envoy_rss_mb(stack: &Stack) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", stack.envoy.process.pid()))
        .unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// A prompt of a few hundred tokens, so that any lost or doubled charge is
/// far larger than the probe's own reservation at the end.
fn body(client: usize, n: u64, stream: bool) -> String {
    let text = format!("Client {client} call {n}: ")
        + &"summarise the quarterly figures for the board, ".repeat(30);
    let mut body = serde_json::json!({"model": "gpt-4o-mini", "max_tokens": 64, "messages": [{"role": "user", "content": text}]});
    if stream {
        body["stream"] = true.into();
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    body.to_string()
}

/// The total tokens the provider reported, from a whole answer or from the
/// stream's usage chunk.
fn usage_total(text: &str, stream: bool) -> Option<u64> {
    if !stream {
        return serde_json::from_str::<Value>(text).ok()?["usage"]["total_tokens"].as_u64();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|chunk| chunk["usage"]["total_tokens"].as_u64())
}

#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    streamed: AtomicU64,
    failures: Mutex<Vec<String>>,
    ids: Mutex<Vec<String>>,
    tokens_by_agent: Mutex<BTreeMap<String, u64>>,
}

fn client(url: &str, client: usize, deadline: Instant, totals: &Totals) {
    let agent = http();
    let name = format!("soak-{}", client % AGENTS);
    let mut n = 0;
    while Instant::now() < deadline {
        let stream = (client + n as usize) % 2 == 0;
        n += 1;
        let sent = agent
            .post(url)
            .header("authorization", "Bearer demo-key")
            .header("content-type", "application/json")
            .header("x-agent-id", &name)
            .send(body(client, n, stream));
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => {
                totals
                    .failures
                    .lock()
                    .unwrap()
                    .push(format!("transport: {e}"));
                continue;
            }
        };
        let status = response.status().as_u16();
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut text = String::new();
        let _ = response.body_mut().as_reader().read_to_string(&mut text);
        match (status, usage_total(&text, stream)) {
            (200, Some(total)) => {
                totals.calls.fetch_add(1, Ordering::Relaxed);
                if stream {
                    totals.streamed.fetch_add(1, Ordering::Relaxed);
                }
                totals.ids.lock().unwrap().push(id);
                *totals
                    .tokens_by_agent
                    .lock()
                    .unwrap()
                    .entry(name.clone())
                    .or_default() += total;
            }
            (status, _) => totals.failures.lock().unwrap().push(format!(
                "{status}: {}",
                text.chars().take(200).collect::<String>()
            )),
        }
    }
}

/// The sum of a Prometheus counter over all its label sets.
fn prometheus_sum(page: &str, name: &str) -> u64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn two_hundred_clients_lose_and_double_nothing() {
    let dir = RunDir::new("concurrency-filters").unwrap();
    let options = StackOptions::demo_with_filters("concurrency", &dir, |filters| {
        // The agents' daily budget is the tightest token limit, so the
        // rate-limit headers report it.
        filters["token_limit"]["levels"][0]["limits"] = serde_json::json!({"requests_per_minute": 1_000_000_000u64});
        filters["token_limit"]["levels"][1]["overrides"] = serde_json::json!([{"key": "*|soak-*", "limits": {"total_tokens_per_day": DAILY_TOKENS}}]);
    })
    .unwrap();
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    let url = stack.url("/v1/chat/completions");
    let run = Duration::from_secs(seconds());
    let deadline = Instant::now() + run;
    let totals = Arc::new(Totals::default());
    let mut rss = Vec::new();
    std::thread::scope(|scope| {
        for i in 0..CLIENTS {
            let (url, totals) = (url.clone(), totals.clone());
            scope.spawn(move || client(&url, i, deadline, &totals));
        }
        // Memory a third of the way in and at the end: steady load must not
        // keep growing it (the limiter's store has a fixed number of slots).
        std::thread::sleep(run / 3);
        rss.push(envoy_rss_mb(&stack));
    });
    rss.push(envoy_rss_mb(&stack));
    let failures = totals.failures.lock().unwrap();
    let calls = totals.calls.load(Ordering::Relaxed);
    eprintln!(
        "{calls} calls ({} streamed) in {} s, {} failed; Envoy RSS {rss:?} MB",
        totals.streamed.load(Ordering::Relaxed),
        run.as_secs(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} calls failed, e.g. {:?}",
        failures.len(),
        failures.iter().take(3).collect::<Vec<_>>()
    );
    assert!(calls >= CLIENTS as u64, "every client completed calls");

    // Exactly one audit record per call, in the collector and in the access log.
    let ids: HashSet<String> = totals.ids.lock().unwrap().iter().cloned().collect();
    assert_eq!(ids.len() as u64, calls, "request ids are unique");
    stack
        .fake
        .collected_records(calls as usize, Duration::from_secs(30))
        .unwrap();
    // A moment more, so that a duplicate arriving late is seen.
    std::thread::sleep(Duration::from_millis(1500));
    let collected = stack.fake.collected_records(0, Duration::ZERO).unwrap();
    let record_ids: Vec<&str> = collected
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert_eq!(
        record_ids.len() as u64,
        calls,
        "one record per call in the collector"
    );
    assert_eq!(
        record_ids.iter().collect::<HashSet<_>>().len() as u64,
        calls,
        "no record twice"
    );
    assert!(
        record_ids.iter().all(|id| ids.contains(*id)),
        "every record is of a call the clients made"
    );
    let logged = stack
        .access_log_records(calls as usize, Duration::from_secs(15))
        .unwrap();
    assert_eq!(logged.len() as u64, calls, "one access-log line per call");

    // Tokens: what clients saw = what the records say = what Prometheus says.
    let by_agent = totals.tokens_by_agent.lock().unwrap().clone();
    let client_total: u64 = by_agent.values().sum();
    let record_total: u64 = collected
        .iter()
        .filter_map(|r| r["tokens"]["usage"]["total"].as_u64())
        .sum();
    assert_eq!(
        record_total, client_total,
        "audit records hold exactly the usage the clients received"
    );
    let page = stack.envoy.prometheus().unwrap();
    let counted = prometheus_sum(&page, "llm_gateway_gen_ai_client_token_usage");
    assert_eq!(
        counted, client_total,
        "the token counters add up to the same"
    );

    // The limiter charged each agent exactly its usage: a last small call
    // reports the remaining daily budget (minus only its own reservation:
    // its input and the one output token it asks for at most).
    for (agent, used) in &by_agent {
        let mut response = http()
            .post(&url)
            .header("authorization", "Bearer demo-key")
            .header("content-type", "application/json")
            .header("x-agent-id", agent)
            .send(r#"{"model":"gpt-4o-mini","max_tokens":1,"messages":[{"role":"user","content":"Hi"}]}"#)
            .unwrap();
        let remaining: u64 = response
            .headers()
            .get("x-ratelimit-remaining-tokens")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let _ = response.body_mut().read_to_string();
        let charged = DAILY_TOKENS - remaining;
        assert!(
            charged >= *used && charged <= used + 64,
            "{agent}: the limiter charged {charged} tokens for {used} used (plus a probe of a few tokens)"
        );
    }

    // Memory: growth between a third of the way and the end stays small.
    assert!(
        rss[1] <= rss[0] + 40,
        "Envoy's RSS kept growing under steady load: {rss:?} MB"
    );
    let log = stack.envoy.log();
    assert!(
        !log.contains("Wasm VM failed") && !log.contains("panicked"),
        "a VM failed"
    );
}
