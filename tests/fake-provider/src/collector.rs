//! A stand-in for the audit filter's HTTP sink: `POST /collector/records`
//! takes a batch of JSON lines, checks the bearer token, and appends the
//! lines to a file that tests read back.

use crate::errors::ErrorFormat;
use crate::reply::Reply;
use hyper::{header, HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

#[derive(Default)]
struct Counts {
    records: u64,
    batches: u64,
}

pub struct Collector {
    file: Option<PathBuf>,
    token: Option<String>,
    /// Held across the file append so concurrent batches never interleave.
    counts: Mutex<Counts>,
}

impl Collector {
    pub fn new(file: Option<PathBuf>, token: Option<String>) -> Self {
        Self {
            file,
            token,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Validates and stores one batch; all lines or none are appended.
    pub async fn accept(&self, headers: &HeaderMap, body: &[u8]) -> Reply {
        if let Some(token) = &self.token {
            let expected = format!("Bearer {token}");
            let given = headers
                .get(header::AUTHORIZATION)
                .map(hyper::header::HeaderValue::as_bytes);
            if given != Some(expected.as_bytes()) {
                return ErrorFormat::Plain
                    .reply(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return ErrorFormat::Plain.bad_request("body is not UTF-8");
        };
        let mut lines = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if serde_json::from_str::<Value>(line).is_err() {
                return ErrorFormat::Plain.bad_request(&format!("line {} is not JSON", number + 1));
            }
            lines.push(line);
        }
        let mut counts = self.counts.lock().await;
        if let Some(path) = &self.file {
            if let Err(e) = append(path, &lines).await {
                return ErrorFormat::Plain.reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot append to collector file: {e}"),
                );
            }
        }
        counts.records += lines.len() as u64;
        counts.batches += 1;
        Reply::ok(json!({ "accepted": lines.len() }))
    }

    /// `{"records": N, "batches": M}` accepted since start (or last reset).
    pub async fn stats(&self) -> Value {
        let counts = self.counts.lock().await;
        json!({ "records": counts.records, "batches": counts.batches })
    }

    /// Zeroes the counts; the file is left alone.
    pub async fn reset(&self) {
        *self.counts.lock().await = Counts::default();
    }
}

async fn append(path: &PathBuf, lines: &[&str]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    file.write_all(out.as_bytes()).await?;
    file.flush().await
}
