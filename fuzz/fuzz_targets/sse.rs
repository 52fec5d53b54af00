//! The SSE parser and writer (llm-api `sse`) and the stream usage
//! accumulator (`UsageAccumulator::feed`) on arbitrary bytes in arbitrary
//! chunks.
//!
//! Input: bytes 0..4 are chunk lengths (cycled, see
//! `llm_gateway_fuzz::chunks`), the rest is the stream.
//!
//! Checks, beyond "no panic":
//! * the events do not depend on how the stream is cut (one chunk, the
//!   header's cuts, one byte at a time), as the module promises;
//! * written back, the events parse to themselves (empty events, from lines
//!   with unknown fields only, write nothing and are left out), and the
//!   written form is canonical: parsing and writing it again gives the same
//!   bytes;
//! * `UsageAccumulator::feed`, which skips event data that cannot report
//!   usage without parsing it, ends with the same usage as parsing every
//!   event's data (`feed_json`), in all three dialects.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_api::sse::{write_events, SseEvent, SseParser};
use llm_api::{Dialect, Usage, UsageAccumulator};
use llm_gateway_fuzz::{chunks, header};
use serde_json::Value;

fn parse(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for piece in pieces {
        parser.feed_into(piece, &mut events);
    }
    events.extend(parser.finish());
    events
}

fuzz_target!(|data: &[u8]| {
    let (lengths, stream) = header::<4>(data);
    let whole = parse(&[stream]);
    assert!(
        parse(&chunks(stream, &lengths)) == whole,
        "the cut changed the events"
    );
    if stream.len() <= 8192 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert!(parse(&bytes) == whole, "byte-by-byte changed the events");
    }

    let events: Vec<SseEvent> = whole
        .iter()
        .filter(|e| **e != SseEvent::default())
        .cloned()
        .collect();
    let written = write_events(&events);
    assert!(
        parse(&[&written]) == events,
        "written events do not parse back"
    );
    assert!(
        write_events(&parse(&[&written])) == written,
        "the written form is not canonical"
    );

    for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini] {
        let mut skimmed = UsageAccumulator::new(dialect);
        let mut parsed = UsageAccumulator::new(dialect);
        for event in &whole {
            skimmed.feed(event);
            if let Ok(value) = serde_json::from_str::<Value>(event.data_str()) {
                parsed.feed_json(&value);
            }
        }
        assert_eq!(
            skimmed.usage(),
            parsed.usage(),
            "skipping events lost usage ({dialect:?})"
        );
        let _ = Usage::from_bytes(dialect, stream);
    }
});
