//! The pii-scan stage driven through its module's pipeline with Envoy in
//! memory (`wasm_glue::testing`): each action on requests, the answers the
//! client gets in its own format, the header, facts and counters, tokenized
//! values restored and the model's output scanned, whole and streamed. The
//! same through Envoy, for every field of every format, is in
//! tests/harness/tests/pii.rs and pii_fields.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::rc::Rc;
use wasm_glue::config::single_stage;
use wasm_glue::testing::{ClientRequest, MemoryHost, Outcome, ProviderResponse};
use wasm_glue::Stages;

const EMAIL: &str = "jane.doe@example.com";
const SSN: &str = "123-45-6789";

fn module(config: Value) -> (Rc<Stages>, MemoryHost) {
    let stages = single_stage(
        pii_scan::NAME,
        config.to_string().as_bytes(),
        pii_scan::stage,
    )
    .unwrap();
    (Rc::new(stages), MemoryHost::default())
}

fn chat(text: &str) -> ClientRequest {
    ClientRequest::post("/v1/chat/completions").json(&json!({"model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]}))
}

fn ok() -> ProviderResponse {
    ProviderResponse::json(
        200,
        &json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}}]}),
    )
}

/// The user message as the provider received it.
fn sent_text(out: &Outcome) -> String {
    let body = out.upstream.as_ref().expect("forwarded").json();
    body["messages"][1]["content"].as_str().unwrap().to_owned()
}

/// No value found in anything the stage published or logged.
fn assert_no_values(host: &MemoryHost, out: &Outcome) {
    let mut kept: Vec<String> = out.facts.values().cloned().collect();
    kept.extend(out.headers.values().cloned());
    kept.extend(host.log_lines());
    kept.extend(host.counters.keys().cloned());
    for text in kept {
        assert!(!text.contains(EMAIL) && !text.contains(SSN), "{text}");
    }
}

fn chunk(text: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {"content": text}}]})
    )
}

#[test]
fn values_are_redacted_before_the_provider_and_reported_by_type() {
    let (stages, mut host) = module(json!({}));
    let text = format!("Mail {EMAIL} about SSN {SSN}");
    let out = host.call(&stages, &chat(&text), &ok());
    assert_eq!(
        sent_text(&out),
        "Mail [EMAIL_REDACTED] about SSN [US_SSN_REDACTED]"
    );
    let upstream = out.upstream.as_ref().unwrap();
    assert_eq!(
        upstream.header("content-length"),
        None,
        "dropped: the body may change"
    );
    assert_eq!(upstream.json()["messages"][0]["content"], "Be brief.");
    assert_eq!(out.status, Some(200));
    assert_eq!(out.header("x-pii-detected"), Some("EMAIL,US_SSN"));
    assert_eq!(
        out.fact("llm.pii.findings"),
        Some("EMAIL:redact:1,US_SSN:redact:1")
    );
    assert_eq!(
        host.counter("llm_gateway.pii_scan.findings.EMAIL.redact"),
        1
    );
    assert_eq!(
        host.counter("llm_gateway.pii_scan.findings.US_SSN.redact"),
        1
    );
    assert_eq!(host.counter("llm_gateway.pii_scan.requests"), 1);
    assert_no_values(&host, &out);
}

#[test]
fn a_clean_request_passes_byte_for_byte_and_reports_nothing() {
    let (stages, mut host) = module(json!({}));
    let request = chat("What is the capital of France?");
    let out = host.call(&stages, &request, &ok());
    assert_eq!(out.upstream.as_ref().unwrap().body, request.chunks[0]);
    assert_eq!(out.header("x-pii-detected"), None);
    assert_eq!(out.fact("llm.pii.findings"), None);
    assert!(
        host.counters.keys().all(|k| !k.contains("findings")),
        "{:?}",
        host.counters
    );
}

#[test]
fn a_request_cut_into_chunks_is_scanned_whole() {
    let (stages, mut host) = module(json!({}));
    let request = chat(&format!("Write to {EMAIL} today")).in_chunks(5);
    assert!(request.chunks.len() > 10);
    let out = host.call(&stages, &request, &ok());
    assert_eq!(sent_text(&out), "Write to [EMAIL_REDACTED] today");
}

#[test]
fn block_answers_400_in_the_callers_format_naming_the_type_not_the_value() {
    let (stages, mut host) = module(json!({"entities": {"US_SSN": "block"}}));
    let anthropic = ClientRequest::post("/v1/messages").json(&json!({"model": "claude-sonnet-4-5",
        "max_tokens": 64, "messages": [{"role": "user", "content": format!("SSN {SSN}")}]}));
    let out = host.call(&stages, &anthropic, &ok());
    assert!(
        out.replied && out.upstream.is_none(),
        "nothing reaches a provider"
    );
    assert_eq!(out.status, Some(400));
    let body = out.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("US_SSN") && !message.contains(SSN),
        "{message}"
    );
    assert_eq!(out.fact("llm.pii.findings"), Some("US_SSN:block:1"));
    assert_no_values(&host, &out);

    let gemini = ClientRequest::post("/v1beta/models/gemini-2.5-flash:generateContent")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": format!("SSN {SSN}")}]}]}));
    let out = host.call(&stages, &gemini, &ok());
    assert_eq!(out.status, Some(400));
    assert_eq!(
        out.json()["error"]["status"],
        "INVALID_ARGUMENT",
        "Gemini's shape"
    );

    let out = host.call(&stages, &chat(&format!("SSN {SSN}")), &ok());
    assert_eq!(out.json()["error"]["code"], "pii_blocked", "OpenAI's shape");
}

#[test]
fn tokenized_values_go_upstream_as_placeholders_and_come_back_whole() {
    let (stages, mut host) = module(json!({"entities": {"EMAIL": "tokenize"}}));
    let request = chat(&format!("Mail {EMAIL}, then {EMAIL} again"));
    let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant",
        "content": "I wrote to <EMAIL_1>."}}]});
    let out = host.call(&stages, &request, &ProviderResponse::json(200, &answer));
    assert_eq!(sent_text(&out), "Mail <EMAIL_1>, then <EMAIL_1> again");
    assert_eq!(
        out.json()["choices"][0]["message"]["content"],
        format!("I wrote to {EMAIL}.")
    );
    assert_eq!(
        out.header("content-length"),
        None,
        "the answer was rewritten"
    );

    // Streamed, with the placeholder cut across events and across reads.
    let sse = [chunk("Sent to <EMA"), chunk("IL_1"), chunk(">, bye")].concat() + "data: [DONE]\n\n";
    for size in [1, 7, sse.len()] {
        let out = host.call(
            &stages,
            &request,
            &ProviderResponse::sse(&sse).in_chunks(size),
        );
        assert_eq!(
            out.chat_stream_text(),
            format!("Sent to {EMAIL}, bye"),
            "chunks of {size}"
        );
        assert!(out.text().ends_with("data: [DONE]\n\n"));
    }
}

#[test]
fn route_leaves_the_value_and_names_the_destination_for_the_route_stage() {
    let config = json!({"entities": {"US_SSN": "route"},
        "route_to": {"provider": "anthropic", "model": "claude-haiku-4-5"}});
    let (stages, mut host) = module(config);
    let text = format!("SSN {SSN}");
    let out = host.call(&stages, &chat(&text), &ok());
    assert_eq!(sent_text(&out), text);
    let route: Value = serde_json::from_str(out.fact("llm.pii.route").unwrap()).unwrap();
    assert_eq!(
        route,
        json!({"provider": "anthropic", "model": "claude-haiku-4-5"})
    );
    assert_eq!(out.fact("llm.pii.findings"), Some("US_SSN:route:1"));
    let out = host.call(&stages, &chat("nothing here"), &ok());
    assert_eq!(out.fact("llm.pii.route"), None);
}

#[test]
fn the_models_output_is_redacted_whole_and_streamed_when_configured() {
    let (stages, mut host) = module(json!({"response": {"default_action": "redact"}}));
    let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant",
        "content": format!("Her address is {EMAIL}.")}, "logprobs": {"content": [{"token": "jane"}]}}]});
    let out = host.call(
        &stages,
        &chat("Who is Jane?"),
        &ProviderResponse::json(200, &answer),
    );
    let choice = &out.json()["choices"][0];
    assert_eq!(
        choice["message"]["content"],
        "Her address is [EMAIL_REDACTED]."
    );
    assert_eq!(
        choice["logprobs"],
        Value::Null,
        "token pieces cannot be judged: dropped"
    );
    assert_eq!(
        out.fact("llm.pii.response_findings"),
        Some("EMAIL:redact:1")
    );
    assert_eq!(
        host.counter("llm_gateway.pii_scan.response_findings.EMAIL.redact"),
        1
    );
    assert_eq!(
        out.header("x-pii-detected"),
        None,
        "the header names the request's"
    );

    let sse = [
        chunk("Write to jane.d"),
        chunk("oe@exam"),
        chunk("ple.com now"),
    ]
    .concat()
        + "data: [DONE]\n\n";
    for size in [3, sse.len()] {
        let out = host.call(
            &stages,
            &chat("Who is Jane?"),
            &ProviderResponse::sse(&sse).in_chunks(size),
        );
        assert_eq!(
            out.chat_stream_text(),
            "Write to [EMAIL_REDACTED] now",
            "chunks of {size}"
        );
        assert!(!out.text().contains("exam"), "{}", out.text());
        assert_no_values(&host, &out);
    }
}

#[test]
fn documents_that_cannot_be_scanned_are_refused_in_the_callers_format() {
    let (stages, mut host) = module(json!({"binary_documents": "refuse"}));
    let document = |media_type: &str, data: &str| {
        ClientRequest::post("/v1/messages").json(
            &json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "document",
                "source": {"type": "base64", "media_type": media_type, "data": data}}]}]}),
        )
    };
    let out = host.call(&stages, &document("text/plain", "not base64 !!"), &ok());
    assert_eq!(out.status, Some(400));
    assert!(out.upstream.is_none());
    assert!(
        out.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`document`"),
        "{}",
        out.text()
    );
    let pdf = document("application/pdf", "JVBERi0xLjQK");
    let out = host.call(&stages, &pdf, &ok());
    assert_eq!(out.status, Some(400));
    assert!(out.text().contains("binary document"), "{}", out.text());

    // Text documents are decoded, redacted and sent back as base64.
    let text = document("text/plain", "Q29udGFjdCBqYW5lLmRvZUBleGFtcGxlLmNvbQ==");
    let out = host.call(&stages, &text, &ok());
    let sent = out.upstream.as_ref().unwrap().json();
    let data = sent["messages"][0]["content"][0]["source"]["data"]
        .as_str()
        .unwrap();
    assert_eq!(
        data, "Q29udGFjdCBbRU1BSUxfUkVEQUNURURd",
        "base64 of `Contact [EMAIL_REDACTED]`"
    );
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    for (config, field) in [
        (r#"{"entities": {"EMAIL": "shred"}}"#, "entities.EMAIL"),
        (r#"{"entities": {"EMAIL": "route"}}"#, "route_to"),
    ] {
        let err = single_stage(pii_scan::NAME, config.as_bytes(), pii_scan::stage)
            .err()
            .unwrap();
        assert_eq!(err.field, field, "{err}");
    }
}
