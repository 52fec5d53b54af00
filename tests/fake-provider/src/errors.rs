//! Error bodies in each provider's own format, so filters and clients under
//! test parse errors exactly as they would from the real service.

use crate::reply::Reply;
use hyper::StatusCode;
use serde_json::json;

/// Which error body shape a path answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `{"error":{"message","type","param","code"}}` (OpenAI and Azure OpenAI).
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`.
    Anthropic,
    /// `{"error":{"code","message","status"}}` (Google RPC status).
    Gemini,
    /// `{"error": message}` for the audit collector and control endpoints.
    Plain,
}

impl ErrorFormat {
    /// An error reply; a 429 also carries `retry-after: 1` like real providers.
    pub fn reply(self, status: StatusCode, message: &str) -> Reply {
        let body = match self {
            ErrorFormat::OpenAi => {
                let (kind, code) = match status.as_u16() {
                    401 => ("invalid_request_error", json!("invalid_api_key")),
                    404 => ("invalid_request_error", json!(null)),
                    429 => ("requests", json!("rate_limit_exceeded")),
                    s if s >= 500 => ("server_error", json!(null)),
                    _ => ("invalid_request_error", json!(null)),
                };
                json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
            }
            ErrorFormat::Anthropic => {
                let kind = match status.as_u16() {
                    401 => "authentication_error",
                    403 => "permission_error",
                    404 => "not_found_error",
                    413 => "request_too_large",
                    429 => "rate_limit_error",
                    529 => "overloaded_error",
                    s if s >= 500 => "api_error",
                    _ => "invalid_request_error",
                };
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
            ErrorFormat::Gemini => {
                let rpc = match status.as_u16() {
                    401 => "UNAUTHENTICATED",
                    403 => "PERMISSION_DENIED",
                    404 => "NOT_FOUND",
                    429 => "RESOURCE_EXHAUSTED",
                    503 => "UNAVAILABLE",
                    504 => "DEADLINE_EXCEEDED",
                    s if s >= 500 => "INTERNAL",
                    _ => "INVALID_ARGUMENT",
                };
                json!({"error": {"code": status.as_u16(), "message": message, "status": rpc}})
            }
            ErrorFormat::Plain => json!({"error": message}),
        };
        let mut headers = Vec::new();
        if status == StatusCode::TOO_MANY_REQUESTS {
            headers.push(("retry-after", "1".to_owned()));
        }
        Reply::Json {
            status,
            body,
            headers,
        }
    }

    pub fn bad_request(self, message: &str) -> Reply {
        self.reply(StatusCode::BAD_REQUEST, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(reply: Reply) -> (serde_json::Value, Vec<(&'static str, String)>) {
        match reply {
            Reply::Json { body, headers, .. } => (body, headers),
            _ => unreachable!("error replies are JSON"),
        }
    }

    #[test]
    fn shapes_per_provider() {
        let (b, h) = body(ErrorFormat::OpenAi.reply(StatusCode::TOO_MANY_REQUESTS, "slow"));
        assert_eq!(b["error"]["code"], "rate_limit_exceeded");
        assert_eq!(h, vec![("retry-after", "1".to_owned())]);
        let (b, _) = body(ErrorFormat::Anthropic.bad_request("m"));
        assert_eq!(b["type"], "error");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        let (b, _) = body(ErrorFormat::Gemini.reply(StatusCode::SERVICE_UNAVAILABLE, "m"));
        assert_eq!(b["error"]["status"], "UNAVAILABLE");
        assert_eq!(b["error"]["code"], 503);
    }
}
