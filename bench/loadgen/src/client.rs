//! One keep-alive HTTP/1.1 connection, reopened after a failure, and the
//! exchange of one request: send, then read the body to its end.
//!
//! hyper's connection future is driven inside the same task as the request
//! (not spawned as a task of its own): a response then costs one task wake-up
//! instead of a hand-over between two tasks, which measurably lowers the
//! generator's CPU per request. The connection only needs polling while a
//! request is in flight, which is exactly when `drive` polls it.

use crate::request::RequestTemplate;
use crate::sse::FirstEventScanner;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{handshake, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::time::Instant;
use tokio::net::TcpStream;

/// A response read to its end.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    /// When the first content event completed (streaming requests only).
    pub first_event: Option<Instant>,
}

/// Why an exchange failed below HTTP: the message only (never a body).
#[derive(Debug)]
pub struct TransportError(pub String);

type Driver = Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// A connection slot: at most one connection, opened on demand.
pub struct Client {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// The connection's I/O future; `None` once it has finished.
    driver: Option<Driver>,
    scanner: FirstEventScanner,
    /// Connections opened so far.
    pub connects: u64,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            sender: None,
            driver: None,
            scanner: FirstEventScanner::default(),
            connects: 0,
        }
    }

    /// Opens the connection unless one is open and usable.
    pub async fn connect(&mut self) -> Result<(), TransportError> {
        if self.driver.is_some() && self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        self.disconnect();
        let stream = TcpStream::connect(self.addr).await.map_err(io_error)?;
        stream.set_nodelay(true).map_err(io_error)?;
        let (sender, connection) = handshake(TokioIo::new(stream)).await.map_err(http_error)?;
        self.sender = Some(sender);
        self.driver = Some(Box::pin(connection));
        self.connects += 1;
        Ok(())
    }

    /// Drops the connection (e.g. after abandoning a request on it).
    pub fn disconnect(&mut self) {
        self.sender = None;
        self.driver = None;
    }

    /// Sends one request and reads the whole response body. `stream` scans
    /// the body for the first SSE content event. Any failure drops the
    /// connection so the next exchange opens a new one.
    pub async fn exchange(
        &mut self,
        template: &RequestTemplate,
        stream: bool,
    ) -> Result<Reply, TransportError> {
        let result = self.try_exchange(template, stream).await;
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    async fn try_exchange(
        &mut self,
        template: &RequestTemplate,
        stream: bool,
    ) -> Result<Reply, TransportError> {
        self.connect().await?;
        let ready = match self.sender.as_mut() {
            Some(sender) => drive(&mut self.driver, sender.ready()).await.is_ok(),
            None => false,
        };
        if !ready {
            // The peer closed the idle connection (e.g. after
            // `connection: close`): nothing was sent, so open a new one.
            self.disconnect();
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(TransportError("no connection".to_owned()));
        };
        let exchange = send_and_read(sender, &mut self.scanner, template, stream);
        drive(&mut self.driver, exchange).await
    }
}

/// Polls `future` and, while it is pending, the connection that serves it.
/// When the connection finishes first, `future` still runs to its end: it
/// then sees the rest of the data or hyper's "connection closed" error.
async fn drive<T>(driver: &mut Option<Driver>, future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    if let Some(connection) = driver.as_mut() {
        let finished = tokio::select! {
            biased;
            out = &mut future => return out,
            _ = connection.as_mut() => true,
        };
        if finished {
            *driver = None;
        }
    }
    future.await
}

async fn send_and_read(
    sender: &mut SendRequest<Full<Bytes>>,
    scanner: &mut FirstEventScanner,
    template: &RequestTemplate,
    stream: bool,
) -> Result<Reply, TransportError> {
    let response = sender
        .send_request(template.build())
        .await
        .map_err(http_error)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut first_event = None;
    scanner.reset();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(http_error)?;
        if stream && first_event.is_none() {
            if let Some(data) = frame.data_ref() {
                if scanner.feed(data) {
                    first_event = Some(Instant::now());
                }
            }
        }
    }
    Ok(Reply {
        status,
        first_event,
    })
}

fn io_error(e: std::io::Error) -> TransportError {
    TransportError(e.to_string())
}

fn http_error(e: hyper::Error) -> TransportError {
    TransportError(e.to_string())
}
