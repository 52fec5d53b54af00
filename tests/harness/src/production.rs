//! The production template on loopback: its TLS listener with a test
//! certificate, and every provider at a local TLS address (a fake provider)
//! verified against a test CA, SNI and names staying the real providers'.

use crate::curl::{post_json, Response};
use crate::paths;
use crate::process::Output;
use crate::secrets;
use crate::stack::{Certs, Envoy, FakeProvider, RunDir};
use crate::{Layout, Template};
use std::path::Path;

/// The providers' template variable prefixes and the host names the
/// production template verifies their certificates against.
pub const PROVIDER_HOSTS: [(&str, &str); 4] = [
    ("OPENAI", "api.openai.com"),
    ("ANTHROPIC", "api.anthropic.com"),
    ("GEMINI", "generativelanguage.googleapis.com"),
    ("AZURE", "example.openai.azure.com"),
];

/// The name clients reach the gateway listener by (in `listener`'s names).
pub const GATEWAY_NAME: &str = "gateway.test";

/// A running production gateway.
pub struct Production {
    pub envoy: Envoy,
    /// The listener's certificate, whose CA clients trust.
    pub listener: Certs,
}

impl Production {
    /// [`Production::start`] with one fake provider (TLS) in place of every
    /// provider, its certificate and the listener's from one test CA.
    pub fn start_with_fake(dir: &RunDir) -> Result<(Production, FakeProvider), String> {
        let mut names = vec![GATEWAY_NAME, "localhost", "127.0.0.1"];
        names.extend(PROVIDER_HOSTS.map(|(_, host)| host));
        let certs = Certs::generate(&dir.path, &names)?;
        let fake = FakeProvider::start(
            &dir.path,
            Some(&certs),
            Output::File(&dir.path.join("fake.log")),
        )?;
        let tls = fake
            .tls
            .clone()
            .ok_or("the fake provider has no TLS listener")?;
        let upstreams = PROVIDER_HOSTS.map(|(provider, _)| (provider, tls.as_str()));
        let ca = certs.ca.clone();
        Ok((Production::start(dir, certs, &upstreams, &ca, &[])?, fake))
    }

    /// Renders `envoy/production.yaml` into `dir` and starts it: the listener
    /// on a free port with `listener`'s certificate, the client keys of the
    /// demo, a key `sk-test-<provider>` per provider, each provider at its
    /// `upstreams` address (`host:port`), provider certificates checked
    /// against `upstream_ca`, and `vars` on top.
    pub fn start(
        dir: &RunDir,
        listener: Certs,
        upstreams: &[(&str, &str)],
        upstream_ca: &Path,
        vars: &[(&str, &str)],
    ) -> Result<Production, String> {
        let sds = format!(
            "resources:\n- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: gateway_cert\n  tls_certificate:\n    certificate_chain: {{ filename: {} }}\n    private_key: {{ filename: {} }}\n",
            listener.cert.display(),
            listener.key.display()
        );
        secrets::write_atomic(&dir.path.join("gateway-cert.yaml"), &sds)?;
        secrets::write_client_keys(&dir.path, &secrets::DEMO_CLIENTS)?;
        for (provider, _) in PROVIDER_HOSTS {
            let provider = provider.to_ascii_lowercase();
            secrets::write_provider_key(&dir.path, &provider, &format!("sk-test-{provider}"))?;
        }
        let envoy_dir = paths::envoy_dir();
        let mut template = Template::load(
            &envoy_dir.join("production.yaml"),
            &envoy_dir.join("filters/production.json"),
            Layout::Bundle,
            &paths::wasm_dir(),
        )?;
        template
            .set("LISTENER_ADDRESS", "127.0.0.1")
            .set("LISTENER_PORT", 0)
            .set("ADMIN_PORT", 0)
            .set("SECRETS_DIR", dir.path.display())
            .set("UPSTREAM_CA_FILE", upstream_ca.display());
        for (provider, address) in upstreams {
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| format!("not host:port: {address}"))?;
            template
                .set(&format!("{provider}_HOST"), host)
                .set(&format!("{provider}_PORT"), port);
        }
        for (name, value) in vars {
            template.set(name, value);
        }
        let config = dir.path.join("production.yaml");
        template.write(&config)?;
        let envoy = Envoy::start(
            &config,
            &dir.path,
            2,
            Output::File(&dir.path.join("envoy.log")),
        )?;
        Ok(Production { envoy, listener })
    }

    /// The listener's port.
    pub fn port(&self) -> &str {
        self.envoy
            .listeners
            .get("gateway")
            .and_then(|a| a.rsplit_once(':'))
            .map_or("", |(_, port)| port)
    }

    /// curl to the TLS listener as [`GATEWAY_NAME`], trusting its CA, as
    /// the demo client; `http` is `--http1.1` or `--http2`.
    pub fn call(
        &self,
        path: &str,
        body: &str,
        http: &str,
        extra: &[&str],
    ) -> Result<Response, String> {
        let resolve = format!("{GATEWAY_NAME}:{}:127.0.0.1", self.port());
        let url = format!("https://{GATEWAY_NAME}:{}{path}", self.port());
        let ca = self.listener.ca.display().to_string();
        let mut args = vec![http, "--cacert", &ca, "--resolve", &resolve];
        args.extend_from_slice(extra);
        post_json(&url, body, &args)
    }
}
