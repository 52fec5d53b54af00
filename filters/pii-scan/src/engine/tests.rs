//! Per-detector positives and hard negatives, actions, vault and streams.

use super::*;
use crate::config::{Action, Entity};

pub(super) fn engine() -> Engine {
    Engine::builtin().unwrap()
}

/// The (entity, value) pairs found in `text`.
pub(super) fn found(text: &str) -> Vec<(String, String)> {
    engine()
        .scan(text.as_bytes())
        .iter()
        .map(|f| (f.entity.name().to_owned(), text[f.start..f.end].to_owned()))
        .collect()
}

fn values(text: &str, entity: &str) -> Vec<String> {
    found(text)
        .into_iter()
        .filter(|(e, _)| e == entity)
        .map(|(_, v)| v)
        .collect()
}

#[track_caller]
fn assert_finds(entity: &str, text: &str, value: &str) {
    assert_eq!(
        values(text, entity),
        vec![value.to_owned()],
        "in {text:?}: {:?}",
        found(text)
    );
}

#[track_caller]
fn assert_none(text: &str) {
    assert!(found(text).is_empty(), "in {text:?}: {:?}", found(text));
}

/// Asserts that `text` holds nothing of `entity` (other entities may be
/// found in it).
#[track_caller]
fn assert_none_of(entity: &str, text: &str) {
    assert!(
        values(text, entity).is_empty(),
        "in {text:?}: {:?}",
        found(text)
    );
}

#[test]
fn emails() {
    assert_finds(
        "EMAIL",
        "Write to jane.doe+news@example.co.uk today.",
        "jane.doe+news@example.co.uk",
    );
    assert_finds(
        "EMAIL",
        "<mailto:ops@corp-mail.example.org>",
        "ops@corp-mail.example.org",
    );
    assert_finds(
        "EMAIL",
        r#"{"email":"m.mueller@firma.de"}"#,
        "m.mueller@firma.de",
    );
    for negative in [
        "ping @channel and @here",
        "see icon@2x.png",
        "npm i @types/node lodash@4.17.21",
        "git@github.com:org/repo.git",
        "user@localhost",
        "a@b.c",
    ] {
        assert_none(negative);
    }
}

#[test]
fn phones() {
    for (text, value) in [
        ("Call (415) 555-0132 now", "(415) 555-0132"),
        ("cell: 415-555-0132.", "415-555-0132"),
        ("tel 415.555.0132", "415.555.0132"),
        ("+1 415 555 0132 is the desk", "+1 415 555 0132"),
        ("1-800-555-0199", "1-800-555-0199"),
        ("+1 (212) 555-0147", "+1 (212) 555-0147"),
        ("Ring +44 20 7946 0958 tomorrow", "+44 20 7946 0958"),
        ("Tel.: +49 30 12345678", "+49 30 12345678"),
        ("+49 (0)89 2180-3456", "+49 (0)89 2180-3456"),
        ("+33 1 42 68 53 00", "+33 1 42 68 53 00"),
        ("appelez le 06 12 34 56 78", "06 12 34 56 78"),
        ("+14155550132", "+14155550132"),
        ("phone: 4155550132", "4155550132"),
    ] {
        assert_finds("PHONE", text, value);
    }
    for negative in [
        "ext. 4567",
        "room 555-0132",
        "call 4155550132x", // glued
        "order 4155550132",
        "Order #415-555-0132",
        "1700000000 seconds since epoch",
        "2024-01-15 10:30:00",
        "version 1.2.3",
        "+12",
        "3.14159265358979",
        "(123) 456-7890", // area code cannot start with 1
    ] {
        assert_none(negative);
    }
}

#[test]
fn ssns() {
    assert_finds("US_SSN", "SSN 078-05-1120.", "078-05-1120");
    assert_finds("US_SSN", "ssn: 219 09 9999", "219 09 9999");
    assert_finds("US_SSN", "my SSN is 219099999", "219099999");
    for negative in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45-6789-0001",
        "id 219099999",
        "invoice 219-09-9999",
        "2019-09-9999",
    ] {
        assert_none(negative);
    }
}

#[test]
fn cards() {
    for (text, value) in [
        ("card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
        ("4111-1111-1111-1111", "4111-1111-1111-1111"),
        ("pan=5500005555555559;", "5500005555555559"),
        ("amex 3782 822463 10005", "3782 822463 10005"),
        ("visa 4222222222222", "4222222222222"),
    ] {
        assert_finds("CREDIT_CARD", text, value);
    }
    for negative in [
        "4111 1111 1111 1112",
        "9111 1111 1111 1111 8",
        "order 1234567890123456",
        "tracking 4111.1111.1111.1111",
        "id: a4111111111111111",
    ] {
        assert_none_of("CREDIT_CARD", negative);
    }
}

#[test]
fn ibans() {
    assert_finds(
        "IBAN",
        "IBAN: DE89 3704 0044 0532 0130 00, BIC",
        "DE89 3704 0044 0532 0130 00",
    );
    assert_finds("IBAN", "GB82WEST12345698765432", "GB82WEST12345698765432");
    assert_finds(
        "IBAN",
        "compte FR14 2004 1010 0505 0001 3M02 606.",
        "FR14 2004 1010 0505 0001 3M02 606",
    );
    for negative in [
        "DE89 3704 0044 0532 0130 01",
        "DE89370400440532013",
        "XX89370400440532013000",
        "ADE89370400440532013000",
    ] {
        assert_none(negative);
    }
}

#[test]
fn ip_addresses() {
    let scan = engine()
        .scan(b"from 10.0.0.12 and 8.8.8.8 and fe80::1ff:fe23:4567:890a and 2001:db8::7334");
    let got: Vec<(usize, bool)> = scan.iter().map(|f| (f.start, f.private)).collect();
    assert_eq!(
        got,
        vec![(5, true), (19, false), (31, true), (60, false)],
        "{scan:?}"
    );
    assert_finds("IP_ADDRESS", "listen 127.0.0.1:8080", "127.0.0.1");
    assert_finds("IP_ADDRESS", "[::1]:443", "::1");
    for negative in [
        "version 1.2.3.4",
        "1.2.3.4.5",
        "256.1.1.1",
        "at 10:30:00",
        "mac 00:1a:2b:3c:4d:5e",
        "std::vector<int> a::b",
        "v1.2.3.4",
        "10.0.0.1a",
        "01.02.03.04",
    ] {
        assert_none(negative);
    }
}

#[test]
fn secrets() {
    for (text, value) in [
        ("key sk-proj-Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z end", "sk-proj-Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z"),
        ("sk-ant-api03-Zq8Yw7Xv6Ut5Sr4Qp3On2Ml1Kk0Jj9Ii8Hh7Gg", "sk-ant-api03-Zq8Yw7Xv6Ut5Sr4Qp3On2Ml1Kk0Jj9Ii8Hh7Gg"),
        ("token ghp_R2d2C3poBb8Yoda1Luke2Leia3Han4Solo5Chew", "ghp_R2d2C3poBb8Yoda1Luke2Leia3Han4Solo5Chew"),
        ("xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"),
        ("AIzaSyD3x4mPl3K3yV4lu3F0rT3st1ngPurp0s3", "AIzaSyD3x4mPl3K3yV4lu3F0rT3st1ngPurp0s3"),
        ("id AKIAZ7Q3XK5LMN2PQR4T,", "AKIAZ7Q3XK5LMN2PQR4T"),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ),
        (r#"{"password": "Tr0ub4dor&3"}"#, "Tr0ub4dor&3"),
        ("DB_PASSWORD=s3cr3t-Pa55", "s3cr3t-Pa55"),
        ("client_secret: 'q9Wm2Zx7Lp4Rt8Vn'", "q9Wm2Zx7Lp4Rt8Vn"),
        ("Passwort: Sommer2024!", "Sommer2024!"),
        ("mot de passe : Soleil#42", "Soleil#42"),
        ("contraseña=Gato-Negro-77", "Gato-Negro-77"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vR2mT4k", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vR2mT4k"),
    ] {
        assert_finds("SECRET", text, value);
    }
    let pem = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4f\nq8Zr0=\n-----END RSA PRIVATE KEY-----\nthanks";
    assert_finds("SECRET", pem, &pem[5..pem.len() - 7]);
    for negative in [
        "OPENAI_API_KEY=sk-...",
        "api_key = \"YOUR_API_KEY\"",
        "token: <token>",
        "password: xxxx",
        "\"apiKey\": \"${API_KEY}\"",
        "password = getpass()",
        "token = os.environ[\"TOKEN\"]",
        "secret = config.secret",
        "max_tokens: 1024",
        "the token: we count them",
        "\"password\": {\"type\": \"string\"}",
        "pip install scikit-learn; use sk-learn",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 on aws",
        "password == other",
        "token: sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ] {
        assert_none_of("SECRET", negative);
    }
}

#[test]
fn hard_negatives_stay_quiet() {
    for negative in [
        "request id 3f2504e0-4f89-41d3-9a0c-0305e82c3301 failed",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "released 2024-03-15T09:45:12.123Z, v2.14.0",
        "order ORD-2024-004512 shipped on 15.03.2024",
        "build 20240315.1 took 1,234,567 ms at 12:45:03",
        "Rechnung Nr. 2024/0815 vom 03.04.2024",
        "price: $1,299.99 (SKU 100-2345-88)",
        "lat 48.8566, lon 2.3522",
        "ISBN 978-3-16-148410-0",
    ] {
        assert_none(negative);
    }
}

#[test]
fn overlaps_resolve_to_the_longest() {
    // The card number's digits also contain phone-like runs.
    let got = found("pay with 4111 1111 1111 1111 please");
    assert_eq!(
        got,
        vec![("CREDIT_CARD".to_owned(), "4111 1111 1111 1111".to_owned())]
    );
}

#[test]
fn custom_detectors_and_context() {
    let config: EngineConfig = serde_json::from_value(serde_json::json!({
        "custom": [
            {"name": "EMPLOYEE_ID", "regex": "\\bEMP-\\d{6}\\b", "confidence": 0.6},
            {"name": "CARD_REF", "regex": "\\bREF\\d{16}\\b", "validator": "luhn"},
            {"name": "CODENAME", "keywords": ["Bluebird", "Project Falcon"]}
        ],
        "context": [
            {"entity": "EMPLOYEE_ID", "words": ["test"], "boost": -0.3},
            {"entity": "PHONE", "words": ["hotline"], "boost": 0.3}
        ],
        "min_confidence": 0.5
    }))
    .unwrap();
    let engine = Engine::new(&config).unwrap();
    let text = "EMP-123456 and test EMP-654321, REF4111111111111111 REF4111111111111112, project falcon and bluebirds; hotline 4155550132";
    let got: Vec<(String, &str)> = engine
        .scan(text.as_bytes())
        .iter()
        .map(|f| (f.entity.name().to_owned(), &text[f.start..f.end]))
        .collect();
    assert_eq!(
        got,
        vec![
            ("EMPLOYEE_ID".to_owned(), "EMP-123456"),
            ("CARD_REF".to_owned(), "REF4111111111111111"),
            ("CODENAME".to_owned(), "project falcon"),
            ("PHONE".to_owned(), "4155550132"),
        ]
    );
}

#[test]
fn bad_custom_config_names_the_field() {
    let bad = |v: serde_json::Value| Engine::new(&serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(
        bad(serde_json::json!({"custom": [{"name": "X", "regex": "("}]})).field,
        "custom[0].regex"
    );
    assert_eq!(
        bad(serde_json::json!({"custom": [{"name": "email", "regex": "a"}]})).field,
        "custom[0].name"
    );
    assert_eq!(
        bad(serde_json::json!({"custom": [{"name": "EMAIL", "regex": "a"}]})).field,
        "custom[0].name"
    );
    assert_eq!(
        bad(serde_json::json!({"custom": [{"name": "X"}]})).field,
        "custom[0].regex"
    );
    assert_eq!(
        bad(serde_json::json!({"context": [{"entity": "NOPE", "words": ["a"], "boost": 0.1}]}))
            .field,
        "context[0].entity"
    );
    assert_eq!(
        bad(serde_json::json!({"min_confidence": 2.0})).field,
        "min_confidence"
    );
    assert!(serde_json::from_value::<EngineConfig>(
        serde_json::json!({"custom": [{"name": "X", "regexp": "a"}]})
    )
    .is_err());
}

fn policy() -> Policy {
    Policy::new(Action::Redact)
        .with_action(Entity::Email.into(), Action::Tokenize)
        .with_action(Entity::UsSsn.into(), Action::Block)
        .with_action(Entity::IpAddress.into(), Action::Detect)
        .with_label(Entity::Phone.into(), "[PHONE]")
}

#[test]
fn actions_apply_per_entity() {
    let text =
        "From a@x.io to b@y.io, cc a@x.io; phone 415-555-0132; host 10.1.2.3; ssn 078-05-1120";
    let findings = engine().scan(text.as_bytes());
    let mut vault = Vault::new();
    let applied = policy().apply(text, &findings, &mut vault);
    assert_eq!(
        applied.text,
        "From <EMAIL_1> to <EMAIL_2>, cc <EMAIL_1>; phone [PHONE]; host 10.1.2.3; ssn [US_SSN_REDACTED]"
    );
    assert_eq!(applied.blocked, vec![EntityKind::Builtin(Entity::UsSsn)]);
    assert_eq!(vault.len(), 2);
    assert_eq!(format!("{vault:?}"), "Vault(2 placeholders)");
    let reply = "Sure, I wrote to <EMAIL_2> and <EMAIL_1>, not <EMAIL_3>.";
    assert_eq!(
        vault.restore(reply),
        "Sure, I wrote to b@y.io and a@x.io, not <EMAIL_3>."
    );
}

#[test]
fn placeholders_already_in_the_text_are_not_reused() {
    let text = "literal <EMAIL_1> and real c@z.io";
    let findings = engine().scan(text.as_bytes());
    let mut vault = Vault::new();
    let applied = policy().apply(text, &findings, &mut vault);
    assert_eq!(applied.text, "literal <EMAIL_1> and real <EMAIL_2>");
}

/// A client that types thousands of placeholders next to thousands of
/// values: issuing each placeholder by a search of the whole text once per
/// candidate number would be quadratic (minutes at this size); noting the typed
/// ones once makes it one pass.
#[test]
fn tokenizing_stays_linear_whatever_placeholders_the_client_typed() {
    let n = 20_000;
    let mut text: String = (1..=n).map(|k| format!("<EMAIL_{k}> ")).collect();
    text.extend((0..2_000).map(|k| format!("u{k}@example.com ")));
    let policy = Policy::new(Action::Tokenize);
    let findings = engine().scan(text.as_bytes());
    assert_eq!(findings.len(), 2_000);
    let mut vault = Vault::new();
    let started = std::time::Instant::now();
    let applied = policy.apply(&text, &findings, &mut vault);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(applied.text.ends_with(&format!("<EMAIL_{}> ", n + 2_000)));
    assert_eq!(
        vault.value(&format!("<EMAIL_{}>", n + 1)),
        Some("u0@example.com")
    );
    assert_eq!(
        vault.value("<EMAIL_1>"),
        None,
        "a typed placeholder is never issued"
    );
}

/// Many `<` that open a placeholder and never close it, in a whole reply
/// and streamed in small pieces: restoring reads each byte a bounded number
/// of times.
#[test]
fn restoring_stays_linear_on_unclosed_placeholders() {
    let mut vault = Vault::new();
    vault.tokenize(&Entity::Email.into(), "a@x.io");
    let reply = "<EMAIL_".repeat(200_000) + "<EMAIL_1>";
    let started = std::time::Instant::now();
    let restored = vault.restore(&reply);
    assert!(
        restored.ends_with("<EMAIL_a@x.io"),
        "the last one is restored"
    );
    let mut restorer = StreamRestorer::new();
    let mut out = Vec::new();
    for piece in reply.as_bytes().chunks(5) {
        out.extend(restorer.push(&vault, piece));
    }
    out.extend(restorer.finish(&vault));
    assert_eq!(out, restored.as_bytes());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unchanged_text_is_borrowed() {
    let mut vault = Vault::new();
    let applied = policy().apply("nothing here", &[], &mut vault);
    assert!(matches!(applied.text, std::borrow::Cow::Borrowed(_)));
    assert!(applied.blocked.is_empty());
}

#[test]
fn stream_restorer_holds_only_placeholder_prefixes() {
    let mut vault = Vault::new();
    vault.tokenize(&Entity::Email.into(), "a@x.io");
    let mut restorer = StreamRestorer::new();
    assert_eq!(restorer.push(&vault, b"Hi <EM"), b"Hi ");
    assert_eq!(restorer.held(), 3);
    assert_eq!(restorer.push(&vault, b"AIL_1"), b"");
    assert_eq!(
        restorer.push(&vault, b"> and <b>bold"),
        b"a@x.io and <b>bold"
    );
    assert_eq!(restorer.push(&vault, b" 3 < 4"), b" 3 < 4");
    assert_eq!(restorer.held(), 0);
    assert_eq!(restorer.push(&vault, b" <"), b" ");
    assert_eq!(restorer.finish(&vault), b"<");
}

#[test]
fn stream_scanner_catches_values_split_across_chunks() {
    let engine = engine();
    let policy = Policy::new(Action::Redact);
    let mut scanner = StreamScanner::new();
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for chunk in [
        "Mail jane.d",
        "oe@exam",
        "ple.com or call +1 415 ",
        "555 0132",
        " soon. ",
        "Done",
    ] {
        let s = scanner.push(&engine, &policy, chunk.as_bytes());
        out.extend(s.text);
        findings.extend(s.findings);
    }
    let s = scanner.finish(&engine, &policy);
    out.extend(s.text);
    findings.extend(s.findings);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Mail [EMAIL_REDACTED] or call [PHONE_REDACTED] soon. Done"
    );
    let spans: Vec<(usize, usize)> = findings.iter().map(|f| (f.start, f.end)).collect();
    assert_eq!(spans, vec![(5, 25), (34, 49)]);
}

#[test]
fn stream_scanner_holds_back_little_on_prose() {
    let engine = engine();
    let policy = Policy::new(Action::Redact);
    let mut scanner = StreamScanner::new();
    let s = scanner.push(
        &engine,
        &policy,
        b"The quick brown fox jumps over the lazy dog. ",
    );
    assert_eq!(s.text.len(), 45);
    assert_eq!(scanner.held(), 0);
    let s = scanner.push(&engine, &policy, b"It was ");
    assert_eq!(s.text, b"It was ");
    scanner.push(&engine, &policy, b"seen");
    assert_eq!(scanner.held(), 4);
}

/// Streams `pieces` through a `StreamScanner`: the released text and the
/// findings (stream offsets).
fn stream_scan(pieces: &[&[u8]]) -> (Vec<u8>, Vec<Finding>) {
    let engine = engine();
    let policy = Policy::new(Action::Redact);
    let mut scanner = StreamScanner::new();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    for piece in pieces {
        let s = scanner.push(&engine, &policy, piece);
        out.extend(s.text);
        findings.extend(s.findings);
    }
    let s = scanner.finish(&engine, &policy);
    out.extend(s.text);
    findings.extend(s.findings);
    assert_eq!(scanner.held(), 0);
    (out, findings)
}

/// Chunks of `text` whose lengths cycle through `lengths` (0 is an empty
/// chunk), as the `pii_engine` fuzz target cuts its input.
fn cycled<'t>(text: &'t [u8], lengths: &[usize]) -> Vec<&'t [u8]> {
    assert!(lengths.iter().any(|&l| l > 0));
    let (mut pieces, mut rest) = (Vec::new(), text);
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(len.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// The stream over `pieces` releases what the whole-text scan gives.
#[track_caller]
fn assert_stream_matches_whole(pieces: &[&[u8]]) {
    let text = pieces.concat();
    let whole = engine().scan(&text);
    let whole_out = Policy::new(Action::Redact)
        .redact_response(&text, &whole)
        .unwrap_or_else(|| text.clone());
    let (out, findings) = stream_scan(pieces);
    let lengths: Vec<usize> = pieces.iter().map(|p| p.len()).collect();
    assert_eq!(findings, whole, "chunk lengths {lengths:?}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&whole_out),
        "chunk lengths {lengths:?}"
    );
}

/// The same over every cut into two pieces and byte by byte.
#[track_caller]
fn assert_stream_matches_whole_over_any_cut(text: &[u8]) {
    for k in 0..=text.len() {
        assert_stream_matches_whole(&[&text[..k], &text[k..]]);
    }
    assert_stream_matches_whole(&cycled(text, &[1]));
}

fn spans(findings: &[Finding]) -> Vec<(&str, usize, usize)> {
    findings
        .iter()
        .map(|f| (f.entity.name(), f.start, f.end))
        .collect()
}

/// fuzz/regressions/pii_engine/phone_split_after_open_paren: a chunk
/// ending in `(` hid that the number goes on (`(` + digit is a group), so
/// the stream emitted `+4949 ` and never found the phone.
#[test]
fn stream_finds_a_phone_cut_after_its_parenthesis() {
    let text = b"+4949 (4)633";
    assert_eq!(spans(&engine().scan(text)), vec![("PHONE", 0, 12)]);
    let pieces = cycled(text, &[7, 31, 255, 34]);
    assert_eq!(pieces, [b"+4949 (".as_slice(), b"4)633"]);
    assert_stream_matches_whole(&pieces);
    assert_stream_matches_whole_over_any_cut(text);
    assert_stream_matches_whole_over_any_cut(b"call +49 (0) 30 1234 5678 or (415) 555-0132 now");
}

/// fuzz/regressions/pii_engine/pem_block_split_across_chunks: the body
/// line ended in the backslash of an escaped `\n` at a chunk end, the
/// block was taken as ended there (an empty one: no finding) and its start
/// was emitted, so the next chunk could not find it any more.
#[test]
fn stream_finds_a_pem_block_split_across_chunks() {
    let text = b"y\xff\xff-----BEGIN  PRIVATE KEY-----\ngWQSNvWRW\\n";
    assert_eq!(spans(&engine().scan(text)), vec![("SECRET", 3, 41)]);
    assert_stream_matches_whole(&cycled(text, &[3, 0, 11, 0]));
    assert_stream_matches_whole_over_any_cut(text);
}

/// fuzz/regressions/pii_engine/pem_block_truncated_in_stream (reduced): a
/// PEM block without END line whose next line starts after an escaped
/// `\n` cut after its backslash was emitted one line short (70 bytes of key
/// material in the clear).
#[test]
fn stream_keeps_a_pem_block_open_across_an_escaped_line_break() {
    let text = b"Why does ssh reject this key?\n-----BEGIN RSA PRIVATE KEY-----\n\
        gWQmSNvWPL1ILDLwxHVPQc8FLEfNWXbFEUnwoHU8zAoN7vEtyOpEQ5oL8nIVNzTR\n\
        OnwuMGAczOmeeiAhcfgxRiW\\nzZyDBBSoo61aYjFMa3KqA56sDLf8PV3dz5q5mm49fHHja7-59-7211\"}, \"id\": 1}";
    let whole = engine().scan(text);
    assert_eq!(spans(&whole), vec![("SECRET", 30, 150)]);
    let cut = text.windows(2).position(|w| w == b"\\n").unwrap() + 1;
    assert_stream_matches_whole(&[&text[..cut], &text[cut..]]);
    assert_stream_matches_whole_over_any_cut(text);
    let escaped = b"{\"key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n\
        BKcwggSjAgEAAoIBAQC7\\n-----END PRIVATE KEY-----\\n\"}";
    assert_stream_matches_whole_over_any_cut(escaped);
}

/// A grouped IBAN spans spaces, so the last-word hold alone does not
/// cover it.
#[test]
fn stream_finds_a_grouped_iban_over_any_cut() {
    assert_stream_matches_whole_over_any_cut(b"pay to DE89 3704 0044 0532 0130 00 today");
}

/// An unfinished candidate is held from its start, and only it.
#[test]
fn stream_holds_an_unfinished_candidate_from_its_start() {
    let engine = engine();
    let policy = Policy::new(Action::Redact);
    let mut scanner = StreamScanner::new();
    let s = scanner.push(&engine, &policy, b"Call +4949 (");
    assert_eq!(s.text, b"Call ");
    assert_eq!(scanner.held(), 7);
    let s = scanner.push(&engine, &policy, b"4)633 now. ");
    assert_eq!(s.text, b"[PHONE_REDACTED] now. ");
    let s = scanner.push(
        &engine,
        &policy,
        b"Key:\n-----BEGIN PRIVATE KEY-----\nMIIB\\",
    );
    assert_eq!(s.text, b"Key:\n");
    let s = scanner.push(&engine, &policy, b"nAAAA\n-----END PRIVATE KEY----- ok ");
    assert_eq!(s.text, b"[SECRET_REDACTED] ok ");
    assert_eq!(scanner.held(), 0);
}
