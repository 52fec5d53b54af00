//! Server-sent events, parsed incrementally and written back.
//!
//! A streamed LLM response reaches a filter as TCP-sized chunks that cut
//! events (and lines, and UTF-8 characters) anywhere. [`SseParser`] is fed
//! those chunks as they come and yields each event once its terminating blank
//! line has arrived, keeping only the unfinished tail, so a filter can rewrite
//! a stream chunk by chunk without ever buffering all of it.
//!
//! Parsing follows the WHATWG rules (lines end in `\r\n`, `\n` or `\r`; a
//! field's value loses one leading space; `data` lines join with `\n`;
//! unknown fields are ignored) with one deliberate difference: comments are
//! kept, so that a stream passed through the parser and [`SseEvent::write_to`]
//! keeps its keep-alive comments. For input written in the canonical form
//! (`field: value` lines, `\n` endings) the writer reproduces it byte for byte.
//!
//! An unfinished event is held in memory, so its size is capped
//! ([`MAX_EVENT_BYTES`]): an upstream that never ends an event, or sends one
//! far beyond any real one, makes the parser fail
//! ([`SseParser::overflowed`]); it then drops what it held and ignores the
//! rest of the stream, and the caller ends the stream with [`error_event`].

use crate::api::Dialect;
use crate::error::{ApiError, ErrorKind};

/// The most bytes an unfinished event may hold: far beyond any real event
/// (a streamed chunk is a few hundred bytes; a tool call's arguments or an
/// image a few hundred KB), small enough that a VM holding it for every
/// stream it serves survives.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// The event that ends a stream the gateway cannot pass on, in the caller's
/// format: an `error` event for Anthropic, an error object as data for
/// OpenAI and Gemini (what their SDKs raise mid-stream).
pub fn error_event(dialect: Dialect, error: &ApiError) -> SseEvent {
    let body = String::from_utf8(error.body(dialect)).unwrap_or_default();
    match dialect {
        Dialect::Anthropic => SseEvent::named("error", body),
        Dialect::OpenAi | Dialect::Gemini => SseEvent::data(body),
    }
}

/// The error for a stream whose event went over [`MAX_EVENT_BYTES`].
pub fn oversized_event_error() -> ApiError {
    ApiError::new(
        ErrorKind::BadGateway,
        format!("The upstream provider sent a stream event over {MAX_EVENT_BYTES} bytes; the stream was ended."),
    )
}

/// One event: the lines between two blank lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message_start`, `error`, ...).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`; `None` when there was no `data` line.
    pub data: Option<String>,
    /// The `id:` field.
    pub id: Option<String>,
    /// The `retry:` field, when it was a number.
    pub retry: Option<u64>,
    /// Comment lines, without their leading `:`.
    pub comments: Vec<String>,
}

impl SseEvent {
    /// An event with only a `data` field, like OpenAI's chunks.
    pub fn data(data: impl Into<String>) -> SseEvent {
        SseEvent {
            data: Some(data.into()),
            ..SseEvent::default()
        }
    }

    /// An event with a name and data, like Anthropic's.
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> SseEvent {
        SseEvent {
            event: Some(event.into()),
            data: Some(data.into()),
            ..SseEvent::default()
        }
    }

    /// The data as text, empty when there was none.
    pub fn data_str(&self) -> &str {
        self.data.as_deref().unwrap_or_default()
    }

    /// Appends the event in canonical form, ending with its blank line.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for comment in &self.comments {
            write_line(out, "", comment);
        }
        if let Some(event) = &self.event {
            write_line(out, "event", event);
        }
        if let Some(id) = &self.id {
            write_line(out, "id", id);
        }
        if let Some(retry) = self.retry {
            write_line(out, "retry", &retry.to_string());
        }
        if let Some(data) = &self.data {
            for line in split_lines(data) {
                write_line(out, "data", line);
            }
        }
        out.push(b'\n');
    }

    /// The event in canonical form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// Writes `events` one after another.
pub fn write_events(events: &[SseEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        event.write_to(&mut out);
    }
    out
}

/// Writes one `field: value` line. A line break inside a value would start a
/// new line on the wire, so each one is written as a space: a constructed
/// event can never smuggle in extra fields.
fn write_line(out: &mut Vec<u8>, field: &str, value: &str) {
    out.extend_from_slice(field.as_bytes());
    out.push(b':');
    if !field.is_empty() {
        out.push(b' ');
    }
    if value.contains(['\n', '\r']) {
        out.extend(value.bytes().map(|byte| {
            if byte == b'\n' || byte == b'\r' {
                b' '
            } else {
                byte
            }
        }));
    } else {
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

/// Splits data on any SSE line ending, so that each piece is one `data:` line.
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(at) => {
                let (line, tail) = text.split_at(at);
                let skip = if tail.starts_with("\r\n") { 2 } else { 1 };
                rest = tail.get(skip..);
                Some(line)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The UTF-8 byte order mark, dropped where a stream starts.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental SSE parser: feed it chunks, get complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet terminated.
    tail: Vec<u8>,
    /// The event being assembled from the lines seen so far.
    pending: SseEvent,
    /// Whether any line (field or comment) went into `pending`.
    has_lines: bool,
    /// Whether the stream's first bytes have been seen (a BOM is dropped there).
    started: bool,
    /// Bytes of the lines in `pending`.
    held: usize,
    /// Whether an event went over [`MAX_EVENT_BYTES`]: the rest is ignored.
    overflowed: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Parses `chunk` and returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        self.feed_into(chunk, &mut events);
        events
    }

    /// Like [`feed`](Self::feed), appending to `events`.
    pub fn feed_into(&mut self, chunk: &[u8], events: &mut Vec<SseEvent>) {
        if self.overflowed {
            return;
        }
        self.parse(chunk, events);
        // An event over the cap is refused whether it is still open (the
        // bytes held) or ended within this chunk (`line` saw it grow).
        if self.overflowed || self.held + self.tail.len() > MAX_EVENT_BYTES {
            *self = SseParser {
                overflowed: true,
                started: true,
                ..SseParser::default()
            };
        }
    }

    /// Whether an unfinished event went over [`MAX_EVENT_BYTES`]: the
    /// parser then holds nothing and yields no more events.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn parse(&mut self, chunk: &[u8], events: &mut Vec<SseEvent>) {
        if chunk.is_empty() {
            // Nothing to parse, and a pending `\r` must still meet its `\n`.
            return;
        }
        let mut chunk = chunk;
        let head;
        if !self.started {
            // The BOM may itself be cut (`\xEF`, `\xBB\xBF...`): the first
            // bytes wait in `tail` until they are known to start with one or
            // not.
            if !self.tail.is_empty() {
                let mut held = std::mem::take(&mut self.tail);
                held.extend_from_slice(chunk);
                head = held;
                chunk = &head;
            }
            if chunk.len() < BOM.len() && BOM.starts_with(chunk) {
                self.tail = chunk.to_vec();
                return;
            }
            self.started = true;
            chunk = chunk.strip_prefix(BOM).unwrap_or(chunk);
        }
        let mut start = 0;
        // A `\r` ending the previous chunk was taken as a line end; a `\n`
        // opening this one belongs to it.
        if self.tail == b"\r" {
            self.tail.clear();
            if chunk.first() == Some(&b'\n') {
                start = 1;
            }
        }
        let mut at = start;
        while let Some(offset) = chunk
            .get(at..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n' || b == b'\r'))
        {
            let end = at + offset;
            let line = chunk.get(start..end).unwrap_or_default();
            let is_cr = chunk.get(end) == Some(&b'\r');
            let next = match (is_cr, chunk.get(end + 1)) {
                (true, Some(b'\n')) => end + 2,
                _ => end + 1,
            };
            if self.tail.is_empty() {
                self.line(line, events);
            } else {
                let mut joined = std::mem::take(&mut self.tail);
                joined.extend_from_slice(line);
                self.line(&joined, events);
            }
            if self.overflowed {
                return;
            }
            // A `\r` at the very end may be the first half of `\r\n`.
            if is_cr && end + 1 == chunk.len() {
                self.tail.push(b'\r');
                return;
            }
            start = next;
            at = next;
        }
        self.tail
            .extend_from_slice(chunk.get(start..).unwrap_or_default());
    }

    /// The stream has ended: returns the last event if it lacked its blank
    /// line. (Browsers drop such an event; providers that omit the final
    /// blank line exist, and dropping their last event would lose usage.)
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.overflowed {
            return None;
        }
        let tail = std::mem::take(&mut self.tail);
        let mut events = Vec::new();
        if !tail.is_empty() && tail != b"\r" {
            self.line(&tail, &mut events);
        }
        self.line(b"", &mut events);
        if self.overflowed {
            return None;
        }
        events.pop()
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_lines {
                events.push(std::mem::take(&mut self.pending));
                self.has_lines = false;
                self.held = 0;
            }
            return;
        }
        self.has_lines = true;
        self.held += line.len();
        if self.held > MAX_EVENT_BYTES {
            self.overflowed = true;
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "" => self
                .pending
                .comments
                .push(text.get(1..).unwrap_or_default().to_owned()),
            "event" => self.pending.event = Some(value.to_owned()),
            "data" => match &mut self.pending.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.pending.data = Some(value.to_owned()),
            },
            "id" => self.pending.id = Some(value.to_owned()),
            "retry" => {
                if let Ok(retry) = value.parse() {
                    self.pending.retry = Some(retry);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(parser.feed(chunk));
        }
        events.extend(parser.finish());
        events
    }

    #[test]
    fn parses_named_events_and_multi_line_data() {
        let events = parse_all(&[
            b"event: message_start\ndata: {\"a\":1}\n\ndata: line1\ndata: line2\nid: 7\n\n",
        ]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("message_start"));
        assert_eq!(events[0].data_str(), "{\"a\":1}");
        assert_eq!(events[1].data_str(), "line1\nline2");
        assert_eq!(events[1].id.as_deref(), Some("7"));
    }

    #[test]
    fn events_split_across_chunks_and_crlf() {
        let events = parse_all(&[
            b"da",
            b"ta: hel",
            b"lo\r",
            b"\n\r",
            b"\ndata:x\r\n",
            b"\r\n",
        ]);
        assert_eq!(events, vec![SseEvent::data("hello"), SseEvent::data("x")]);
    }

    #[test]
    fn empty_chunks_keep_a_pending_cr() {
        assert_eq!(
            parse_all(&[b"data: a\r", b"", b"\n\r", b"", b"\ndata: b\n\n"]),
            vec![SseEvent::data("a"), SseEvent::data("b")]
        );
    }

    #[test]
    fn lone_cr_ends_lines() {
        assert_eq!(
            parse_all(&[b"data: a\r\rdata: b\r\r"]),
            vec![SseEvent::data("a"), SseEvent::data("b")]
        );
    }

    #[test]
    fn comments_and_unknown_fields() {
        let events = parse_all(&[b": keep-alive\n\nfoo: bar\ndata\nretry: 10\nretry: x\n\n"]);
        assert_eq!(events[0].comments, vec![" keep-alive".to_owned()]);
        assert_eq!(events[0].data, None);
        assert_eq!(events[1].data.as_deref(), Some(""));
        assert_eq!(events[1].retry, Some(10));
    }

    #[test]
    fn unterminated_last_event_is_flushed_on_finish() {
        assert_eq!(
            parse_all(&[b"data: [DONE]"]),
            vec![SseEvent::data("[DONE]")]
        );
        assert_eq!(parse_all(&[b"data: x\n\n\n\n"]), vec![SseEvent::data("x")]);
    }

    #[test]
    fn keeps_only_the_tail() {
        let mut parser = SseParser::new();
        assert_eq!(parser.feed(b"data: one\n\ndata: tw").len(), 1);
        assert_eq!(parser.held + parser.tail.len(), "data: tw".len());
    }

    #[test]
    fn canonical_streams_round_trip_byte_for_byte() {
        let input = b": ping\n\nevent: content_block_delta\nid: 3\ndata: {\"x\":\"a b\"}\n\ndata: a\ndata: \n\n";
        let events = parse_all(&[input]);
        assert_eq!(write_events(&events), input.to_vec());
    }

    #[test]
    fn writer_cannot_inject_fields() {
        let event = SseEvent {
            event: Some("x\ndata: evil".into()),
            data: Some("a\r\nb".into()),
            ..SseEvent::default()
        };
        let parsed = parse_all(&[&event.to_bytes()]);
        assert_eq!(parsed[0].event.as_deref(), Some("x data: evil"));
        assert_eq!(parsed[0].data_str(), "a\nb");
    }

    #[test]
    fn bom_is_dropped_once() {
        assert_eq!(
            parse_all(&[b"\xEF\xBB\xBFdata: a\n\n"]),
            vec![SseEvent::data("a")]
        );
        assert_eq!(
            parse_all(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"]),
            parse_all(&[b"\xEF\xBB\xBF", b"\xEF\xBB\xBFdata: a\n\n"]),
        );
    }

    /// fuzz/regressions/sse/bom_split_across_chunks: a BOM cut across the
    /// first chunks (empty ones included) is dropped as a whole one is.
    #[test]
    fn bom_split_across_chunks_is_dropped() {
        let stream = b"\xEF\xBB\xBFdata: a\n\n";
        let whole = parse_all(&[stream]);
        assert_eq!(whole, vec![SseEvent::data("a")]);
        for cut in 0..=stream.len() {
            assert_eq!(
                parse_all(&[&stream[..cut], &stream[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
        assert_eq!(
            parse_all(&[b"", b"\xEF", b"", b"\xBB", b"\xBFdata: a\n\n"]),
            whole
        );
        // Bytes that only start like a BOM are data, however they are cut.
        let not_bom = b"\xEF\xBBdata: a\n\n";
        assert_eq!(
            parse_all(&[&not_bom[..1], &not_bom[1..]]),
            parse_all(&[not_bom])
        );
        assert_eq!(parse_all(&[b"\xEF\xBB"]), parse_all(&[b"\xEF", b"\xBB"]));
    }

    #[test]
    fn an_event_over_the_cap_fails_the_parser_which_then_holds_nothing() {
        let mut parser = SseParser::new();
        assert_eq!(
            parser.feed(b"data: small\n\ndata: "),
            [SseEvent::data("small")]
        );
        let piece = vec![b'x'; MAX_EVENT_BYTES / 4];
        for _ in 0..4 {
            assert!(parser.feed(&piece[6..]).is_empty());
            assert!(!parser.overflowed());
        }
        assert!(parser.feed(b"xxxxxxxxxxxxxxxxxxx").is_empty());
        assert!(parser.overflowed(), "one byte over");
        assert_eq!(
            parser.held + parser.tail.len(),
            0,
            "what it held is dropped"
        );
        assert!(
            parser.feed(b"\n\ndata: later\n\n").is_empty(),
            "the rest is ignored"
        );
        assert_eq!(parser.finish(), None);
    }

    /// An event over the cap that arrives whole in one chunk (Envoy may
    /// hand over megabytes at once) is refused too, not emitted; the events
    /// before it in the chunk are.
    #[test]
    fn an_event_over_the_cap_in_one_chunk_is_refused() {
        let mut chunk = b"data: small\n\ndata: ".to_vec();
        chunk.resize(chunk.len() + MAX_EVENT_BYTES + 10, b'x');
        chunk.extend_from_slice(b"\n\ndata: later\n\n");
        let mut parser = SseParser::new();
        assert_eq!(parser.feed(&chunk), [SseEvent::data("small")]);
        assert!(parser.overflowed());
        assert_eq!(parser.held + parser.tail.len(), 0);
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn many_lines_without_a_blank_line_count_towards_the_cap() {
        let mut parser = SseParser::new();
        let line = format!("data: {}\n", "y".repeat(1000));
        for _ in 0..(MAX_EVENT_BYTES / 1000) {
            parser.feed(line.as_bytes());
        }
        assert!(parser.overflowed());
        let mut parser = SseParser::new();
        let event = format!("{line}\n");
        for _ in 0..(2 * MAX_EVENT_BYTES / 1000) {
            assert_eq!(parser.feed(event.as_bytes()).len(), 1);
        }
        assert!(!parser.overflowed(), "ended events are not held");
    }

    #[test]
    fn the_error_event_is_in_the_callers_format() {
        let error = oversized_event_error();
        let anthropic = error_event(Dialect::Anthropic, &error);
        assert_eq!(anthropic.event.as_deref(), Some("error"));
        let body: serde_json::Value = serde_json::from_str(anthropic.data_str()).unwrap();
        assert_eq!(body["error"]["type"], "api_error");
        let openai = error_event(Dialect::OpenAi, &error);
        assert_eq!(openai.event, None);
        let body: serde_json::Value = serde_json::from_str(openai.data_str()).unwrap();
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream event over"));
    }
}
