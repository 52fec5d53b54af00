//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`.
//!
//! Each descriptor is charged its own `hits_addend` (Envoy sets it per
//! descriptor from the route's `hits_addend`), else the request's, else 1.
//! A descriptor is OVER_LIMIT when its charge would take any matching
//! counter past `max_value`; a charge that reaches `max_value` exactly is
//! admitted. The request is OVER_LIMIT when any descriptor is, and then
//! nothing is charged anywhere: a refused request costs no budget, so a
//! client that keeps retrying does not push its own recovery further away.
//!
//! Every descriptor's charge is first held atomically (limitador's
//! reservations, see [`crate::limiter`]), then committed if all were
//! admitted, or released if any was not.
//!
//! A descriptor with the entry `charge=done` is a charge for what a call
//! already used (Envoy's `apply_on_stream_done` rate limits: the output
//! tokens of an answer): it is added to the counters of the descriptor
//! without that entry, unconditionally, and never refused. Refusing it
//! would lose tokens that were spent.
//!
//! Descriptor values may be API keys or agent ids: they are never logged.
//! Decisions and counts are logged at debug level only.

use crate::limiter::{Limiter, Reservation};
use crate::limits::descriptor_context;
use crate::status;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{Code, DescriptorStatus};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use limitador::errors::LimitadorError;
use limitador::limit::{Context, Namespace};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Service {
    limiter: Arc<Limiter>,
}

impl Service {
    pub fn new(limiter: Arc<Limiter>) -> Service {
        Service { limiter }
    }

    /// The decision for one request, without the gRPC wrapping (unit tests
    /// call this directly).
    pub async fn decide(&self, request: &RateLimitRequest) -> Result<RateLimitResponse, Status> {
        let namespace = Namespace::from(request.domain.as_str());
        // proto3 cannot tell an unset request `hits_addend` from 0: 0 means 1.
        let default_hits = match request.hits_addend {
            0 => (1, "default"),
            n => (u64::from(n), "request"),
        };
        let charges: Vec<Charge> = request
            .descriptors
            .iter()
            .map(|d| Charge::new(d, default_hits))
            .collect();

        for charge in charges.iter().filter(|c| c.spent) {
            if let Some(context) = &charge.context {
                self.limiter
                    .add(&namespace, context, charge.hits)
                    .await
                    .map_err(|e| unavailable(&e))?;
            }
        }
        let mut held = Vec::with_capacity(charges.len());
        for charge in &charges {
            let reservation = match &charge.context {
                Some(context) if !charge.spent => {
                    Some(self.limiter.reserve(&namespace, context, charge.hits).await)
                }
                _ => None,
            };
            let error = match reservation.transpose() {
                Ok(reservation) => {
                    held.push(reservation);
                    continue;
                }
                Err(e) => unavailable(&e),
            };
            // Do not leave the holds already taken to expire.
            let _ = self.settle(&namespace, &charges, &held, false).await;
            return Err(error);
        }
        let admitted = held.iter().flatten().all(|r| !r.limited);
        self.settle(&namespace, &charges, &held, admitted).await?;

        tracing::debug!(
            descriptors = charges.len(),
            hits = ?charges.iter().map(|c| (c.hits, c.hits_from)).collect::<Vec<_>>(),
            over_limit = !admitted,
            "decided"
        );
        let statuses = charges
            .iter()
            .zip(&held)
            .map(|(charge, r)| descriptor_status(charge, r.as_ref(), admitted));
        let overall = if admitted { Code::Ok } else { Code::OverLimit };
        Ok(RateLimitResponse {
            overall_code: overall.into(),
            statuses: statuses.collect(),
            ..Default::default()
        })
    }

    /// Commits every hold (`charge`), or releases them all. Tries every
    /// descriptor even after an error, and returns the first one. (Errors
    /// become a `Status` at once: limitador's are not `Send`.)
    async fn settle(
        &self,
        namespace: &Namespace,
        charges: &[Charge],
        held: &[Option<Reservation>],
        charge: bool,
    ) -> Result<(), Status> {
        let mut first_error = Ok(());
        for (c, reservation) in charges.iter().zip(held) {
            // Nothing is held for a refused charge, a charge of 0, or a
            // descriptor that matched no limit.
            let (
                Some(context),
                Some(Reservation {
                    limited: false,
                    id: Some(id),
                    ..
                }),
            ) = (&c.context, reservation)
            else {
                continue;
            };
            let amount = if charge { c.hits } else { 0 };
            if let Err(e) = self
                .limiter
                .commit(namespace, context, Some(id), amount)
                .await
            {
                if first_error.is_ok() {
                    first_error = Err(unavailable(&e));
                }
            }
        }
        first_error
    }
}

/// A descriptor's status. A hold released because another descriptor was
/// over its limit charged nothing, so what it would have taken remains.
fn descriptor_status(
    charge: &Charge,
    reservation: Option<&Reservation>,
    admitted: bool,
) -> DescriptorStatus {
    let Some(reservation) = reservation else {
        return status::unlimited();
    };
    let mut counters = reservation.counters.clone();
    if !admitted && !reservation.limited {
        for counter in &mut counters {
            if let Some(remaining) = counter.remaining() {
                counter.set_remaining(
                    remaining
                        .saturating_add(charge.hits)
                        .min(counter.max_value()),
                );
            }
        }
    }
    status::from_counters(&counters, reservation.limited, charge.hits)
}

/// UNAVAILABLE, so that Envoy applies its `failure_mode_deny` (fail open or
/// closed) as for an unreachable service.
fn unavailable(error: &LimitadorError) -> Status {
    tracing::warn!("counter storage failed: {error}");
    Status::unavailable("rate-limit counters unavailable")
}

/// One descriptor's charge: where limitador evaluates it, and how much.
struct Charge {
    /// `None`: nothing to charge (see [`Charge::new`]).
    context: Option<Context<'static>>,
    hits: u64,
    /// Where `hits` came from, for the debug log (`descriptor`, `request` or
    /// `default`): Envoy sets a descriptor's own `hits_addend` from a rate
    /// limit action's `hits_addend`, the request's from filter state.
    hits_from: &'static str,
    /// A charge for what was already used (`charge=done`): added, never
    /// refused.
    spent: bool,
}

/// The entry that marks a descriptor as a charge for what was used.
const SPENT: (&str, &str) = ("charge", "done");

impl Charge {
    fn new(descriptor: &RateLimitDescriptor, default_hits: (u64, &'static str)) -> Charge {
        let (hits, hits_from) = match &descriptor.hits_addend {
            Some(h) => (h.value, "descriptor"),
            None => default_hits,
        };
        if descriptor.is_negative_hits {
            // A refill: limitador counters only grow, so this changes
            // nothing and is answered OK.
            tracing::debug!(
                hits,
                "negative hits_addend ignored: limitador cannot credit a counter"
            );
            return Charge {
                context: None,
                hits,
                hits_from,
                spent: false,
            };
        }
        let spent = descriptor
            .entries
            .iter()
            .any(|e| (e.key.as_str(), e.value.as_str()) == SPENT);
        let context = if spent {
            let mut unmarked = descriptor.clone();
            unmarked
                .entries
                .retain(|e| (e.key.as_str(), e.value.as_str()) != SPENT);
            descriptor_context(&unmarked)
        } else {
            descriptor_context(descriptor)
        };
        if context.is_none() {
            tracing::warn!(
                entries = descriptor.entries.len(),
                "descriptor repeats a key; no limit applies to it"
            );
        }
        Charge {
            context,
            hits,
            hits_from,
            spent,
        }
    }
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        self.decide(request.get_ref()).await.map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LimitsFile;
    use crate::limits::to_limitador;
    use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
    use envoy_types::pb::google::protobuf::UInt64Value;
    use std::time::Duration;

    fn service(limits: &str) -> Service {
        let file =
            LimitsFile::parse(&format!(r#"{{"limits": [{limits}]}}"#)).expect("valid limits");
        Service::new(Arc::new(Limiter::in_memory(
            to_limitador(&file).expect("maps"),
        )))
    }

    /// A descriptor of `entries`, charged its own `hits` when given.
    fn descriptor(entries: &[(&str, &str)], hits: Option<u64>) -> RateLimitDescriptor {
        RateLimitDescriptor {
            hits_addend: hits.map(|value| UInt64Value { value }),
            ..crate::limits::descriptor(entries)
        }
    }

    fn request(descriptors: Vec<RateLimitDescriptor>, hits_addend: u32) -> RateLimitRequest {
        RateLimitRequest {
            domain: "gw".to_owned(),
            descriptors,
            hits_addend,
        }
    }

    async fn decide(service: &Service, request: &RateLimitRequest) -> RateLimitResponse {
        service.decide(request).await.expect("decides")
    }

    /// One descriptor `agent=<agent>` charged `hits` (request level).
    async fn charge(service: &Service, agent: &str, hits: u32) -> RateLimitResponse {
        decide(
            service,
            &request(vec![descriptor(&[("agent", agent)], None)], hits),
        )
        .await
    }

    fn code(response: &RateLimitResponse) -> Code {
        Code::try_from(response.overall_code).expect("known code")
    }

    const PER_AGENT: &str = r#"{"name": "per-agent", "domain": "gw", "descriptor": [{"key": "agent"}], "max_value": 10, "seconds": 60}"#;

    #[tokio::test]
    async fn matching_needs_the_domain_and_exactly_the_keys() {
        let service = service(
            r#"{"domain": "gw", "descriptor": [{"key": "agent"}, {"key": "model", "value": "big"}], "max_value": 1, "seconds": 60}"#,
        );
        let big = |agent: &str| descriptor(&[("agent", agent), ("model", "big")], None);
        let once = request(vec![big("a")], 1);
        assert_eq!(code(&decide(&service, &once).await), Code::Ok);
        assert_eq!(code(&decide(&service, &once).await), Code::OverLimit);
        // Another model, another domain, a missing or an extra key: no limit.
        for unmatched in [
            request(
                vec![descriptor(&[("agent", "a"), ("model", "small")], None)],
                1,
            ),
            RateLimitRequest {
                domain: "other".to_owned(),
                ..request(vec![big("a")], 1)
            },
            request(vec![descriptor(&[("agent", "a")], None)], 1),
            request(
                vec![descriptor(
                    &[("agent", "a"), ("model", "big"), ("route", "r")],
                    None,
                )],
                1,
            ),
        ] {
            let response = decide(&service, &unmatched).await;
            assert_eq!(code(&response), Code::Ok);
            assert_eq!(
                response.statuses[0].current_limit, None,
                "no limit reported for an unmatched descriptor"
            );
        }
    }

    #[tokio::test]
    async fn each_value_of_an_open_entry_has_its_own_counter() {
        let service = service(PER_AGENT);
        assert_eq!(code(&charge(&service, "alice", 10).await), Code::Ok);
        assert_eq!(code(&charge(&service, "alice", 1).await), Code::OverLimit);
        assert_eq!(
            code(&charge(&service, "bob", 10).await),
            Code::Ok,
            "bob has his own budget"
        );
    }

    #[tokio::test]
    async fn hits_addend_is_charged_from_the_descriptor_else_the_request_else_one() {
        let service = service(PER_AGENT);
        let remaining = |r: &RateLimitResponse| r.statuses[0].limit_remaining;
        assert_eq!(
            remaining(&charge(&service, "a", 0).await),
            9,
            "0 in the request means the default, 1"
        );
        assert_eq!(
            remaining(&charge(&service, "a", 3).await),
            6,
            "request level"
        );
        let per_descriptor = request(vec![descriptor(&[("agent", "a")], Some(4))], 3);
        assert_eq!(
            remaining(&decide(&service, &per_descriptor).await),
            2,
            "descriptor level wins"
        );
        let zero = request(vec![descriptor(&[("agent", "a")], Some(0))], 3);
        assert_eq!(
            remaining(&decide(&service, &zero).await),
            2,
            "an explicit 0 charges nothing"
        );
    }

    #[tokio::test]
    async fn a_charge_reaching_the_limit_exactly_is_admitted_and_one_more_unit_is_not() {
        let service = service(PER_AGENT);
        assert_eq!(code(&charge(&service, "a", 6).await), Code::Ok);
        let refused = charge(&service, "a", 5).await;
        assert_eq!(code(&refused), Code::OverLimit, "6 + 5 > 10");
        assert_eq!(
            refused.statuses[0].limit_remaining, 4,
            "the refused charge was not counted"
        );
        let exact = charge(&service, "a", 4).await;
        assert_eq!(code(&exact), Code::Ok, "6 + 4 = 10 is within the limit");
        assert_eq!(exact.statuses[0].limit_remaining, 0);
        assert_eq!(
            code(&charge(&service, "a", 1).await),
            Code::OverLimit,
            "at the limit, one more unit is refused"
        );
    }

    #[tokio::test]
    async fn a_charge_larger_than_the_whole_limit_is_refused_on_an_empty_counter() {
        let service = service(PER_AGENT);
        assert_eq!(code(&charge(&service, "a", 11).await), Code::OverLimit);
        assert_eq!(code(&charge(&service, "a", 10).await), Code::Ok);
    }

    #[tokio::test]
    async fn statuses_carry_what_envoy_needs_for_its_headers() {
        let service = service(PER_AGENT);
        let response = charge(&service, "a", 4).await;
        let status = &response.statuses[0];
        let limit = status
            .current_limit
            .as_ref()
            .expect("a matched descriptor reports its limit");
        assert_eq!(
            (limit.name.as_str(), limit.requests_per_unit),
            ("per-agent", 10)
        );
        assert_eq!(Unit::try_from(limit.unit), Ok(Unit::Minute));
        assert_eq!(status.limit_remaining, 6);
        let reset = status.duration_until_reset.expect("reset time");
        assert!((1..=60).contains(&reset.seconds), "{reset:?}");
    }

    #[tokio::test]
    async fn the_most_restrictive_of_several_matching_limits_is_reported() {
        let service = service(&format!(
            r#"{PER_AGENT}, {{"name": "per-agent-hour", "domain": "gw", "descriptor": [{{"key": "agent"}}], "max_value": 12, "seconds": 3600}}"#
        ));
        let first = charge(&service, "a", 5).await;
        assert_eq!(first.statuses[0].limit_remaining, 5, "min(10 - 5, 12 - 5)");
        let second = charge(&service, "a", 5).await;
        assert_eq!(
            (code(&second), second.statuses[0].limit_remaining),
            (Code::Ok, 0)
        );
        let refused = charge(&service, "a", 1).await;
        assert_eq!(code(&refused), Code::OverLimit);
        assert_eq!(
            refused.statuses[0]
                .current_limit
                .as_ref()
                .map(|l| l.name.as_str()),
            Some("per-agent")
        );
    }

    #[tokio::test]
    async fn a_request_is_refused_whole_when_any_descriptor_is_over_and_nothing_is_charged() {
        let service = service(&format!(
            r#"{PER_AGENT}, {{"domain": "gw", "descriptor": [{{"key": "team"}}], "max_value": 3, "seconds": 60}}"#
        ));
        let both = |hits| {
            request(
                vec![
                    descriptor(&[("agent", "a")], None),
                    descriptor(&[("team", "t")], None),
                ],
                hits,
            )
        };
        let refused = decide(&service, &both(4)).await;
        assert_eq!(code(&refused), Code::OverLimit);
        let statuses: Vec<Code> = refused
            .statuses
            .iter()
            .map(|s| Code::try_from(s.code).expect("code"))
            .collect();
        assert_eq!(
            statuses,
            [Code::Ok, Code::OverLimit],
            "one status per descriptor, in order"
        );
        assert_eq!(
            refused.statuses[0].limit_remaining, 10,
            "the agent was not charged for the refused request"
        );
        let admitted = decide(&service, &both(3)).await;
        assert_eq!(code(&admitted), Code::Ok);
        assert_eq!(
            (
                admitted.statuses[0].limit_remaining,
                admitted.statuses[1].limit_remaining
            ),
            (7, 0)
        );
    }

    #[tokio::test]
    async fn a_charge_for_what_was_used_is_added_even_past_the_limit() {
        let service = service(
            r#"{"domain": "gw", "descriptor": [{"key": "agent"}], "max_value": 10, "seconds": 60}"#,
        );
        assert_eq!(code(&charge(&service, "a", 8).await), Code::Ok);
        let spent = request(
            vec![descriptor(&[("agent", "a"), ("charge", "done")], Some(5))],
            0,
        );
        assert_eq!(
            code(&decide(&service, &spent).await),
            Code::Ok,
            "never refused"
        );
        // 13 of 10 used: the next unit is over the limit.
        assert_eq!(code(&charge(&service, "a", 1).await), Code::OverLimit);
    }

    #[tokio::test]
    async fn negative_hits_change_nothing() {
        let service = service(PER_AGENT);
        charge(&service, "a", 10).await;
        let refill = RateLimitDescriptor {
            is_negative_hits: true,
            ..descriptor(&[("agent", "a")], Some(5))
        };
        assert_eq!(
            code(&decide(&service, &request(vec![refill], 1)).await),
            Code::Ok
        );
        assert_eq!(
            code(&charge(&service, "a", 1).await),
            Code::OverLimit,
            "still exhausted"
        );
    }

    #[tokio::test]
    async fn the_window_resets() {
        let service = service(
            r#"{"domain": "gw", "descriptor": [{"key": "agent"}], "max_value": 2, "seconds": 1}"#,
        );
        assert_eq!(code(&charge(&service, "a", 2).await), Code::Ok);
        let refused = charge(&service, "a", 1).await;
        assert_eq!(code(&refused), Code::OverLimit);
        let reset = refused.statuses[0]
            .duration_until_reset
            .expect("reset time");
        assert!(
            reset.seconds == 0 || (reset.seconds, reset.nanos) == (1, 0),
            "within the 1 s window: {reset:?}"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            code(&charge(&service, "a", 2).await),
            Code::Ok,
            "a new window, a full budget"
        );
    }
}
