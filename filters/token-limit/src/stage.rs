//! The token-limit stage: counts a request's input tokens, admits it against
//! its key's limits by reserving them atomically in Envoy's shared data
//! (exact across workers), answers 429 in the caller's format when a limit is
//! used up, adds OpenAI's `x-ratelimit-*` headers to every response, and
//! reconciles the reservation with the usage the provider reports.

use crate::config::TokenLimitConfig;
use crate::count::{
    admission_count, estimate, exact, request_tokens, Encoding, EncodingMap, Family, Format,
};
use crate::limit::headers::openai_headers;
use crate::limit::key::{build_key, KeyError, MAX_PART_BYTES};
use crate::limit::limiter::{
    Actual, Demand, LimitState, Limiter, Outcome, Reason, Rejection, Reservation,
};
use crate::limit::policy::{
    CountingMode, KeyPart, Level, Limit, LimitPolicy, Measure, Unpriced, DAY_MS, HOUR_MS, MINUTE_MS,
};
use crate::limit::store::{CasMismatch, KeptReads, Store};
use crate::max_output::requested_max_output;
use crate::stream_usage::{ask_for_usage, is_chat, must_ask_for_usage, StreamUsage};
use llm_api::pricing::{Price, PriceMap};
use llm_api::{with_json_body, ApiError, ApiKind, ErrorKind, Fact, LlmRequest, Usage};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use wasm_glue::{Exchange, Flow, Host, LogLevel, Reply, Stage, StageStream};

pub struct TokenLimit {
    shared: Rc<Shared>,
}

/// What every stream of a VM shares: the policy and what it was compiled to.
struct Shared {
    policy: LimitPolicy,
    /// Prices for cost budgets (the map the audit filter prices records by).
    prices: Rc<PriceMap>,
    limiter: Limiter,
    encodings: EncodingMap,
    /// Where this VM's next sweep of idle keys starts.
    next_sweep_slot: Cell<u32>,
}

/// How often owed credits are written and idle keys swept (at least; the
/// VM's timer runs at the shortest period any stage asks for) and how many
/// slots one sweep visits:
/// with the default 65,536 slots and three VMs (two workers, the main
/// thread), every slot is visited within about 20 s, at a few microseconds a
/// slot.
const SWEEP_PERIOD: Duration = Duration::from_secs(1);
const SWEEP_SLOTS: u32 = 1024;

impl TokenLimit {
    pub fn new(config: TokenLimitConfig) -> Self {
        let TokenLimitConfig { policy, prices } = config;
        let limiter = Limiter::new(&policy.store);
        let encodings = EncodingMap::new(policy.counting.encodings.clone());
        TokenLimit {
            shared: Rc::new(Shared {
                policy,
                prices,
                limiter,
                encodings,
                next_sweep_slot: Cell::new(0),
            }),
        }
    }
}

impl Stage for TokenLimit {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn publishes(&self) -> &'static [Fact] {
        &[
            Fact::TokensAdmission,
            Fact::TokensInputEstimated,
            Fact::TokensOutput,
            Fact::RatelimitKey,
            Fact::RatelimitRemaining,
            Fact::UsageStream,
        ]
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(TokenLimitStream {
            shared: self.shared.clone(),
            admitted: None,
            global_admission: None,
            usage: None,
            stream_usage: None,
            hide_usage_chunk: false,
        })
    }

    fn start(&self, host: &mut dyn Host) {
        self.shared.limiter.init_slots(&mut HostStore(host));
    }

    /// Builds both vocabularies unless counting is estimate-only: any model
    /// may come, and a request near a limit must not wait for one. The log
    /// line tells operators (and the integration test) that it happened.
    fn warm(&self, host: &mut dyn Host) {
        if self.shared.policy.counting.mode == CountingMode::Estimate {
            return;
        }
        let started = host.now_ms();
        // Both calls run: `|` does not short-circuit.
        let built = exact::warm(Encoding::O200kBase) | exact::warm(Encoding::Cl100kBase);
        if built {
            let took = host.now_ms().saturating_sub(started);
            host.log(
                LogLevel::Info,
                &format!("token_limit: o200k_base and cl100k_base vocabularies built in {took} ms"),
            );
        }
    }

    fn tick_period(&self) -> Option<Duration> {
        Some(SWEEP_PERIOD)
    }

    /// Writes the credits this VM owes (the limiter holds back
    /// reconciliations that only give back), then removes keys idle longer
    /// than their longest window, a bounded number of slots at a time, so
    /// the shared store stays bounded by the keys active within their
    /// windows (a million one-off keys do not pile up).
    fn on_tick(&self, host: &mut dyn Host) {
        let now = host.now_ms();
        let lost = self.shared.limiter.pay_owed(&mut HostStore(host), now);
        if lost > 0 {
            host.count("llm_gateway.token_limit.reconcile_lost", lost as u64);
        }
        let from = self.shared.next_sweep_slot.get();
        let sweep = self
            .shared
            .limiter
            .sweep(&mut HostStore(host), from, SWEEP_SLOTS, now);
        self.shared.next_sweep_slot.set(sweep.next_slot);
        if sweep.removed > 0 {
            host.count("llm_gateway.token_limit.keys_expired", sweep.removed as u64);
        }
    }
}

/// The limiter's store over Envoy's shared data (compare-and-swap).
struct HostStore<'a>(&'a mut dyn Host);

impl Store for HostStore<'_> {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.0.shared_get(key)
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch> {
        self.0.shared_set(key, value, cas).map_err(|_| CasMismatch)
    }
}

/// An admitted request, until its response is reconciled.
struct Admitted {
    /// Each level's reservation and the limits it was charged against.
    levels: Vec<(Reservation, Vec<Limit>)>,
    /// Every level's limits as they stood after admission, for the headers.
    states: Vec<LimitState>,
    /// The model the request named, for pricing its usage when no upstream
    /// attempt reported what served it.
    model: Option<String>,
    /// The price the admission charged the cost budgets at, when one applies.
    price: Option<Price>,
}

/// The key of each level that has limits for the request.
struct Keyed<'p> {
    level: &'p Level,
    /// The level's name and the key: two levels with the same parts keep
    /// their own counts.
    store_key: String,
    limits: Vec<Limit>,
}

/// A limit as a client reads it: "2000 input tokens per minute", "a cost
/// budget of $5.00 per 30 days".
fn describe(limit: &Limit) -> String {
    let window = match limit.window_ms {
        MINUTE_MS => "minute",
        HOUR_MS => "hour",
        DAY_MS => "day",
        _ => "30 days",
    };
    let what = match limit.measure {
        Measure::Requests => "requests",
        Measure::InputTokens => "input tokens",
        Measure::OutputTokens => "output tokens",
        Measure::TotalTokens => "tokens",
        Measure::CostNanoUsd => {
            return format!(
                "a cost budget of ${:.2} per {window}",
                limit.max as f64 / 1e9
            )
        }
    };
    format!("{} {what} per {window}", limit.max)
}

/// Dollars as the limiter counts them: billionths, rounded up so that no
/// call is free.
fn nano_usd(usd: f64) -> u64 {
    let nano = (usd * 1e9).ceil();
    if nano.is_finite() && nano > 0.0 {
        nano as u64
    } else {
        0
    }
}

/// The model name without a `provider/` prefix, as price lists name it.
fn bare_model(model: &str) -> &str {
    model.split_once('/').map_or(model, |(_, rest)| rest)
}

/// The price of `model` for cost budgets: its own, else the configured
/// price of unpriced models, else none (the request is refused).
fn budget_price(shared: &Shared, provider: Option<&str>, model: &str) -> Option<Price> {
    match (
        shared.prices.price(provider, bare_model(model)),
        shared.policy.unpriced_models,
    ) {
        (Some(price), _) => Some(*price),
        (None, Unpriced::Price(price)) => Some(price),
        (None, Unpriced::Reject) => None,
    }
}

/// `name=key` for each level, `;`-separated (a `;` inside a key is
/// escaped): the `llm.ratelimit.key` fact.
fn key_fact<'k>(keys: impl Iterator<Item = (&'k str, &'k str)>) -> String {
    let mut fact = String::new();
    for (name, key) in keys {
        if !fact.is_empty() {
            fact.push(';');
        }
        fact.push_str(name);
        fact.push('=');
        fact.push_str(&key.replace(';', "%3B"));
    }
    fact
}

struct TokenLimitStream {
    shared: Rc<Shared>,
    admitted: Option<Admitted>,
    /// Global mode: the admission count the rate-limit service was charged.
    global_admission: Option<u64>,
    /// Usage read from a whole (JSON) response.
    usage: Option<Usage>,
    /// Usage gathered from a stream's events.
    stream_usage: Option<StreamUsage>,
    /// The gateway asked for the stream's usage chunk; the client did not.
    hide_usage_chunk: bool,
}

/// The estimator for a model: OpenAI's encodings where known, else the
/// provider family by name.
fn family(encodings: &EncodingMap, model: &str) -> Family {
    match encodings.lookup(model) {
        Some(Encoding::Cl100kBase) => Family::OpenAiCl100k,
        Some(Encoding::O200kBase) => Family::OpenAiO200k,
        None if model.contains("claude") => Family::Anthropic,
        None if model.contains("gemini") => Family::Gemini,
        None => Family::OpenAiO200k,
    }
}

impl TokenLimitStream {
    /// The admission count of the request's input tokens.
    fn count(&self, request: &LlmRequest, format: Format, remaining: Option<u64>) -> (u64, u64) {
        let shared = &self.shared;
        let model = request.model.as_deref().unwrap_or_default();
        let family = family(&shared.encodings, model);
        let estimated = with_json_body!(request, |body| request_tokens(
            format,
            body,
            model,
            &mut |text| estimate(family, text)
        ));
        let encoding = shared.encodings.lookup(model);
        let mut exact_count = |limit: u64| {
            let total = encoding.map_or(0, |enc| {
                with_json_body!(request, |body| request_tokens(
                    format,
                    body,
                    model,
                    &mut |text| exact::count(enc, text) as u64
                ))
            });
            if total > limit {
                Err(exact::Exceeded {
                    at_least: usize::try_from(total).unwrap_or(usize::MAX),
                })
            } else {
                Ok(total)
            }
        };
        let exact: Option<&mut dyn FnMut(u64) -> Result<u64, exact::Exceeded>> =
            if encoding.is_some() {
                Some(&mut exact_count)
            } else {
                None
            };
        let counted = admission_count(
            shared.policy.counting.mode,
            estimated,
            shared.policy.counting.safety_margin,
            remaining,
            exact,
        );
        (counted.tokens, counted.estimate)
    }

    /// Makes a streamed chat request report its usage (see `stream_usage`).
    fn ask_for_stream_usage(&mut self, ex: &mut Exchange) {
        self.hide_usage_chunk = ex
            .request
            .as_ref()
            .is_some_and(|r| must_ask_for_usage(&ex.api, r));
        if self.hide_usage_chunk {
            if let Some(request) = ex.request_mut() {
                ask_for_usage(request);
            }
        }
    }

    /// Global mode: Envoy's `ratelimit` filter after the bundle charges the
    /// rate-limit service `llm.tokens.admission` now and
    /// `llm.tokens.output` when the stream is done. Both are always numbers
    /// once set: Envoy drops a descriptor whose charge is not one, and the
    /// request would pass unlimited.
    fn publish_for_global(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        let (admission, estimate) = match (ex.request.as_ref(), Format::of(&ex.api)) {
            (Some(request), Some(format)) => self.count(request, format, None),
            _ => (0, 0),
        };
        // A charge of 0 would be sent as the default of 1; a request always
        // costs at least one unit.
        let admission = admission.max(1);
        host.set_fact(Fact::TokensAdmission, &admission.to_string());
        host.set_fact(Fact::TokensInputEstimated, &estimate.to_string());
        self.global_admission = Some(admission);
        self.ask_for_stream_usage(ex);
        Flow::Continue
    }

    /// Global mode: what is charged when the stream is done, once the usage
    /// is known: the output, and the input the admission count fell short
    /// of (the service cannot credit an overestimate back).
    fn publish_output_for_global(&self, usage: &Usage, host: &mut dyn Host) {
        if let Some(admission) = self.global_admission {
            let charge = usage.output + usage.input.saturating_sub(admission);
            host.set_fact(Fact::TokensOutput, &charge.max(1).to_string());
        }
    }

    /// The 429 (or 400 when retrying cannot help) for a request a level
    /// refused, naming the level and the limit.
    fn reject(
        ex: &Exchange,
        level: &str,
        states: &[LimitState],
        rejection: &Rejection,
        demand: u64,
    ) -> Flow {
        let limit = rejection
            .limit
            .as_ref()
            .map_or_else(|| "its limit".to_owned(), describe);
        let error = match rejection.reason {
            Reason::CanNeverSucceed => ApiError::invalid(format!(
                "This request needs about {demand} input tokens, more than {limit} (the `{level}` limits) allows: it can never succeed. Send a smaller request."
            ))
            .with_code("request_too_large_for_limit"),
            Reason::OverLimit => ApiError::new(
                ErrorKind::RateLimited,
                format!("Rate limit reached for the `{level}` limits: {limit}. Retry after the time in the retry-after header."),
            )
            .with_code("rate_limit_exceeded"),
            Reason::StoreContention => {
                ApiError::new(ErrorKind::RateLimited, "The rate limiter is busy; retry shortly.").with_code("rate_limit_exceeded")
            }
        };
        let mut reply = Reply::error(&error, &ex.api);
        reply.headers.extend(
            openai_headers(states, Some(rejection))
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v)),
        );
        reply
            .headers
            .push(("x-ratelimit-level".to_owned(), level.to_owned()));
        Flow::Respond(reply)
    }

    /// The key of every level, or the reply to a request that cannot have
    /// one (a missing part where the level rejects, an overlong value).
    fn keys<'p>(
        policy: &'p LimitPolicy,
        ex: &Exchange,
        model: Option<&str>,
    ) -> Result<Vec<(&'p Level, String)>, Flow> {
        let mut keys = Vec::with_capacity(policy.levels.len());
        for level in &policy.levels {
            let key = build_key(&level.key, level.missing_key, |part| match part {
                KeyPart::Header(name) => ex.request_header(name),
                KeyPart::Client => ex.client_id(),
                KeyPart::Team => ex.team(),
                KeyPart::Model => model,
                KeyPart::Api => Some(ex.api.name()),
            });
            let error = match key {
                Ok(key) => {
                    keys.push((level, key));
                    continue;
                }
                // No client id means no authentication: Envoy's 401. A
                // missing header is the caller's to add.
                Err(KeyError::Missing(KeyPart::Client)) => ApiError::new(
                    ErrorKind::Authentication,
                    "This gateway limits requests per client; the request names none.",
                )
                .with_code("missing_client_key"),
                // The team is the configuration's, not the caller's to send.
                Err(KeyError::Missing(KeyPart::Team)) => ApiError::new(
                    ErrorKind::PermissionDenied,
                    "This gateway limits requests per team; this client belongs to none.",
                )
                .with_code("missing_team"),
                Err(KeyError::Missing(part)) => ApiError::invalid(format!(
                    "This gateway limits requests per {}; send it.",
                    part_name(part)
                ))
                .with_code("missing_key_part"),
                Err(KeyError::TooLong(part)) => ApiError::invalid(format!(
                    "The {} is longer than the {MAX_PART_BYTES} bytes the gateway accepts.",
                    part_name(part)
                ))
                .with_code("key_too_long"),
            };
            return Err(Flow::Respond(Reply::error(&error, &ex.api)));
        }
        Ok(keys)
    }
}

/// A key part as a client reads it.
fn part_name(part: &KeyPart) -> String {
    match part {
        KeyPart::Header(name) => format!("header `{name}`"),
        KeyPart::Client => "client".to_owned(),
        KeyPart::Team => "team".to_owned(),
        KeyPart::Model => "model".to_owned(),
        KeyPart::Api => "api".to_owned(),
    }
}

impl TokenLimitStream {
    /// `GET /v1/gateway/usage`: the calling client's limits and use of them
    /// (`usage`). Global limits live in the rate-limit service, which this
    /// filter cannot read.
    fn usage(&self, ex: &Exchange, host: &mut dyn Host) -> Flow {
        let Some(client) = ex.client_id() else {
            let err = ApiError::new(
                ErrorKind::Authentication,
                "This gateway reports usage per client; the request names none.",
            )
            .with_code("missing_client_key");
            return Flow::Respond(Reply::error(&err, &ex.api));
        };
        let policy = &self.shared.policy;
        if policy.global.is_some() {
            let err = ApiError::new(
                ErrorKind::NotFound,
                "This gateway's limits are kept by its rate-limit service, which reports no usage here.",
            )
            .with_code("usage_not_available");
            return Flow::Respond(Reply::error(&err, &ex.api));
        }
        let now = host.now_ms();
        let client: String = client.chars().take(MAX_PART_BYTES).collect();
        let report = crate::usage::report(
            policy,
            &self.shared.limiter,
            &HostStore(host),
            &client,
            |name| ex.request_header(name),
            now,
        );
        Flow::Respond(Reply::json(200, report.to_string().into_bytes()))
    }
}

impl StageStream for TokenLimitStream {
    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        if ex.api == ApiKind::GatewayUsage {
            return self.usage(ex, host);
        }
        let shared = self.shared.clone();
        let policy = &shared.policy;
        let model = ex.request.as_ref().and_then(|r| r.model.clone());
        let keys = match Self::keys(policy, ex, model.as_deref()) {
            Ok(keys) => keys,
            Err(reply) => return reply,
        };
        host.set_fact(
            Fact::RatelimitKey,
            &key_fact(
                keys.iter()
                    .map(|(level, key)| (level.name.as_str(), key.as_str())),
            ),
        );
        if policy.global.is_some() {
            return self.publish_for_global(ex, host);
        }
        let keyed: Vec<Keyed> = keys
            .into_iter()
            .map(|(level, key)| Keyed {
                limits: level.limits_for(&key).to_set(),
                store_key: format!("{}\u{1f}{key}", level.name),
                level,
            })
            .filter(|k| !k.limits.is_empty())
            .collect();
        if keyed.is_empty() {
            return Flow::Continue;
        }
        // A cost budget prices the request up front; a model without a
        // price is refused rather than let through free.
        let price = if keyed
            .iter()
            .any(|k| k.limits.iter().any(|l| l.measure == Measure::CostNanoUsd))
        {
            let name = model.as_deref().unwrap_or_default();
            match budget_price(&shared, None, name) {
                Some(price) => Some(price),
                None => {
                    let err = ApiError::invalid(format!(
                        "The model `{}` has no price, and a cost budget applies to this request; ask the gateway's operators to price it.",
                        name.chars().take(MAX_PART_BYTES).collect::<String>()
                    ))
                    .with_param("model")
                    .with_code("model_not_priced");
                    return Flow::Respond(Reply::error(&err, &ex.api));
                }
            }
        } else {
            None
        };
        let format = Format::of(&ex.api);
        let max_output = match (ex.request.as_ref(), format) {
            (Some(request), Some(format)) => {
                with_json_body!(request, |body| requested_max_output(format, body))
            }
            _ => None,
        };
        let output_tokens = max_output.unwrap_or(policy.default_output_tokens);
        let now = host.now_ms();
        let mut store = KeptReads::new(HostStore(host));
        let token_limits = |states: &[LimitState]| {
            states
                .iter()
                .filter(|s| matches!(s.limit.measure, Measure::InputTokens | Measure::TotalTokens))
                .map(LimitState::remaining)
                .min()
        };
        // The count reads the headroom that the first level's admission
        // then writes back; the other levels' headroom is peeked, so that
        // counting is exact near any level's limit, and their admissions
        // start from the peeked reads.
        store.keep(true);
        let elsewhere = keyed
            .iter()
            .skip(1)
            .filter_map(|k| {
                token_limits(&shared.limiter.peek(&store, &k.store_key, &k.limits, now))
            })
            .min();
        store.keep(false);
        let mut estimate = 0;
        let mut admitted: Vec<(Reservation, Vec<Limit>)> = Vec::with_capacity(keyed.len());
        let mut states = Vec::new();
        let mut demand = Demand::default();
        let mut refused = None;
        for (i, k) in keyed.iter().enumerate() {
            let decision = if i == 0 {
                let (decision, measured) = shared.limiter.admit_measured(
                    &mut store,
                    &k.store_key,
                    &k.limits,
                    now,
                    |before| {
                        let remaining = match (token_limits(before), elsewhere) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        let (input_tokens, estimated) = match (ex.request.as_ref(), format) {
                            (Some(request), Some(format)) => self.count(request, format, remaining),
                            _ => (0, 0),
                        };
                        estimate = estimated;
                        let (cost_nano_usd, output_cost_nano_usd) = price.map_or((0, 0), |price| {
                            let input = Usage {
                                input: input_tokens,
                                ..Usage::default()
                            };
                            let output = Usage {
                                output: output_tokens,
                                ..Usage::default()
                            };
                            (nano_usd(price.cost(&input)), nano_usd(price.cost(&output)))
                        });
                        Demand {
                            input_tokens,
                            output_tokens,
                            cost_nano_usd,
                            output_cost_nano_usd,
                        }
                    },
                );
                demand = measured;
                decision
            } else {
                shared
                    .limiter
                    .admit(&mut store, &k.store_key, &k.limits, demand, now)
            };
            states.extend_from_slice(&decision.limits);
            match decision.outcome {
                Outcome::Admitted(reservation) => admitted.push((reservation, k.limits.clone())),
                Outcome::Rejected(rejection) => {
                    refused = Some((k.level.name.as_str(), rejection));
                    break;
                }
            }
        }
        if refused.is_some() {
            // The levels that admitted it give the reservation back whole.
            for (reservation, limits) in &admitted {
                if shared
                    .limiter
                    .release(&mut store, reservation, limits, now)
                    .is_err()
                {
                    store
                        .inner()
                        .0
                        .count("llm_gateway.token_limit.reconcile_lost", 1);
                }
            }
        }
        let host = store.into_inner().0;
        host.set_fact(Fact::TokensInputEstimated, &estimate.to_string());
        if let Some(remaining) = token_limits(&states) {
            host.set_fact(Fact::RatelimitRemaining, &remaining.to_string());
        }
        if let Some((level, rejection)) = refused {
            host.count("llm_gateway.token_limit.rejected", 1);
            return Self::reject(ex, level, &states, &rejection, demand.input_tokens);
        }
        self.admitted = Some(Admitted {
            levels: admitted,
            states,
            model,
            price,
        });
        self.ask_for_stream_usage(ex);
        Flow::Continue
    }

    /// Streamed chat requests get `stream_options.include_usage` added.
    fn rewrites_request(&self, ex: &Exchange) -> bool {
        is_chat(&ex.api)
    }

    /// The usage chunk the client did not ask for is removed.
    fn rewrites_response(&self, _ex: &Exchange) -> bool {
        self.hide_usage_chunk
    }

    fn on_response_headers(&mut self, _ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        if let Some(admitted) = &self.admitted {
            for (name, value) in openai_headers(&admitted.states, None) {
                host.set_response_header(name, Some(&value));
            }
        }
        Flow::Continue
    }

    fn reads_response(&self, _ex: &Exchange) -> bool {
        self.admitted.is_some() || self.global_admission.is_some()
    }

    fn on_response(&mut self, ex: &mut Exchange, host: &mut dyn Host) {
        let dialect = ex.api.dialect();
        self.usage = ex
            .response
            .as_ref()
            .and_then(|body| with_json_body!(body, |body| Usage::from_json(dialect, body)));
        if let Some(usage) = self.usage {
            self.publish_output_for_global(&usage, host);
        }
    }

    fn on_response_events(
        &mut self,
        ex: &mut Exchange,
        events: &mut Vec<llm_api::SseEvent>,
        end: bool,
        host: &mut dyn Host,
    ) {
        let stream = self.stream_usage.get_or_insert_with(|| {
            let model = self
                .admitted
                .as_ref()
                .and_then(|a| a.model.as_deref())
                .unwrap_or_default();
            StreamUsage::new(
                &ex.api,
                family(&self.shared.encodings, bare_model(model)),
                self.hide_usage_chunk,
            )
        });
        if let Some(hidden) = stream.on_events(events) {
            host.set_json_fact(&hidden);
        }
        if end {
            if let Some(usage) = stream.usage() {
                self.publish_output_for_global(&usage, host);
            }
        }
    }

    /// Replaces each level's reservation with the usage the provider
    /// reported. Without a report, an error answer keeps the input as
    /// reserved and frees the expected output (nothing was generated);
    /// anything else (a stream cut short, an abort) keeps the whole
    /// reservation.
    fn on_done(&mut self, ex: &Exchange, host: &mut dyn Host) {
        let Some(admitted) = self.admitted.take() else {
            return;
        };
        let reported = self
            .usage
            .or_else(|| self.stream_usage.as_ref().and_then(StreamUsage::usage));
        let Some(first) = admitted.levels.first().map(|(r, _)| r.reserved) else {
            return;
        };
        let mut usage = match reported {
            Some(usage) => usage,
            None if ex.response_status.is_some_and(|s| s >= 400) => Usage {
                input: first.input_tokens,
                ..Usage::default()
            },
            None => return,
        };
        if self
            .stream_usage
            .as_ref()
            .is_some_and(StreamUsage::is_counted)
        {
            // Counted output only: the input stays as reserved.
            usage.input = first.input_tokens;
            usage.total = usage.input + usage.output;
            host.count("llm_gateway.token_limit.streams_counted", 1);
        }
        // Priced as what served the call (after any fallback), else at the
        // price the admission used; unknown, the cost stays as reserved.
        let cost_nano_usd = admitted.price.map(|admission_price| {
            let provider = host.fact(Fact::AttemptProvider);
            let served = host.fact(Fact::AttemptModel).or(admitted.model.clone());
            let price = served
                .and_then(|m| budget_price(&self.shared, provider.as_deref(), &m))
                .unwrap_or(admission_price);
            nano_usd(price.cost(&usage))
        });
        let actual = Actual {
            input_tokens: usage.input,
            output_tokens: usage.output,
            cost_nano_usd,
        };
        let now = host.now_ms();
        for (reservation, limits) in &admitted.levels {
            if self
                .shared
                .limiter
                .reconcile(&mut HostStore(host), reservation, limits, actual, now)
                .is_err()
            {
                host.count("llm_gateway.token_limit.reconcile_lost", 1);
            }
        }
    }
}
