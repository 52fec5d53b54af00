//! The `/__*` endpoints tests use to steer and inspect the server. They are
//! never recorded and never faulted, so inspecting cannot disturb a test.

use crate::errors::ErrorFormat;
use crate::reply::Reply;
use crate::routes::Control;
use crate::server::State;
use hyper::{Method, StatusCode};
use serde_json::Value;

pub async fn handle(control: Control, method: &Method, body: &[u8], state: &State) -> Reply {
    match (control, method) {
        (Control::Health, &Method::GET) => Reply::Text(StatusCode::OK, "ok"),
        (Control::Requests, &Method::GET) => Reply::ok(state.recorder.list()),
        (Control::Requests, &Method::DELETE) => {
            state.recorder.clear();
            Reply::ok(state.recorder.list())
        }
        (Control::Faults, &Method::GET) => Reply::ok(state.faults.list()),
        (Control::Faults, &Method::POST) => {
            let queued = serde_json::from_slice::<Value>(body)
                .map_err(|e| format!("body is not JSON: {e}"))
                .and_then(|json| state.faults.push_json(&json));
            match queued {
                Ok(list) => Reply::ok(list),
                Err(message) => ErrorFormat::Plain.bad_request(&message),
            }
        }
        (Control::Faults, &Method::DELETE) => {
            state.faults.clear();
            Reply::ok(state.faults.list())
        }
        (Control::Collector, &Method::GET) => Reply::ok(state.collector.stats().await),
        (Control::Collector, &Method::DELETE) => {
            state.collector.reset().await;
            Reply::ok(state.collector.stats().await)
        }
        (Control::Unknown, _) => {
            ErrorFormat::Plain.reply(StatusCode::NOT_FOUND, "unknown control path")
        }
        _ => ErrorFormat::Plain.reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}
