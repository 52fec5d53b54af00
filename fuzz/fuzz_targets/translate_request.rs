//! Request translation: every translator in llm-api's `translate` (OpenAI →
//! Anthropic, OpenAI → Gemini, Anthropic → OpenAI/Azure, the chained
//! Anthropic → Gemini, embeddings → Gemini, and the pass-through pairs) on
//! arbitrary request bodies.
//!
//! Input: byte 0 picks the pair (`llm_gateway_fuzz::pairs`, modulo its
//! length), byte 1 the options and the upstream model name, the rest is the
//! client's body.
//!
//! Checks, beyond "no panic":
//! * `request` is pure: a second call (a retry) gives the same result;
//! * a refusal is the client's fault (4xx) and renders as a JSON object in
//!   the client's error format;
//! * an upstream body, when there is one, is a JSON object;
//! * the model name cannot change the shape of the upstream path (no added
//!   segments, query parameters or fragments, whatever it contains).

#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_api::{translator, LlmRequest, TranslateOptions, UpstreamRequest};
use llm_gateway_fuzz::{header, pair};
use serde_json::Value;

/// Upstream model names, plain and hostile.
const MODELS: [&str; 8] = [
    "m",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
    "a/b?c=d#e",
    "../../v1/x",
    "",
    "m odèl%2F&x=1",
];

fn shape(path: &str) -> [usize; 4] {
    ['/', '?', '#', '&'].map(|c| path.matches(c).count())
}

fn translate(
    kind: &llm_api::ApiKind,
    provider: llm_api::ProviderKind,
    model: &str,
    options: &TranslateOptions,
    request: &LlmRequest,
) -> Option<Result<UpstreamRequest, llm_api::ApiError>> {
    let mut t = translator(kind, provider, model, options).ok()?;
    let first = t.request(request);
    let second = t.request(request);
    assert_eq!(
        first.as_ref().ok(),
        second.as_ref().ok(),
        "request() is not pure"
    );
    assert_eq!(first.is_ok(), second.is_ok(), "request() is not pure");
    Some(first)
}

fuzz_target!(|data: &[u8]| {
    let ([choice, flags], body) = header::<2>(data);
    let (kind, provider) = pair(choice);
    let model = MODELS[usize::from(flags & 7)];
    let options = TranslateOptions {
        default_max_tokens: if flags & 8 == 0 { 4096 } else { 1 },
        azure_deployment: (flags & 16 != 0).then(|| "dep/../x?y".to_owned()),
        ..TranslateOptions::default()
    };
    let Ok(request) = LlmRequest::parse(&kind, body) else {
        return;
    };
    let Some(result) = translate(&kind, provider, model, &options, &request) else {
        panic!("no translator for a supported pair");
    };
    match result {
        Err(err) => {
            assert!(
                (400..500).contains(&err.status()),
                "a request refused with {}: {}",
                err.status(),
                err.message
            );
            let rendered: Value =
                serde_json::from_slice(&err.body(kind.dialect())).expect("error body is not JSON");
            assert!(rendered.is_object());
        }
        Ok(upstream) => {
            assert!(upstream.path.starts_with('/'), "path {:?}", upstream.path);
            if let Some(bytes) = &upstream.body {
                let sent: Value = serde_json::from_slice(bytes).expect("upstream body is not JSON");
                assert!(sent.is_object(), "upstream body is not an object");
            }
            if let Some(Ok(plain)) = translate(&kind, provider, "m", &options, &request) {
                assert_eq!(
                    shape(&upstream.path),
                    shape(&plain.path),
                    "model {model:?} changed the path's shape: {:?} vs {:?}",
                    upstream.path,
                    plain.path
                );
            }
        }
    }
});
