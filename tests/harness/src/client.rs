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

/// Makes `call` (given how many calls were admitted so far) until one is
/// refused with a 429: the admitted responses and the refusal. Any other
/// status fails the test, and so do `most` admitted calls (`never` says
/// what that means).
pub fn until_refused(
    most: usize,
    never: &str,
    mut call: impl FnMut(usize) -> Response,
) -> (Vec<Response>, Response) {
    let mut admitted = Vec::new();
    loop {
        let response = call(admitted.len());
        match response.status {
            200 => admitted.push(response),
            429 => return (admitted, response),
            other => panic!("unexpected {other}: {}", response.text()),
        }
        assert!(admitted.len() < most, "{never}");
    }
}
