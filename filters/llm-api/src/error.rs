//! Rejections written in the caller's own API format, so that SDKs surface
//! them as the errors their users already handle.

use crate::api::Dialect;
use serde_json::json;

/// What went wrong, independent of any provider's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    PayloadTooLarge,
    /// A body the gateway cannot read, e.g. in a content-encoding it does not
    /// decode: it could neither scan nor count it, so it does not pass.
    UnsupportedMediaType,
    RateLimited,
    Internal,
    /// The upstream answered with something that could not be understood.
    BadGateway,
    Unavailable,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The kind an upstream status stands for, so that a provider's error can
    /// be rewritten in the caller's vocabulary (the status itself is kept).
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            429 => ErrorKind::RateLimited,
            502 | 504 => ErrorKind::BadGateway,
            503 | 529 => ErrorKind::Unavailable,
            500..=599 => ErrorKind::Internal,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// OpenAI's `error.type` vocabulary.
    fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::PayloadTooLarge
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::NotFound => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::Internal | ErrorKind::BadGateway | ErrorKind::Unavailable => "server_error",
        }
    }

    /// Anthropic's `error.type` vocabulary.
    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::UnsupportedMediaType => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Internal | ErrorKind::BadGateway => "api_error",
            ErrorKind::Unavailable => "overloaded_error",
        }
    }

    /// Google's canonical status names used by Gemini.
    fn gemini_status(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::PayloadTooLarge
            | ErrorKind::UnsupportedMediaType => "INVALID_ARGUMENT",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::BadGateway | ErrorKind::Unavailable => "UNAVAILABLE",
        }
    }
}

/// A rejection the gateway itself produces. The message must never contain
/// prompt text, keys or PII values: it is returned to clients and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The request field at fault, when there is one (OpenAI's `param`).
    pub param: Option<String>,
    /// A machine-readable code (OpenAI's `code`), e.g. `invalid_json`.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// Reads a provider's error body (`dialect` is the provider's format)
    /// into an error the caller's format can express. The provider's message
    /// is kept: it is the provider's own wording about the request, which the
    /// client needs to fix it (the gateway returns it, never logs it).
    pub fn from_provider(dialect: Dialect, status: u16, body: &[u8]) -> ApiError {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        // Gemini streams wrap errors in an array.
        let value = value.get(0).cloned().unwrap_or(value);
        let error = value.get("error");
        let field = |key: &str| {
            error
                .and_then(|e| e.get(key))
                .and_then(serde_json::Value::as_str)
        };
        let message = field("message").map(str::to_owned).unwrap_or_else(|| {
            format!("The upstream provider answered with HTTP status {status}.")
        });
        let mut err = ApiError::new(ErrorKind::from_status(status), message);
        if dialect == Dialect::OpenAi {
            err.param = field("param").map(str::to_owned);
        }
        err
    }

    /// The JSON body for this error in `dialect`.
    pub fn body(&self, dialect: Dialect) -> Vec<u8> {
        let value = match dialect {
            Dialect::OpenAi => json!({
                "error": {
                    "message": self.message,
                    "type": self.kind.openai_type(),
                    "param": self.param,
                    "code": self.code,
                }
            }),
            Dialect::Anthropic => json!({
                "type": "error",
                "error": { "type": self.kind.anthropic_type(), "message": self.message }
            }),
            Dialect::Gemini => json!({
                "error": {
                    "code": self.kind.status(),
                    "message": self.message,
                    "status": self.kind.gemini_status(),
                }
            }),
        };
        // Serialising a `Value` built from strings and numbers cannot fail.
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn openai_shape_has_message_type_param_code() {
        let err = ApiError::invalid("bad model")
            .with_param("model")
            .with_code("model_not_found");
        let body = parse(err.body(Dialect::OpenAi));
        assert_eq!(body["error"]["message"], "bad model");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn anthropic_shape_is_typed_error_envelope() {
        let body =
            parse(ApiError::new(ErrorKind::RateLimited, "slow down").body(Dialect::Anthropic));
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["message"], "slow down");
    }

    #[test]
    fn gemini_shape_uses_canonical_status() {
        let body =
            parse(ApiError::new(ErrorKind::PayloadTooLarge, "too big").body(Dialect::Gemini));
        assert_eq!(body["error"]["code"], 413);
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    }

    #[test]
    fn provider_errors_are_read_in_each_format() {
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let err = ApiError::from_provider(Dialect::Anthropic, 529, anthropic);
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::Unavailable, "Overloaded")
        );
        let gemini = br#"[{"error":{"code":400,"message":"Bad arg","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(
            ApiError::from_provider(Dialect::Gemini, 400, gemini).message,
            "Bad arg"
        );
        let openai = br#"{"error":{"message":"m","type":"invalid_request_error","param":"messages","code":null}}"#;
        assert_eq!(
            ApiError::from_provider(Dialect::OpenAi, 400, openai)
                .param
                .as_deref(),
            Some("messages")
        );
        let err = ApiError::from_provider(Dialect::OpenAi, 502, b"<html>bad gateway</html>");
        assert_eq!(
            (err.kind, err.message.contains("502")),
            (ErrorKind::BadGateway, true)
        );
    }

    #[test]
    fn messages_are_json_escaped() {
        let body = parse(ApiError::invalid("quote \" and \n newline").body(Dialect::OpenAi));
        assert_eq!(body["error"]["message"], "quote \" and \n newline");
    }
}
