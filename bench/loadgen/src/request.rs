//! The one request every run sends, prepared once.
//!
//! The body is a refcounted `Bytes` and the header map is built and validated
//! up front, so each send costs one header-map clone and nothing else of ours.

use crate::target::Target;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{HeaderMap, Method, Request, Uri};

/// Method, origin-form URI, headers and body of the request.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl RequestTemplate {
    /// POST with `content-type: application/json` when there is a body, GET
    /// otherwise. `Host` comes from the URL; `headers` (`name: value`) are
    /// added after those two and replace them when they name the same header.
    pub fn new(target: &Target, body: Option<Bytes>, headers: &[String]) -> Result<Self, String> {
        let uri: Uri = target
            .path_and_query
            .parse()
            .map_err(|e| format!("--url path `{}`: {e}", target.path_and_query))?;
        let mut map = HeaderMap::new();
        let host = HeaderValue::from_str(&target.authority)
            .map_err(|e| format!("--url host `{}`: {e}", target.authority))?;
        map.insert(HOST, host);
        let method = match body {
            Some(_) => {
                map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Method::POST
            }
            None => Method::GET,
        };
        let mut replaced = Vec::new();
        for line in headers {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("--header `{line}`: expected `name: value`"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("--header `{line}`: invalid header name"))?;
            // The value is not echoed: it may be an API key.
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| format!("--header `{name}`: invalid header value"))?;
            if !replaced.contains(&name) {
                map.remove(&name);
                replaced.push(name.clone());
            }
            map.append(name, value);
        }
        Ok(RequestTemplate {
            method,
            uri,
            headers: map,
            body: body.unwrap_or_default(),
        })
    }

    /// A fresh request (hyper consumes one per send).
    pub fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::parse("http://127.0.0.1:9/v1/chat/completions?x=1").unwrap()
    }

    #[test]
    fn post_with_json_body_and_headers() {
        let t = RequestTemplate::new(
            &target(),
            Some(Bytes::from_static(b"{}")),
            &[
                "Authorization: Bearer k".to_owned(),
                "x-a: 1".to_owned(),
                "x-a:2".to_owned(),
            ],
        )
        .unwrap();
        let r = t.build();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.uri(), "/v1/chat/completions?x=1");
        assert_eq!(r.headers()["host"], "127.0.0.1:9");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["authorization"], "Bearer k");
        let xa: Vec<_> = r.headers().get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
    }

    #[test]
    fn headers_replace_defaults_and_get_without_body() {
        let t = RequestTemplate::new(&target(), None, &["host: other".to_owned()]).unwrap();
        let r = t.build();
        assert_eq!(r.method(), Method::GET);
        assert_eq!(r.headers()["host"], "other");
        assert!(r.headers().get("content-type").is_none());
    }

    #[test]
    fn bad_headers_are_errors_without_the_value() {
        let err = RequestTemplate::new(&target(), None, &["novalue".to_owned()]).unwrap_err();
        assert!(err.contains("name: value"));
        let err =
            RequestTemplate::new(&target(), None, &["x-key: sec\u{1}ret".to_owned()]).unwrap_err();
        assert!(!err.contains("sec"), "{err}");
    }
}
