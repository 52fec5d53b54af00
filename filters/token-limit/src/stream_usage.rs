//! What a streamed response used, for reconciling its reservation.
//!
//! OpenAI reports a chat stream's usage only when the request asks for it
//! (`stream_options.include_usage`), in one last chunk with no choices. So
//! the gateway asks for it on every streamed chat request, and for clients
//! that did not ask, removes that chunk again before it reaches them (the
//! `"usage": null` that the other chunks then carry is left: every OpenAI
//! client tolerates it). The removed usage is handed on as the fact
//! `llm.usage.stream`, for the audit filter, which sees the stream after
//! this stage.
//!
//! A provider that ignores the option (some OpenAI-compatible servers) sends
//! no usage at all: its chunks have no `usage` key, which the first chunk
//! shows. Its output is then counted from the streamed text with the
//! estimator, chunk by chunk, without holding the text.

use crate::count::{Family, Features};
use llm_api::text::for_each_response_text;
use llm_api::{
    with_json_body, ApiKind, Dialect, Json, LlmRequest, SseEvent, Usage, UsageAccumulator,
};
use serde_json::{Map, Value};

/// Whether the gateway must ask for the usage chunk of this request's
/// stream: a streamed OpenAI chat request that does not ask itself.
pub fn must_ask_for_usage(api: &ApiKind, request: &LlmRequest) -> bool {
    is_chat(api) && request.stream && !asks_for_usage(request)
}

/// Whether requests of `api` may get the usage option added.
pub fn is_chat(api: &ApiKind) -> bool {
    matches!(
        api,
        ApiKind::ChatCompletions | ApiKind::AzureChatCompletions { .. }
    )
}

/// Sets `stream_options.include_usage`.
pub fn ask_for_usage(request: &mut LlmRequest) {
    let Some(body) = request.body_mut().as_object_mut() else {
        return;
    };
    let options = body
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !options.is_object() {
        *options = Value::Object(Map::new());
    }
    if let Some(options) = options.as_object_mut() {
        options.insert("include_usage".into(), Value::Bool(true));
    }
}

/// Whether an OpenAI chat request asks for the usage chunk of its stream.
fn asks_for_usage(request: &LlmRequest) -> bool {
    with_json_body!(request, |body| body
        .field("stream_options")
        .and_then(|o| o.field("include_usage"))
        .and_then(Json::as_bool))
        == Some(true)
}

pub struct StreamUsage {
    api: ApiKind,
    reported: UsageAccumulator,
    /// Remove the usage chunk: the gateway asked for it, the client did not.
    hide_usage_chunk: bool,
    /// The streamed text's features, once the first event showed that the
    /// provider reports no usage: estimated as a whole at the end.
    counted: Option<Features>,
    first_event_seen: bool,
    family: Family,
}

impl StreamUsage {
    pub fn new(api: &ApiKind, family: Family, hide_usage_chunk: bool) -> Self {
        StreamUsage {
            api: api.clone(),
            reported: UsageAccumulator::new(api.dialect()),
            hide_usage_chunk,
            counted: None,
            first_event_seen: false,
            family,
        }
    }

    /// Takes note of a batch of events, removing the usage chunk if it is
    /// hidden from the client; returns the usage such a chunk held.
    pub fn on_events(&mut self, events: &mut Vec<SseEvent>) -> Option<Usage> {
        let mut hidden = None;
        for event in events.iter() {
            self.reported.feed(event);
            if !self.first_event_seen {
                self.first_event_seen = true;
                let openai = self.api.dialect() == Dialect::OpenAi;
                if openai && !event.data_str().contains("\"usage\"") {
                    self.counted = Some(Features::default());
                }
            }
            if let Some(counted) = self.counted.as_mut() {
                if let Ok(data) = serde_json::from_str::<Value>(event.data_str()) {
                    // The streamed pieces only: events that repeat a whole
                    // text (Responses `.done`, the completed response) would
                    // count it twice.
                    for_each_response_text(&self.api, &data, |field| {
                        if field.delta {
                            counted.add(&Features::of(field.text));
                        }
                    });
                }
            }
        }
        if self.hide_usage_chunk {
            events.retain(|event| match usage_chunk(event) {
                Some(usage) => {
                    hidden = Some(usage);
                    false
                }
                None => true,
            });
        }
        hidden
    }

    /// What the provider reported, else the counted output (with no input:
    /// the caller keeps its reserved estimate for that).
    pub fn usage(&self) -> Option<Usage> {
        let counted = self.counted.map(|features| features.estimate(self.family));
        self.reported.usage().or_else(|| {
            counted.map(|output| Usage {
                output,
                total: output,
                ..Usage::default()
            })
        })
    }

    /// Whether the usage is counted rather than reported.
    pub fn is_counted(&self) -> bool {
        self.reported.usage().is_none() && self.counted.is_some()
    }
}

/// The usage of an OpenAI usage chunk: no choices, a usage object.
fn usage_chunk(event: &SseEvent) -> Option<Usage> {
    let data = event.data_str();
    if !data.contains("\"usage\"") || !data.contains("\"choices\"") {
        return None;
    }
    let value: Value = serde_json::from_str(data).ok()?;
    let no_choices = value.get("choices")?.as_array()?.is_empty();
    (no_choices && value.get("usage")?.is_object())
        .then(|| Usage::from_json(Dialect::OpenAi, &value))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_api::SseParser;

    fn request(body: Value) -> LlmRequest {
        LlmRequest::parse(&ApiKind::ChatCompletions, body.to_string().as_bytes()).unwrap()
    }

    fn events(text: &str) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = parser.feed(text.as_bytes());
        events.extend(parser.finish());
        events
    }

    #[test]
    fn only_streamed_chat_requests_that_did_not_ask_are_changed() {
        let chat = ApiKind::ChatCompletions;
        let mut r = request(serde_json::json!({"model": "m", "stream": true, "messages": []}));
        assert!(must_ask_for_usage(&chat, &r));
        ask_for_usage(&mut r);
        assert!(!must_ask_for_usage(&chat, &r), "asks now");
        assert_eq!(
            r.object()["stream_options"],
            serde_json::json!({"include_usage": true})
        );
        let mut r = request(
            serde_json::json!({"model": "m", "stream": true, "stream_options": {"include_usage": false, "x": 1}, "messages": []}),
        );
        assert!(must_ask_for_usage(&chat, &r));
        ask_for_usage(&mut r);
        assert_eq!(
            r.object()["stream_options"],
            serde_json::json!({"include_usage": true, "x": 1}),
            "other options kept"
        );
        let r = request(serde_json::json!({"model": "m", "messages": []}));
        assert!(!must_ask_for_usage(&chat, &r), "not a stream");
        let r = request(serde_json::json!({"model": "m", "stream": true, "messages": []}));
        assert!(!must_ask_for_usage(&ApiKind::Responses, &r), "not chat");
    }

    const WITH_USAGE: &str = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
        "data: [DONE]\n\n"
    );

    #[test]
    fn the_usage_chunk_is_read_and_hidden_only_when_the_gateway_asked() {
        let mut hidden = StreamUsage::new(&ApiKind::ChatCompletions, Family::OpenAiO200k, true);
        let mut batch = events(WITH_USAGE);
        let usage = hidden.on_events(&mut batch).unwrap();
        assert_eq!((usage.input, usage.output), (9, 2));
        assert_eq!(batch.len(), 2, "the text chunk and [DONE] stay");
        assert_eq!(hidden.usage(), Some(usage));
        assert!(!hidden.is_counted());
        let mut shown = StreamUsage::new(&ApiKind::ChatCompletions, Family::OpenAiO200k, false);
        let mut batch = events(WITH_USAGE);
        assert_eq!(shown.on_events(&mut batch), None);
        assert_eq!(batch.len(), 3);
        assert_eq!(shown.usage().map(|u| u.output), Some(2));
    }

    #[test]
    fn a_stream_without_usage_is_counted_from_its_text() {
        let mut counter = StreamUsage::new(&ApiKind::ChatCompletions, Family::OpenAiO200k, true);
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        let stream: String = text
            .split_inclusive(' ')
            .map(|word| {
                format!(
                    "data: {}\n\n",
                    serde_json::json!({"choices": [{"index": 0, "delta": {"content": word}}]})
                )
            })
            .collect();
        let mut batch = events(&stream);
        assert_eq!(counter.on_events(&mut batch), None);
        let output = counter.usage().unwrap().output;
        assert!(counter.is_counted());
        // 200 words and 20 full stops: 220 o200k tokens.
        assert!((200..=250).contains(&output), "{output}");
    }
}
