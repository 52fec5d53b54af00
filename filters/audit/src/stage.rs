//! The audit stage: gathers what happened to each call, builds its record
//! when the stream is done (every outcome: success, stream, rejection,
//! upstream error, client abort), and writes it into shared data, from
//! where the VMs' timers send it to the collector (see `delivery`).

use crate::config::AuditConfig;
use crate::delivery::{Counts, Delivery, Settings, SharedData};
use crate::metrics::Metrics;
use crate::record::{self, bounded, Call, Facts};
use crate::request_id::RequestIds;
use llm_api::{with_json_body, Fact, Json, SseEvent, Usage, UsageAccumulator};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_glue::{Exchange, Flow, Host, LogLevel, Stage, StageStream};

pub struct Audit {
    shared: Rc<Shared>,
}

struct Shared {
    config: AuditConfig,
    /// This VM's side of delivery (a VM is one thread); none without a
    /// collector.
    delivery: Option<RefCell<Delivery>>,
    metrics: RefCell<Metrics>,
    ids: RequestIds,
}

impl Audit {
    pub fn new(config: AuditConfig) -> Self {
        let delivery = config.collector.as_ref().map(|c| {
            let settings = Settings {
                // One set of rings per collector and ring size, so that
                // plugins of the same `vm_id` sending elsewhere keep apart.
                prefix: format!("llm_gateway.audit {} {} {}", c.cluster, c.path, c.max_queue),
                max_queue: c.max_queue,
                max_queue_bytes: c.max_queue_bytes,
                max_batch: c.max_batch,
                flush_interval_ms: c.flush_interval_ms,
            };
            RefCell::new(Delivery::new(settings, nonce()))
        });
        let metrics = RefCell::new(Metrics::new(
            config.metric_models.clone(),
            Rc::clone(&config.price_map),
        ));
        let shared = Shared {
            config,
            delivery,
            metrics,
            ids: RequestIds::default(),
        };
        Audit {
            shared: Rc::new(shared),
        }
    }
}

/// A random number that tells this VM's ring leases from any other's.
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Seeded from the host's randomness (WASI `random_get`).
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish()
}

/// Envoy's shared data, as delivery reads and writes it.
struct HostData<'a>(&'a mut dyn Host);

impl SharedData for HostData<'_> {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.0.shared_get(key)
    }
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        self.0.shared_set(key, value, cas).is_ok()
    }
}

fn count(host: &mut dyn Host, counts: Counts) {
    for (name, n) in [
        ("sent", counts.sent),
        ("retried", counts.retried),
        ("dropped", counts.dropped),
    ] {
        if n > 0 {
            host.count(&format!("llm_gateway.audit.records_{name}"), n);
        }
    }
}

impl Stage for Audit {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn publishes(&self) -> &'static [Fact] {
        &[
            Fact::Api,
            Fact::ModelRequested,
            Fact::UsagePrompt,
            Fact::UsageCompletion,
            Fact::CostUsd,
            Fact::AuditRecord,
        ]
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(AuditStream {
            shared: self.shared.clone(),
            call: Call::default(),
            stream_usage: None,
        })
    }

    /// Defines the delivery counters at zero, so that dashboards and alerts
    /// see `records_retried` and `records_dropped` before their first one,
    /// and creates the table of the collector's rings if no VM did.
    fn start(&self, host: &mut dyn Host) {
        if let Some(delivery) = &self.shared.delivery {
            delivery.borrow().start(&mut HostData(host));
            for name in [
                "records",
                "records_sent",
                "records_retried",
                "records_dropped",
            ] {
                host.count(&format!("llm_gateway.audit.{name}"), 0);
            }
        }
    }

    fn tick_period(&self) -> Option<Duration> {
        self.shared
            .config
            .collector
            .as_ref()
            .map(|c| Duration::from_millis(c.flush_interval_ms))
    }

    /// Renews this VM's ring lease and sends the next batch, if one is due.
    fn on_tick(&self, host: &mut dyn Host) {
        if let Some(delivery) = &self.shared.delivery {
            let now = host.now_ms();
            delivery.borrow_mut().tick(&mut HostData(host), now);
            self.send_next_batch(host);
        }
    }

    fn on_http_call_response(&self, token: u32, status: Option<u16>, host: &mut dyn Host) {
        let Some(delivery) = &self.shared.delivery else {
            return;
        };
        let mut delivery = delivery.borrow_mut();
        if !delivery.owns(token) {
            return;
        }
        let delivered = matches!(status, Some(200..=299));
        let counts = if delivered {
            delivery.sent()
        } else {
            host.log(
                LogLevel::Warn,
                &format!("audit: the collector answered {status:?}; retrying"),
            );
            let now = host.now_ms();
            delivery.failed(&mut HostData(host), now)
        };
        count(host, counts);
        // Keep draining full batches while the collector keeps up: one batch
        // per tick alone caps delivery at `max_batch` records per flush
        // interval per worker, below what a busy gateway produces (the soak
        // test found records dropped from a full queue at ~800 calls/s). A
        // part-filled batch waits for the tick, so batches stay large.
        let more = delivered && delivery.has_full_batch();
        drop(delivery);
        if more {
            self.send_next_batch(host);
        }
    }
}

impl Audit {
    /// Posts the next batch to the collector, unless one is in flight, no
    /// record is waiting or a failure's back-off is running.
    fn send_next_batch(&self, host: &mut dyn Host) {
        let (Some(collector), Some(delivery)) =
            (&self.shared.config.collector, &self.shared.delivery)
        else {
            return;
        };
        let now = host.now_ms();
        let mut delivery = delivery.borrow_mut();
        let Some(body) = delivery.next_batch(&mut HostData(host), now) else {
            return;
        };
        let authorization = collector
            .bearer_token
            .as_ref()
            .map(|t| format!("Bearer {t}"));
        let mut headers = vec![
            (":method", "POST"),
            (":path", collector.path.as_str()),
            (":authority", collector.authority.as_str()),
            ("content-type", "application/x-ndjson"),
        ];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization));
        }
        match host.dispatch_http(
            &collector.cluster,
            &headers,
            &body,
            Duration::from_millis(collector.timeout_ms),
        ) {
            Some(token) => delivery.dispatched(token),
            None => {
                host.log(
                    LogLevel::Warn,
                    &format!("audit: cannot send to cluster {}", collector.cluster),
                );
                let counts = delivery.failed(&mut HostData(host), now);
                count(host, counts);
            }
        }
    }
}

struct AuditStream {
    shared: Rc<Shared>,
    call: Call,
    stream_usage: Option<UsageAccumulator>,
}

impl StageStream for AuditStream {
    fn on_request_headers(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        self.call.started = Some(host.now());
        self.call.client_request_id = ex.request_header("x-request-id").map(bounded);
        let id = self.shared.ids.next();
        host.set_request_header("x-request-id", Some(&id));
        self.call.request_id = Some(id);
        self.call.api = ex.api.name();
        if let Some(id) = ex.client_id() {
            self.call.client.insert("id".into(), bounded(id).into());
        }
        self.call
            .client
            .insert("team".into(), ex.team().map(str::to_owned).into());
        for header in &self.shared.config.client_headers {
            if let Some(value) = ex.request_header(header) {
                self.call
                    .client
                    .insert(header.clone(), bounded(value).into());
            }
        }
        Flow::Continue
    }

    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        host.set_fact(Fact::Api, ex.api.name());
        if let Some(request) = &ex.request {
            self.call.model_requested = request.model.as_deref().map(bounded);
            if let Some(model) = &self.call.model_requested {
                host.set_fact(Fact::ModelRequested, model);
            }
            self.call.stream = request.stream;
            self.call.messages = request.message_count(&ex.api);
        }
        Flow::Continue
    }

    fn on_response_headers(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        self.call.first_byte = Some(host.now());
        self.call.status = ex.response_status;
        Flow::Continue
    }

    fn reads_response(&self, ex: &Exchange) -> bool {
        ex.api.has_json_body()
    }

    fn on_response(&mut self, ex: &mut Exchange, _host: &mut dyn Host) {
        let Some(body) = &ex.response else { return };
        let dialect = ex.api.dialect();
        with_json_body!(body, |body| {
            self.call.usage = Usage::from_json(dialect, body);
            self.call.served_model = body.str_field("model").map(bounded);
        });
    }

    fn on_response_events(
        &mut self,
        ex: &mut Exchange,
        events: &mut Vec<SseEvent>,
        _end: bool,
        host: &mut dyn Host,
    ) {
        if self.call.first_token.is_none() && !events.is_empty() {
            self.call.first_token = Some(host.now());
        }
        let accumulator = self
            .stream_usage
            .get_or_insert_with(|| UsageAccumulator::new(ex.api.dialect()));
        for event in events.iter() {
            accumulator.feed(event);
        }
    }

    /// Builds the record. The status and error also come from the exchange,
    /// which holds the gateway's own replies (a 400, a 429) too.
    fn on_done(&mut self, ex: &Exchange, host: &mut dyn Host) {
        if self.call.started.is_none() {
            return;
        }
        self.call.status = self.call.status.or(ex.response_status);
        if self.call.status.is_none() {
            // Envoy answers every request it can (a local reply when the
            // upstream fails), so a call without a response status ended
            // because the client went away.
            self.call.error_type = Some("client_aborted".to_owned());
        } else if self.call.status.is_some_and(|s| s >= 400) {
            self.call.error_type = ex.response.as_ref().and_then(|body| {
                with_json_body!(body, |body| {
                    let error = body.field("error")?;
                    error
                        .str_field("type")
                        .or_else(|| error.str_field("status"))
                        .map(bounded)
                })
            });
        }
        if self.call.usage.is_none() {
            // A stream's usage chunk the token-limit stage asked for and
            // removed (the client did not ask for it) comes as a fact.
            self.call.usage = self
                .stream_usage
                .as_ref()
                .and_then(UsageAccumulator::usage)
                .or_else(|| host.json_fact::<Usage>());
        }
        // The upstream translate filter publishes both facts of an attempt
        // together (without its provider there is no model to ask Envoy
        // for), and they name another provider or model than the route's
        // own only when the route left a fallback chain: without one, reads
        // from Envoy (in the bundle the chain is read back from the
        // pipeline) would only repeat the route's facts.
        let attempt_provider = host
            .fact(Fact::Fallback)
            .and_then(|_| host.fact(Fact::AttemptProvider));
        let attempt_model = attempt_provider
            .as_ref()
            .and_then(|_| host.fact(Fact::AttemptModel))
            .as_deref()
            .map(bounded);
        let facts = Facts {
            provider: host.fact(Fact::Provider),
            cluster: host.fact(Fact::Cluster),
            upstream_model: host.fact(Fact::ModelUpstream).as_deref().map(bounded),
            attempt_provider,
            attempt_model,
            attempts: host.upstream_attempts().filter(|n| *n > 0),
            ratelimit_key: host.fact(Fact::RatelimitKey).as_deref().map(bounded),
            ratelimit_remaining: host.fact(Fact::RatelimitRemaining),
            input_estimated: host.fact(Fact::TokensInputEstimated),
            pii: host.fact(Fact::PiiFindings),
            pii_response: host.fact(Fact::PiiResponseFindings),
        };
        let config = &self.shared.config;
        let cost = record::cost(&self.call, &facts, &config.price_map);
        let ended = host.now();
        self.shared
            .metrics
            .borrow_mut()
            .record(&self.call, &facts, ex, cost, ended, host);
        if let Some(usage) = &self.call.usage {
            host.set_fact(Fact::UsagePrompt, &usage.input.to_string());
            host.set_fact(Fact::UsageCompletion, &usage.output.to_string());
        }
        if let Some(cost) = cost {
            host.set_fact(Fact::CostUsd, &format!("{cost:.9}"));
        }
        let record = record::build(&self.call, &facts, cost, ended).to_json();
        host.count("llm_gateway.audit.records", 1);
        if config.access_log {
            host.set_fact(Fact::AuditRecord, &record);
        }
        if let Some(delivery) = &self.shared.delivery {
            let now = host.now_ms();
            let counts = delivery
                .borrow_mut()
                .push(&mut HostData(host), record.as_bytes(), now);
            count(host, counts);
        }
    }
}
