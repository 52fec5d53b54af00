//! Per-descriptor statuses in Envoy's terms. Envoy's rate-limit filter
//! builds `x-ratelimit-limit`, `-remaining` and `-reset` from the status with
//! the least remaining among those that carry a `current_limit`, and the
//! window (`;w=`) from its unit, so each status reports the most restrictive
//! of the counters that matched its descriptor.

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::google::protobuf::Duration as ProtoDuration;
use limitador::counter::Counter;
use std::time::Duration;

/// No limit matched the descriptor (or it was not charged at all): OK, and
/// no `current_limit`, so Envoy leaves it out of the headers.
pub fn unlimited() -> DescriptorStatus {
    DescriptorStatus {
        code: Code::Ok.into(),
        ..Default::default()
    }
}

/// The status of a descriptor whose charge of `hits` was `limited` or not,
/// from the `counters` that matched it (with what remains of each).
pub fn from_counters(counters: &[Counter], limited: bool, hits: u64) -> DescriptorStatus {
    let Some(counter) = most_restrictive(counters, limited, hits) else {
        return unlimited();
    };
    let code = if limited { Code::OverLimit } else { Code::Ok };
    DescriptorStatus {
        code: code.into(),
        current_limit: Some(RateLimit {
            name: counter.limit().name().unwrap_or_default().to_owned(),
            requests_per_unit: saturate(counter.max_value()),
            unit: unit(counter.window()).into(),
        }),
        limit_remaining: saturate(remaining(counter)),
        duration_until_reset: Some(proto_duration(
            counter.expires_in().unwrap_or(counter.window()),
        )),
        quota: None,
    }
}

/// For a refusal, the tightest counter among those the charge would have
/// overrun (the one that caused it); otherwise the tightest counter.
fn most_restrictive(counters: &[Counter], limited: bool, hits: u64) -> Option<&Counter> {
    let overrun = counters.iter().filter(|c| limited && remaining(c) < hits);
    overrun
        .min_by_key(|c| remaining(c))
        .or_else(|| counters.iter().min_by_key(|c| remaining(c)))
}

fn remaining(counter: &Counter) -> u64 {
    counter.remaining().unwrap_or(counter.max_value())
}

/// The protocol's counts are 32-bit; a larger budget reports as the maximum.
fn saturate(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The protocol names windows by unit; a window that is no whole unit is
/// `UNKNOWN`, which Envoy leaves out of the `;w=` policy part of the header.
fn unit(window: Duration) -> Unit {
    match window.as_secs() {
        1 => Unit::Second,
        60 => Unit::Minute,
        3_600 => Unit::Hour,
        86_400 => Unit::Day,
        604_800 => Unit::Week,
        _ => Unit::Unknown,
    }
}

fn proto_duration(duration: Duration) -> ProtoDuration {
    ProtoDuration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_map_to_whole_units_only() {
        assert_eq!(unit(Duration::from_secs(60)), Unit::Minute);
        assert_eq!(unit(Duration::from_secs(86_400)), Unit::Day);
        assert_eq!(unit(Duration::from_secs(2)), Unit::Unknown);
    }

    #[test]
    fn large_budgets_saturate() {
        assert_eq!(saturate(10_000_000_000), u32::MAX);
        assert_eq!(saturate(7), 7);
    }
}
