//! The production gateway against providers it must not trust, and against
//! a client that never finishes its request headers.
//!
//! One Envoy: OpenAI and Azure point at a fake provider whose certificate
//! comes from a CA the gateway does not trust; Anthropic and Gemini at one
//! whose certificate the trusted CA signed for another name. Neither may
//! receive a request (so neither sees a key), and the client reads a 503 in
//! its own format.

use gateway_harness::curl::Response;
use gateway_harness::process::Output;
use gateway_harness::production::{Production, GATEWAY_NAME, PROVIDER_HOSTS};
use gateway_harness::stack::{Certs, FakeProvider, RunDir};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn untrusted_providers_get_no_request_and_slow_headers_are_cut_off() {
    let dir = RunDir::new("hardening-tls").unwrap();
    let certs = |name: &str, names: &[&str]| {
        let path = dir.path.join(name);
        std::fs::create_dir_all(&path).unwrap();
        Certs::generate(&path, names).unwrap()
    };
    // The trusted CA signs the listener's certificate and one for a name
    // that is no provider's; another CA signs the providers' real names.
    let trusted = certs(
        "trusted",
        &[GATEWAY_NAME, "localhost", "127.0.0.1", "wrong.example"],
    );
    let unknown_ca = certs("unknown-ca", &PROVIDER_HOSTS.map(|(_, host)| host));
    let fake = |certs: &Certs, name: &str| {
        let path = dir.path.join(name);
        FakeProvider::start(&path, Some(certs), Output::File(&path.join("fake.log"))).unwrap()
    };
    let rogue = fake(&unknown_ca, "unknown-ca");
    let misnamed = fake(&trusted, "trusted");
    let (rogue_tls, misnamed_tls) = (rogue.tls.clone().unwrap(), misnamed.tls.clone().unwrap());
    let upstreams = [
        ("OPENAI", rogue_tls.as_str()),
        ("AZURE", rogue_tls.as_str()),
        ("ANTHROPIC", misnamed_tls.as_str()),
        ("GEMINI", misnamed_tls.as_str()),
    ];
    let ca = trusted.ca.clone();
    let gateway = Production::start(
        &dir,
        trusted,
        &upstreams,
        &ca,
        &[("REQUEST_HEADERS_TIMEOUT", "1s")],
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let chat = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let messages = r#"{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}"#;
    let openai: Response = gateway
        .call("/v1/chat/completions", chat, "--http1.1", &[])
        .unwrap();
    assert_eq!(openai.status, 503, "unknown CA: {}", openai.text());
    assert_eq!(
        openai.json()["error"]["code"],
        "upstream_unavailable",
        "{}",
        openai.text()
    );
    let anthropic = gateway
        .call("/v1/messages", messages, "--http2", &[])
        .unwrap();
    assert_eq!(anthropic.status, 503, "wrong name: {}", anthropic.text());
    assert_eq!(
        anthropic.json()["error"]["type"],
        "overloaded_error",
        "{}",
        anthropic.text()
    );
    for (fake, what) in [(&rogue, "unknown CA"), (&misnamed, "wrong name")] {
        assert!(
            fake.requests().unwrap().is_empty(),
            "{what}: the provider received a request (and a key)"
        );
    }

    // A client that sends part of its headers and then nothing is cut off
    // after REQUEST_HEADERS_TIMEOUT with a 408, not left holding a stream.
    let address = format!("127.0.0.1:{}", gateway.port());
    let ca = gateway.listener.ca.display().to_string();
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &address,
            "-servername",
            GATEWAY_NAME,
            "-CAfile",
            &ca,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = client.stdin.take().unwrap();
    stdin
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway.test\r\nx-slow: ")
        .unwrap();
    stdin.flush().unwrap();
    let mut stdout = client.stdout.take().unwrap();
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = Vec::new();
        let _ = stdout.read_to_end(&mut answer);
        let _ = sent.send(answer);
    });
    let started = Instant::now();
    let answer = received.recv_timeout(Duration::from_secs(8));
    let _ = client.kill();
    let _ = client.wait();
    drop(stdin);
    let answer = String::from_utf8_lossy(
        &answer.expect("the gateway still holds a client that never finished its headers"),
    )
    .into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after {:?}",
        started.elapsed()
    );
}
