//! Two translators run one after the other through an intermediate API, for
//! pairs that have no direct translator (Anthropic Messages → Gemini goes
//! through OpenAI chat completions).
//!
//! Composing keeps one copy of each mapping: a fix to Anthropic → OpenAI or
//! to OpenAI → Gemini reaches the chained pair too, and the chain itself only
//! moves bytes between the two. The price is one extra serialise and parse of
//! each body and stream event (see docs/benchmarks.md).
//!
//! Requests go `first` then `second`; responses, errors and streams go
//! `second` then `first`. Streams stay streams: each provider chunk is
//! translated by `second` into intermediate events, which `first` translates
//! at once, so only each parser's unfinished tail is ever held.

use super::{HeaderEdits, Translator, UpstreamRequest};
use crate::api::ApiKind;
use crate::error::{ApiError, ErrorKind};
use crate::request::LlmRequest;
use crate::usage::Usage;

/// `first` (client API → `via`) followed by `second` (`via` → provider).
pub(super) struct Chained<First, Second> {
    first: First,
    /// The API `first` writes and `second` reads.
    via: ApiKind,
    second: Second,
}

impl<First, Second> Chained<First, Second>
where
    First: Translator + 'static,
    Second: Translator + 'static,
{
    pub(super) fn boxed(first: First, via: ApiKind, second: Second) -> Box<dyn Translator> {
        Box::new(Chained { first, via, second })
    }
}

impl<First: Translator, Second: Translator> Translator for Chained<First, Second> {
    fn request(&mut self, request: &LlmRequest) -> Result<UpstreamRequest, ApiError> {
        let first = self.first.request(request)?;
        let mut via = match &first.body {
            Some(body) => LlmRequest::parse(&self.via, body).map_err(|_| {
                // The first translator wrote something the second cannot
                // read: a gateway bug, not the client's.
                ApiError::new(
                    ErrorKind::Internal,
                    "The gateway could not translate this request for the provider.",
                )
            })?,
            None => request.clone(),
        };
        // The client's choice to stream is the chain's. It is not re-read
        // from the intermediate body because some APIs carry it elsewhere
        // (Gemini in the path); the second translator picks the provider's
        // streaming path from it.
        via.stream = request.stream;
        let second = self.second.request(&via).map_err(|mut err| {
            // `param` would name a field of the intermediate request, which
            // the client never wrote; the message still says what is wrong.
            err.param = None;
            err
        })?;
        Ok(UpstreamRequest {
            path: second.path,
            headers: merge(first.headers, second.headers),
            body: second.body.or(first.body),
        })
    }

    fn response_headers(&mut self, status: u16) -> HeaderEdits {
        let second = self.second.response_headers(status);
        let first = self.first.response_headers(status);
        merge(second, first)
    }

    fn response_body(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
        // Error statuses too: each translator turns an error body into its
        // client's error format, so the provider's error reaches the client
        // in the client's format with the provider's message and status.
        let via = self.second.response_body(body)?;
        let out = self.first.response_body(via.as_deref().unwrap_or(body))?;
        Ok(out.or(via))
    }

    fn response_chunk(&mut self, chunk: &[u8], end_of_stream: bool) -> Option<Vec<u8>> {
        let via = self.second.response_chunk(chunk, end_of_stream);
        let out = self
            .first
            .response_chunk(via.as_deref().unwrap_or(chunk), end_of_stream);
        out.or(via)
    }

    fn error_body(&self, status: u16, body: &[u8]) -> Option<Vec<u8>> {
        let via = self.second.error_body(status, body);
        let out = self
            .first
            .error_body(status, via.as_deref().unwrap_or(body));
        out.or(via)
    }

    /// What the provider reported; the first translator only saw the
    /// intermediate copy of it (the fallback, should the second be a
    /// pass-through that reads no usage).
    fn usage(&self) -> Option<Usage> {
        self.second.usage().or_else(|| self.first.usage())
    }
}

/// The edits of `earlier` then `later` as one set, with the effect of
/// applying them in that order (the glue removes, then sets). Header names
/// compare case-insensitively.
fn merge(earlier: HeaderEdits, later: HeaderEdits) -> HeaderEdits {
    let HeaderEdits {
        mut set,
        mut remove,
    } = earlier;
    for name in later.remove {
        set.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        if !remove.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            remove.push(name);
        }
    }
    for (name, value) in later.set {
        set.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        remove.retain(|n| !n.eq_ignore_ascii_case(&name));
        set.push((name, value));
    }
    HeaderEdits { set, remove }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderKind;
    use crate::translate::{translator, TranslateOptions};

    fn anthropic_to_gemini(body: &str) -> (Box<dyn Translator>, Result<UpstreamRequest, ApiError>) {
        let api = ApiKind::AnthropicMessages;
        let mut t = translator(
            &api,
            ProviderKind::Gemini,
            "gemini-2.5-flash",
            &TranslateOptions::default(),
        )
        .unwrap();
        let request = LlmRequest::parse(&api, body.as_bytes()).unwrap();
        let upstream = t.request(&request);
        (t, upstream)
    }

    #[test]
    fn each_provider_event_is_sent_on_as_it_arrives() {
        let (mut t, upstream) = anthropic_to_gemini(
            r#"{"model":"m","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#,
        );
        assert!(upstream
            .unwrap()
            .path
            .ends_with(":streamGenerateContent?alt=sse"));
        t.response_headers(200);
        let first = br#"data: {"candidates":[{"content":{"parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":4}}"#;
        // Half an event: nothing to send yet.
        let out = t.response_chunk(&first[..20], false).unwrap();
        assert!(out.is_empty());
        let out = t.response_chunk(&first[20..], false).unwrap();
        assert!(out.is_empty());
        let out = String::from_utf8(t.response_chunk(b"\r\n\r\n", false).unwrap()).unwrap();
        assert!(out.contains("event: message_start"), "{out}");
        assert!(out.contains(r#""text":"Hel""#), "{out}");
        assert!(!out.contains("message_stop"), "{out}");
        let last = br#"data: {"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6}}

"#;
        let out = String::from_utf8(t.response_chunk(last, false).unwrap()).unwrap();
        assert!(
            out.contains(r#""text":"lo""#) && !out.contains("message_stop"),
            "{out}"
        );
        // Gemini streams just end: the close comes with the end of stream.
        let out = String::from_utf8(t.response_chunk(b"", true).unwrap()).unwrap();
        assert!(out.contains(r#""stop_reason":"end_turn""#), "{out}");
        assert!(
            out.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
            "{out}"
        );
        let usage = t.usage().unwrap();
        assert_eq!((usage.input, usage.output, usage.total), (4, 2, 6));
    }

    #[test]
    fn usage_of_a_whole_response_is_the_providers() {
        let (mut t, _) = anthropic_to_gemini(
            r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"Hi"}]}"#,
        );
        t.response_headers(200);
        let body = br#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":3,"thoughtsTokenCount":5,"totalTokenCount":18}}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&t.response_body(body).unwrap().unwrap()).unwrap();
        assert_eq!(out["content"][0]["text"], "Hi");
        let usage = t.usage().unwrap();
        assert_eq!((usage.input, usage.output, usage.total), (10, 8, 18));
    }

    #[test]
    fn refusals_name_the_provider_reached_and_the_clients_field() {
        let (_, upstream) = anthropic_to_gemini(
            r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#,
        );
        let err = upstream.unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages.0.content.0.type"));
        assert!(err.message.contains("gemini"), "{}", err.message);
        // Refused by the second translator: its `param` would name a field
        // of the intermediate OpenAI request, so there is none.
        let (_, upstream) = anthropic_to_gemini(
            r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"1"}]}]}"#,
        );
        let err = upstream.unwrap_err();
        assert_eq!((err.status(), err.param), (400, None));
    }

    fn edits(set: &[(&str, &str)], remove: &[&str]) -> HeaderEdits {
        HeaderEdits {
            set: set
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            remove: remove.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn later_edits_win_as_if_applied_in_order() {
        let merged = merge(
            edits(&[("x-a", "1"), ("x-b", "1")], &["x-c", "content-length"]),
            edits(&[("X-C", "2"), ("x-a", "2")], &["x-b", "Content-Length"]),
        );
        assert_eq!(
            merged,
            edits(&[("X-C", "2"), ("x-a", "2")], &["content-length", "x-b"])
        );
    }
}
