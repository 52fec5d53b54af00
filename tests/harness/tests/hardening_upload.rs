//! The production gateway (TLS, HTTP/2 flow control) refuses a 64 MB upload
//! with a 413 that a client which sends its whole body before reading
//! (Python's `http.client`) reads every time, and so does curl over HTTP/2.
//! The demo config's clients and SDKs: tests/python/test_upload_limit.py.

use gateway_harness::paths;
use gateway_harness::production::Production;
use gateway_harness::stack::RunDir;
use std::process::Command;

/// Sends `body` with http.client over TLS `rounds` times on fresh
/// connections (the listener's certificate names 127.0.0.1) and prints each
/// status and error code, or the exception.
const HTTP_CLIENT: &str = r#"
import http.client, json, ssl, sys
port, ca, path, rounds = sys.argv[1:]
body = open(path, "rb").read()
context = ssl.create_default_context(cafile=ca)
for _ in range(int(rounds)):
    conn = http.client.HTTPSConnection("127.0.0.1", int(port), timeout=60, context=context)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers={"authorization": "Bearer demo-key", "content-type": "application/json"})
        r = conn.getresponse()
        print(r.status, json.loads(r.read())["error"]["code"])
    except Exception as e:
        print("error", type(e).__name__)
    finally:
        conn.close()
"#;

const ROUNDS: usize = 5;

#[test]
fn a_client_that_reads_only_after_uploading_reads_the_413_over_tls() {
    let dir = RunDir::new("hardening-upload").unwrap();
    let (gateway, fake) = Production::start_with_fake(&dir).unwrap_or_else(|e| panic!("{e}"));
    let ca = gateway.listener.ca.display().to_string();

    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(64 << 20)
    );
    let path = dir.path.join("oversized.json");
    std::fs::write(&path, body).unwrap();

    let out = Command::new(paths::root().join(".venv/bin/python3"))
        .args([
            "-c",
            HTTP_CLIENT,
            gateway.port(),
            &ca,
            &path.display().to_string(),
            &ROUNDS.to_string(),
        ])
        .output()
        .unwrap();
    let results = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        results
            .lines()
            .filter(|l| *l == "413 request_too_large")
            .count(),
        ROUNDS,
        "http.client: {results}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for _ in 0..ROUNDS {
        let response = gateway
            .call(
                "/v1/chat/completions",
                &format!("@{}", path.display()),
                "--http2",
                &[],
            )
            .unwrap_or_else(|e| panic!("HTTP/2: {e}"));
        assert_eq!(response.status, 413, "HTTP/2: {}", response.text());
        assert_eq!(
            response.json()["error"]["code"],
            "request_too_large",
            "HTTP/2"
        );
    }
    assert!(
        fake.requests().unwrap().is_empty(),
        "an oversized request reached a provider"
    );
}
