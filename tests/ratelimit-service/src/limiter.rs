//! Where the counters live, and how a charge is admitted.
//!
//! limitador offers two ways to charge. `check_rate_limited_and_update`
//! reads the counters, then increments them in a second step; on Redis
//! those are separate round trips, so concurrent requests for the last units
//! of a budget all pass (measured here: 64 concurrent charges of 10 against
//! a limit of 100 through two instances admitted 100 to 130 units). `reserve` checks
//! and holds the amount in one Redis script (counter + outstanding holds +
//! amount <= limit), and `commit_reservation` then adds the amount to the
//! counter and drops the hold. That is what the service uses: admission is
//! atomic, so concurrent requests never jointly exceed a limit. In between,
//! a committed amount is briefly counted twice (in the counter and in the
//! hold), which can refuse a concurrent request that would just have fit:
//! the error is on the safe side.

use limitador::counter::Counter;
use limitador::errors::LimitadorError;
use limitador::limit::{Context, Limit, Namespace};
use limitador::reservation::ReservationId;
use limitador::storage::redis::AsyncRedisStorage;
use limitador::{AsyncRateLimiter, RateLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// How many per-value counters (one per agent, per key, ...) the in-memory
/// storage keeps before evicting the least used; an evicted counter starts
/// again from zero, so this bounds memory, not correctness for the tests.
const IN_MEMORY_COUNTERS: u64 = 100_000;

/// How long a hold outlives a service that died between reserving and
/// committing (it is released at once otherwise).
const HOLD_TTL: Duration = Duration::from_secs(5);

pub enum Limiter {
    /// Counters in this process: one service instance, for unit tests and a
    /// single Envoy.
    Memory(RateLimiter),
    /// Counters in Redis, shared by every service instance that uses the
    /// same Redis: the global budget across Envoy replicas. The plain
    /// (uncached) storage, so every decision reads and writes Redis; the
    /// cached one batches writes and lets instances disagree for a second.
    Redis(AsyncRateLimiter),
}

/// The outcome of [`Limiter::reserve`].
pub struct Reservation {
    /// The charge would take a counter past its limit; nothing is held.
    pub limited: bool,
    /// Every counter that matched, with what remains of it (after the hold
    /// when admitted) and when its window resets.
    pub counters: Vec<Counter>,
    /// What to hand to [`Limiter::commit`]; `None` when nothing is held
    /// (refused, no limit matched, or a charge of 0).
    pub id: Option<ReservationId>,
}

/// limitador's own `AsyncRedisStorage::new` takes redis-rs's defaults, whose
/// reconnect backoff grows from 1 s by a factor of 100 up to 60 s over six
/// tries: an unreachable Redis held the start for about 8 minutes, and a
/// restarted one can be ignored for a minute. Here: a few tries at most a
/// second apart, and a hung Redis fails the request (UNAVAILABLE, so Envoy's
/// failure mode decides) instead of holding it.
fn redis_connection() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_factor(2)
        .set_max_delay(1_000)
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(1))
}

impl Limiter {
    pub fn in_memory(limits: Vec<Limit>) -> Limiter {
        let limiter = RateLimiter::new(IN_MEMORY_COUNTERS);
        for limit in limits {
            limiter.add_limit(limit);
        }
        Limiter::Memory(limiter)
    }

    /// Connects to Redis now, so a wrong URL fails at start, not on the
    /// first request.
    pub async fn redis(url: &str, limits: Vec<Limit>) -> Result<Limiter, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis {url}: {e}"))?;
        let connection = ConnectionManager::new_with_config(client, redis_connection())
            .await
            .map_err(|e| format!("redis {url}: {e}"))?;
        let storage = AsyncRedisStorage::new_with_conn_manager(connection)
            .await
            .map_err(|e| format!("redis {url}: {e}"))?;
        let limiter = AsyncRateLimiter::new_with_storage(Box::new(storage));
        for limit in limits {
            limiter.add_limit(limit);
        }
        Ok(Limiter::Redis(limiter))
    }

    pub fn storage_name(&self) -> &'static str {
        match self {
            Limiter::Memory(_) => "memory",
            Limiter::Redis(_) => "redis",
        }
    }

    /// Holds `amount` on every matching counter if all of them stay within
    /// their limits (an amount that reaches a limit exactly is admitted);
    /// holds nothing otherwise.
    pub async fn reserve(
        &self,
        namespace: &Namespace,
        context: &Context<'_>,
        amount: u64,
    ) -> Result<Reservation, LimitadorError> {
        let result = match self {
            Limiter::Memory(limiter) => limiter.reserve(namespace, context, amount, Some(HOLD_TTL)),
            Limiter::Redis(limiter) => {
                limiter
                    .reserve(namespace, context, amount, Some(HOLD_TTL))
                    .await
            }
        }?;
        Ok(Reservation {
            limited: result.limited,
            counters: result.counters,
            id: result.reservation_id,
        })
    }

    /// Adds `amount` to every matching counter, whatever their limits: a
    /// charge for what was already used.
    pub async fn add(
        &self,
        namespace: &Namespace,
        context: &Context<'_>,
        amount: u64,
    ) -> Result<(), LimitadorError> {
        match self {
            Limiter::Memory(limiter) => limiter.update_counters(namespace, context, amount),
            Limiter::Redis(limiter) => limiter.update_counters(namespace, context, amount).await,
        }
    }

    /// Adds `amount` to the counters and drops the hold: `amount` is the
    /// reserved amount to charge it, 0 to cancel.
    pub async fn commit(
        &self,
        namespace: &Namespace,
        context: &Context<'_>,
        id: Option<&ReservationId>,
        amount: u64,
    ) -> Result<(), LimitadorError> {
        match self {
            Limiter::Memory(limiter) => limiter.commit_reservation(namespace, context, id, amount),
            Limiter::Redis(limiter) => {
                limiter
                    .commit_reservation(namespace, context, id, amount)
                    .await
            }
        }
        .map(|_| ())
    }
}
