//! Binding, announcing and serving, with the conventions of the project's
//! other test servers (tests/fake-provider): bind first (port 0 picks a free
//! one), then write the optional ready file and print one ready line, then
//! serve until SIGTERM or SIGINT.

use crate::config::LimitsFile;
use crate::limiter::Limiter;
use crate::limits;
use crate::service::Service;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

/// What `serve` needs.
pub struct Config {
    pub listen: SocketAddr,
    pub limits_file: PathBuf,
    /// `redis://host:port`; `None` keeps counters in memory.
    pub redis: Option<String>,
    pub ready_file: Option<PathBuf>,
}

/// Loads the limits, connects the storage, binds, announces, serves.
pub async fn serve(config: Config) -> Result<(), String> {
    let file = LimitsFile::load(&config.limits_file).map_err(|e| e.to_string())?;
    let limits = limits::to_limitador(&file)?;
    let count = limits.len();
    let limiter = match &config.redis {
        Some(url) => Limiter::redis(url, limits).await?,
        None => Limiter::in_memory(limits),
    };
    let storage = limiter.storage_name();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(limits = count, storage, "limits loaded");
    announce(addr, storage, config.ready_file.as_ref())?;

    let service = RateLimitServiceServer::new(Service::new(Arc::new(limiter)));
    // One service, served without tonic's router (which would bring axum).
    Server::builder()
        .serve_with_incoming_shutdown(service, TcpIncoming::from(listener), shutdown_signal())
        .await
        .map_err(|e| format!("grpc server: {e}"))
}

/// The ready file `{"grpc": "IP:PORT"}` (written to a temporary name, then
/// renamed, so readers never see half a file), then the stdout line
/// `ratelimit-service listening grpc=IP:PORT storage=memory|redis`.
fn announce(addr: SocketAddr, storage: &str, ready_file: Option<&PathBuf>) -> Result<(), String> {
    if let Some(path) = ready_file {
        let ready = serde_json::json!({"grpc": addr.to_string(), "storage": storage});
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, ready.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write ready file {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "ratelimit-service listening grpc={addr} storage={storage}"
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| format!("cannot write to stdout: {e}"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!("no SIGTERM handler ({e}); stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
