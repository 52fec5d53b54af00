//! Golden tests for every translator.
//!
//! `testdata/golden/<client-api>_to_<provider>/pair.json` names the client
//! API (method, path), the provider, the upstream model and options; the
//! directory names follow the translators' files in `src/translate`
//! (`openai_chat`, `openai_embeddings`, `openai_responses`, `azure_chat`,
//! `anthropic`, `gemini`, `gemini_embed`, `gemini_batch_embed`; then
//! `openai`, `azure`, `anthropic` or `gemini`). Each case directory beside
//! it holds any of these input → expected pairs:
//!
//! | input | expected |
//! | --- | --- |
//! | `request.json` (client body) | `upstream.json` (`path`, `set_headers`, `remove_headers`, `body`; `body: null` = unchanged) or `request_error.json` (`status`, `param`) |
//! | `response.json` (provider body) | `client_response.json` |
//! | `stream.sse` (provider bytes) | `client_stream.sse` |
//! | `error.json` (`status`, `body`) | `client_error.json` |
//!
//! Expected files hold what the client receives, so for a translator that
//! passes a body through they equal the provider's.
//!
//! JSON is compared semantically; streams event by event (names, ids and
//! JSON data), after feeding the provider stream whole, byte by byte and in
//! odd-sized chunks, which must all give the same events. The request (or
//! the pair's default one) is always translated first, as in the gateway,
//! because it sets the translator's streaming options.
//!
//! `GOLDEN_BLESS=1 cargo test -p llm-api --test golden` writes missing
//! expected files from the current output, for review before committing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use llm_api::sse::{SseEvent, SseParser};
use llm_api::{translator, ApiKind, LlmRequest, ProviderKind, TranslateOptions, Translator};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

struct PairSpec {
    api: ApiKind,
    provider: ProviderKind,
    model: String,
    options: TranslateOptions,
    default_request: Value,
}

fn read_json(path: &Path) -> Option<Value> {
    let text = fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn pair_spec(dir: &Path) -> PairSpec {
    let spec = read_json(&dir.join("pair.json"))
        .unwrap_or_else(|| panic!("{} has no pair.json", dir.display()));
    let text = |key: &str| {
        spec[key]
            .as_str()
            .unwrap_or_else(|| panic!("pair.json: {key}"))
            .to_owned()
    };
    let mut options = TranslateOptions {
        created: 1_700_000_000,
        ..TranslateOptions::default()
    };
    if let Some(version) = spec["options"]["azure_api_version"].as_str() {
        options.azure_api_version = version.to_owned();
    }
    if let Some(deployment) = spec["options"]["azure_deployment"].as_str() {
        options.azure_deployment = Some(deployment.to_owned());
    }
    if let Some(max) = spec["options"]["default_max_tokens"].as_u64() {
        options.default_max_tokens = max;
    }
    PairSpec {
        api: ApiKind::classify(&text("method"), &text("path")),
        provider: ProviderKind::from_name(&text("provider")).expect("provider"),
        model: text("upstream_model"),
        options,
        default_request: spec["request"].clone(),
    }
}

fn bless() -> bool {
    std::env::var_os("GOLDEN_BLESS").is_some()
}

/// Compares with the expected file, or writes it when blessing.
fn check_json(case: &Path, file: &str, actual: &Value, failures: &mut Vec<String>) {
    let path = case.join(file);
    match read_json(&path) {
        Some(expected) if expected == *actual => {}
        Some(expected) => failures.push(format!(
            "{}:\n  expected {}\n  actual   {}",
            path.display(),
            serde_json::to_string(&expected).unwrap(),
            serde_json::to_string(actual).unwrap()
        )),
        None if bless() => {
            fs::write(&path, serde_json::to_string_pretty(actual).unwrap() + "\n").unwrap()
        }
        None => failures.push(format!(
            "{} is missing (GOLDEN_BLESS=1 writes it)",
            path.display()
        )),
    }
}

fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn new_translator(spec: &PairSpec) -> Box<dyn Translator> {
    translator(&spec.api, spec.provider, &spec.model, &spec.options).unwrap()
}

fn translate_request(
    spec: &PairSpec,
    translator: &mut dyn Translator,
    request: &Value,
) -> Result<Value, Value> {
    let bytes = serde_json::to_vec(request).unwrap();
    let parsed = LlmRequest::parse(&spec.api, &bytes)
        .map_err(|e| json!({"status": e.status(), "param": e.param}))?;
    // The body as sent and as a stage changed it are two trees
    // (llm_api::json): both translate alike.
    let mut edited = parsed.clone();
    edited.body_mut();
    assert_eq!(
        translator.request(&parsed),
        translator.request(&edited),
        "the two trees translate differently"
    );
    let upstream = translator
        .request(&parsed)
        .map_err(|e| json!({"status": e.status(), "param": e.param}))?;
    // Pure: translating again (a retry) gives the same request.
    assert_eq!(
        translator.request(&parsed).ok(),
        Some(upstream.clone()),
        "request translation is not idempotent"
    );
    Ok(json!({
        "path": upstream.path,
        "set_headers": upstream.headers.set.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "remove_headers": upstream.headers.remove,
        "body": upstream.body.as_deref().map(body_json),
    }))
}

/// Events as comparable values: name, id and data (parsed when JSON).
fn event_values(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| json!({"event": e.event, "id": e.id, "data": e.data.as_deref().map(|d| body_json(d.as_bytes()))}))
        .collect()
}

fn parse_sse(bytes: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = parser.feed(bytes);
    events.extend(parser.finish());
    events
}

/// Runs the provider stream through a fresh translator in chunks of `size`
/// bytes (0 = whole): what the client receives.
fn translate_stream(spec: &PairSpec, request: &Value, stream: &[u8], size: usize) -> Vec<u8> {
    let mut translator = new_translator(spec);
    let _ = translate_request(spec, translator.as_mut(), request);
    translator.response_headers(200);
    let size = if size == 0 { stream.len().max(1) } else { size };
    let chunks: Vec<&[u8]> = stream.chunks(size).collect();
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        out.extend(
            translator
                .response_chunk(chunk, i + 1 == chunks.len())
                .unwrap_or_else(|| chunk.to_vec()),
        );
    }
    if chunks.is_empty() {
        out.extend(translator.response_chunk(b"", true).unwrap_or_default());
    }
    out
}

fn run_case(spec: &PairSpec, case: &Path, failures: &mut Vec<String>) -> usize {
    let mut checks = 0;
    let request =
        read_json(&case.join("request.json")).unwrap_or_else(|| spec.default_request.clone());
    let mut translator = new_translator(spec);
    let translated = translate_request(spec, translator.as_mut(), &request);
    if case.join("request.json").exists() {
        checks += 1;
        match &translated {
            Ok(upstream) => check_json(case, "upstream.json", upstream, failures),
            Err(error) => check_json(case, "request_error.json", error, failures),
        }
    }
    if let Some(response) = read_json(&case.join("response.json")) {
        checks += 1;
        translator.response_headers(200);
        let body = serde_json::to_vec(&response).unwrap();
        let out = translator.response_body(&body).unwrap().unwrap_or(body);
        check_json(case, "client_response.json", &body_json(&out), failures);
    }
    if let Ok(stream) = fs::read(case.join("stream.sse")) {
        checks += 1;
        let whole = translate_stream(spec, &request, &stream, 0);
        for size in [1, 7, 64] {
            let chunked = translate_stream(spec, &request, &stream, size);
            let same = event_values(&parse_sse(&chunked)) == event_values(&parse_sse(&whole));
            if !same {
                failures.push(format!(
                    "{}: chunks of {size} bytes give other events",
                    case.display()
                ));
            }
        }
        let actual = whole;
        let path = case.join("client_stream.sse");
        match fs::read(&path) {
            Ok(expected)
                if event_values(&parse_sse(&expected)) == event_values(&parse_sse(&actual)) => {}
            Ok(expected) => failures.push(format!(
                "{}:\n--- expected\n{}\n--- actual\n{}",
                path.display(),
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&actual)
            )),
            Err(_) if bless() => fs::write(&path, &actual).unwrap(),
            Err(_) => failures.push(format!(
                "{} is missing (GOLDEN_BLESS=1 writes it)",
                path.display()
            )),
        }
    }
    if let Some(error) = read_json(&case.join("error.json")) {
        checks += 1;
        let status = error["status"].as_u64().unwrap() as u16;
        let body = match &error["body"] {
            Value::String(raw) => raw.clone().into_bytes(),
            body => serde_json::to_vec(body).unwrap(),
        };
        let mut translator = new_translator(spec);
        let _ = translate_request(spec, translator.as_mut(), &request);
        translator.response_headers(status);
        let out = translator.response_body(&body).unwrap();
        assert_eq!(
            out,
            translator.error_body(status, &body),
            "{}: response_body and error_body differ",
            case.display()
        );
        check_json(
            case,
            "client_error.json",
            &body_json(&out.unwrap_or(body)),
            failures,
        );
    }
    checks
}

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn golden_files() {
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for pair in sorted_dirs(&golden_root()) {
        let spec = pair_spec(&pair);
        let mut checks = 0;
        let cases = sorted_dirs(&pair);
        for case in &cases {
            let n = run_case(&spec, case, &mut failures);
            assert!(n > 0, "{} has no input files", case.display());
            checks += n;
        }
        summary.push(format!(
            "{}: {} cases, {checks} checks",
            pair.file_name().unwrap().to_string_lossy(),
            cases.len()
        ));
    }
    println!("{}", summary.join("\n"));
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
