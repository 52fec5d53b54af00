//! Usage by team and client through a real Envoy: the demo's teams
//! (`platform` for `demo-key`, `research` for `demo-intern-key`) on the
//! request, token and cost metrics of `/stats/prometheus` and in the audit
//! records, a client no team names labelled `other`, never by its id, and a
//! token limit keyed on the team that the team's clients share.

use gateway_harness::client::{post, post_as, until_refused};
use gateway_harness::curl::Response;
use gateway_harness::secrets::{self, ClientKey};
use gateway_harness::{Layout, RunDir, Stack, StackOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const INTERN: &str = "authorization: Bearer demo-intern-key";
const GUEST: &str = "authorization: Bearer demo-guest-key";

/// Adds the key `demo-guest-key` of client `guest`, whom no team names,
/// and POSTs `body` with it once Envoy has loaded it (a refused key leaves
/// no record): the answer.
fn as_new_guest(stack: &Stack, body: &str) -> Response {
    let mut keys: Vec<ClientKey> = secrets::DEMO_CLIENTS.into_iter().collect();
    keys.push(ClientKey {
        key: "demo-guest-key",
        client: "guest",
    });
    secrets::write_client_keys(&stack.secrets_dir(), &keys).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = post_as(stack, "/v1/chat/completions", body, GUEST, &[]);
        if response.status != 401 {
            return response;
        }
        assert!(Instant::now() < deadline, "the guest key never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chat(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"Say hello"}}]}}"#
    )
}

/// The series of `metric` on a `/stats/prometheus` page: labels and value.
fn series(prometheus: &str, metric: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    prometheus
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let labels = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (name, value) = l.split_once("=\"").unwrap();
                    (name.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            Some((labels, value.parse().unwrap()))
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn metrics_and_records_carry_the_team_and_client() {
    let stack = Stack::start(StackOptions::demo("teams-labels")).unwrap_or_else(|e| panic!("{e}"));
    let body = chat("gpt-4o-mini");
    let mut ids = BTreeMap::new();
    for (client, response) in [
        ("demo", post(&stack, "/v1/chat/completions", &body, &[])),
        (
            "intern",
            post_as(&stack, "/v1/chat/completions", &body, INTERN, &[]),
        ),
        ("guest", as_new_guest(&stack, &body)),
    ] {
        assert_eq!(response.status, 200, "{client}: {}", response.text());
        ids.insert(response.request_id(), client);
    }
    let records = stack
        .fake
        .collected_records(3, Duration::from_secs(20))
        .unwrap();
    let mut input = BTreeMap::new();
    for record in &records {
        let client = ids[record["request_id"].as_str().unwrap()];
        assert_eq!(record["client"]["id"], client);
        let team = match client {
            "demo" => json!("platform"),
            "intern" => json!("research"),
            _ => Value::Null,
        };
        assert_eq!(record["client"]["team"], team, "{record}");
        input.insert(client, record["tokens"]["usage"]["input"].as_f64().unwrap());
    }

    let prometheus = stack.envoy.prometheus().unwrap();
    let who = [
        ("demo", "platform", "demo"),
        ("intern", "research", "intern"),
        ("guest", "none", "other"),
    ];
    let requests = series(&prometheus, "llm_gateway_gen_ai_requests");
    let tokens = series(&prometheus, "llm_gateway_gen_ai_client_token_usage");
    let cost = series(&prometheus, "llm_gateway_gen_ai_cost_micro_usd");
    for (id, team, client) in who {
        let of = |extra: &[(&str, &str)]| {
            let mut all = vec![
                ("provider", "openai"),
                ("team", team),
                ("client", client),
                ("model", "gpt-4o-mini"),
            ];
            all.extend_from_slice(extra);
            labels(&all)
        };
        assert!(
            requests.contains(&(of(&[("status", "200")]), 1.0)),
            "{id}: {requests:?}"
        );
        assert!(
            tokens.contains(&(of(&[("token_type", "input")]), input[id])),
            "{id}: {tokens:?}"
        );
        assert!(
            cost.iter().any(|(l, n)| *l == of(&[]) && *n >= 1.0),
            "{id}: {cost:?}"
        );
    }
    assert_eq!(requests.len(), 3, "one series per client: {requests:?}");
    assert!(
        !prometheus.contains("guest"),
        "a client no team names is never a label"
    );
    // The histograms keep their provider and model labels only; they
    // appear at Envoy's stats flush (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    let duration = loop {
        let duration = series(
            &stack.envoy.prometheus().unwrap(),
            "llm_gateway_gen_ai_client_operation_duration_ms_count",
        );
        if !duration.is_empty() {
            break duration;
        }
        assert!(Instant::now() < deadline, "no duration histogram");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        duration
            .iter()
            .all(|(l, _)| l.keys().eq(["model", "provider"].iter())),
        "{duration:?}"
    );
}

/// A level keyed on `team` caps what the clients of a team send together;
/// a client in no team has the level's missing-part bucket (`%none`). In
/// the separate-modules layout, where each module gets `teams` from the
/// renderer (token_limit.wasm for the cap, audit.wasm for the labels).
#[test]
fn clients_of_one_team_share_the_teams_cap() {
    let dir = RunDir::new("teams-cap-filters").unwrap();
    let mut options = StackOptions::demo_with_filters("teams-cap", &dir, |filters| {
        filters["teams"] = json!({"shared": {"clients": ["demo", "intern"]}});
        filters["token_limit"]["levels"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "team", "key": ["team"], "limits": {"input_tokens_per_minute": 3000}}));
    })
    .unwrap();
    options.layout = Layout::Separate;
    let stack = Stack::start(options).unwrap_or_else(|e| panic!("{e}"));
    // About 300 tokens as admission counts it.
    let words = "The quick brown fox jumps over the lazy dog. ".repeat(22);
    let body = format!(
        r#"{{"model":"gpt-4o-mini","max_tokens":16,"messages":[{{"role":"user","content":"{words}"}}]}}"#
    );
    let (admitted, rejection) = until_refused(
        30,
        "two clients of a team got past the team's 3,000 tokens a minute",
        |n| {
            if n % 2 == 0 {
                post(&stack, "/v1/chat/completions", &body, &[])
            } else {
                post_as(&stack, "/v1/chat/completions", &body, INTERN, &[])
            }
        },
    );
    assert!(
        (4..=12).contains(&admitted.len()),
        "3,000 tokens admit about 8 requests of ~300 between both clients, got {}",
        admitted.len()
    );
    assert_eq!(rejection.header("x-ratelimit-level"), Some("team"));
    for auth in ["authorization: Bearer demo-key", INTERN] {
        let refused = post_as(&stack, "/v1/chat/completions", &body, auth, &[]);
        assert_eq!(
            (refused.status, refused.header("x-ratelimit-level")),
            (429, Some("team")),
            "{auth}: the team's cap holds for each of its clients"
        );
    }
    let guest = as_new_guest(&stack, &body);
    assert_eq!(
        guest.status,
        200,
        "a client in no team has the \"none\" bucket: {}",
        guest.text()
    );
    let requests = series(
        &stack.envoy.prometheus().unwrap(),
        "llm_gateway_gen_ai_requests",
    );
    for client in ["demo", "intern"] {
        let admitted = labels(&[
            ("provider", "openai"),
            ("status", "200"),
            ("team", "shared"),
            ("client", client),
            ("model", "gpt-4o-mini"),
        ]);
        assert!(
            requests.iter().any(|(l, n)| *l == admitted && *n >= 1.0),
            "{client}: {requests:?}"
        );
    }
}
