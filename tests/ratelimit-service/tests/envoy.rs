//! Global mode through two real Envoys: each runs Envoy's own rate-limit
//! filter (no wasm) against its own service instance, both instances on one
//! Redis, so one budget holds across the replicas. Also pins down what
//! Envoy 1.40 does that the token-limit filter's global mode relies on: the
//! charge comes from a request header through `hits_addend.format`, the
//! headers it returns, and fail-open versus fail-closed.

// Test code: a panic fails the test, which is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{write_limits, Redis, Service};
use gateway_harness::curl::{curl, Response};
use gateway_harness::process::Output;
use gateway_harness::stack::Envoy;
use gateway_harness::RunDir;
use std::path::Path;
use std::time::Duration;

const LIMITS: &str = r#"{"limits": [
  {"name": "tokens", "domain": "llm-gateway", "descriptor": [{"key": "agent"}], "max_value": 100, "seconds": 60}
]}"#;

/// A listener of one HTTP connection manager, named `name` like its stats:
/// `socket` says where it listens (a YAML mapping entry), every request
/// takes `route` (the route's action, YAML flow) through `filters` (YAML
/// list items at the filters' indentation), then the router.
fn http_listener(name: &str, socket: &str, route: &str, filters: &str) -> String {
    format!(
        r#"
  - name: {name}
    {socket}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                {route}
          http_filters:{filters}
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}"#
    )
}

/// A listener whose requests are rate limited: the descriptor is
/// `agent=<x-agent-id>`, charged `x-tokens` units. `hits_addend` is only
/// honoured in the filter's own `rate_limits` (or per-route filter config),
/// not in a route's `rate_limits`. The ratelimit filter only acts on routes
/// to a cluster (not on `direct_response`), so the route goes to `backend`,
/// an internal listener of the same Envoy that answers 200.
fn listener(name: &str, failure_mode_deny: bool) -> String {
    let ratelimit = format!(
        r#"
          - name: envoy.filters.http.ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit
              domain: llm-gateway
              failure_mode_deny: {failure_mode_deny}
              timeout: 1s
              enable_x_ratelimit_headers: DRAFT_VERSION_03
              enable_retry_after_header: true
              rate_limits:
              - actions:
                - request_headers: {{header_name: x-agent-id, descriptor_key: agent}}
                hits_addend: {{format: "%REQ(x-tokens)%"}}
              rate_limit_service:
                transport_api_version: V3
                grpc_service: {{envoy_grpc: {{cluster_name: ratelimit}}}}"#
    );
    http_listener(
        name,
        "address: {socket_address: {address: 127.0.0.1, port_value: 0}}",
        "route: {cluster: backend}",
        &ratelimit,
    )
}

/// Two listeners that differ only in `failure_mode_deny`, the backend, and
/// the service's cluster (gRPC needs HTTP/2).
fn envoy_config(service: &str) -> String {
    let (host, port) = service.rsplit_once(':').expect("IP:PORT");
    format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
bootstrap_extensions:
- name: envoy.bootstrap.internal_listener
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener
static_resources:
  listeners:{open}{closed}{backend}
  clusters:
  - name: backend
    load_assignment:
      cluster_name: backend
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{envoy_internal_address: {{server_listener_name: backend}}}}}}}}]}}]
  - name: ratelimit
    type: STATIC
    connect_timeout: 0.25s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: ratelimit
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: {host}, port_value: {port}}}}}}}}}]}}]
"#,
        open = listener("fail_open", false),
        closed = listener("fail_closed", true),
        backend = http_listener(
            "backend",
            "internal_listener: {}",
            r#"direct_response: {status: 200, body: {inline_string: "admitted"}}"#,
            "",
        ),
    )
}

/// Starts an Envoy (2 workers) in its own directory under `dir`, pointed at
/// the service at `service`.
fn start_envoy(dir: &Path, name: &str, service: &str) -> Envoy {
    let own = dir.join(name);
    std::fs::create_dir_all(&own).expect("envoy dir");
    let config = own.join("envoy.yaml");
    std::fs::write(&config, envoy_config(service)).expect("write envoy config");
    Envoy::start(&config, &own, 2, Output::File(&own.join("envoy.log")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// GET through `envoy`'s `listener` as `agent`, charging `tokens` (no
/// `x-tokens` header when `None`).
fn get(envoy: &Envoy, listener: &str, agent: &str, tokens: Option<&str>) -> Response {
    let url = format!("http://{}/v1/chat/completions", envoy.listeners[listener]);
    let agent = format!("x-agent-id: {agent}");
    let tokens = tokens.map(|t| format!("x-tokens: {t}"));
    let mut args = vec![url.as_str(), "-H", agent.as_str()];
    if let Some(tokens) = &tokens {
        args.extend(["-H", tokens.as_str()]);
    }
    curl(&args).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts that `response` has the header `name`, a number of seconds
/// within the limit's one-minute window.
fn assert_within_the_minute(response: &Response, name: &str) {
    let seconds: u64 = response
        .header(name)
        .unwrap_or_else(|| panic!("no {name} header: {response:?}"))
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&seconds), "{name}: {seconds}");
}

#[test]
fn two_envoys_share_one_budget_and_fail_open_or_closed_as_configured() {
    let dir = RunDir::new("ratelimit-envoy").expect("run dir");
    let mut redis = Redis::start(&dir.path);
    let limits = write_limits(&dir.path, LIMITS);
    let mut service_a = Service::start(&dir.path, "service-a", &limits, Some(&redis.url()));
    let service_b = Service::start(&dir.path, "service-b", &limits, Some(&redis.url()));
    let envoy_a = start_envoy(&dir.path, "envoy-a", &service_a.grpc);
    let envoy_b = start_envoy(&dir.path, "envoy-b", &service_b.grpc);

    // 60 tokens through one replica and 40 through the other fill the budget.
    let first = get(&envoy_a, "fail_open", "alice", Some("60"));
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.text(), "admitted");
    assert_eq!(
        first.header("x-ratelimit-limit"),
        Some(r#"100, 100;w=60;name="tokens""#)
    );
    assert_eq!(first.header("x-ratelimit-remaining"), Some("40"));
    assert_within_the_minute(&first, "x-ratelimit-reset");
    let second = get(&envoy_b, "fail_closed", "alice", Some("40"));
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(
        second.header("x-ratelimit-remaining"),
        Some("0"),
        "envoy b saw envoy a's 60"
    );

    // The next token is refused by either replica, with Envoy's 429.
    for (envoy, listener) in [(&envoy_a, "fail_open"), (&envoy_b, "fail_closed")] {
        let refused = get(envoy, listener, "alice", Some("1"));
        assert_eq!(refused.status, 429, "{refused:?}");
        assert_eq!(refused.header("x-envoy-ratelimited"), Some("true"));
        assert_eq!(
            refused.text(),
            "",
            "no body: the caller's API format is the filter's job"
        );
        assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
        assert_within_the_minute(&refused, "retry-after");
    }
    assert_eq!(
        get(&envoy_b, "fail_open", "bob", Some("100")).status,
        200,
        "bob has his own budget"
    );

    // A charge of 0 passes and costs nothing. A missing or non-numeric
    // charge makes Envoy drop the descriptor: no call, no limit, so whoever
    // sets `x-tokens` (the token-limit filter) must always set a number.
    assert_eq!(get(&envoy_a, "fail_open", "alice", Some("0")).status, 200);
    for tokens in [None, Some("lots"), Some("-5")] {
        let response = get(&envoy_a, "fail_closed", "alice", tokens);
        assert_eq!(response.status, 200, "x-tokens {tokens:?}: {response:?}");
        assert_eq!(
            response.header("x-ratelimit-limit"),
            None,
            "no rate-limit call for x-tokens {tokens:?}"
        );
    }
    let url = format!("http://{}/", envoy_a.listeners["fail_closed"]);
    let anonymous = curl(&[url.as_str(), "-H", "x-tokens: 1"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        anonymous.status, 200,
        "no x-agent-id, no descriptor, no limit: {anonymous:?}"
    );
    assert_eq!(anonymous.header("x-ratelimit-limit"), None);
    assert!(
        service_a.log().contains(r#"hits=[(0, "descriptor")]"#),
        "the charge arrives as the descriptor's hits_addend"
    );

    // Redis gone: the service answers UNAVAILABLE; then the service gone
    // too. Either way Envoy lets requests through when failure_mode_deny is
    // false, and answers 500 when it is true.
    redis.process.stop(Duration::from_secs(2));
    let mut failures_allowed = 0;
    for outage in ["redis down", "service down"] {
        if outage == "service down" {
            assert!(
                service_a.log().contains("counter storage failed"),
                "the redis-down case reached the service"
            );
            service_a.process.stop(Duration::from_secs(2));
        }
        let open = get(&envoy_a, "fail_open", "carol", Some("1"));
        assert_eq!(
            (open.status, open.text().as_str()),
            (200, "admitted"),
            "{outage}, fail open: {open:?}"
        );
        failures_allowed += 1;
        let closed = get(&envoy_a, "fail_closed", "carol", Some("1"));
        assert_eq!(closed.status, 500, "{outage}, fail closed: {closed:?}");
        assert_eq!(
            closed.header("x-envoy-ratelimited"),
            None,
            "{outage}: an error, not a limit"
        );
        assert_eq!(closed.text(), "");
    }
    let stat = |name: &str| envoy_a.stat(name).expect("admin stats");
    assert_eq!(
        stat("cluster.backend.ratelimit.failure_mode_allowed"),
        Some(failures_allowed)
    );
    assert_eq!(
        stat("cluster.backend.ratelimit.error"),
        Some(2 * failures_allowed)
    );
}
