//! What the integration tests start: a real `redis-server` and instances of
//! the service, on loopback ports, each a harness `Process` (killed when
//! dropped, and through PR_SET_PDEATHSIG if the test runner dies), with
//! their logs in a harness `RunDir` that is kept when a test fails.

#![allow(dead_code)] // each test file uses a different part

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use gateway_harness::process::{Output, Process};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// A loopback port nobody listens on right now. Redis cannot be told to
/// pick one itself (`--port 0` disables TCP), so the tests pick it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A throwaway Redis: no snapshots, no append-only file, loopback only.
pub struct Redis {
    pub process: Process,
    pub port: u16,
}

impl Redis {
    /// Starts `redis-server` on a free port and waits until it answers PING.
    /// Retries a few times in case another process took the port first.
    pub fn start(dir: &Path) -> Redis {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Redis::start_on(dir, free_port()) {
                Ok(redis) => return redis,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}")
    }

    /// Starts `redis-server` on `port` (e.g. again, after a stop).
    pub fn start_on(dir: &Path, port: u16) -> Result<Redis, String> {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--protected-mode", "yes", "--dir"])
            .arg(dir);
        let log = dir.join(format!("redis-{port}.log"));
        let process = Process::spawn("redis-server", &mut command, Output::File(&log)).unwrap_or_else(|e| {
            panic!("{e}\nthe global-mode tests need Redis: apt-get install -y redis-server (.ci/run does)")
        });
        let mut redis = Redis { process, port };
        redis.wait_ready(Duration::from_secs(10))?;
        Ok(redis)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.ping() {
                return Ok(());
            }
            self.process.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "no PONG within {timeout:?}{}",
                    self.process.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// One instance of the service (the binary this crate builds).
pub struct Service {
    pub process: Process,
    /// `127.0.0.1:port` of its gRPC listener.
    pub grpc: String,
}

impl Service {
    /// Starts `ratelimit-service serve` on a free port with `limits`, its
    /// counters in `redis` (a URL) or in memory, and waits for its ready file.
    pub fn start(dir: &Path, name: &str, limits: &Path, redis: Option<&str>) -> Service {
        let ready = dir.join(format!("{name}.ready.json"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_ratelimit-service"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "debug",
                "--limits",
            ])
            .arg(limits);
        command.arg("--ready-file").arg(&ready);
        if let Some(url) = redis {
            command.args(["--redis", url]);
        }
        let log = dir.join(format!("{name}.log"));
        let mut process = Process::spawn(name, &mut command, Output::File(&log))
            .unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break text;
            }
            process.check_alive().unwrap_or_else(|e| panic!("{e}"));
            assert!(
                Instant::now() < deadline,
                "{name} not ready after 10 s{}",
                process.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let info: serde_json::Value = serde_json::from_str(&text).expect("ready file is JSON");
        let grpc = info["grpc"]
            .as_str()
            .expect("ready file names the grpc address")
            .to_owned();
        Service { process, grpc }
    }

    /// A real gRPC client (HTTP/2, tonic) connected to this instance.
    pub async fn client(&self) -> RateLimitServiceClient<Channel> {
        RateLimitServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.grpc))
    }

    /// The service's own log (decisions at debug level).
    pub fn log(&self) -> String {
        self.process
            .log_path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
}

/// Writes a limits file into `dir`.
pub fn write_limits(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("limits.json");
    std::fs::write(&path, json).expect("write limits file");
    path
}

/// A request with one descriptor `key=value`, charging `hits`.
pub fn request(domain: &str, key: &str, value: &str, hits: u32) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.to_owned(),
        descriptors: vec![RateLimitDescriptor {
            entries: vec![Entry {
                key: key.to_owned(),
                value: value.to_owned(),
            }],
            ..Default::default()
        }],
        hits_addend: hits,
    }
}
