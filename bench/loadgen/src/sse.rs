//! Detection of the first streamed token in an SSE response body.
//!
//! "First token" is the first complete `data:` line whose payload is not
//! `[DONE]` and mentions `"content"` or `"delta"`: an OpenAI or Azure chunk
//! (`choices[].delta`), an Anthropic event (`message_start` already carries
//! `"content":[]`, so for Anthropic this is the first event) or a Gemini chunk
//! (`candidates[].content`). Keep-alive comments, `event:` lines and empty
//! data are skipped. The line counts once its terminating newline arrived;
//! body chunks may cut it anywhere, so the partial line is carried over.

/// Scans body chunks of one response; reusable across responses.
#[derive(Debug, Default)]
pub struct FirstEventScanner {
    /// The current, unfinished line (cleared at each newline).
    line: Vec<u8>,
    found: bool,
}

impl FirstEventScanner {
    /// Forgets the previous response (keeps the buffer's capacity).
    pub fn reset(&mut self) {
        self.line.clear();
        self.found = false;
    }

    /// Feeds the next body chunk; true once the first content event has been
    /// seen (in this chunk or an earlier one).
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if self.found {
            return true;
        }
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(newline);
            self.line.extend_from_slice(head);
            self.found = is_content_event(&self.line);
            self.line.clear();
            if self.found {
                return true;
            }
            rest = tail.get(1..).unwrap_or_default();
        }
        self.line.extend_from_slice(rest);
        false
    }
}

/// One complete line (without its `\n`).
fn is_content_event(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(data) = line.strip_prefix(b"data:") else {
        return false;
    };
    let data = data.trim_ascii();
    data != b"[DONE]" && (contains(data, b"\"content\"") || contains(data, b"\"delta\""))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: &[u8] = b": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";

    /// The index of the byte whose arrival completes the first event.
    fn detected_at(body: &[u8], cuts: &[usize]) -> Option<usize> {
        let mut s = FirstEventScanner::default();
        let mut from = 0;
        for &to in cuts.iter().chain(std::iter::once(&body.len())) {
            if s.feed(&body[from..to]) {
                return Some(to);
            }
            from = to;
        }
        None
    }

    #[test]
    fn finds_the_event_in_one_chunk() {
        assert_eq!(detected_at(OPENAI, &[]), Some(OPENAI.len()));
    }

    #[test]
    fn finds_the_event_whatever_the_chunk_boundaries() {
        let end_of_event = OPENAI.windows(3).position(|w| w == b"}\n\n").unwrap() + 2;
        // Every single cut and every pair of cuts, byte by byte.
        for a in 0..=OPENAI.len() {
            let at = detected_at(OPENAI, &[a]).unwrap();
            assert!(
                at >= end_of_event,
                "cut {a}: detected before the line ended"
            );
            for b in a..=OPENAI.len() {
                let at = detected_at(OPENAI, &[a, b]).unwrap();
                assert!(at >= end_of_event, "cuts {a},{b}");
            }
        }
        // One byte at a time: detected exactly at the event's newline.
        let cuts: Vec<usize> = (1..OPENAI.len()).collect();
        assert_eq!(detected_at(OPENAI, &cuts), Some(end_of_event));
    }

    #[test]
    fn ignores_done_comments_events_and_contentless_data() {
        let body = b"event: ping\r\ndata: {}\r\n\r\n: c\n\ndata: [DONE]\n\ndata:\n\n";
        assert_eq!(detected_at(body, &[3, 17]), None);
        // An unterminated content line is not an event yet.
        assert_eq!(detected_at(b"data: {\"delta\":1}", &[]), None);
    }

    #[test]
    fn recognises_other_dialects_and_crlf() {
        let anthropic = b"event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"delta\":{}}\r\n\r\n";
        assert!(detected_at(anthropic, &[30]).is_some());
        let gemini = b"data:{\"candidates\":[{\"content\":{\"parts\":[]}}]}\n\n";
        assert!(detected_at(gemini, &[]).is_some());
    }

    #[test]
    fn reset_starts_a_new_response() {
        let mut s = FirstEventScanner::default();
        assert!(s.feed(OPENAI));
        assert!(s.feed(b"anything"));
        s.reset();
        assert!(!s.feed(b"data: {\"del"));
        s.reset();
        assert!(!s.feed(b"ta\":1}\n"));
    }
}
