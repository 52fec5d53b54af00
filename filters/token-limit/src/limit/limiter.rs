//! Admission and reconciliation against every limit of a key, with
//! read–modify–CAS-write loops on the shared store.
//!
//! Edge semantics, for every limit: a request is admitted only if the
//! window's usage plus what it reserves stays within the limit
//! (`used + cost <= max`) and the window is not already full
//! (`used < max`). So with 10 requests per minute the 10th is admitted and
//! the 11th, arriving when usage is exactly at the limit, is rejected; a
//! request that reserves nothing against a limit (output tokens, which are
//! only known afterwards) is rejected once that limit is used up. A request
//! whose own firm reservation (its input side) exceeds a limit's maximum can
//! never succeed and gets its own reason.
//!
//! The output a request may produce (its `max_tokens`) is reserved too,
//! against output, total-token and cost limits, as far as the window has
//! room: concurrent requests then fill a limit with their expected answers
//! instead of all passing and overshooting it, and the overshoot is bounded
//! by what the last admitted request produces beyond its reservation.

use super::policy::{window_of_id, FailMode, Limit, Measure, StoreConfig};
use super::state::{key_hash, KeyState, Slot};
use super::store::Store;
use std::cell::RefCell;

/// What a request reserves at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Demand {
    /// The admission count of input tokens (see `count::auto`).
    pub input_tokens: u64,
    /// The output the request may produce (its `max_tokens`, else the
    /// configured default), reserved against output, total-token and cost
    /// limits so that concurrent requests cannot all pass a limit that
    /// their answers then overshoot.
    pub output_tokens: u64,
    /// The input's cost at the model's price.
    pub cost_nano_usd: u64,
    /// The expected output's cost at the model's price.
    pub output_cost_nano_usd: u64,
}

impl Demand {
    /// What the request costs for sure against `measure`: the input side.
    fn firm(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Requests => 1,
            Measure::InputTokens | Measure::TotalTokens => self.input_tokens,
            Measure::OutputTokens => 0,
            Measure::CostNanoUsd => self.cost_nano_usd,
        }
    }

    /// The expected output's part of what the request reserves against
    /// `measure`.
    fn expected_output(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Requests | Measure::InputTokens => 0,
            Measure::OutputTokens | Measure::TotalTokens => self.output_tokens,
            Measure::CostNanoUsd => self.output_cost_nano_usd,
        }
    }

    /// What the request reserves against `limit` when the window holds
    /// `used`: the firm part, plus as much of the expected output as the
    /// window has room for. So concurrent requests cannot all pass a limit
    /// that their answers then overshoot, while a large `max_tokens` does
    /// not lock a small limit out.
    pub fn reserves(&self, limit: &Limit, used: u64) -> u64 {
        let firm = self.firm(limit.measure);
        let room = limit.max.saturating_sub(used).saturating_sub(firm);
        firm.saturating_add(self.expected_output(limit.measure).min(room))
    }
}

/// The most limits a key has (see `Limits::to_set`).
pub const MAX_LIMITS: usize = 6;

/// What an admitted request holds until its response is reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub key_hash: u64,
    pub at_ms: u64,
    /// The request's demand.
    pub reserved: Demand,
    /// What each limit (in the order admission was given them) was
    /// charged: nothing when the store stayed contended and the policy
    /// admitted without reserving (fail-open).
    pub charged: [u64; MAX_LIMITS],
}

/// What the provider reported (or the caller counted) for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actual {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `None` when the call could not be priced: the cost stays as reserved.
    pub cost_nano_usd: Option<u64>,
}

/// One limit as it stands after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitState {
    pub limit: Limit,
    pub used: u64,
    /// Milliseconds until the window is empty again.
    pub reset_ms: u64,
}

impl LimitState {
    pub fn remaining(&self) -> u64 {
        self.limit.max.saturating_sub(self.used)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The limit is used up for now; retry after `retry_after_ms`.
    OverLimit,
    /// The request alone reserves more than the limit allows in a whole
    /// window: retrying cannot help.
    CanNeverSucceed,
    /// The store stayed contended past the retries and the policy is
    /// fail-closed.
    StoreContention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    /// The limit that rejected (the one freeing up last, if several did).
    pub limit: Option<Limit>,
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Admitted(Reservation),
    Rejected(Rejection),
}

/// A decision with the state of every limit, for the response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub limits: Vec<LimitState>,
}

/// Reconciliation could not write within the retries; the correction is
/// lost (the caller counts it in a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contended;

/// What one sweep call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sweep {
    /// Where the next call continues.
    pub next_slot: u32,
    pub removed: usize,
    pub kept: usize,
}

/// The limiter. Every count lives in the store, so every worker's limiter
/// sees the same counts; a limiter holds only the credits it owes them
/// (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Limiter {
    slots: u32,
    retries: u32,
    on_contention: FailMode,
    max_slot_bytes: usize,
    owed: RefCell<Vec<Credit>>,
}

/// A reconciliation that gives back and is not written yet.
#[derive(Debug, Clone, PartialEq)]
struct Credit {
    key_hash: u64,
    /// When the reservation was charged: the sub-bucket it is taken from.
    at_ms: u64,
    /// Each limit's correction, all at most zero.
    corrections: Vec<(Limit, i64)>,
}

/// The most credits a VM holds back; past them a reconciliation is written
/// at once. Each is written within a tick, so this bounds a tick's worth of
/// reconciliations (memory, and the writes one tick makes).
pub const MAX_OWED: usize = 512;

/// What a VM may owe a key against each limit: a hundredth of it. Other
/// workers count a key's owed credits until they land, so near a limit
/// they may refuse what fits by at most this share per VM, for at most a
/// tick; a larger credit (an unused `max_tokens` reserved against a small
/// output or cost limit) is written at once.
pub const OWED_SHARE: u64 = 100;

const SLOT_PREFIX: &str = "tl/";

impl Limiter {
    pub fn new(config: &StoreConfig) -> Self {
        Limiter {
            slots: config.slots.max(1),
            retries: config.cas_retries.max(1),
            on_contention: config.on_contention,
            max_slot_bytes: config.max_slot_bytes as usize,
            owed: RefCell::default(),
        }
    }

    fn slot_key(&self, slot: u32) -> String {
        format!("{SLOT_PREFIX}{slot:x}")
    }

    fn slot_of(&self, hash: u64) -> u32 {
        // Upper bits: FNV's low bits mix least.
        ((hash >> 32) % u64::from(self.slots)) as u32
    }

    /// Creates every slot that does not exist yet, so that later writes are
    /// all compare-and-swap. proxy-wasm has no create-if-absent: two VMs
    /// creating the same slot at once can lose one write, so the glue calls
    /// this once at start, before traffic.
    pub fn init_slots(&self, store: &mut dyn Store) {
        for slot in 0..self.slots {
            let key = self.slot_key(slot);
            if store.get(&key).is_none() {
                // A lost race here overwrites an empty value with an empty value.
                let _ = store.set(&key, &[], None);
            }
        }
    }

    /// The state of `limits` for `key` without changing anything: what the
    /// response headers of an unlimited path show, and the headroom
    /// `count::auto` decides on.
    pub fn peek(
        &self,
        store: &dyn Store,
        key: &str,
        limits: &[Limit],
        now_ms: u64,
    ) -> Vec<LimitState> {
        let hash = key_hash(key);
        let bytes = store
            .get(&self.slot_key(self.slot_of(hash)))
            .map(|(b, _)| b)
            .unwrap_or_default();
        let mut state = Slot::new(&bytes)
            .find(hash)
            .and_then(KeyState::decode)
            .unwrap_or_default();
        self.apply_owed(hash, &mut state, now_ms);
        limits
            .iter()
            .map(|l| limit_state(&mut state, l, now_ms))
            .collect()
    }

    /// Applies the credits this limiter owes the key `hash` to its state.
    fn apply_owed(&self, hash: u64, state: &mut KeyState, now_ms: u64) {
        for credit in self.owed.borrow().iter().filter(|c| c.key_hash == hash) {
            apply(state, credit.at_ms, &credit.corrections, now_ms);
        }
    }

    /// Whether this limiter owes the key `hash` anything.
    fn owes(&self, hash: u64) -> bool {
        self.owed.borrow().iter().any(|c| c.key_hash == hash)
    }

    /// Credits owed, not yet written (for tests and metrics).
    pub fn owed(&self) -> usize {
        self.owed.borrow().len()
    }

    /// Reads the state of the key `hash`, lets `change` modify it and writes
    /// it back with compare-and-swap, starting again from the read when
    /// another worker wrote the slot first. `change` returns `Err` to stop
    /// without writing. `None` when every retry lost the race, or when the
    /// key is new and the slot has no room for it (`max_slot_bytes`).
    /// The credits this limiter owes the key are applied first and, once
    /// written, forgotten.
    fn update<T>(
        &self,
        store: &mut dyn Store,
        hash: u64,
        now_ms: u64,
        mut change: impl FnMut(&mut KeyState) -> Result<T, T>,
    ) -> Option<T> {
        let slot_key = self.slot_key(self.slot_of(hash));
        let owes = self.owes(hash);
        for _ in 0..self.retries {
            let (bytes, cas) = match store.get(&slot_key) {
                Some((bytes, cas)) => (bytes, Some(cas)),
                None => (Vec::new(), None),
            };
            let slot = Slot::new(&bytes);
            let found = slot.find(hash);
            let mut state = found.and_then(KeyState::decode).unwrap_or_default();
            if owes {
                self.apply_owed(hash, &mut state, now_ms);
            }
            match change(&mut state) {
                Err(stopped) => return Some(stopped),
                Ok(done) => {
                    let written = slot.with(hash, Some(&state));
                    if found.is_none() && written.len() > self.max_slot_bytes {
                        // No room for a new key: as if contended.
                        return None;
                    }
                    if store.set(&slot_key, &written, cas).is_ok() {
                        if owes {
                            self.owed.borrow_mut().retain(|c| c.key_hash != hash);
                        }
                        return Some(done);
                    }
                }
            }
        }
        None
    }

    /// Checks `demand` against every limit and, if all allow it, reserves it
    /// in one compare-and-swap write, so concurrent admissions on any worker
    /// cannot jointly exceed a limit.
    pub fn admit(
        &self,
        store: &mut dyn Store,
        key: &str,
        limits: &[Limit],
        demand: Demand,
        now_ms: u64,
    ) -> Decision {
        self.admit_measured(store, key, limits, now_ms, |_| demand)
            .0
    }

    /// [`Limiter::admit`] for a demand that depends on the key's state
    /// before it (the token count decides how exactly to count from the
    /// headroom left): `measure` sees what [`Limiter::peek`] would return,
    /// from the same read that the admission then writes back, so a call
    /// costs one store read, not two. `measure` runs once; a write that
    /// loses a race retries with the same demand. Returns the decision and
    /// the demand.
    // The refusal's `Decision` travels in `update`'s `Err` once per call;
    // boxing it would allocate on every refusal for nothing.
    #[allow(clippy::result_large_err)]
    pub fn admit_measured(
        &self,
        store: &mut dyn Store,
        key: &str,
        limits: &[Limit],
        now_ms: u64,
        measure: impl FnOnce(&[LimitState]) -> Demand,
    ) -> (Decision, Demand) {
        let hash = key_hash(key);
        let mut measure = Some(measure);
        let mut measured = None;
        let decided = self.update(store, hash, now_ms, |state| {
            let demand = *measured.get_or_insert_with(|| {
                let before: Vec<LimitState> = limits
                    .iter()
                    .map(|l| limit_state(state, l, now_ms))
                    .collect();
                measure
                    .take()
                    .map_or_else(Demand::default, |measure| measure(&before))
            });
            if let Some(rejection) = check(state, limits, demand, now_ms) {
                let limits = limits
                    .iter()
                    .map(|l| limit_state(state, l, now_ms))
                    .collect();
                return Err(Decision {
                    outcome: Outcome::Rejected(rejection),
                    limits,
                });
            }
            let mut charged = [0; MAX_LIMITS];
            for (limit, charged) in limits.iter().zip(&mut charged) {
                let ring = state.ring(limit);
                *charged = demand.reserves(limit, ring.used());
                ring.charge(*charged);
            }
            let limits = limits
                .iter()
                .map(|l| limit_state(state, l, now_ms))
                .collect();
            let reservation = Reservation {
                key_hash: hash,
                at_ms: now_ms,
                reserved: demand,
                charged,
            };
            Ok(Decision {
                outcome: Outcome::Admitted(reservation),
                limits,
            })
        });
        let demand = measured.unwrap_or_default();
        if let Some(decision) = decided {
            return (decision, demand);
        }
        let limits_now = self.peek(store, key, limits, now_ms);
        let outcome = match self.on_contention {
            FailMode::Open => Outcome::Admitted(Reservation {
                key_hash: hash,
                at_ms: now_ms,
                reserved: demand,
                charged: [0; MAX_LIMITS],
            }),
            FailMode::Closed => Outcome::Rejected(Rejection {
                reason: Reason::StoreContention,
                limit: None,
                retry_after_ms: Some(1_000),
            }),
        };
        (
            Decision {
                outcome,
                limits: limits_now,
            },
            demand,
        )
    }

    /// Replaces the reservation with what the request really used: each
    /// limit is corrected by the difference (credited or debited), in the
    /// sub-bucket the reservation was charged to. A correction that only
    /// credits is owed (see the module's documentation) while fewer than
    /// [`MAX_OWED`] are.
    pub fn reconcile(
        &self,
        store: &mut dyn Store,
        reservation: &Reservation,
        limits: &[Limit],
        actual: Actual,
        now_ms: u64,
    ) -> Result<(), Contended> {
        let corrections = corrections(reservation, limits, |limit| match limit.measure {
            Measure::Requests => Some(1),
            Measure::InputTokens => Some(actual.input_tokens),
            Measure::OutputTokens => Some(actual.output_tokens),
            Measure::TotalTokens => Some(actual.input_tokens.saturating_add(actual.output_tokens)),
            Measure::CostNanoUsd => actual.cost_nano_usd,
        });
        if corrections.iter().all(|&(_, delta)| delta == 0) {
            return Ok(());
        }
        if self.may_owe(reservation.key_hash, &corrections) {
            self.owed.borrow_mut().push(Credit {
                key_hash: reservation.key_hash,
                at_ms: reservation.at_ms,
                corrections,
            });
            return Ok(());
        }
        self.correct(store, reservation, &corrections, now_ms)
    }

    /// Whether `corrections` of the key `hash` may be owed: they only give
    /// back, fewer than [`MAX_OWED`] credits are owed, and with what the key
    /// is owed already they stay within [`OWED_SHARE`] of each limit.
    fn may_owe(&self, hash: u64, corrections: &[(Limit, i64)]) -> bool {
        let owed = self.owed.borrow();
        owed.len() < MAX_OWED
            && corrections.iter().all(|&(limit, delta)| {
                let before: u64 = owed
                    .iter()
                    .filter(|c| c.key_hash == hash)
                    .flat_map(|c| &c.corrections)
                    .filter(|(l, _)| *l == limit)
                    .map(|(_, d)| d.unsigned_abs())
                    .sum();
                delta <= 0 && before.saturating_add(delta.unsigned_abs()) <= limit.max / OWED_SHARE
            })
    }

    /// Gives a reservation back whole, the request included: another level
    /// refused the request, so it never ran. Written at once: the refusal
    /// answers now, and the next request may be the client's retry.
    pub fn release(
        &self,
        store: &mut dyn Store,
        reservation: &Reservation,
        limits: &[Limit],
        now_ms: u64,
    ) -> Result<(), Contended> {
        let corrections = corrections(reservation, limits, |_| Some(0));
        self.correct(store, reservation, &corrections, now_ms)
    }

    fn correct(
        &self,
        store: &mut dyn Store,
        reservation: &Reservation,
        corrections: &[(Limit, i64)],
        now_ms: u64,
    ) -> Result<(), Contended> {
        self.update(store, reservation.key_hash, now_ms, |state| {
            apply(state, reservation.at_ms, corrections, now_ms);
            Ok(())
        })
        .ok_or(Contended)
    }

    /// Writes every credit owed (called from the VM's tick), one write per
    /// key. Returns how many could not be written within the retries:
    /// they are dropped, so a key keeps counting what it was charged.
    pub fn pay_owed(&self, store: &mut dyn Store, now_ms: u64) -> usize {
        let mut lost = 0;
        loop {
            let Some(hash) = self.owed.borrow().first().map(|c| c.key_hash) else {
                return lost;
            };
            if self.update(store, hash, now_ms, |_| Ok(())).is_none() {
                self.owed.borrow_mut().retain(|c| c.key_hash != hash);
                lost += 1;
            }
        }
    }

    /// Removes the entries of keys idle longer than their longest window
    /// (every counter has slid out), visiting at most `max_slots` slots from
    /// `from_slot` on. Called from a timer, it bounds the store's memory by
    /// the keys active within their windows. A slot changed meanwhile is
    /// left for the next round.
    pub fn sweep(
        &self,
        store: &mut dyn Store,
        from_slot: u32,
        max_slots: u32,
        now_ms: u64,
    ) -> Sweep {
        let mut sweep = Sweep::default();
        let mut slot = from_slot % self.slots;
        for _ in 0..max_slots.min(self.slots) {
            let key = self.slot_key(slot);
            if let Some((bytes, cas)) = store.get(&key) {
                let mut out = Vec::with_capacity(bytes.len());
                let mut removed = 0;
                for (hash, raw) in Slot::new(&bytes).entries() {
                    let idle = KeyState::decode(raw).is_none_or(|mut state| {
                        state.rings.iter_mut().all(|(id, ring)| {
                            ring.advance(window_of_id(*id), now_ms);
                            ring.is_empty()
                        })
                    });
                    if idle {
                        removed += 1;
                    } else {
                        super::state::push_entry(&mut out, hash, raw);
                        sweep.kept += 1;
                    }
                }
                if removed > 0 && store.set(&key, &out, Some(cas)).is_ok() {
                    sweep.removed += removed;
                }
            }
            slot = (slot + 1) % self.slots;
        }
        sweep.next_slot = slot;
        sweep
    }
}

/// Each limit's correction from what the reservation charged it to what
/// `used(limit)` says was used; `None` leaves a limit as charged (a cost
/// that could not be known).
fn corrections(
    reservation: &Reservation,
    limits: &[Limit],
    used: impl Fn(&Limit) -> Option<u64>,
) -> Vec<(Limit, i64)> {
    limits
        .iter()
        .zip(&reservation.charged)
        .map(|(limit, &charged)| {
            (
                *limit,
                signed_delta(used(limit).unwrap_or(charged), charged),
            )
        })
        .collect()
}

/// Applies `corrections` of a reservation charged at `at_ms` to `state`.
fn apply(state: &mut KeyState, at_ms: u64, corrections: &[(Limit, i64)], now_ms: u64) {
    for (limit, delta) in corrections {
        let ring = state.ring(limit);
        ring.advance(limit.window_ms, now_ms);
        ring.correct(limit.window_ms, at_ms, *delta);
    }
}

fn signed_delta(actual: u64, reserved: u64) -> i64 {
    let d = i128::from(actual) - i128::from(reserved);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The rejection `demand` meets, if any: "can never succeed" first (no wait
/// helps), else the over-limit rejection that clears last.
fn check(state: &mut KeyState, limits: &[Limit], demand: Demand, now_ms: u64) -> Option<Rejection> {
    if let Some(limit) = limits
        .iter()
        .find(|l| l.max == 0 || demand.firm(l.measure) > l.max)
    {
        return Some(Rejection {
            reason: Reason::CanNeverSucceed,
            limit: Some(*limit),
            retry_after_ms: None,
        });
    }
    let mut worst: Option<Rejection> = None;
    for limit in limits {
        let cost = demand.firm(limit.measure);
        let ring = state.ring(limit);
        ring.advance(limit.window_ms, now_ms);
        let used = ring.used();
        if used < limit.max && used.saturating_add(cost) <= limit.max {
            continue;
        }
        // Room for `cost` and not full: used <= max - cost and used <= max - 1.
        let target = (limit.max - cost).min(limit.max - 1);
        let wait = ring
            .ms_until_at_most(limit.window_ms, now_ms, target)
            .unwrap_or(1);
        if worst
            .and_then(|w| w.retry_after_ms)
            .is_none_or(|w| wait > w)
        {
            worst = Some(Rejection {
                reason: Reason::OverLimit,
                limit: Some(*limit),
                retry_after_ms: Some(wait),
            });
        }
    }
    worst
}

fn limit_state(state: &mut KeyState, limit: &Limit, now_ms: u64) -> LimitState {
    let ring = state.ring(limit);
    ring.advance(limit.window_ms, now_ms);
    let reset_ms = ring
        .ms_until_at_most(limit.window_ms, now_ms, 0)
        .unwrap_or(0);
    LimitState {
        limit: *limit,
        used: ring.used(),
        reset_ms,
    }
}
