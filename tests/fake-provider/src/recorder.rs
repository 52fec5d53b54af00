//! Recording of provider requests, so tests can check what Envoy actually
//! sent upstream (rewritten paths, injected headers, SNI, body integrity)
//! through `GET /__requests`.

use hyper::{HeaderMap, Method, Version};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Records kept; older ones are dropped to bound memory.
const MAX_RECORDS: usize = 1000;
/// Bodies up to this size are kept as text; larger ones only as length + hash.
const MAX_BODY_TEXT: usize = 64 * 1024;

/// What is known about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `"http"` or `"tls"`.
    pub listener: &'static str,
    /// The SNI server name the TLS client sent (None on plain HTTP or when
    /// the client sent none, e.g. for an IP address).
    pub sni: Option<String>,
}

/// One received request, as the recorder needs it.
pub struct Received<'a> {
    pub method: &'a Method,
    pub path_and_query: &'a str,
    /// The URI authority: HTTP/2's `:authority`, recorded as `host` when the
    /// request has no `host` header, so tests read the same key for both
    /// HTTP versions.
    pub authority: Option<&'a str>,
    pub version: Version,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub body_sha256: &'a [u8; 32],
    pub connection: &'a Connection,
}

#[derive(Default)]
struct Records {
    next_seq: u64,
    entries: VecDeque<Value>,
}

#[derive(Default)]
pub struct Recorder {
    records: Mutex<Records>,
}

impl Recorder {
    pub fn record(&self, request: &Received<'_>) {
        let mut headers = Map::new();
        for name in request.headers.keys() {
            let joined = request
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            headers.insert(name.as_str().to_owned(), Value::String(joined));
        }
        if let Some(authority) = request.authority {
            headers
                .entry("host")
                .or_insert_with(|| Value::String(authority.to_owned()));
        }
        let sha = crate::reply::hex(request.body_sha256);
        let text = (request.body.len() <= MAX_BODY_TEXT)
            .then(|| std::str::from_utf8(request.body).ok())
            .flatten();
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.next_seq += 1;
        let record = json!({
            "seq": records.next_seq,
            "method": request.method.as_str(),
            "path": request.path_and_query,
            "headers": headers,
            "body_len": request.body.len(),
            "body_sha256": sha,
            "body": text,
            "sni": request.connection.sni,
            "listener": request.connection.listener,
            "http_version": version_name(request.version),
        });
        if records.entries.len() == MAX_RECORDS {
            records.entries.pop_front();
        }
        records.entries.push_back(record);
    }

    /// `{"requests": [...]}`, oldest first.
    pub fn list(&self) -> Value {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        json!({ "requests": records.entries.iter().collect::<Vec<_>>() })
    }

    /// Drops the records; `seq` keeps counting so it stays unique.
    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .clear();
    }
}

/// `"HTTP/1.1"`, `"HTTP/2"`, ...
pub fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_bounds() {
        let recorder = Recorder::default();
        let mut headers = HeaderMap::new();
        headers.append("X-Test", "a".parse().unwrap());
        headers.append("x-test", "b".parse().unwrap());
        let connection = Connection {
            listener: "http",
            sni: None,
        };
        let big = vec![b'a'; MAX_BODY_TEXT + 1];
        let digest = crate::reply::sha256(&big);
        for i in 0..MAX_RECORDS + 5 {
            let body: &[u8] = if i == 0 { b"abc" } else { &big };
            recorder.record(&Received {
                method: &Method::POST,
                path_and_query: "/v1/x?y=1",
                authority: Some("h2.test"),
                version: Version::HTTP_11,
                headers: &headers,
                body,
                body_sha256: &digest,
                connection: &connection,
            });
        }
        let list = recorder.list();
        let requests = list["requests"].as_array().unwrap();
        assert_eq!(requests.len(), MAX_RECORDS);
        assert_eq!(requests[0]["seq"], 6);
        let last = &requests[MAX_RECORDS - 1];
        assert_eq!(last["headers"]["x-test"], "a, b");
        assert_eq!(last["headers"]["host"], "h2.test");
        assert_eq!(last["body"], Value::Null);
        assert_eq!(last["body_len"], MAX_BODY_TEXT + 1);
        assert_eq!(last["http_version"], "HTTP/1.1");
        recorder.clear();
        assert_eq!(recorder.list()["requests"].as_array().unwrap().len(), 0);
    }
}
