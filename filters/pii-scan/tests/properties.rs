//! Property tests: no input panics, and streaming over any chunking gives
//! the same result as the whole text, with the default detectors and with
//! the opt-in ones (PERSON, ADDRESS) on too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use pii_scan::engine::{
    Engine, EngineConfig, EntityKind, Finding, Policy, StreamRestorer, StreamScanner, Vault,
};
use pii_scan::{Action, Entity};
use proptest::prelude::*;

fn engine() -> &'static Engine {
    use std::sync::OnceLock;
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().unwrap())
}

/// Every detector, the opt-in ones included.
fn all_on() -> &'static Engine {
    use std::sync::OnceLock;
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(&EngineConfig {
            opt_in: vec![Entity::Person, Entity::Address],
            ..EngineConfig::default()
        })
        .unwrap()
    })
}

fn policy() -> Policy {
    Policy::new(Action::Redact)
        .with_action(Entity::IpAddress.into(), Action::Detect)
        .with_action(Entity::Email.into(), Action::Tokenize)
        .with_action(Entity::UsSsn.into(), Action::Block)
}

/// Fragments that assemble into text dense with candidates, near misses and
/// boundaries, so that chunk cuts land inside values.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("jane.doe@example.com".to_owned()),
        Just("+1 415 555 0132".to_owned()),
        Just("(415) 555-0132".to_owned()),
        Just("+44 20 7946 0958".to_owned()),
        Just("078-05-1120".to_owned()),
        Just("4111 1111 1111 1111".to_owned()),
        Just("DE89 3704 0044 0532 0130 00".to_owned()),
        Just("10.0.0.1".to_owned()),
        Just("fe80::1ff:fe23:4567:890a".to_owned()),
        Just("sk-proj-Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z".to_owned()),
        Just("AKIAZ7Q3XK5LMN2PQR4T wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vR2mT4k".to_owned()),
        Just("\"password\": \"Tr0ub4dor&3\"".to_owned()),
        Just("token=abc123def".to_owned()),
        Just("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----".to_owned()),
        Just(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1"
                .to_owned()
        ),
        Just("phone: 4155550132".to_owned()),
        Just("the password for the VPN is Tiger!42".to_owned()),
        Just("Passwort lautet maple-copper-orbit".to_owned()),
        Just("パスワードは Falcon$904 です".to_owned()),
        Just("mysql -u root -pS3cret! db".to_owned()),
        Just("curl -u admin:Tundra-262Q https://x.example".to_owned()),
        Just("postgres://app:Glacier-695z@db.example.com:5432/x".to_owned()),
        Just("jane.doe%40example.com".to_owned()),
        Just("signing_key: 7d3136ac83d0934099c7c12a14acf340".to_owned()),
        Just("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".to_owned()),
        Just("bot8984984780:AATisSCRajfBSaYjTgxQ4Magj07y6Q5o7ZK".to_owned()),
        Just("030 1234567".to_owned()),
        Just("08-123 456 78".to_owned()),
        Just("手机 138 0013 8000".to_owned()),
        Just("order 415-555-0132".to_owned()),
        Just("<EMAIL_1>".to_owned()),
        Just("é€😀".to_owned()),
        "[ \n\t.,:;@+()<>\"=-]{1,3}".prop_map(|s| s),
        "[a-zA-Z0-9]{1,12}".prop_map(|s| s),
    ]
}

fn dense_text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat())
}

/// Names, addresses, their cues and near misses, with the fragments above.
fn name_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Dear Mr. ".to_owned()),
        Just("Herr Dr. ".to_owned()),
        Just("Regards,\n".to_owned()),
        Just("Mit freundlichen Grüßen\n".to_owned()),
        Just("my name is ".to_owned()),
        Just("\"full_name\": \"".to_owned()),
        Just("Name: ".to_owned()),
        Just("Emily Thompson".to_owned()),
        Just("Jean-Luc O'Brien".to_owned()),
        Just("Sofía de la Fuente".to_owned()),
        Just("Tobias von Arnim".to_owned()),
        Just("Emily R. Thompson".to_owned()),
        Just("Jane Doe GmbH".to_owned()),
        Just("George Washington University".to_owned()),
        Just("San Francisco".to_owned()),
        Just("1600 Example Ave, Suite 400".to_owned()),
        Just("12 Oak St., Springfield, IL 62704".to_owned()),
        Just("14 Baker Street, London NW1 6XE".to_owned()),
        Just("12 rue de la Paix, 75002 Paris".to_owned()),
        Just("5 bis, avenue d'Italie".to_owned()),
        Just("Hauptstraße 5, 10115 Berlin".to_owned()),
        Just("Birkenweg 3".to_owned()),
        Just("Schillerstr. 12a".to_owned()),
        Just("Calle Mayor 12, 28013 Madrid".to_owned()),
        Just("C/ Serrano 41".to_owned()),
        Just("Wall Street".to_owned()),
        "[A-ZÉÖ][a-zéüß]{1,8}".prop_map(|s| s),
        "[ \n,.:'-]{1,2}".prop_map(|s| s),
        "[0-9]{1,5}".prop_map(|s| s),
        fragment(),
    ]
}

fn names_text() -> impl Strategy<Value = String> {
    prop::collection::vec(name_fragment(), 0..24).prop_map(|parts| parts.concat())
}

/// Cut points for `len` bytes (possibly inside UTF-8 characters).
fn chunked(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

fn stream_scan(engine: &Engine, text: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Finding>) {
    let policy = policy();
    let mut scanner = StreamScanner::new();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    for (a, b) in chunked(text.len(), cuts) {
        let s = scanner.push(engine, &policy, &text[a..b]);
        out.extend(s.text);
        findings.extend(s.findings);
    }
    let s = scanner.finish(engine, &policy);
    out.extend(s.text);
    findings.extend(s.findings);
    (out, findings)
}

fn whole_scan(engine: &Engine, text: &[u8]) -> (Vec<u8>, Vec<Finding>) {
    let findings = engine.scan(text);
    let out = policy()
        .redact_response(text, &findings)
        .unwrap_or_else(|| text.to_vec());
    (out, findings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let findings = engine().scan(&bytes);
        for f in &findings {
            prop_assert!(f.start < f.end && f.end <= bytes.len());
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut vault = Vault::new();
        let _ = policy().apply(&text, &engine().scan(text.as_bytes()), &mut vault);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,512}") {
        let findings = engine().scan(text.as_bytes());
        let mut vault = Vault::new();
        let applied = policy().apply(&text, &findings, &mut vault);
        let _ = vault.restore(&applied.text);
    }

    #[test]
    fn findings_are_sorted_disjoint_and_on_char_boundaries(text in dense_text()) {
        let findings = engine().scan(text.as_bytes());
        for pair in findings.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "{:?}", findings);
        }
        for f in &findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
    }

    #[test]
    fn streaming_scan_equals_whole_scan(text in dense_text(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let (whole_out, whole_findings) = whole_scan(engine(), text.as_bytes());
        let (stream_out, stream_findings) = stream_scan(engine(), text.as_bytes(), &cuts);
        prop_assert_eq!(String::from_utf8_lossy(&stream_out), String::from_utf8_lossy(&whole_out));
        prop_assert_eq!(stream_findings, whole_findings);
    }

    #[test]
    fn streaming_scan_equals_whole_scan_with_names_and_addresses(
        text in names_text(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (whole_out, whole_findings) = whole_scan(all_on(), text.as_bytes());
        let (stream_out, stream_findings) = stream_scan(all_on(), text.as_bytes(), &cuts);
        prop_assert_eq!(String::from_utf8_lossy(&stream_out), String::from_utf8_lossy(&whole_out));
        prop_assert_eq!(&stream_findings, &whole_findings);
        for pair in whole_findings.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "{:?}", whole_findings);
        }
        for f in &whole_findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
    }

    #[test]
    fn streaming_scan_of_arbitrary_bytes_equals_whole_scan(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        for engine in [engine(), all_on()] {
            let (whole_out, whole_findings) = whole_scan(engine, &bytes);
            let (stream_out, stream_findings) = stream_scan(engine, &bytes, &cuts);
            prop_assert_eq!(stream_out, whole_out);
            prop_assert_eq!(stream_findings, whole_findings);
        }
    }

    #[test]
    fn tokenize_then_restore_round_trips(text in dense_text(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let tokenize_all = Policy::new(Action::Tokenize);
        let findings = engine().scan(text.as_bytes());
        let mut vault = Vault::new();
        let masked = tokenize_all.apply(&text, &findings, &mut vault).text.into_owned();
        prop_assert_eq!(vault.restore(&masked), text.as_str());
        // The same restore, streamed over any chunking.
        let mut restorer = StreamRestorer::new();
        let mut out = Vec::new();
        for (a, b) in chunked(masked.len(), &cuts) {
            out.extend(restorer.push(&vault, &masked.as_bytes()[a..b]));
        }
        out.extend(restorer.finish(&vault));
        prop_assert_eq!(String::from_utf8_lossy(&out), text.as_str());
    }

    #[test]
    fn same_value_same_placeholder(local in "[a-z]{1,8}") {
        let text = format!("{local}@example.com and {local}@example.com and x{local}@example.org");
        let findings = engine().scan(text.as_bytes());
        let mut vault = Vault::new();
        let masked = policy().apply(&text, &findings, &mut vault).text.into_owned();
        prop_assert_eq!(masked, "<EMAIL_1> and <EMAIL_1> and <EMAIL_2>");
        prop_assert_eq!(vault.len(), 2);
    }
}

#[test]
fn huge_inputs_do_not_panic() {
    for text in [
        "1".repeat(1 << 20),
        "1 ".repeat(1 << 19),
        "a@".repeat(1 << 19),
        ":".repeat(1 << 20),
        "-----BEGIN RSA PRIVATE KEY-----\n".repeat(1 << 15),
        "password=".repeat(1 << 17),
        "\"token\": \"".repeat(1 << 16),
        "eyJ.".repeat(1 << 18),
        "DE89 ".repeat(1 << 18),
        "+1 (".repeat(1 << 18),
        "Dear Mr. ".repeat(1 << 17),
        "Jane ".repeat(1 << 18),
        "Jane de ".repeat(1 << 17),
        "Regards,\n".repeat(1 << 17),
        "12 Oak ".repeat(1 << 17),
        "12 rue de ".repeat(1 << 17),
        "Hauptstraße ".repeat(1 << 16),
        "Calle de la ".repeat(1 << 16),
        "Müller-".repeat(1 << 17),
    ] {
        for engine in [engine(), all_on()] {
            let findings = engine.scan(text.as_bytes());
            assert!(findings.iter().all(|f| f.end <= text.len()));
        }
    }
    let mut restorer = StreamRestorer::new();
    let mut vault = Vault::new();
    vault.tokenize(&EntityKind::Builtin(Entity::Email), "a@b.io");
    for _ in 0..1000 {
        restorer.push(&vault, "<EMAIL_".as_bytes());
    }
    assert_eq!(restorer.held(), 7);
}
