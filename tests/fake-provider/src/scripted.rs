//! `x-fake-reply`: a reply the test writes itself, for fields the generated
//! answers never carry (log-probabilities, reasoning, thinking, the events
//! that repeat a whole text). A JSON object is the whole response body; a
//! JSON array is a stream, one SSE event per element (`event:` named after
//! an element's `type`, a string element sent as the data as is, e.g.
//! `[DONE]`). The text comes from the test's header, never from the prompt.

use crate::reply::Reply;
use bytes::Bytes;
use hyper::http::request::Parts;
use serde_json::Value;

/// The scripted reply the request asks for, if any.
pub fn reply(parts: &Parts) -> Option<Reply> {
    let header = parts.headers.get("x-fake-reply")?;
    match serde_json::from_slice::<Value>(header.as_bytes()).ok()? {
        Value::Array(events) => Some(Reply::sse(events.iter().map(event).collect())),
        body @ Value::Object(_) => Some(Reply::ok(body)),
        _ => None,
    }
}

fn event(value: &Value) -> Bytes {
    let framed = match value {
        Value::String(data) => format!("data: {data}\n\n"),
        _ => match value.get("type").and_then(Value::as_str) {
            Some(name) => format!("event: {name}\ndata: {value}\n\n"),
            None => format!("data: {value}\n\n"),
        },
    };
    Bytes::from(framed)
}
