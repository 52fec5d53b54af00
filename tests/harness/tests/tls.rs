//! The production config: TLS termination on the listener with a certificate
//! from SDS files (HTTP/1.1 and HTTP/2 by ALPN) and TLS origination to every
//! provider with the provider's SNI, verified against a CA — here a test CA
//! and the fake providers' TLS port standing in for the real APIs.

use gateway_harness::curl::{curl, DEMO_AUTH};
use gateway_harness::secrets;
use gateway_harness::paths;
use gateway_harness::process::Output;
use gateway_harness::stack::{Certs, Envoy, FakeProvider, RunDir};
use gateway_harness::{Layout, Template};

const PROVIDER_HOSTS: [&str; 4] =
    ["api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "example.openai.azure.com"];

struct Production {
    envoy: Envoy,
    fake: FakeProvider,
    certs: Certs,
    /// Held so the run directory (certificates, secrets, logs) outlives the test.
    _dir: RunDir,
}

fn start() -> Production {
    let dir = RunDir::new("tls").unwrap();
    let mut names = vec!["gateway.test", "localhost", "127.0.0.1"];
    names.extend(PROVIDER_HOSTS);
    let certs = Certs::generate(&dir.path, &names).unwrap();
    let fake = FakeProvider::start(&dir.path, Some(&certs), Output::File(&dir.path.join("fake.log"))).unwrap();
    let tls = fake.tls.clone().expect("fake provider TLS listener");
    let (host, port) = tls.rsplit_once(':').unwrap();

    // The SDS file Envoy watches for the listener certificate.
    let sds = format!(
        "resources:\n- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: gateway_cert\n  tls_certificate:\n    certificate_chain: {{ filename: {} }}\n    private_key: {{ filename: {} }}\n",
        certs.cert.display(),
        certs.key.display()
    );
    std::fs::write(dir.path.join("gateway-cert.yaml"), sds).unwrap();
    secrets::write_client_keys(&dir.path, &secrets::DEMO_CLIENTS).unwrap();
    for provider in ["openai", "anthropic", "gemini", "azure"] {
        secrets::write_provider_key(&dir.path, provider, &format!("sk-test-{provider}")).unwrap();
    }

    let envoy_dir = paths::envoy_dir();
    let mut template = Template::load(
        &envoy_dir.join("production.yaml"),
        &envoy_dir.join("filters/production.json"),
        Layout::Bundle,
        &paths::wasm_dir(),
    )
    .unwrap();
    template
        .set("LISTENER_ADDRESS", "127.0.0.1")
        .set("LISTENER_PORT", 0)
        .set("ADMIN_PORT", 0)
        .set("SECRETS_DIR", dir.path.display())
        .set("UPSTREAM_CA_FILE", certs.ca.display());
    for provider in ["OPENAI", "ANTHROPIC", "GEMINI", "AZURE"] {
        template.set(&format!("{provider}_HOST"), host).set(&format!("{provider}_PORT"), port);
    }
    let config = dir.path.join("production.yaml");
    template.write(&config).unwrap();
    let envoy = Envoy::start(&config, &dir.path, 2, Output::File(&dir.path.join("envoy.log"))).unwrap_or_else(|e| panic!("{e}"));
    Production { envoy, fake, certs, _dir: dir }
}

impl Production {
    /// curl to the TLS listener as `gateway.test`, trusting the test CA.
    fn call(&self, path: &str, body: &str, http: &str, extra: &[&str]) -> gateway_harness::curl::Response {
        let port = self.envoy.listeners["gateway"].rsplit_once(':').unwrap().1.to_owned();
        let resolve = format!("gateway.test:{port}:127.0.0.1");
        let url = format!("https://gateway.test:{port}{path}");
        let ca = self.certs.ca.display().to_string();
        let mut args = vec![
            url.as_str(), http, "--cacert", &ca, "--resolve", &resolve, "-H", DEMO_AUTH, "-H", "content-type: application/json",
            "--data-binary", body,
        ];
        args.extend_from_slice(extra);
        curl(&args).unwrap()
    }
}

#[test]
fn terminates_tls_and_originates_tls_with_each_providers_sni() {
    let gw = start();
    // (path, body, extra curl args, the provider host Envoy must present)
    let calls: [(&str, &str, &[&str], &str); 4] = [
        ("/v1/chat/completions", r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#, &[], "api.openai.com"),
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
    for (http, (path, body, extra, sni)) in ["--http1.1", "--http2"].into_iter().cycle().zip(calls) {
        let response = gw.call(path, body, http, extra);
        assert_eq!(response.status, 200, "{path} over {http}: {}", response.text());
        let recorded = gw.fake.requests().unwrap();
        let last = recorded.last().unwrap();
        assert_eq!(last["listener"], "tls", "{path}");
        assert_eq!(last["sni"], sni, "{path}: SNI");
        assert_eq!(last["headers"][":authority"].as_str().or(last["headers"]["host"].as_str()), Some(sni), "{path}: Host");
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
    let h2 = gw.envoy.stat("http.gateway.downstream_cx_http2_total").unwrap();
    let h1 = gw.envoy.stat("http.gateway.downstream_cx_http1_total").unwrap();
    assert_eq!((h1, h2), (Some(1), Some(1)));
}
