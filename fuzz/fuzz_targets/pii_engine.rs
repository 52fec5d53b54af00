//! The pii-scan engine: every built-in detector (and, on request, custom
//! regex, keyword and context detectors) in redact, tokenize and block mode
//! on arbitrary text, whole and streamed in arbitrary chunks.
//!
//! Input: byte 0 picks the engine (bit 0: with custom detectors and the
//! opt-in PERSON and ADDRESS), bytes 1..5
//! are chunk lengths (cycled, see `llm_gateway_fuzz::chunks`); the rest is
//! the text, scanned as raw bytes and, made valid UTF-8, as a string.
//!
//! Checks, beyond "no panic":
//! * findings are sorted, disjoint, non-empty and inside the text; built-in
//!   ones start and end on character boundaries (as `Engine::scan` says);
//! * redaction replaces exactly each finding's span by its label, and the
//!   redacted text never holds a finding's value, except where the same
//!   bytes also occur outside every finding (an undetected copy) or across
//!   a label (a value containing `[` or `]`, or part of a label);
//! * request redaction (`Policy::apply`) and response redaction
//!   (`redact_response`) agree;
//! * `StreamScanner` over any cut releases the same text and the same
//!   findings (stream offsets) as scanning the whole text, as stream.rs
//!   promises ("the result over any chunking equals the result over the
//!   whole text");
//! * tokenizing and restoring gives back the text, whole and through
//!   `StreamRestorer` over any cut;
//! * blocking names exactly the entity types found, sorted and distinct.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_gateway_fuzz::{chunks, header};
use pii_scan::engine::{
    Engine, EngineConfig, EntityKind, Finding, Policy, StreamRestorer, StreamScanner, Vault,
};
use pii_scan::{Action, Entity};
use std::sync::OnceLock;

fn builtin() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().expect("built-in engine"))
}

fn custom() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config: EngineConfig = serde_json::from_value(serde_json::json!({
            "custom": [
                {"name": "EMPLOYEE_ID", "regex": "\\bE-\\d{7}\\b", "max_len": 16},
                {"name": "CARD_REF", "regex": "\\bCR\\d{6,12}\\b", "validator": "luhn"},
                {"name": "PROJECT", "keywords": ["Bluebird", "Project Falcon"]}
            ],
            "context": [
                {"entity": "PHONE", "words": ["fax"], "boost": -0.6},
                {"entity": "EMPLOYEE_ID", "words": ["staff"], "boost": 0.1, "window": 32}
            ]
        }))
        .expect("engine config");
        config.opt_in = vec![Entity::Person, Entity::Address];
        Engine::new(&config).expect("custom engine")
    })
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether `value` occurs in `text` somewhere no finding covers.
fn occurs_outside_findings(text: &[u8], value: &[u8], findings: &[Finding]) -> bool {
    (0..=text.len().saturating_sub(value.len())).any(|at| {
        text.get(at..at + value.len()) == Some(value)
            && !findings
                .iter()
                .any(|f| at < f.end && f.start < at + value.len())
    })
}

fn check_findings(text: &[u8], findings: &[Finding]) {
    for f in findings {
        assert!(
            f.start < f.end && f.end <= text.len(),
            "finding out of bounds: {f:?}"
        );
    }
    for pair in findings.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "findings overlap or are unsorted: {findings:?}"
        );
    }
}

/// Redaction replaced each finding by its label and nothing else; no value
/// survives except where the rules above allow it.
fn check_redaction(policy: &Policy, text: &[u8], findings: &[Finding], out: &[u8]) {
    let mut expected = Vec::with_capacity(text.len());
    let mut copied = 0;
    for f in findings {
        expected.extend_from_slice(&text[copied..f.start]);
        expected.extend_from_slice(policy.label(&f.entity).as_bytes());
        copied = f.end;
    }
    expected.extend_from_slice(&text[copied..]);
    assert!(
        out == expected.as_slice(),
        "redaction is not exactly the findings replaced by labels"
    );
    for f in findings {
        let value = &text[f.start..f.end];
        if find(out, value) {
            let label = policy.label(&f.entity);
            let across_label =
                value.contains(&b'[') || value.contains(&b']') || find(label.as_bytes(), value);
            assert!(
                across_label || occurs_outside_findings(text, value, findings),
                "the redacted text still holds the value of {f:?}"
            );
        }
    }
}

fn redact(policy: &Policy, engine: &Engine, text: &[u8]) -> (Vec<u8>, Vec<Finding>) {
    let findings = engine.scan(text);
    let out = policy
        .redact_response(text, &findings)
        .unwrap_or_else(|| text.to_vec());
    (out, findings)
}

fn stream_redact(policy: &Policy, engine: &Engine, pieces: &[&[u8]]) -> (Vec<u8>, Vec<Finding>) {
    let mut scanner = StreamScanner::new();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    for piece in pieces {
        let s = scanner.push(engine, policy, piece);
        out.extend(s.text);
        findings.extend(s.findings);
    }
    let s = scanner.finish(engine, policy);
    out.extend(s.text);
    findings.extend(s.findings);
    assert_eq!(scanner.held(), 0, "held bytes after finish");
    (out, findings)
}

fuzz_target!(|data: &[u8]| {
    let ([mode, l0, l1, l2, l3], bytes) = header::<5>(data);
    let engine = if mode & 1 == 0 { builtin() } else { custom() };
    let lengths = [l0, l1, l2, l3];
    let redact_all = Policy::new(Action::Redact);

    // Raw bytes: whole, then streamed.
    let (whole_out, whole_findings) = redact(&redact_all, engine, bytes);
    check_findings(bytes, &whole_findings);
    check_redaction(&redact_all, bytes, &whole_findings, &whole_out);
    let pieces = chunks(bytes, &lengths);
    let (stream_out, stream_findings) = stream_redact(&redact_all, engine, &pieces);
    let cut: Vec<usize> = pieces.iter().map(|p| p.len()).collect();
    assert!(
        stream_findings == whole_findings,
        "streamed findings differ from whole-text findings (chunk lengths {cut:?}):\n  \
         stream {stream_findings:?}\n  whole  {whole_findings:?}"
    );
    assert!(
        stream_out == whole_out,
        "streamed redaction differs from whole-text redaction (chunk lengths {cut:?}):\n  \
         stream {:?}\n  whole  {:?}",
        String::from_utf8_lossy(&stream_out),
        String::from_utf8_lossy(&whole_out)
    );

    // As a string: request-side actions.
    let text = String::from_utf8_lossy(bytes);
    let findings = engine.scan(text.as_bytes());
    check_findings(text.as_bytes(), &findings);
    for f in &findings {
        if matches!(f.entity, EntityKind::Builtin(_)) {
            assert!(
                text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
                "a built-in finding splits a character: {f:?}"
            );
        }
    }
    let mut vault = Vault::new();
    let applied = redact_all.apply(&text, &findings, &mut vault);
    let response = redact_all
        .redact_response(text.as_bytes(), &findings)
        .unwrap_or_else(|| text.as_bytes().to_vec());
    assert!(
        applied.text.as_bytes() == response.as_slice(),
        "apply and redact_response disagree"
    );
    assert!(vault.is_empty());

    let mut expected: Vec<EntityKind> = findings.iter().map(|f| f.entity.clone()).collect();
    expected.sort();
    expected.dedup();
    let blocked = Policy::new(Action::Block)
        .apply(&text, &findings, &mut vault)
        .blocked;
    assert_eq!(blocked, expected, "blocked types are not the types found");

    let mut vault = Vault::new();
    let masked = Policy::new(Action::Tokenize)
        .apply(&text, &findings, &mut vault)
        .text
        .into_owned();
    assert!(
        vault.restore(&masked) == text,
        "tokenize then restore lost the text"
    );
    let mut restorer = StreamRestorer::new();
    let mut restored = Vec::new();
    for piece in chunks(masked.as_bytes(), &lengths) {
        restored.extend(restorer.push(&vault, piece));
    }
    restored.extend(restorer.finish(&vault));
    assert!(
        restored == text.as_bytes(),
        "streamed restore differs from the text"
    );
});
