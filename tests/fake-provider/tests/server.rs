//! End-to-end tests: the real binary on port 0, driven over HTTP/1.1, h2c and
//! TLS (HTTP/1.1 and HTTP/2 via ALPN).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_fake-provider");

/// A prompt marker that must never come back in answers or logs.
const SECRET: &str = "zebra-violet-prompt-marker";

fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "fake-provider-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Server {
    child: Child,
    http: String,
    tls: Option<String>,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str, extra: &[&str]) -> Server {
        let dir = scratch_dir(name);
        Self::start_in(dir, extra)
    }

    fn start_in(dir: PathBuf, extra: &[&str]) -> Server {
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let rest = line
            .trim()
            .strip_prefix("fake-provider listening http=")
            .unwrap_or_else(|| panic!("unexpected announce line {line:?}"));
        let (http, tls) = rest.split_once(" tls=").unwrap();
        let tls = (tls != "-").then(|| tls.to_owned());
        Server {
            child,
            http: http.to_owned(),
            tls,
            dir,
        }
    }

    async fn get_json(&self, path: &str) -> Value {
        let resp = send(&self.http, "GET", path, &[], "").await;
        assert_eq!(resp.status, StatusCode::OK, "{path}");
        resp.json()
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Resp {
        send(&self.http, "POST", path, headers, body).await
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap()
    }

    async fn requests(&self) -> Vec<Value> {
        self.get_json("/__requests").await["requests"]
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    frames: Vec<Bytes>,
}

impl Resp {
    fn bytes(&self) -> Vec<u8> {
        self.frames.concat()
    }

    fn text(&self) -> String {
        String::from_utf8(self.bytes()).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes()).unwrap()
    }

    /// `(event name, data)` of each SSE event.
    fn events(&self) -> Vec<(Option<String>, String)> {
        self.text()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|event| {
                let mut name = None;
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (name, data)
            })
            .collect()
    }

    fn data_json(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(&d).unwrap())
            .collect()
    }
}

fn request(
    uri: &str,
    host: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(method).uri(uri);
    if !host.is_empty() {
        req = req.header("host", host);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(body)).unwrap()
}

async fn collect(resp: hyper::Response<hyper::body::Incoming>) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push(data);
        }
    }
    Resp {
        status,
        headers,
        frames,
    }
}

/// One HTTP/1.1 request on a fresh connection.
async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(request(path, addr, method, headers, body.into()))
        .await
        .unwrap();
    collect(resp).await
}

/// Writes a raw HTTP/1.1 request and reads until the server closes.
async fn raw(addr: &str, path: &str, headers: &str, body: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "server did not close the connection");
    out
}

fn hex_sha256(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn chat_body(stream: bool, include_usage: bool) -> String {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": format!("Say hi. {SECRET}")},
        ],
    });
    if stream {
        body["stream"] = json!(true);
    }
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body.to_string()
}

#[tokio::test]
async fn openai_json_and_stream_agree() {
    let server = Server::start("openai", &[]);
    let plain = server
        .post("/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.headers["content-type"], "application/json");
    let completion = plain.json();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], "gpt-4o-mini");
    let text = completion["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    assert_eq!(text, "Hello from the fake openai provider.");
    // "You are terse." (14) + "Say hi. " + marker (8 + 26) = 48 chars -> 12, +3 per message
    assert_eq!(completion["usage"]["prompt_tokens"], 18);
    assert_eq!(completion["usage"]["completion_tokens"], 6);
    assert_eq!(completion["usage"]["total_tokens"], 24);
    assert_eq!(
        completion["usage"]["prompt_tokens_details"]["cached_tokens"],
        0
    );

    let again = server
        .post("/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(again.bytes(), plain.bytes(), "deterministic");

    let stream = server
        .post("/v1/chat/completions", &[], chat_body(true, false))
        .await;
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    let events = stream.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = stream.data_json();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage without include_usage"
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, text);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );

    let with_usage = server
        .post("/v1/chat/completions", &[], chat_body(true, true))
        .await;
    let chunks = with_usage.data_json();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], completion["usage"]);
    assert_eq!(chunks.iter().filter(|c| !c["usage"].is_null()).count(), 1);

    let tools = json!({"model": "gpt-4o-mini", "stream": true,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "messages": [{"role": "user", "content": "weather?"}]});
    let tool_stream = server
        .post("/v1/chat/completions", &[], tools.to_string())
        .await;
    let chunks = tool_stream.data_json();
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, "{}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    let embed = server
        .post(
            "/v1/embeddings",
            &[],
            json!({"model": "text-embedding-3-small", "input": ["abcd", "efgh"]}).to_string(),
        )
        .await
        .json();
    assert_eq!(embed["data"][1]["index"], 1);
    assert_eq!(embed["usage"]["prompt_tokens"], 2);
    let models = server.get_json("/v1/models").await;
    assert!(models["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt-4o-mini"));
    let responses = server
        .post(
            "/v1/responses",
            &[],
            json!({"model": "gpt-4o-mini", "input": "hello"}).to_string(),
        )
        .await
        .json();
    assert_eq!(responses["object"], "response");
    assert_eq!(responses["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(responses["usage"]["input_tokens"], 5);

    let streamed = server
        .post(
            "/v1/responses",
            &[],
            json!({"model": "gpt-4o-mini", "input": "hello", "stream": true}).to_string(),
        )
        .await;
    let names: Vec<String> = streamed
        .events()
        .into_iter()
        .map(|(n, _)| n.unwrap())
        .collect();
    assert_eq!(names.first().unwrap(), "response.created");
    assert_eq!(names.last().unwrap(), "response.completed");
    let completed = streamed.data_json().pop().unwrap();
    assert_eq!(completed["response"]["usage"], responses["usage"]);

    let unknown = server.post("/v1/nope", &[], "{}").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.json()["error"]["message"].is_string());
    let malformed = server.post("/v1/chat/completions", &[], "{not json").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");

    for resp in [&plain, &stream, &with_usage] {
        assert!(!resp.text().contains(SECRET));
    }
    assert!(!server.log().contains(SECRET));
    assert!(server.log().contains("POST /v1/chat/completions 200"));
}

#[tokio::test]
async fn stream_writes_split_events_and_merge_others() {
    let server = Server::start("split", &["--chunk-delay-ms", "0"]);
    let resp = server
        .post(
            "/v1/messages",
            &[
                ("x-fake-chunk-delay-ms", "25"),
                ("x-fake-reply-words", "12"),
            ],
            json!({"model": "claude-x", "max_tokens": 64, "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        )
        .await;
    let text = resp.text();
    let ends: Vec<usize> = text.match_indices("\n\n").map(|(i, _)| i + 2).collect();
    let mut pos = 0;
    let mut split_inside = false;
    for frame in &resp.frames {
        pos += frame.len();
        split_inside |= !ends.contains(&pos);
    }
    assert!(
        resp.frames.len() > 2,
        "several writes, got {}",
        resp.frames.len()
    );
    assert!(split_inside, "an event straddles two writes");
    assert!(
        resp.frames
            .iter()
            .any(|f| String::from_utf8_lossy(f).matches("\n\n").count() >= 2),
        "a write carries several events"
    );
}

#[tokio::test]
async fn anthropic_stream_has_the_real_event_sequence() {
    let server = Server::start("anthropic", &[]);
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
        "system": "be nice", "messages": [{"role": "user", "content": "hello"}]});
    let resp = server.post("/v1/messages", &[], body.to_string()).await;
    assert_eq!(resp.status, StatusCode::OK);
    let names: Vec<String> = resp.events().into_iter().map(|(n, _)| n.unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data = resp.data_json();
    // "be nice" + "hello" = 12 chars -> 3, two messages -> 6
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 9);
    assert_eq!(data[0]["message"]["usage"]["output_tokens"], 1);
    assert_eq!(data[7]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[7]["usage"]["output_tokens"], 6);

    let json_reply = server
        .post(
            "/v1/messages",
            &[],
            json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
                .to_string(),
        )
        .await
        .json();
    assert_eq!(json_reply["type"], "message");
    assert_eq!(json_reply["stop_reason"], "max_tokens");
    assert_eq!(json_reply["usage"]["output_tokens"], 5);

    let missing = server
        .post(
            "/v1/messages",
            &[],
            json!({"model": "c", "messages": []}).to_string(),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["type"], "error");
    let malformed = server.post("/v1/messages", &[], "[").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");

    let tool = json!({"model": "c", "max_tokens": 100, "stream": true,
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "find it"}]});
    let data = server
        .post("/v1/messages", &[], tool.to_string())
        .await
        .data_json();
    assert_eq!(data[1]["content_block"]["type"], "tool_use");
    let partial: String = data
        .iter()
        .filter_map(|d| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(partial, "{}");
}

#[tokio::test]
async fn gemini_sse_and_json() {
    let server = Server::start("gemini", &[]);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "tell me"}]}]}).to_string();
    let resp = server
        .post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            &[],
            body.clone(),
        )
        .await;
    assert_eq!(resp.headers["content-type"], "text/event-stream");
    let data = resp.data_json();
    assert!(data.len() >= 2);
    let text: String = data
        .iter()
        .filter_map(|d| d["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello from the fake gemini provider.");
    let last = data.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 5);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 6);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 11);

    let json_resp = server
        .post("/v1beta/models/gemini-2.5-flash:generateContent", &[], body)
        .await
        .json();
    assert_eq!(
        json_resp["candidates"][0]["content"]["parts"][0]["text"],
        text
    );
    assert_eq!(json_resp["usageMetadata"], last["usageMetadata"]);

    let embed = server
        .post(
            "/v1beta/models/text-embedding-004:embedContent",
            &[],
            json!({"content": {"parts": [{"text": "x"}]}}).to_string(),
        )
        .await
        .json();
    assert_eq!(embed["embedding"]["values"].as_array().unwrap().len(), 8);
    let bad = server
        .post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            &[],
            "nope",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn azure_needs_api_version() {
    let server = Server::start("azure", &[]);
    let ok = server
        .post(
            "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21",
            &[("api-key", "k")],
            chat_body(false, false),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let body = ok.json();
    assert_eq!(body["model"], "my-gpt4o");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the fake azure provider."
    );
    let missing = server
        .post(
            "/openai/deployments/my-gpt4o/chat/completions",
            &[],
            chat_body(false, false),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("api-version"));
    let embed = server
        .post(
            "/openai/deployments/emb/embeddings?api-version=2024-10-21",
            &[],
            json!({"input": "abc"}).to_string(),
        )
        .await
        .json();
    assert_eq!(embed["model"], "emb");
}

#[tokio::test]
async fn faults_by_header_and_control_endpoint() {
    let server = Server::start("faults", &[]);
    let failed = server
        .post(
            "/v1/chat/completions",
            &[("x-fake-fault", "status=503")],
            chat_body(false, false),
        )
        .await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.json()["error"]["type"], "server_error");
    let limited = server
        .post("/v1/messages", &[("x-fake-fault", "status=429")], "{}")
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.json()["error"]["type"], "rate_limit_error");
    let bad = server
        .post("/v1/chat/completions", &[("x-fake-fault", "explode")], "{}")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let start = Instant::now();
    let slow = server
        .post(
            "/v1/chat/completions",
            &[("x-fake-fault", "delay=300ms")],
            chat_body(false, false),
        )
        .await;
    assert_eq!(slow.status, StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(300));

    let queued = server
        .post(
            "/__control/faults",
            &[],
            json!({"fault": "status=502", "count": 2, "path_prefix": "/v1/chat"}).to_string(),
        )
        .await;
    assert_eq!(queued.status, StatusCode::OK);
    assert_eq!(queued.json()["faults"][0]["remaining"], 2);
    let other = server
        .post("/v1/embeddings", &[], json!({"input": "a"}).to_string())
        .await;
    assert_eq!(other.status, StatusCode::OK, "prefix does not match");
    for _ in 0..2 {
        let r = server
            .post("/v1/chat/completions", &[], chat_body(false, false))
            .await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    }
    let r = server
        .post("/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    server
        .post(
            "/__control/faults",
            &[],
            json!({"fault": "status=500", "count": 5}).to_string(),
        )
        .await;
    let cleared = send(&server.http, "DELETE", "/__control/faults", &[], "").await;
    assert_eq!(cleared.json()["faults"], json!([]));
    let r = server
        .post("/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let reset = raw(
        &server.http,
        "/v1/chat/completions",
        "x-fake-fault: reset\r\n",
        &chat_body(false, false),
    )
    .await;
    assert!(reset.is_empty(), "reset answers nothing");

    let truncated = raw(
        &server.http,
        "/v1/chat/completions",
        "x-fake-fault: truncate=3\r\n",
        &chat_body(true, false),
    )
    .await;
    let truncated = String::from_utf8(truncated).unwrap();
    assert!(truncated.starts_with("HTTP/1.1 200"));
    assert_eq!(truncated.matches("data: {").count(), 3);
    assert!(!truncated.contains("[DONE]"));
    assert!(!truncated.ends_with("0\r\n\r\n"), "no chunked terminator");
}

#[tokio::test]
async fn records_requests_but_not_control_calls() {
    let server = Server::start("record", &[]);
    let body = chat_body(false, false);
    server
        .post(
            "/v1/chat/completions?trace=1",
            &[
                ("X-Custom-Header", "Value-1"),
                ("authorization", "Bearer sk-test"),
            ],
            body.clone(),
        )
        .await;
    let health = send(&server.http, "GET", "/__health", &[], "").await;
    assert_eq!(health.text(), "ok");
    let records = server.requests().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["seq"], 1);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/v1/chat/completions?trace=1");
    assert_eq!(r["headers"]["x-custom-header"], "Value-1");
    assert_eq!(r["headers"]["authorization"], "Bearer sk-test");
    assert_eq!(r["body_len"], body.len());
    let sha: String = hex_sha256(body.as_bytes());
    assert_eq!(r["body_sha256"], sha);
    assert_eq!(r["body"], body);
    assert_eq!(r["sni"], Value::Null);
    assert_eq!(r["listener"], "http");
    assert_eq!(r["http_version"], "HTTP/1.1");

    // A 64 MiB body (tests push 16 MB through Envoy): kept as length and hash only.
    let big = format!("{{\"input\": \"{}\"}}", "a".repeat(64 * 1024 * 1024));
    let resp = server.post("/v1/embeddings", &[], big.clone()).await;
    assert_eq!(resp.status, StatusCode::OK);
    let records = server.requests().await;
    let r = records.last().unwrap();
    assert_eq!(r["body_len"], big.len());
    assert_eq!(r["body"], Value::Null);
    let sha: String = hex_sha256(big.as_bytes());
    assert_eq!(r["body_sha256"], sha);

    let cleared = send(&server.http, "DELETE", "/__requests", &[], "").await;
    assert_eq!(cleared.json()["requests"], json!([]));
    assert!(server.requests().await.is_empty());
}

#[tokio::test]
async fn h2c_prior_knowledge_on_the_plain_listener() {
    let server = Server::start("h2c", &[]);
    let stream = TcpStream::connect(&server.http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let uri = format!("http://{}/v1/chat/completions", server.http);
    let resp = sender
        .send_request(request(
            &uri,
            &server.http,
            "POST",
            &[],
            chat_body(true, true).into(),
        ))
        .await
        .unwrap();
    let resp = collect(resp).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.events().last().unwrap().1, "[DONE]");
    assert_eq!(server.requests().await[0]["http_version"], "HTTP/2");
}

async fn tls_request(server: &Server, ca: &Path, sni: &str, alpn: &[u8]) -> (Resp, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.tls.as_deref().unwrap())
        .await
        .unwrap();
    let tls = connector
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await
        .unwrap();
    let negotiated =
        String::from_utf8_lossy(tls.get_ref().1.alpn_protocol().unwrap_or_default()).into_owned();
    let uri = format!("https://{sni}/v1/messages");
    let body: Bytes =
        json!({"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
            .to_string()
            .into();
    let resp = if alpn == b"h2" {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
            .send_request(request(&uri, "", "POST", &[], body))
            .await
            .unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
            .send_request(request("/v1/messages", sni, "POST", &[], body))
            .await
            .unwrap()
    };
    (collect(resp).await, negotiated)
}

#[tokio::test]
async fn tls_with_generated_certs_records_sni() {
    let dir = scratch_dir("tls");
    let certs = dir.join("certs");
    let status = Command::new(BIN)
        .args(["gen-certs", "--out"])
        .arg(&certs)
        .status()
        .unwrap();
    assert!(status.success());
    for file in ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"] {
        assert!(certs.join(file).is_file(), "{file}");
    }
    let cert = certs.join("server.pem");
    let key = certs.join("server-key.pem");
    let ready = dir.join("ready.json");
    let server = Server::start_in(
        dir.clone(),
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--ready-file",
            ready.to_str().unwrap(),
        ],
    );
    let ready: Value = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    assert_eq!(ready["http"], server.http.as_str());
    assert_eq!(ready["tls"], server.tls.as_deref().unwrap());

    let ca = certs.join("ca.pem");
    let (resp, alpn) = tls_request(&server, &ca, "anthropic.fake.test", b"h2").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(alpn, "h2");
    let (resp, alpn) = tls_request(&server, &ca, "openai.fake.test", b"http/1.1").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(alpn, "http/1.1");
    let records = server.requests().await;
    assert_eq!(records[0]["sni"], "anthropic.fake.test");
    assert_eq!(records[0]["listener"], "tls");
    assert_eq!(records[0]["http_version"], "HTTP/2");
    assert_eq!(records[0]["headers"]["host"], "anthropic.fake.test");
    assert_eq!(records[1]["sni"], "openai.fake.test");
    assert_eq!(records[1]["http_version"], "HTTP/1.1");

    // Clean exit on SIGTERM.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn collector_appends_valid_batches() {
    let dir = scratch_dir("collector");
    let file = dir.join("nested/dir/audit.jsonl");
    let server = Server::start_in(
        dir,
        &[
            "--collector-file",
            file.to_str().unwrap(),
            "--collector-token",
            "s3cret",
        ],
    );
    let auth = [("authorization", "Bearer s3cret")];
    let unauthorized = server.post("/collector/records", &[], "{\"a\":1}\n").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    let ok = server
        .post("/collector/records", &auth, "{\"a\":1}\n\n{\"b\":2}\n")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json(), json!({"accepted": 2}));
    let invalid = server
        .post("/collector/records", &auth, "{\"c\":3}\nnot json\n")
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{\"a\":1}\n{\"b\":2}\n"
    );
    assert_eq!(
        server.get_json("/__collector").await,
        json!({"records": 2, "batches": 1})
    );

    server
        .post(
            "/__control/faults",
            &[],
            json!({"fault": "status=503", "path_prefix": "/collector"}).to_string(),
        )
        .await;
    let faulted = server
        .post("/collector/records", &auth, "{\"d\":4}\n")
        .await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    let ok = server
        .post("/collector/records", &auth, "{\"d\":4}\n")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
    assert!(
        server.requests().await.is_empty(),
        "collector posts are not recorded"
    );
}
