//! A test's side of a running [`Stack`]: requests to it as a client, and
//! what reached its fake providers. A request curl cannot make fails the
//! test.

use crate::curl::{post_json_as, Response, DEMO_AUTH};
use crate::Stack;
use serde_json::Value;

/// POSTs the JSON `body` (a string, or `@file`) to `path` on `stack` as the
/// demo client, with extra curl args.
pub fn post(stack: &Stack, path: &str, body: &str, extra: &[&str]) -> Response {
    post_as(stack, path, body, DEMO_AUTH, extra)
}

/// [`post`] with the client's credential header `auth` (e.g.
/// `authorization: Bearer demo-intern-key`).
pub fn post_as(stack: &Stack, path: &str, body: &str, auth: &str, extra: &[&str]) -> Response {
    post_json_as(&stack.url(path), body, auth, extra).unwrap_or_else(|e| panic!("{e}"))
}

/// The last request that reached one of `stack`'s providers.
pub fn last_upstream(stack: &Stack) -> Value {
    stack
        .fake
        .requests()
        .unwrap_or_else(|e| panic!("{e}"))
        .pop()
        .expect("a request reached a provider")
}
