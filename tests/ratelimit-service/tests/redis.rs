//! Global mode without Envoy: two service instances on one real Redis are
//! one budget, whichever instance a client reaches.

// Test code: a panic fails the test, which is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{request, write_limits, Redis, Service};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use gateway_harness::RunDir;
use std::time::Duration;
use tonic::transport::Channel;

const LIMITS: &str = r#"{"limits": [
  {"name": "tokens", "domain": "gw", "descriptor": [{"key": "agent"}], "max_value": 100, "seconds": 60},
  {"domain": "gw", "descriptor": [{"key": "burst"}], "max_value": 5, "seconds": 1}
]}"#;

async fn decide(
    client: &mut RateLimitServiceClient<Channel>,
    request: RateLimitRequest,
) -> RateLimitResponse {
    tokio::time::timeout(Duration::from_secs(5), client.should_rate_limit(request))
        .await
        .expect("answers within 5 s")
        .expect("grpc call succeeds")
        .into_inner()
}

fn code(response: &RateLimitResponse) -> Code {
    Code::try_from(response.overall_code).expect("known code")
}

fn remaining(response: &RateLimitResponse) -> u32 {
    response.statuses[0].limit_remaining
}

#[tokio::test]
async fn two_instances_on_one_redis_share_one_budget() {
    let dir = RunDir::new("ratelimit-redis").expect("run dir");
    // Locals drop in reverse order: the services stop first, then Redis,
    // and the run directory goes last (kept if the test failed).
    let redis = Redis::start(&dir.path);
    let limits = write_limits(&dir.path, LIMITS);
    let one = Service::start(&dir.path, "service-1", &limits, Some(&redis.url()));
    let two = Service::start(&dir.path, "service-2", &limits, Some(&redis.url()));
    let (mut first, mut second) = (one.client().await, two.client().await);

    let response = decide(&mut first, request("gw", "agent", "alice", 60)).await;
    assert_eq!((code(&response), remaining(&response)), (Code::Ok, 40));
    let response = decide(&mut second, request("gw", "agent", "alice", 40)).await;
    assert_eq!(
        (code(&response), remaining(&response)),
        (Code::Ok, 0),
        "instance two sees instance one's 60"
    );
    for client in [&mut first, &mut second] {
        let response = decide(client, request("gw", "agent", "alice", 1)).await;
        assert_eq!(
            code(&response),
            Code::OverLimit,
            "the shared budget is spent, on either instance"
        );
        assert_eq!(remaining(&response), 0);
    }
    let response = decide(&mut second, request("gw", "agent", "bob", 100)).await;
    assert_eq!(
        code(&response),
        Code::Ok,
        "another agent has its own budget"
    );

    // Windows expire in Redis, for every instance at once.
    let response = decide(&mut first, request("gw", "burst", "x", 5)).await;
    assert_eq!(code(&response), Code::Ok);
    let response = decide(&mut second, request("gw", "burst", "x", 1)).await;
    assert_eq!(code(&response), Code::OverLimit);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = decide(&mut second, request("gw", "burst", "x", 5)).await;
    assert_eq!(code(&response), Code::Ok, "a new one-second window");

    assert!(
        !one.log().contains("alice"),
        "descriptor values are never logged, even at debug"
    );
}

#[tokio::test]
async fn without_redis_the_service_answers_unavailable_so_envoy_applies_its_failure_mode() {
    let dir = RunDir::new("ratelimit-redis-down").expect("run dir");
    let mut redis = Redis::start(&dir.path);
    let limits = write_limits(&dir.path, LIMITS);
    let service = Service::start(&dir.path, "service", &limits, Some(&redis.url()));
    let mut client = service.client().await;
    assert_eq!(
        code(&decide(&mut client, request("gw", "agent", "a", 1)).await),
        Code::Ok
    );

    redis.process.stop(Duration::from_secs(2));
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        client.should_rate_limit(request("gw", "agent", "a", 1)),
    )
    .await
    .expect("answers within 5 s")
    .expect_err("no counters, no decision");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    // Redis back (empty: it keeps nothing on disk): the service reconnects
    // by itself within a few seconds.
    let _redis = Redis::start_on(&dir.path, redis.port).expect("restart redis on its port");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match client
            .should_rate_limit(request("gw", "agent", "a", 1))
            .await
        {
            Ok(response) => {
                assert_eq!(code(&response.into_inner()), Code::Ok);
                break;
            }
            Err(status) => assert!(
                std::time::Instant::now() < deadline,
                "not reconnected after 10 s: {status:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_bad_redis_url_or_limits_file_stops_the_service_at_start() {
    let dir = RunDir::new("ratelimit-start-errors").expect("run dir");
    let limits = write_limits(&dir.path, LIMITS);
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratelimit-service"))
            .args(args)
            .output()
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let port = common::free_port();
    let limits_arg = limits.to_str().expect("utf-8 path");
    let (status, stderr) = run(&[
        "serve",
        "--limits",
        limits_arg,
        "--redis",
        &format!("redis://127.0.0.1:{port}"),
    ]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("redis://127.0.0.1:{port}")),
        "{stderr}"
    );

    let bad = dir.path.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"limits": [{"domain": "gw", "descriptor": [{"key": "a"}], "max_value": 1, "seconds": 0}]}"#,
    )
    .expect("write");
    let (status, stderr) = run(&["check", "--limits", bad.to_str().expect("utf-8 path")]);
    assert_eq!(status, Some(1));
    assert!(
        stderr.contains("limits[0].seconds: must be at least 1"),
        "{stderr}"
    );
    let (status, _) = run(&["check", "--limits", limits_arg]);
    assert_eq!(status, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_charges_through_two_instances_never_exceed_the_limit() {
    let dir = RunDir::new("ratelimit-redis-concurrent").expect("run dir");
    let redis = Redis::start(&dir.path);
    let limits = write_limits(&dir.path, LIMITS);
    let one = Service::start(&dir.path, "service-1", &limits, Some(&redis.url()));
    let two = Service::start(&dir.path, "service-2", &limits, Some(&redis.url()));

    // 64 clients at once, half through each instance, 10 tokens each,
    // against 100: at most 10 can be admitted.
    let mut clients = Vec::new();
    for i in 0..64 {
        clients.push(if i % 2 == 0 {
            one.client().await
        } else {
            two.client().await
        });
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(
                async move { decide(&mut client, request("gw", "agent", "crowd", 10)).await },
            )
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if code(&task.await.expect("task")) == Code::Ok {
            admitted += 1;
        }
    }
    assert!(
        (1..=10).contains(&admitted),
        "admitted {admitted} charges of 10 against a limit of 100"
    );

    // Refused charges cost nothing: exactly what the admitted ones left is
    // still there. (Under contention a charge can be refused that would
    // just have fit, never the other way round.)
    let mut client = one.client().await;
    let left = 100 - 10 * admitted;
    if left > 0 {
        let response = decide(&mut client, request("gw", "agent", "crowd", left)).await;
        assert_eq!(
            (code(&response), remaining(&response)),
            (Code::Ok, 0),
            "{left} units were left"
        );
    }
    assert_eq!(
        code(&decide(&mut client, request("gw", "agent", "crowd", 1)).await),
        Code::OverLimit
    );
}
