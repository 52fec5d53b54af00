//! The secrets a gateway reads from files: client API keys (loaded by Envoy's
//! `api_key_auth` through ECDS) and one key per provider (SDS generic
//! secrets for `credential_injector`). Envoy watches the directory, so any of
//! them rotates by replacing its file with an atomic rename, without restart.

use llm_api::providers::credential_headers;
use std::path::Path;

/// A client key accepted by the gateway and the client id it stands for.
pub struct ClientKey<'a> {
    pub key: &'a str,
    pub client: &'a str,
}

/// The demo's client keys: `demo-key` (every model) and `demo-intern-key`
/// (client `intern`, limited by the demo's allow-list).
pub const DEMO_CLIENTS: [ClientKey<'static>; 2] = [
    ClientKey {
        key: "demo-key",
        client: "demo",
    },
    ClientKey {
        key: "demo-intern-key",
        client: "intern",
    },
];

/// Writes `path` atomically (write aside, then rename), as Envoy's watch expects.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `client-keys.yaml`: the `api_key_auth` filter configuration, served to
/// Envoy by ECDS from the file. Keys are accepted in the header each SDK
/// sends its key in, which is the one its provider takes the gateway's key
/// in (`llm_api::providers::credential_headers`: `Authorization: Bearer`
/// for OpenAI, `x-api-key` for Anthropic, ...).
pub fn write_client_keys(dir: &Path, clients: &[ClientKey]) -> Result<(), String> {
    let credentials: Vec<String> = clients
        .iter()
        .map(|c| format!("    - {{ key: \"{}\", client: \"{}\" }}", c.key, c.client))
        .collect();
    let sources: Vec<String> = credential_headers()
        .map(|header| format!("{{ header: {header} }}"))
        .collect();
    let yaml = format!(
        "resources:\n- \"@type\": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig\n  name: client_auth\n  typed_config:\n    \"@type\": type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth\n    credentials:\n{}\n    key_sources: [{}]\n    forwarding: {{ header: x-client-id, hide_credentials: true }}\n",
        credentials.join("\n"),
        sources.join(", ")
    );
    write_atomic(&dir.join("client-keys.yaml"), &yaml)
}

/// `<provider>-key.yaml` (the SDS file) and `<provider>.key` (the key).
pub fn write_provider_key(dir: &Path, provider: &str, key: &str) -> Result<(), String> {
    let key_file = dir.join(format!("{provider}.key"));
    write_atomic(&key_file, key)?;
    let yaml = format!(
        "resources:\n- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: {provider}_key\n  generic_secret:\n    secret: {{ filename: \"{}\" }}\n",
        key_file.display()
    );
    write_atomic(&dir.join(format!("{provider}-key.yaml")), &yaml)
}
