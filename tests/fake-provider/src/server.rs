//! Listeners, connections and the per-request pipeline:
//! read body → record → faults → answer → frame (split writes, truncate).
//!
//! hyper is used directly (not a framework) because faults need to drop a
//! connection without a response or in the middle of a body, and the TLS
//! listener must attach the client's SNI to each request.

use crate::body::ChunkedBody;
use crate::collector::Collector;
use crate::errors::ErrorFormat;
use crate::faults::{Fault, FaultQueue};
use crate::recorder::{Connection, Received, Recorder};
use crate::reply::{self, ProviderRequest, Reply};
use crate::routes::{self, Endpoint, Route};
use crate::{anthropic, control, gemini, openai, scripted, sse, tls};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest accepted request body (tests push 16 MB bodies through Envoy).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Largest `x-fake-reply-words` (about 20 MB of reply text, enough to push a
/// 16 MB response through the gateway), so a typo cannot exhaust memory.
const MAX_REPLY_WORDS: usize = 3_000_000;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TlsListen {
    pub addr: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Config {
    pub listen: SocketAddr,
    pub tls: Option<TlsListen>,
    pub collector_file: Option<PathBuf>,
    pub collector_token: Option<String>,
    pub chunk_delay: Duration,
    pub ready_file: Option<PathBuf>,
}

/// Shared by all connections.
pub struct State {
    pub chunk_delay: Duration,
    pub recorder: Recorder,
    pub faults: FaultQueue,
    pub collector: Collector,
}

/// Binds, announces the addresses, serves until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> Result<(), String> {
    let bind_err = |addr: SocketAddr| move |e: io::Error| format!("cannot listen on {addr}: {e}");
    let http = TcpListener::bind(config.listen)
        .await
        .map_err(bind_err(config.listen))?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let tls = match &config.tls {
        Some(t) => {
            let acceptor = TlsAcceptor::from(tls::server_config(&t.cert, &t.key)?);
            let listener = TcpListener::bind(t.addr).await.map_err(bind_err(t.addr))?;
            Some((listener, acceptor))
        }
        None => None,
    };
    let tls_addr = match &tls {
        Some((listener, _)) => Some(listener.local_addr().map_err(|e| e.to_string())?),
        None => None,
    };
    announce(http_addr, tls_addr, config.ready_file.as_ref())?;

    let state = Arc::new(State {
        chunk_delay: config.chunk_delay,
        recorder: Recorder::default(),
        faults: FaultQueue::default(),
        collector: Collector::new(config.collector_file, config.collector_token),
    });
    tokio::spawn(accept_http(http, state.clone()));
    if let Some((listener, acceptor)) = tls {
        tokio::spawn(accept_tls(listener, acceptor, state));
    }
    shutdown_signal().await
}

/// The optional ready file (written to a temporary name then renamed, so
/// readers never see half a file), then the stdout line tests wait for: once
/// the line is out, the file exists too.
fn announce(
    http: SocketAddr,
    tls: Option<SocketAddr>,
    ready_file: Option<&PathBuf>,
) -> Result<(), String> {
    if let Some(path) = ready_file {
        let ready = json!({"http": http.to_string(), "tls": tls.map(|a| a.to_string())});
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, ready.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write ready file {}: {e}", path.display()))?;
    }
    let tls_text = tls.map_or_else(|| "-".to_owned(), |a| a.to_string());
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "fake-provider listening http={http} tls={tls_text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    Ok(())
}

async fn shutdown_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

fn log(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

async fn accept_http(listener: TcpListener, state: Arc<State>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    listener: "http",
                    sni: None,
                };
                tokio::spawn(serve_connection(stream, connection, state.clone()));
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

async fn accept_tls(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => {
                            let sni = stream.get_ref().1.server_name().map(str::to_owned);
                            let connection = Connection {
                                listener: "tls",
                                sni,
                            };
                            serve_connection(stream, connection, state).await;
                        }
                        Ok(Err(e)) => log(format_args!("tls handshake failed: {e}")),
                        Err(_) => log(format_args!("tls handshake timed out")),
                    }
                });
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// Accept errors (e.g. out of file descriptors) are transient: log, back off.
async fn accept_failed(e: io::Error) {
    log(format_args!("accept failed: {e}"));
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// HTTP/1.1 and HTTP/2 (ALPN on TLS, prior knowledge on plain TCP).
async fn serve_connection<S>(stream: S, connection: Connection, state: Arc<State>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(connection);
    let service = service_fn(move |req| handle(req, connection.clone(), state.clone()));
    // Errors here are clients going away and our own reset/truncate faults.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Logs one line per request: method, path (never the query: it can carry
/// API keys), status and time to response head. Never the body.
async fn handle(
    req: Request<Incoming>,
    connection: Arc<Connection>,
    state: Arc<State>,
) -> Result<Response<ChunkedBody>, io::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let result = respond(req, &connection, &state).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(response) => log(format_args!(
            "{method} {path} {} {ms:.1}ms",
            response.status().as_u16()
        )),
        Err(e) => log(format_args!("{method} {path} dropped ({e}) {ms:.1}ms")),
    }
    result
}

async fn respond(
    req: Request<Incoming>,
    connection: &Connection,
    state: &State,
) -> Result<Response<ChunkedBody>, io::Error> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let route = routes::route(&parts.method, path);
    let format = routes::error_format(path);
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            let reply = format.reply(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            return Ok(frame(reply, None, Duration::ZERO, 0));
        }
        Err(e) => return Err(io::Error::other(format!("reading request body: {e}"))),
    };
    // None: the audit collector, which is faultable but not recorded.
    let endpoint = match route {
        Route::Control(which) => {
            let reply = control::handle(which, &parts.method, &body, state).await;
            return Ok(frame(reply, None, Duration::ZERO, 0));
        }
        Route::CollectorRecords => None,
        Route::Provider(endpoint) => Some(endpoint),
    };
    let digest = reply::sha256(&body);
    if endpoint.is_some() {
        state.recorder.record(&Received {
            method: &parts.method,
            path_and_query: parts.uri.path_and_query().map_or(path, |p| p.as_str()),
            authority: parts.uri.authority().map(|a| a.as_str()),
            version: parts.version,
            headers: &parts.headers,
            body: &body,
            body_sha256: &digest,
            connection,
        });
    }
    let header_fault = match parts.headers.get("x-fake-fault") {
        Some(value) => match value
            .to_str()
            .map_err(|_| "not ASCII".to_owned())
            .and_then(Fault::parse)
        {
            Ok(fault) => fault,
            Err(message) => {
                let reply = format.bad_request(&format!("invalid x-fake-fault: {message}"));
                return Ok(frame(reply, None, Duration::ZERO, 0));
            }
        },
        None => Fault::default(),
    };
    let fault = header_fault.merge(state.faults.take(path).unwrap_or_default());
    if let Some(delay) = fault.delay {
        tokio::time::sleep(delay).await;
    }
    if fault.reset {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "fake fault: reset",
        ));
    }
    let reply = match fault.status {
        Some(status) => format.reply(
            status,
            &format!(
                "fake fault: injected status {}{}",
                status.as_u16(),
                key_fragment(&parts, status)
            ),
        ),
        None => match endpoint {
            Some(endpoint) => {
                scripted::reply(&parts).unwrap_or_else(|| answer(endpoint, &parts, &body, digest))
            }
            None => state.collector.accept(&parts.headers, &body).await,
        },
    };
    let reply = match header_number(&parts, "x-fake-huge-event") {
        Some(bytes) => with_huge_event(reply, bytes),
        None => reply,
    };
    let delay = header_number(&parts, "x-fake-chunk-delay-ms")
        .map_or(state.chunk_delay, Duration::from_millis);
    let mut response = frame(reply, fault.truncate, delay, sse::seed(&digest));
    if parts.headers.contains_key("x-fake-ratelimit-headers") {
        add_headers(response.headers_mut(), &PROVIDER_RATELIMIT_HEADERS);
    }
    if parts.headers.contains_key("x-fake-account-headers") {
        add_headers(response.headers_mut(), &PROVIDER_ACCOUNT_HEADERS);
    }
    Ok(response)
}

/// `x-fake-huge-event: N`: after a stream's first event, a `data:` line of
/// N bytes that no line end follows (the next event's first line continues
/// it), like a broken upstream whose event never ends. At most 64 MiB.
fn with_huge_event(reply: Reply, bytes: u64) -> Reply {
    let Reply::Stream {
        content_type,
        mut events,
    } = reply
    else {
        return reply;
    };
    let n = usize::try_from(bytes.min(64 << 20)).unwrap_or(0);
    let mut line = b"data: ".to_vec();
    line.resize(line.len() + n, b'x');
    events.insert(1.min(events.len()), Bytes::from(line));
    Reply::Stream {
        content_type,
        events,
    }
}

/// A 401 or 403 quotes the start and end of the key it refused, as the real
/// providers do (`Incorrect API key provided: sk-proj-...abcd`), so tests
/// can check that a gateway never passes such a message on.
fn key_fragment(parts: &Parts, status: StatusCode) -> String {
    if !matches!(status.as_u16(), 401 | 403) {
        return String::new();
    }
    let key = ["authorization", "x-api-key", "api-key", "x-goog-api-key"]
        .iter()
        .find_map(|name| parts.headers.get(*name)?.to_str().ok())
        .map(|value| value.trim_start_matches("Bearer ").to_owned())
        .unwrap_or_default();
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 8 {
        return String::new();
    }
    let start: String = chars[..4].iter().collect();
    let end: String = chars[chars.len() - 4..].iter().collect();
    format!(": incorrect API key provided: {start}...{end}")
}

/// `x-fake-ratelimit-headers`: the `x-ratelimit-*` headers OpenAI sends with
/// every response (the organisation's own limits), which a gateway that
/// sets its own must replace rather than repeat.
const PROVIDER_RATELIMIT_HEADERS: [(&str, &str); 6] = [
    ("x-ratelimit-limit-requests", "5000"),
    ("x-ratelimit-remaining-requests", "4999"),
    ("x-ratelimit-reset-requests", "12ms"),
    ("x-ratelimit-limit-tokens", "4000000"),
    ("x-ratelimit-remaining-tokens", "3999500"),
    ("x-ratelimit-reset-tokens", "7ms"),
];

/// `x-fake-account-headers`: the headers with which providers name the
/// account a key belongs to (OpenAI's organisation and project, Anthropic's
/// organisation) and set their cookies, which a gateway must not pass on.
const PROVIDER_ACCOUNT_HEADERS: [(&str, &str); 4] = [
    ("openai-organization", "org-fake-gateway-account"),
    ("openai-project", "proj_fake_gateway_account"),
    ("anthropic-organization-id", "fake-gateway-organization"),
    (
        "set-cookie",
        "__cf_bm=fake-gateway-cookie; path=/; HttpOnly",
    ),
];

fn add_headers(headers: &mut hyper::HeaderMap, added: &[(&'static str, &'static str)]) {
    for (name, value) in added {
        headers.insert(*name, hyper::header::HeaderValue::from_static(value));
    }
}

fn header_number(parts: &Parts, name: &str) -> Option<u64> {
    parts.headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The answer of a provider endpoint (or the 404 of an unknown path).
fn answer(endpoint: Endpoint, parts: &Parts, body: &[u8], digest: [u8; 32]) -> Reply {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let format = routes::error_format(path);
    let parse = || parse_request(parts, body, digest, format);
    let azure_version_missing = routes::query_param(query, "api-version").is_none_or(str::is_empty);
    match endpoint {
        Endpoint::NotFound => format.reply(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({} {path})", parts.method),
        ),
        Endpoint::OpenAiModels => openai::models(),
        Endpoint::OpenAiChat => with(parse(), |r| {
            openai::chat_completions(r, r.model(), "openai")
        }),
        Endpoint::OpenAiEmbeddings => with(parse(), |r| openai::embeddings(r, r.model())),
        Endpoint::OpenAiResponses => with(parse(), openai::responses),
        Endpoint::AnthropicMessages => with(parse(), anthropic::messages),
        Endpoint::GeminiGenerate { model, stream } => with(parse(), |r| {
            gemini::generate(r, &model, routes::gemini_framing(stream, query))
        }),
        Endpoint::GeminiEmbed { .. } => with(parse(), gemini::embed),
        Endpoint::GeminiBatchEmbed { .. } => with(parse(), gemini::batch_embed),
        Endpoint::AzureChat { .. }
        | Endpoint::AzureEmbeddings { .. }
        | Endpoint::AzureResponses
            if azure_version_missing =>
        {
            format.bad_request("Missing required query parameter: api-version")
        }
        Endpoint::AzureChat { deployment } => with(parse(), |r| {
            openai::chat_completions(r, &deployment, "azure")
        }),
        Endpoint::AzureEmbeddings { deployment } => {
            with(parse(), |r| openai::embeddings(r, &deployment))
        }
        Endpoint::AzureResponses => with(parse(), openai::responses),
    }
}

/// Parses a provider body (a JSON object); a malformed one is answered with
/// a 400 in the path's provider format.
fn parse_request(
    parts: &Parts,
    body: &[u8],
    digest: [u8; 32],
    format: ErrorFormat,
) -> Result<ProviderRequest, Reply> {
    let json = match serde_json::from_slice::<Value>(body) {
        Ok(json @ Value::Object(_)) => json,
        Ok(_) => return Err(format.bad_request("The request body must be a JSON object.")),
        Err(e) => {
            let message = format!("We could not parse the JSON body of your request: {e}");
            return Err(format.bad_request(&message));
        }
    };
    let reply_words = header_number(parts, "x-fake-reply-words").map(|n| {
        usize::try_from(n)
            .unwrap_or(MAX_REPLY_WORDS)
            .min(MAX_REPLY_WORDS)
    });
    let echo = parts
        .headers
        .get("x-fake-echo")
        .is_some_and(|v| v.as_bytes() == b"last-user");
    // `x-fake-ignore-stream-options`: behave like the OpenAI-compatible
    // servers that send no usage in streams whatever the request asks.
    let mut json = json;
    if parts.headers.contains_key("x-fake-ignore-stream-options") {
        if let Some(body) = json.as_object_mut() {
            body.remove("stream_options");
        }
    }
    Ok(ProviderRequest::new(json, digest, reply_words, echo))
}

fn with(
    parsed: Result<ProviderRequest, Reply>,
    answer: impl FnOnce(&ProviderRequest) -> Reply,
) -> Reply {
    match parsed {
        Ok(req) => answer(&req),
        Err(reply) => reply,
    }
}

/// Turns a reply into a response: JSON in one write, streams split into
/// deterministic writes with `delay` between them; `truncate` cuts the body
/// (first N events, or first N bytes of JSON) and then drops the connection.
fn frame(
    reply: Reply,
    truncate: Option<usize>,
    delay: Duration,
    seed: u64,
) -> Response<ChunkedBody> {
    let mut response = Response::builder();
    let body = match reply {
        Reply::Json {
            status,
            body,
            headers,
        } => {
            response = response
                .status(status)
                .header(header::CONTENT_TYPE, "application/json");
            for (name, value) in headers {
                response = response.header(name, value);
            }
            let bytes = Bytes::from(body.to_string());
            match truncate {
                Some(n) if n < bytes.len() => {
                    response = response.header(header::CONTENT_LENGTH, bytes.len());
                    ChunkedBody::writes(vec![bytes.slice(..n)], Duration::ZERO, true)
                }
                _ => ChunkedBody::full(bytes),
            }
        }
        Reply::Stream {
            content_type,
            mut events,
        } => {
            response = response
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CACHE_CONTROL, "no-cache");
            let cut = truncate.filter(|&n| n < events.len());
            if let Some(n) = cut {
                events.truncate(n);
            }
            ChunkedBody::writes(sse::split_writes(&events, seed), delay, cut.is_some())
        }
        Reply::Text(status, text) => {
            response = response
                .status(status)
                .header(header::CONTENT_TYPE, "text/plain");
            ChunkedBody::full(Bytes::from_static(text.as_bytes()))
        }
    };
    response.body(body).unwrap_or_else(|_| {
        let mut fallback = Response::new(ChunkedBody::full(Bytes::from_static(b"bad response")));
        *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
