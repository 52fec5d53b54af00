//! Runs the real binary against a tiny in-process hyper server on
//! 127.0.0.1:0 and checks what it reports.

use bytes::Bytes;
use http_body_util::{channel::Channel, BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// `/ok` 200, `/fail` 500, `/slow` 200 after 50 ms, `/sse` an SSE stream
/// whose first content event completes 20 ms after the headers, its line cut
/// across two writes.
async fn serve(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    // Read the request body to its end, as a real server would.
    let _ = request.into_body().collect().await;
    let full = |status: StatusCode, text: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
        *r.status_mut() = status;
        r
    };
    Ok(match path.as_str() {
        "/ok" => full(StatusCode::OK, "{\"ok\":true}"),
        "/fail" => full(StatusCode::INTERNAL_SERVER_ERROR, "{}"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            full(StatusCode::OK, "{}")
        }
        "/sse" => {
            let (mut tx, body) = Channel::<Bytes, Infallible>::new(4);
            tokio::spawn(async move {
                let _ = tx
                    .send_data(Bytes::from_static(
                        b": keep-alive\n\ndata: {\"choices\":[{\"de",
                    ))
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = tx
                    .send_data(Bytes::from_static(b"lta\":{\"content\":\"hi\"}}]}\n\n"))
                    .await;
                let _ = tx.send_data(Bytes::from_static(b"data: [DONE]\n\n")).await;
            });
            let mut r = Response::new(body.boxed());
            r.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            r
        }
        _ => full(StatusCode::NOT_FOUND, "{}"),
    })
}

/// The server, started once on its own thread and runtime.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    tokio::spawn(
                        http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service_fn(serve)),
                    );
                }
            });
        });
        addr
    })
}

/// Runs `llm-load MODE --url http://SERVER/PATH ARGS --json`: exit success
/// and the JSON.
fn run(mode: &str, path: &str, args: &str) -> (bool, Value) {
    let body = std::env::temp_dir().join(format!("llm-load-test-body-{}.json", std::process::id()));
    std::fs::write(&body, br#"{"model":"m","messages":[]}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_llm-load"))
        .arg(mode)
        .arg("--url")
        .arg(format!("http://{}{path}", server()))
        .arg("--body")
        .arg(&body)
        .args(args.split_whitespace())
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.success(), json)
}

/// [`run`], which must succeed: its report.
fn run_ok(mode: &str, path: &str, args: &str) -> Value {
    let (ok, j) = run(mode, path, args);
    assert!(ok, "{j}");
    j
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn closed_mode_counts_and_times_requests() {
    let j = run_ok(
        "closed",
        "/ok",
        "--connections 4 --duration 0.6 --warmup 0.2",
    );
    assert_eq!(j["mode"], "closed");
    assert!(j["ok"].as_u64().unwrap() > 100, "{j}");
    assert_eq!(j["non_2xx"], 0);
    assert_eq!(j["transport_errors"], 0);
    assert_eq!(j["connects"], 4, "keep-alive: one connection each");
    assert!(
        (f(&j["rps"]) - j["ok"].as_u64().unwrap() as f64 / 0.6).abs() < 1.0,
        "{j}"
    );
    let p50 = f(&j["latency_ms"]["p50"]);
    assert!(p50 > 0.0 && p50 <= f(&j["latency_ms"]["p99"]), "{j}");
    assert_eq!(j["ttft_ms"], Value::Null);
    assert!(j.get("rate").is_none());
}

#[test]
fn rate_mode_keeps_the_rate() {
    let j = run_ok(
        "rate",
        "/ok",
        "--rate 200 --connections 2 --duration 1 --warmup 0.2",
    );
    let rate = &j["rate"];
    assert_eq!(rate["scheduled"], 200, "{j}");
    assert_eq!(rate["sent"], 200, "{j}");
    assert_eq!(rate["saturated"], false, "{j}");
    assert!((f(&rate["achieved_rps"]) - 200.0).abs() <= 10.0, "{j}");
    assert_eq!(j["ok"], 200);
    // The pacer wakes within a fraction of a millisecond (tokio's timer
    // alone would be up to 1 ms late).
    assert!(f(&rate["send_lag_ms"]["p50"]) < 0.5, "{j}");
    assert!(rate["connections_used"].as_u64().unwrap() <= 8, "{j}");
}

#[test]
fn rate_mode_reports_saturation_and_corrects_latency() {
    // One connection at 50 ms per request serves 20 req/s; 100 are asked.
    let j = run_ok(
        "rate",
        "/slow",
        "--rate 100 --connections 1 --max-connections 1 --duration 0.5",
    );
    let rate = &j["rate"];
    assert_eq!(rate["saturated"], true, "{j}");
    assert_eq!(rate["connections_used"], 1);
    assert!(rate["backlog_end"].as_u64().unwrap() > 20, "{j}");
    // Request 50 was due at 0.5 s and served last, at about 2.5 s: latency
    // from the scheduled time, not the 50 ms service time.
    assert!(f(&j["latency_ms"]["max"]) > 1500.0, "{j}");
}

#[test]
fn stream_ttft_in_both_modes() {
    for (mode, args) in [
        ("closed", "--connections 2 --duration 0.5"),
        ("rate", "--rate 50 --connections 2 --duration 0.5"),
    ] {
        let j = run_ok(mode, "/sse", &format!("{args} --stream"));
        assert_eq!(j["ttft_missing"], 0, "{j}");
        let ttft = f(&j["ttft_ms"]["p50"]);
        assert!((20.0..60.0).contains(&ttft), "{mode}: {j}");
        assert!(f(&j["ttft_ms"]["p99"]) <= f(&j["latency_ms"]["p99"]), "{j}");
    }
}

#[test]
fn failures_exit_non_zero_with_counts() {
    let (ok, j) = run("closed", "/fail", "--connections 1 --duration 0.2");
    assert!(!ok);
    assert!(j["non_2xx"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["ok"], 0);
    assert_eq!(j["trustworthy"], false);

    // Nothing listens on port 1: transport errors, counted.
    let output = Command::new(env!("CARGO_BIN_EXE_llm-load"))
        .args([
            "closed",
            "--url",
            "http://127.0.0.1:1/",
            "--duration",
            "0.2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let j: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(j["transport_errors"].as_u64().unwrap() > 0, "{j}");
    assert!(j["first_error"].is_string(), "{j}");
}

#[test]
fn refuses_non_loopback_targets() {
    let output = Command::new(env!("CARGO_BIN_EXE_llm-load"))
        .args(["closed", "--url", "http://192.0.2.1/", "--duration", "0.2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
