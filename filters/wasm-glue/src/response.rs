//! The response path of the pipeline: a buffered JSON response is parsed
//! once for every stage and written back at most once; a streamed (SSE)
//! response is parsed once into events that every stage sees as they arrive,
//! without buffering the stream.

use crate::host::Host;
use crate::host::LogLevel;
use crate::pipeline::{Order, Pipeline};
use crate::profile::span;
use llm_api::sse::{error_event, oversized_event_error, write_events, SseParser};
use llm_api::Body;

/// How the response body is handled, decided at the response headers.
#[derive(Debug)]
pub(crate) enum ResponseMode {
    /// No stage reads the body: it streams through untouched.
    Pass,
    /// A JSON response, buffered whole and parsed once: with its output only
    /// when some stage reads or rewrites it (`llm_api::response`).
    Buffer { rewrite: bool, output: bool },
    /// A stage rewrites the raw body: whole (errors, JSON), or chunk by chunk.
    Transform { whole: bool },
    /// An SSE stream. Without a rewriting stage the original bytes pass and
    /// the parser only observes them; with one, complete events are written
    /// back and only an incomplete event's bytes are held for the next chunk.
    Stream { parser: SseParser, rewrite: bool },
}

/// What the host adapter does with a response body chunk.
#[derive(Debug, PartialEq)]
pub enum BodyStep {
    Continue,
    /// Keep buffering until the end of the response.
    Pause,
    /// Replace the chunk (or, when buffered, the whole body) with these bytes.
    Replace(Vec<u8>),
}

/// What the pipeline needs of a response body chunk, asked before the host
/// copies the chunk into the VM.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyNeed {
    /// Nothing: let it pass without reading it.
    Nothing,
    /// Buffer it: the whole body is wanted at the end.
    WaitForEnd,
    /// The chunk itself (or the whole buffered body at the end).
    Chunk,
}

impl Pipeline {
    pub fn response_body_need(&self, end_of_stream: bool) -> BodyNeed {
        match self.response_mode {
            _ if self.replied => BodyNeed::Nothing,
            ResponseMode::Pass => BodyNeed::Nothing,
            ResponseMode::Buffer { .. } | ResponseMode::Transform { whole: true }
                if !end_of_stream =>
            {
                BodyNeed::WaitForEnd
            }
            ResponseMode::Buffer { .. }
            | ResponseMode::Stream { .. }
            | ResponseMode::Transform { .. } => BodyNeed::Chunk,
        }
    }

    pub(crate) fn choose_response_mode(&mut self, host: &mut dyn Host) {
        let ex = &self.exchange;
        if self.streams.iter().any(|s| s.transforms_response(ex)) {
            let error = ex.response_status.is_some_and(|status| status >= 400);
            self.response_mode = ResponseMode::Transform {
                whole: error || !ex.response_is_stream(),
            };
            host.set_response_header("content-length", None);
            return;
        }
        if !self.streams.iter().any(|s| s.reads_response(ex)) {
            return;
        }
        let rewrite = self.streams.iter().any(|s| s.rewrites_response(ex));
        self.response_mode = match ex.response_media_type.as_deref().unwrap_or_default() {
            "text/event-stream" => ResponseMode::Stream {
                parser: SseParser::new(),
                rewrite,
            },
            "application/json" => ResponseMode::Buffer {
                rewrite,
                output: rewrite || self.streams.iter().any(|s| s.reads_response_output(ex)),
            },
            _ => return,
        };
        if rewrite {
            host.set_response_header("content-length", None);
        }
    }

    /// A response body chunk, when [`Pipeline::response_body_need`] asked
    /// for it; `chunk` is the whole body when the response is buffered.
    pub fn on_response_body(
        &mut self,
        host: &mut dyn Host,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> BodyStep {
        self.with_facts(host, |pipeline, host| {
            pipeline.response_body(host, chunk, end_of_stream)
        })
    }

    fn response_body(
        &mut self,
        host: &mut dyn Host,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> BodyStep {
        if self.replied {
            return BodyStep::Continue;
        }
        match &mut self.response_mode {
            ResponseMode::Pass => BodyStep::Continue,
            ResponseMode::Buffer { .. } | ResponseMode::Transform { whole: true }
                if !end_of_stream =>
            {
                BodyStep::Pause
            }
            ResponseMode::Transform { .. } => {
                let mut out: Option<Vec<u8>> = None;
                for (stream, stage) in self.streams.iter_mut().zip(self.stages.iter()).rev() {
                    let input = out.as_deref().unwrap_or(chunk);
                    let exchange = &mut self.exchange;
                    if let Some(bytes) = span(
                        || stage.name(),
                        "transform_response",
                        || stream.transform_response(exchange, input, end_of_stream, host),
                    ) {
                        out = Some(bytes);
                    }
                }
                out.map_or(BodyStep::Continue, BodyStep::Replace)
            }
            ResponseMode::Buffer { rewrite, output } => {
                let rewrite = *rewrite;
                // A stage that may change the response gets it owned from
                // the start; readers get it borrowed, without the output
                // when none of them reads it.
                self.exchange.response = if rewrite {
                    span(
                        || "response",
                        "parse",
                        || serde_json::from_slice(chunk).ok().map(Body::owned),
                    )
                } else if *output {
                    span(|| "response", "parse", || Body::parse(chunk))
                } else {
                    span(
                        || "response",
                        "parse_without_output",
                        || llm_api::response::without_output(chunk),
                    )
                };
                // Only the stages that read it: one that took a body it does
                // not read for a change would make an owned copy of it.
                self.run(host, Order::Response, "on_response", |s, ex, h| {
                    if s.reads_response(ex) {
                        s.on_response(ex, h);
                    }
                    crate::Flow::Continue
                });
                match &self.exchange.response {
                    Some(body) if rewrite && self.exchange.response_changed() => {
                        BodyStep::Replace(span(|| "response", "write", || body.to_bytes()))
                    }
                    _ => BodyStep::Continue,
                }
            }
            ResponseMode::Stream { parser, rewrite } => {
                let rewrite = *rewrite;
                let failed_before = parser.overflowed();
                let mut events = parser.feed(chunk);
                if end_of_stream {
                    events.extend(parser.finish());
                }
                let failed_now = !failed_before && parser.overflowed();
                let exchange = &mut self.exchange;
                for (stream, stage) in self.streams.iter_mut().zip(self.stages.iter()).rev() {
                    span(
                        || stage.name(),
                        "on_response_events",
                        || stream.on_response_events(exchange, &mut events, end_of_stream, host),
                    );
                }
                if failed_before {
                    // The stream has failed: the rest is dropped unread.
                    return BodyStep::Replace(Vec::new());
                }
                if failed_now {
                    host.log(LogLevel::Warn, "an upstream stream event went over the size cap; the stream was ended with an error event");
                    // Passed-through bytes already sent part of the event: this
                    // chunk goes too, then a blank line ends that event. A
                    // rewritten stream sent whole events only.
                    let mut out = if rewrite {
                        write_events(&events)
                    } else {
                        let mut out = chunk.to_vec();
                        out.extend_from_slice(b"\n\n");
                        out
                    };
                    error_event(self.exchange.api.dialect(), &oversized_event_error())
                        .write_to(&mut out);
                    return BodyStep::Replace(out);
                }
                if !rewrite {
                    return BodyStep::Continue;
                }
                // Events that came whole in this chunk and that no stage
                // changed write back as the same bytes: the chunk stands,
                // and the host copies nothing back.
                let out = write_events(&events);
                if out == chunk {
                    BodyStep::Continue
                } else {
                    BodyStep::Replace(out)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_api::sse::SseEvent;
    use llm_api::Json;

    fn events_of(bytes: &[u8]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = parser.feed(bytes);
        events.extend(parser.finish());
        events
    }
    use crate::testing::MemoryHost;
    use crate::{Exchange, Stage, StageStream, Stages};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Upper-cases every stream event's data (when allowed to rewrite), or a
    /// JSON response's `text`; records what it saw.
    #[derive(Clone)]
    struct Shout {
        rewrite: bool,
        seen: Rc<RefCell<Vec<String>>>,
    }

    impl Stage for Shout {
        fn name(&self) -> &'static str {
            "shout"
        }
        fn stream(&self) -> Box<dyn StageStream> {
            Box::new(self.clone())
        }
    }

    impl StageStream for Shout {
        fn reads_response(&self, _ex: &Exchange) -> bool {
            true
        }
        fn rewrites_response(&self, _ex: &Exchange) -> bool {
            self.rewrite
        }
        fn on_response(&mut self, ex: &mut Exchange, _host: &mut dyn Host) {
            let text = ex.response.as_ref().and_then(|r| {
                llm_api::with_json_body!(r, |b| b.str_field("text").map(str::to_owned))
            });
            let text = text.unwrap_or_else(|| "<none>".to_owned());
            self.seen.borrow_mut().push(text.clone());
            if let Some(body) = ex.response_mut() {
                body["text"] = text.to_uppercase().into();
            }
        }
        fn on_response_events(
            &mut self,
            _ex: &mut Exchange,
            events: &mut Vec<SseEvent>,
            end: bool,
            _host: &mut dyn Host,
        ) {
            for event in events.iter_mut() {
                self.seen.borrow_mut().push(event.data_str().to_owned());
                *event = SseEvent::data(event.data_str().to_uppercase());
            }
            if end {
                self.seen.borrow_mut().push("<end>".into());
            }
        }
    }

    /// A pipeline of `stages` for a chat completion request.
    fn chat_pipeline(stages: Vec<Box<dyn Stage>>) -> Pipeline {
        let headers = vec![
            (":method".into(), "POST".into()),
            (":path".into(), "/v1/chat/completions".into()),
        ];
        Pipeline::new(&Rc::new(Stages::new(stages)), headers)
    }

    fn pipeline(rewrite: bool) -> (Pipeline, Rc<RefCell<Vec<String>>>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let shout = Shout {
            rewrite,
            seen: seen.clone(),
        };
        (chat_pipeline(vec![Box::new(shout)]), seen)
    }

    const STREAM: &[u8] = b"data: one\n\ndata: two\n\nevent: x\ndata: three\n\n";

    #[test]
    fn a_stream_split_anywhere_is_seen_event_by_event_and_rewritten_whole() {
        for cut in 1..STREAM.len() {
            let (mut p, seen) = pipeline(true);
            let mut host = MemoryHost::default();
            host.set_response_header("content-length", Some("44"));
            p.on_response_headers(
                &mut host,
                Some(200),
                Some("text/event-stream; charset=utf-8"),
            );
            assert!(!host.response_headers.contains_key("content-length"));
            let mut out = Vec::new();
            for (part, end) in [(&STREAM[..cut], false), (&STREAM[cut..], true)] {
                match p.on_response_body(&mut host, part, end) {
                    BodyStep::Replace(bytes) => out.extend(bytes),
                    other => panic!("expected a rewritten chunk, got {other:?}"),
                }
            }
            assert_eq!(
                *seen.borrow(),
                ["one", "two", "three", "<end>"],
                "cut at {cut}"
            );
            let data: Vec<String> = events_of(&out)
                .iter()
                .map(|e| e.data_str().to_owned())
                .collect();
            assert_eq!(data, ["ONE", "TWO", "THREE"], "cut at {cut}");
        }
    }

    #[test]
    fn an_event_over_the_cap_ends_the_stream_with_an_error_event_and_drops_the_rest() {
        let piece = vec![b'x'; 1 << 20];
        for rewrite in [false, true] {
            let (mut p, seen) = pipeline(rewrite);
            let mut host = MemoryHost::default();
            p.on_response_headers(&mut host, Some(200), Some("text/event-stream"));
            let mut out = Vec::new();
            let mut step = |p: &mut Pipeline, chunk: &[u8], end| match p
                .on_response_body(&mut host, chunk, end)
            {
                BodyStep::Replace(bytes) => out.extend(bytes),
                BodyStep::Continue => out.extend_from_slice(chunk),
                BodyStep::Pause => panic!("a stream never pauses"),
            };
            step(&mut p, b"data: one\n\ndata: ", false);
            for _ in 0..5 {
                step(&mut p, &piece, false);
            }
            step(&mut p, b"\n\ndata: after\n\n", true);
            // The last event, parsed from the output's tail: a parser fed
            // the whole output would itself refuse the oversized event that
            // passed through before it.
            let tail = out.get(out.len().saturating_sub(4096)..).unwrap();
            let from = tail.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
            let events = events_of(&tail[from..]);
            let last = events.last().unwrap();
            let error: serde_json::Value = serde_json::from_str(last.data_str()).unwrap();
            assert_eq!(
                error["error"]["type"], "server_error",
                "rewrite {rewrite}: OpenAI's format"
            );
            assert!(
                out.len() < 6 << 20,
                "rewrite {rewrite}: the rest was dropped"
            );
            assert!(
                !out.windows(5).any(|w| w == b"after" || w == b"AFTER"),
                "rewrite {rewrite}"
            );
            assert_eq!(seen.borrow().first().map(String::as_str), Some("one"));
            assert_eq!(
                seen.borrow().last().map(String::as_str),
                Some("<end>"),
                "stages still see the end"
            );
        }
    }

    #[test]
    fn a_rewritable_stream_left_unchanged_is_not_written_back() {
        const LOUD: &[u8] = b"data: ONE\n\ndata: TWO\n\n";
        let (mut p, seen) = pipeline(true);
        let mut host = MemoryHost::default();
        p.on_response_headers(&mut host, Some(200), Some("text/event-stream"));
        assert_eq!(
            p.on_response_body(&mut host, &LOUD[..11], false),
            BodyStep::Continue
        );
        // An event cut by the chunk is held back, so that chunk is replaced
        // by what is complete (nothing), and the next one by the whole event.
        assert_eq!(
            p.on_response_body(&mut host, &LOUD[11..15], false),
            BodyStep::Replace(Vec::new())
        );
        assert_eq!(
            p.on_response_body(&mut host, &LOUD[15..], true),
            BodyStep::Replace(LOUD[11..].to_vec())
        );
        assert_eq!(*seen.borrow(), ["ONE", "TWO", "<end>"]);
    }

    #[test]
    fn a_stream_nobody_rewrites_passes_its_bytes_untouched() {
        let (mut p, seen) = pipeline(false);
        let mut host = MemoryHost::default();
        host.set_response_header("content-length", Some("44"));
        p.on_response_headers(&mut host, Some(200), Some("text/event-stream"));
        assert!(host.response_headers.contains_key("content-length"));
        assert_eq!(
            p.on_response_body(&mut host, &STREAM[..7], false),
            BodyStep::Continue
        );
        assert_eq!(
            p.on_response_body(&mut host, &STREAM[7..], true),
            BodyStep::Continue
        );
        assert_eq!(*seen.borrow(), ["one", "two", "three", "<end>"]);
    }

    #[test]
    fn a_json_response_is_buffered_parsed_once_and_written_back_once() {
        let (mut p, seen) = pipeline(true);
        let mut host = MemoryHost::default();
        p.on_response_headers(&mut host, Some(200), Some("application/json"));
        assert_eq!(p.response_body_need(false), BodyNeed::WaitForEnd);
        assert_eq!(
            p.on_response_body(&mut host, b"{\"te", false),
            BodyStep::Pause
        );
        assert_eq!(p.response_body_need(true), BodyNeed::Chunk);
        assert_eq!(
            p.on_response_body(&mut host, br#"{"text":"hi","n":1}"#, true),
            BodyStep::Replace(br#"{"text":"HI","n":1}"#.to_vec())
        );
        assert_eq!(*seen.borrow(), ["hi"]);
    }

    /// Reads a buffered response (if `reads`), its output or not; records
    /// what it got.
    #[derive(Clone)]
    struct Peek {
        reads: bool,
        output: bool,
        seen: Rc<RefCell<Vec<String>>>,
    }

    impl Stage for Peek {
        fn name(&self) -> &'static str {
            "peek"
        }
        fn stream(&self) -> Box<dyn StageStream> {
            Box::new(self.clone())
        }
    }

    impl StageStream for Peek {
        fn reads_response(&self, _ex: &Exchange) -> bool {
            self.reads
        }
        fn reads_response_output(&self, _ex: &Exchange) -> bool {
            self.output
        }
        fn on_response(&mut self, ex: &mut Exchange, _host: &mut dyn Host) {
            let body = ex
                .response
                .as_ref()
                .map(|r| String::from_utf8_lossy(&r.to_bytes()).into_owned());
            self.seen
                .borrow_mut()
                .push(body.unwrap_or_else(|| "<none>".into()));
        }
    }

    /// Sends `body` as a buffered JSON response through a pipeline of `Peek`
    /// stages, one for each `(reads, output)`, all recording into `seen`.
    fn peek_json(peeks: &[(bool, bool)], seen: &Rc<RefCell<Vec<String>>>, body: &[u8]) {
        let stages = peeks
            .iter()
            .map(|&(reads, output)| {
                Box::new(Peek {
                    reads,
                    output,
                    seen: seen.clone(),
                }) as Box<dyn Stage>
            })
            .collect();
        let mut p = chat_pipeline(stages);
        let mut host = MemoryHost::default();
        p.on_response_headers(&mut host, Some(200), Some("application/json"));
        assert_eq!(
            p.on_response_body(&mut host, body, true),
            BodyStep::Continue
        );
    }

    #[test]
    fn a_response_is_parsed_with_its_output_only_when_a_stage_reads_it() {
        const BODY: &[u8] =
            br#"{"id":"c1","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3}}"#;
        let seen = Rc::new(RefCell::new(Vec::new()));
        for outputs in [[false, false], [false, true]] {
            peek_json(&outputs.map(|output| (true, output)), &seen, BODY);
        }
        let without = r#"{"id":"c1","usage":{"prompt_tokens":3}}"#;
        let whole = std::str::from_utf8(BODY).unwrap();
        assert_eq!(
            *seen.borrow(),
            [without, without, whole, whole],
            "every stage sees the one parse"
        );
    }

    #[test]
    fn only_the_stages_that_read_the_response_are_called_with_it() {
        const BODY: &[u8] = br#"{"usage":{"prompt_tokens":3}}"#;
        let seen = Rc::new(RefCell::new(Vec::new()));
        peek_json(&[(false, false), (true, false)], &seen, BODY);
        assert_eq!(
            *seen.borrow(),
            [std::str::from_utf8(BODY).unwrap()],
            "the reader alone"
        );
    }

    #[test]
    fn bodies_of_other_types_and_bad_json_pass_untouched() {
        let (mut p, seen) = pipeline(true);
        let mut host = MemoryHost::default();
        p.on_response_headers(&mut host, Some(200), Some("text/plain"));
        assert_eq!(p.response_body_need(true), BodyNeed::Nothing);
        assert_eq!(
            p.on_response_body(&mut host, b"hello", true),
            BodyStep::Continue
        );
        let (mut p, _) = pipeline(true);
        p.on_response_headers(&mut host, Some(502), Some("application/json"));
        assert_eq!(
            p.on_response_body(&mut host, b"not json", true),
            BodyStep::Continue
        );
        assert_eq!(*seen.borrow(), Vec::<String>::new());
    }
}
