//! The production config: TLS termination on the listener with a certificate
//! from SDS files (HTTP/1.1 and HTTP/2 by ALPN) and TLS origination to every
//! provider with the provider's SNI, verified against a CA — here a test CA
//! and the fake providers' TLS port standing in for the real APIs.

use gateway_harness::production::Production;
use gateway_harness::stack::{FakeProvider, RunDir};

struct Gateway {
    gateway: Production,
    fake: FakeProvider,
    /// Held so the run directory (certificates, secrets, logs) outlives the test.
    _dir: RunDir,
}

fn start() -> Gateway {
    let dir = RunDir::new("tls").unwrap();
    let (gateway, fake) = Production::start_with_fake(&dir).unwrap_or_else(|e| panic!("{e}"));
    Gateway {
        gateway,
        fake,
        _dir: dir,
    }
}

impl Gateway {
    fn call(
        &self,
        path: &str,
        body: &str,
        http: &str,
        extra: &[&str],
    ) -> gateway_harness::curl::Response {
        self.gateway.call(path, body, http, extra).unwrap()
    }
}

#[test]
fn terminates_tls_and_originates_tls_with_each_providers_sni() {
    let gw = start();
    // (path, body, extra curl args, the provider host Envoy must present)
    let calls: [(&str, &str, &[&str], &str); 4] = [
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
            "api.openai.com",
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"Hi"}]}"#,
            &[],
            "api.anthropic.com",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            r#"{"contents":[{"parts":[{"text":"Hi"}]}]}"#,
            &[],
            "generativelanguage.googleapis.com",
        ),
        (
            "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
            r#"{"messages":[{"role":"user","content":"Hi"}]}"#,
            &["-H", "x-llm-provider: azure"],
            "example.openai.azure.com",
        ),
    ];
    for (http, (path, body, extra, sni)) in ["--http1.1", "--http2"].into_iter().cycle().zip(calls)
    {
        let response = gw.call(path, body, http, extra);
        assert_eq!(
            response.status,
            200,
            "{path} over {http}: {}",
            response.text()
        );
        let recorded = gw.fake.requests().unwrap();
        let last = recorded.last().unwrap();
        assert_eq!(last["listener"], "tls", "{path}");
        assert_eq!(last["sni"], sni, "{path}: SNI");
        assert_eq!(
            last["headers"][":authority"]
                .as_str()
                .or(last["headers"]["host"].as_str()),
            Some(sni),
            "{path}: Host"
        );
        // HTTP/2 to the provider, negotiated by ALPN.
        assert_eq!(last["http_version"], "HTTP/2", "{path}");
    }
}

#[test]
fn the_listener_speaks_http2_and_http1_by_alpn() {
    let gw = start();
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    for http in ["--http2", "--http1.1"] {
        let response = gw.call("/v1/chat/completions", body, http, &[]);
        assert_eq!(response.status, 200, "{http}");
    }
    let h2 = gw
        .gateway
        .envoy
        .stat("http.gateway.downstream_cx_http2_total")
        .unwrap();
    let h1 = gw
        .gateway
        .envoy
        .stat("http.gateway.downstream_cx_http1_total")
        .unwrap();
    assert_eq!((h1, h2), (Some(1), Some(1)));
}
