//! `gen-certs`: a throwaway CA and a server certificate it signs, so tests
//! can make Envoy verify this server (origination) or present it (termination)
//! without any certificate checked into the repository.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::Path;

/// SANs of the server certificate unless `--names` is given: loopback plus
/// provider-looking names tests can route and send as SNI.
pub const DEFAULT_NAMES: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "openai.fake.test",
    "anthropic.fake.test",
    "gemini.fake.test",
    "azure.fake.test",
    "collector.fake.test",
];

/// Writes `ca.pem`, `ca-key.pem`, `server.pem` and `server-key.pem` into `out`.
/// Names that parse as IP addresses become IP SANs, the rest DNS SANs.
pub fn generate(out: &Path, names: &[String]) -> Result<(), String> {
    fn err(what: &'static str) -> impl Fn(rcgen::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let ca_key = KeyPair::generate().map_err(err("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::new()).map_err(err("CA params"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.distinguished_name = name("fake-provider test CA");
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(err("CA certificate"))?;

    let server_key = KeyPair::generate().map_err(err("server key"))?;
    let mut server_params = CertificateParams::new(names.to_vec()).map_err(err("server names"))?;
    server_params.distinguished_name = name(names.first().map_or("fake-provider", String::as_str));
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(err("server certificate"))?;

    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for (file, pem) in [
        ("ca.pem", ca_cert.pem()),
        ("ca-key.pem", ca_key.serialize_pem()),
        ("server.pem", server_cert.pem()),
        ("server-key.pem", server_key.serialize_pem()),
    ] {
        let path = out.join(file);
        std::fs::write(&path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}
