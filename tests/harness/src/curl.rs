//! curl, the real client the end-to-end tests drive the gateway with.

use std::process::Command;

/// A response as curl received it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `data:` payloads of an SSE response, `[DONE]` excluded, each
    /// of which must be JSON.
    pub fn sse_data(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
            .collect()
    }

    /// The `x-request-id` the gateway returned, which keys its audit record.
    pub fn request_id(&self) -> String {
        self.header("x-request-id")
            .expect("x-request-id returned to the client")
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Runs `curl -sS -i <args>` and parses the response. Interim 1xx responses
/// (e.g. `100 Continue` for large uploads) are skipped.
pub fn curl(args: &[&str]) -> Result<Response, String> {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "curl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse(&output.stdout)
}

fn parse(mut raw: &[u8]) -> Result<Response, String> {
    loop {
        let end = find(raw, b"\r\n\r\n").ok_or("no end of headers in curl output")?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        raw = &raw[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in `{head}`"))?;
        if (100..200).contains(&status) {
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        return Ok(Response {
            status,
            headers,
            body: raw.to_vec(),
        });
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The demo client key, as the OpenAI SDKs send it.
pub const DEMO_AUTH: &str = "authorization: Bearer demo-key";

/// POSTs a JSON body (a string, or `@file`) to `url` as the demo client, with
/// extra curl args.
pub fn post_json(url: &str, body: &str, extra: &[&str]) -> Result<Response, String> {
    post_json_as(url, body, DEMO_AUTH, extra)
}

/// [`post_json`] with the client's credential header `auth` (e.g.
/// `authorization: Bearer demo-intern-key`).
pub fn post_json_as(url: &str, body: &str, auth: &str, extra: &[&str]) -> Result<Response, String> {
    let mut args = vec![
        url,
        "-H",
        auth,
        "-H",
        "content-type: application/json",
        "--data-binary",
        body,
    ];
    args.extend_from_slice(extra);
    curl(&args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_skips_interim_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nX-A: b\r\n\r\n{\"x\":1}";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 413);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json()["x"], 1);
    }
}
