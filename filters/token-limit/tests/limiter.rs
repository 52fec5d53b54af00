//! The limiter with injected time and the in-memory CAS store: windows,
//! edges, reconciliation, expiry, tiers, interleaved workers, invariants.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{json, Value};
use token_limit::limit::policy::{StoreConfig, MINUTE_MS};
use token_limit::limit::{
    Actual, CasMismatch, Demand, Limit, LimitPolicy, Limiter, Limits, Measure, MemoryStore,
    Outcome, Reason, Store, BUCKETS, MAX_OWED,
};

fn limiter() -> Limiter {
    Limiter::new(&StoreConfig {
        slots: 64,
        ..StoreConfig::default()
    })
}

/// The limit set of `limits`, written as a key's `limits` are configured.
fn limit_set(limits: Value) -> Vec<Limit> {
    serde_json::from_value::<Limits>(limits).unwrap().to_set()
}

/// A limiter, an empty store, and the limit set of `limits`: what most
/// tests start from.
fn setup(limits: Value) -> (Limiter, MemoryStore, Vec<Limit>) {
    (limiter(), MemoryStore::default(), limit_set(limits))
}

fn tokens(n: u64) -> Demand {
    Demand {
        input_tokens: n,
        cost_nano_usd: 0,
        ..Demand::default()
    }
}

fn actual(input_tokens: u64, output_tokens: u64, cost_nano_usd: Option<u64>) -> Actual {
    Actual {
        input_tokens,
        output_tokens,
        cost_nano_usd,
    }
}

fn admitted(o: &Outcome) -> bool {
    matches!(o, Outcome::Admitted(_))
}

/// Whether `l` admits `demand` for `key` at `now`.
fn admits(
    l: &Limiter,
    s: &mut dyn Store,
    key: &str,
    limits: &[Limit],
    demand: Demand,
    now: u64,
) -> bool {
    admitted(&l.admit(s, key, limits, demand, now).outcome)
}

/// What each limit of `limits` has used for `key` at `now`.
fn used(l: &Limiter, s: &MemoryStore, key: &str, limits: &[Limit], now: u64) -> Vec<u64> {
    l.peek(s, key, limits, now).iter().map(|x| x.used).collect()
}

#[test]
fn exactly_the_limit_is_admitted_and_no_more() {
    let (l, mut s, limits) = setup(json!({"requests_per_minute": 10}));
    for i in 0..10 {
        assert!(
            admits(&l, &mut s, "k", &limits, tokens(1), 1000 + i),
            "request {i}"
        );
    }
    let d = l.admit(&mut s, "k", &limits, tokens(1), 2000);
    let Outcome::Rejected(r) = d.outcome else {
        panic!("11th admitted")
    };
    assert_eq!(r.reason, Reason::OverLimit);
    assert_eq!(d.limits[0].used, 10);
    // All ten were in bucket 0 (0-6 s), which leaves at 66 s.
    assert_eq!(r.retry_after_ms, Some(66_000 - 2000));
    assert!(admits(&l, &mut s, "k", &limits, tokens(1), 66_000));
}

#[test]
fn token_edges() {
    let (l, mut s, limits) = setup(json!({"input_tokens_per_minute": 1000}));
    assert!(admits(&l, &mut s, "k", &limits, tokens(990), 0));
    assert!(
        !admits(&l, &mut s, "k", &limits, tokens(11), 0),
        "990 + 11 > 1000"
    );
    assert!(
        admits(&l, &mut s, "k", &limits, tokens(10), 0),
        "990 + 10 = 1000 fits"
    );
    assert!(
        !admits(&l, &mut s, "k", &limits, tokens(1), 0),
        "at exactly the limit: rejected"
    );
    let d = l.admit(&mut s, "other", &limits, tokens(1001), 0);
    let Outcome::Rejected(r) = d.outcome else {
        panic!()
    };
    assert_eq!(
        (r.reason, r.retry_after_ms),
        (Reason::CanNeverSucceed, None)
    );
}

#[test]
fn no_double_burst_at_window_edges() {
    // A fixed window would admit 10 at 59.9 s and 10 more at 60.1 s.
    let (l, mut s, limits) = setup(json!({"requests_per_minute": 10}));
    let mut times = Vec::new();
    for t in (0..200_000).step_by(100) {
        if admits(&l, &mut s, "k", &limits, tokens(1), t) {
            times.push(t);
        }
    }
    for (i, &t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|&&u| u < t + MINUTE_MS)
            .count();
        assert!(
            in_window <= 10,
            "{in_window} admitted in the minute from {t}"
        );
    }
    // And it is not needlessly strict: 10 per (60 s + one bucket).
    assert!(times.len() >= 30, "{}", times.len());
}

#[test]
fn reconciliation_credits_and_debits() {
    let (l, mut s, limits) = setup(json!({
        "input_tokens_per_minute": 1000,
        "output_tokens_per_minute": 500,
        "total_tokens_per_day": 10_000,
    }));
    let d = l.admit(&mut s, "k", &limits, tokens(600), 0);
    let Outcome::Admitted(res) = d.outcome else {
        panic!()
    };
    // Real usage 400 in (credit 200), 300 out.
    l.reconcile(&mut s, &res, &limits, actual(400, 300, Some(0)), 5000)
        .unwrap();
    assert_eq!(used(&l, &s, "k", &limits, 5000), vec![400, 300, 700]);
    // Debit: reserved 100, used 700.
    let Outcome::Admitted(res) = l.admit(&mut s, "k", &limits, tokens(100), 6000).outcome else {
        panic!()
    };
    l.reconcile(&mut s, &res, &limits, actual(700, 0, Some(0)), 7000)
        .unwrap();
    assert_eq!(
        l.peek(&s, "k", &limits, 7000)[0].used,
        1100,
        "a debit may overshoot: the tokens were used"
    );
    assert!(!admits(&l, &mut s, "k", &limits, tokens(1), 7000));
    // Output limit: 300 of 500 used; a stream counted at 250 more fills it.
    let Outcome::Admitted(res) = l.admit(&mut s, "k2", &limits, tokens(1), 0).outcome else {
        panic!()
    };
    l.reconcile(&mut s, &res, &limits, actual(1, 500, Some(0)), 0)
        .unwrap();
    let d = l.admit(&mut s, "k2", &limits, tokens(1), 1);
    assert_eq!(
        match d.outcome {
            Outcome::Rejected(r) => r.limit.map(|l| l.measure),
            _ => None,
        },
        Some(Measure::OutputTokens)
    );
}

/// A reconciliation that gives back a little is owed by the VM that made
/// it: its own reads count it at once, other VMs once it is written, which
/// its next admission of the key does in the same write, or its tick. One
/// that charges more, or gives back more than `OWED_SHARE` of a limit, is
/// written at once.
#[test]
fn small_credits_are_owed_until_the_next_write_and_the_rest_is_written_at_once() {
    // A hundredth of 10,000: up to 100 tokens may be owed a key.
    let (vm, mut store, limits) = setup(json!({"input_tokens_per_minute": 10_000}));
    let other_vm = limiter();
    let admit = |store: &mut MemoryStore, key: &str, n: u64, now: u64| {
        let Outcome::Admitted(res) = vm.admit(store, key, &limits, tokens(n), now).outcome else {
            panic!("{key}: {n} refused")
        };
        res
    };
    let res = admit(&mut store, "k", 6000, 0);
    let mut s = Racing::new(&mut store);
    vm.reconcile(&mut s, &res, &limits, actual(5950, 0, None), 10)
        .unwrap();
    assert_eq!((s.reads.get(), s.sets), (0, 0), "owed, not written");
    drop(s);
    assert_eq!(vm.owed(), 1);
    assert_eq!(
        used(&vm, &store, "k", &limits, 10),
        [5950],
        "its own VM counts it"
    );
    assert_eq!(
        used(&other_vm, &store, "k", &limits, 10),
        [6000],
        "others do not yet"
    );
    // The next admission (5,950 + 4,050 fits, 6,000 + 4,050 would not)
    // writes the credit with its own charge: one read, one write.
    let mut s = Racing::new(&mut store);
    assert!(admits(&vm, &mut s, "k", &limits, tokens(4050), 20));
    assert_eq!((s.reads.get(), s.sets), (1, 1));
    drop(s);
    assert_eq!(vm.owed(), 0);
    assert_eq!(used(&other_vm, &store, "k", &limits, 20), [10_000]);

    // Its tick writes what no admission did.
    let res = admit(&mut store, "k2", 3000, 30);
    vm.reconcile(&mut store, &res, &limits, actual(2950, 0, None), 40)
        .unwrap();
    assert_eq!(used(&other_vm, &store, "k2", &limits, 40), [3000]);
    assert_eq!(vm.pay_owed(&mut store, 50), 0);
    assert_eq!(vm.owed(), 0);
    assert_eq!(used(&other_vm, &store, "k2", &limits, 50), [2950]);

    // A refusal keeps what is owed: nothing was written.
    let res = admit(&mut store, "k3", 9000, 60);
    vm.reconcile(&mut store, &res, &limits, actual(8950, 0, None), 70)
        .unwrap();
    assert!(!admits(&vm, &mut store, "k3", &limits, tokens(1100), 80));
    assert_eq!(vm.owed(), 1);
    assert!(admits(&vm, &mut store, "k3", &limits, tokens(1050), 90));
    assert_eq!(used(&other_vm, &store, "k3", &limits, 90), [10_000]);

    // A debit is written at once, with the key's credits.
    let first = admit(&mut store, "k4", 3000, 100);
    let second = admit(&mut store, "k4", 1000, 100);
    vm.reconcile(&mut store, &first, &limits, actual(2960, 0, None), 110)
        .unwrap();
    assert_eq!(vm.owed(), 1);
    vm.reconcile(&mut store, &second, &limits, actual(1020, 0, None), 110)
        .unwrap();
    assert_eq!(vm.owed(), 0);
    assert_eq!(used(&other_vm, &store, "k4", &limits, 110), [3980]);

    // So are a large credit, and one that takes what the key is owed past
    // a hundredth of the limit.
    let res = admit(&mut store, "k5", 5000, 120);
    vm.reconcile(&mut store, &res, &limits, actual(3000, 0, None), 130)
        .unwrap();
    assert_eq!(vm.owed(), 0);
    assert_eq!(used(&other_vm, &store, "k5", &limits, 130), [3000]);
    let first = admit(&mut store, "k6", 1000, 140);
    let second = admit(&mut store, "k6", 1000, 140);
    vm.reconcile(&mut store, &first, &limits, actual(940, 0, None), 150)
        .unwrap();
    assert_eq!(vm.owed(), 1);
    vm.reconcile(&mut store, &second, &limits, actual(940, 0, None), 150)
        .unwrap();
    assert_eq!(vm.owed(), 0);
    assert_eq!(used(&other_vm, &store, "k6", &limits, 150), [1880]);
}

/// Past `MAX_OWED` credits a reconciliation is written at once, so what a
/// VM holds back stays bounded however many keys it serves.
#[test]
fn owed_credits_are_bounded() {
    let (vm, mut store, limits) = setup(json!({"input_tokens_per_minute": 1000}));
    let other_vm = limiter();
    for n in 0..=MAX_OWED {
        let key = format!("k{n}");
        let Outcome::Admitted(res) = vm.admit(&mut store, &key, &limits, tokens(10), 0).outcome
        else {
            panic!()
        };
        vm.reconcile(&mut store, &res, &limits, actual(5, 0, None), 1)
            .unwrap();
    }
    assert_eq!(vm.owed(), MAX_OWED);
    let last = format!("k{MAX_OWED}");
    assert_eq!(used(&other_vm, &store, &last, &limits, 1), [5], "written");
    assert_eq!(used(&other_vm, &store, "k0", &limits, 1), [10], "owed");
}

/// Another worker's turn: what it does to the store between one worker's
/// read and its write.
type OtherWorker<'a> = Box<dyn FnOnce(&mut MemoryStore) + 'a>;

/// A store that counts its reads and writes, and whose next write loses a
/// race when `before_next_set` is set: that other worker acts on the store
/// just before it.
struct Racing<'a> {
    inner: &'a mut MemoryStore,
    before_next_set: Option<OtherWorker<'a>>,
    reads: std::cell::Cell<usize>,
    sets: usize,
}

impl<'a> Racing<'a> {
    fn new(inner: &'a mut MemoryStore) -> Self {
        Racing {
            inner,
            before_next_set: None,
            reads: Default::default(),
            sets: 0,
        }
    }
}

impl Store for Racing<'_> {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.reads.set(self.reads.get() + 1);
        self.inner.get(key)
    }
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch> {
        if let Some(other) = self.before_next_set.take() {
            other(self.inner);
        }
        self.sets += 1;
        self.inner.set(key, value, cas)
    }
}

#[test]
fn a_measured_admission_reads_once_and_measures_once() {
    let l = limiter();
    let limits = limit_set(json!({"input_tokens_per_minute": 1000}));
    let mut store = MemoryStore::default();
    let mut s = Racing::new(&mut store);
    let (d, _) = l.admit_measured(&mut s, "k", &limits, 0, |before| {
        tokens(600 + before[0].used)
    });
    assert_eq!(
        (s.reads.get(), d.limits[0].used),
        (1, 600),
        "one read serves the measure and the admission"
    );
    // The rival admits 100 for the same key between the read and the write.
    s.before_next_set = Some(Box::new(|store: &mut MemoryStore| {
        l.admit(store, "k", &limits, tokens(100), 0);
    }));
    let mut seen = Vec::new();
    let (d, demand) = l.admit_measured(&mut s, "k", &limits, 0, |before| {
        seen.push(before[0].used);
        tokens(250)
    });
    assert_eq!(
        seen,
        [600],
        "measured once, on the state before the admission"
    );
    assert_eq!(demand, tokens(250));
    assert!(
        admitted(&d.outcome),
        "retried after the lost race with the same demand"
    );
    assert_eq!(d.limits[0].used, 950, "600 + the rival's 100 + 250");
    let (d, _) = l.admit_measured(&mut s, "k", &limits, 0, |_| tokens(51));
    assert!(!admitted(&d.outcome), "950 + 51 > 1000");
}

#[test]
fn cost_budget() {
    let (l, mut s, limits) = setup(json!({"cost_usd_per_month": 0.01}));
    let demand = Demand {
        input_tokens: 1000,
        cost_nano_usd: 4_000_000,
        ..Demand::default()
    };
    let Outcome::Admitted(res) = l.admit(&mut s, "k", &limits, demand, 0).outcome else {
        panic!()
    };
    l.reconcile(
        &mut s,
        &res,
        &limits,
        actual(1000, 500, Some(9_000_000)),
        10,
    )
    .unwrap();
    let priced = |cost_nano_usd| Demand {
        input_tokens: 1,
        cost_nano_usd,
        ..Demand::default()
    };
    assert!(admits(&l, &mut s, "k", &limits, priced(1_000_000), 20));
    let d = l.admit(&mut s, "k", &limits, priced(1), 30);
    assert!(!admitted(&d.outcome), "the budget is used up exactly");
}

#[test]
fn tiers_and_overrides() {
    let mut p: LimitPolicy = serde_json::from_value(json!({
        "limits": {"requests_per_minute": 100},
        "tiers": {"free": {"requests_per_minute": 2}},
        "overrides": [{"key": "demo-limited", "limits": {"input_tokens_per_minute": 2000}}, {"key": "free-*", "tier": "free"}]
    })).unwrap();
    p.validate().unwrap();
    let (l, mut s) = (limiter(), MemoryStore::default());
    let free = p.levels[0].limits_for("free-1").to_set();
    assert!(admits(&l, &mut s, "free-1", &free, tokens(1), 0));
    assert!(admits(&l, &mut s, "free-1", &free, tokens(1), 0));
    assert!(!admits(&l, &mut s, "free-1", &free, tokens(1), 0));
    let demo = p.levels[0].limits_for("demo-limited").to_set();
    let mut n = 0;
    while admits(&l, &mut s, "demo-limited", &demo, tokens(300), 0) {
        n += 1;
    }
    assert_eq!(
        n, 6,
        "a handful of ~1 KB requests exhaust 2,000 tokens per minute"
    );
}

/// Two logical workers interleave their read and their CAS write.
#[test]
fn interleaved_workers_lose_no_update_and_never_over_admit() {
    let (l, mut s, limits) = setup(json!({"input_tokens_per_minute": 1000}));
    l.init_slots(&mut s);
    // Worker A reads, worker B admits 600 in between, A's stale write fails
    // its CAS and A retries on fresh state: 600 + 500 > 1000, rejected.
    let mut a = Racing::new(&mut s);
    a.before_next_set = Some(Box::new(|store: &mut MemoryStore| {
        assert!(admits(&l, store, "k", &limits, tokens(600), 0));
    }));
    let d = l.admit(&mut a, "k", &limits, tokens(500), 0);
    assert_eq!(
        a.sets, 1,
        "the stale write was refused; the retry saw 600 and rejected without writing"
    );
    assert!(!admitted(&d.outcome));
    drop(a);
    assert_eq!(l.peek(&s, "k", &limits, 0)[0].used, 600, "no lost update");
}

#[test]
fn many_workers_interleaving_round_robin() {
    // 8 workers each do read → (others run) → CAS write, in lock step.
    let (l, mut s, limits) = setup(json!({"requests_per_minute": 50}));
    l.init_slots(&mut s);
    let key = "shared";
    let mut admitted_total = 0;
    for round in 0..40 {
        // Every worker reads the same version, then all try to write.
        let snapshots: Vec<MemoryStore> = (0..8).map(|_| s.clone()).collect();
        let mut winners = 0;
        for snap in snapshots {
            // Each worker decides on its snapshot, then writes with the
            // snapshot's CAS into the real store.
            let mut w = Writer {
                read_from: &snap,
                write_to: &mut s,
            };
            if admits(&l, &mut w, key, &limits, tokens(1), round) {
                winners += 1;
            }
        }
        admitted_total += winners;
    }
    let used = l.peek(&s, key, &limits, 40)[0].used;
    assert_eq!(used, admitted_total, "every admission is counted");
    assert!(used <= 50);
    assert_eq!(used, 50, "all capacity was used");

    struct Writer<'a> {
        read_from: &'a MemoryStore,
        write_to: &'a mut MemoryStore,
    }
    impl Store for Writer<'_> {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            // First read sees the snapshot; after a failed CAS the retry reads
            // the real store (the snapshot's version is stale by then).
            let snap = self.read_from.get(key);
            let real = self.write_to.get(key);
            match (&snap, &real) {
                (Some((_, c1)), Some((_, c2))) if c1 == c2 => snap,
                _ => real,
            }
        }
        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch> {
            self.write_to.set(key, value, cas)
        }
    }
}

#[test]
fn idle_keys_expire_and_memory_stays_bounded() {
    let l = Limiter::new(&StoreConfig {
        slots: 4096,
        ..StoreConfig::default()
    });
    let mut s = MemoryStore::default();
    let limits = limit_set(json!({"requests_per_minute": 5, "input_tokens_per_hour": 10_000}));
    let n: u64 = std::env::var("KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for i in 0..n {
        let key = format!("agent-{i}");
        assert!(admits(&l, &mut s, &key, &limits, tokens(10), i % 1000));
    }
    assert!(s.keys() <= 4096);
    let per_key = s.value_bytes() as f64 / n as f64;
    println!(
        "{n} keys: {} store keys, {:.1} bytes per key",
        s.keys(),
        per_key
    );
    assert!(per_key < 80.0, "{per_key}");
    // One key stays active.
    let hour = 3_600_000;
    assert!(admits(&l, &mut s, "active", &limits, tokens(1), hour));
    // Not yet idle: nothing removed.
    let sweep = l.sweep(&mut s, 0, 4096, hour);
    assert_eq!(sweep.removed, 0);
    // Past the longest window plus a bucket, a bounded sweep clears them.
    let later = hour + hour / BUCKETS + 1000;
    let mut cursor = 0;
    let mut removed = 0;
    for _ in 0..4 {
        let sweep = l.sweep(&mut s, cursor, 1024, later);
        cursor = sweep.next_slot;
        removed += sweep.removed;
    }
    assert_eq!(removed as u64, n);
    assert!(
        s.value_bytes() < 200,
        "only the active key remains: {}",
        s.value_bytes()
    );
}

#[derive(Debug, Clone)]
enum Op {
    Admit {
        key: u8,
        tokens: u64,
        dt: u64,
    },
    Reconcile {
        which: usize,
        input: u64,
        output: u64,
        dt: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u64..400, 0u64..5000).prop_map(|(key, tokens, dt)| Op::Admit { key, tokens, dt }),
        1 => (0usize..64, 0u64..400, 0u64..400, 0u64..5000).prop_map(|(which, input, output, dt)| Op::Reconcile { which, input, output, dt }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Without reconciliation debits, no minute-long interval ever holds
    /// more admitted requests or input tokens (reserved, or real once
    /// reconciled) than the limits, whatever the sequence and timing.
    #[test]
    fn never_admits_beyond_the_limit(ops in prop::collection::vec(op(), 1..150)) {
        let (l, mut s) = (limiter(), MemoryStore::default());
        let limits = limit_set(json!({"requests_per_minute": 7, "input_tokens_per_minute": 1000}));
        let mut now = 0;
        let mut log: Vec<(u8, u64, u64)> = Vec::new();
        let mut reservations = Vec::new();
        for op in ops {
            match op {
                Op::Admit { key, tokens: t, dt } => {
                    now += dt;
                    let d = l.admit(&mut s, &format!("k{key}"), &limits, tokens(t), now);
                    if let Outcome::Admitted(r) = d.outcome {
                        log.push((key, now, t));
                        reservations.push(Some((r, log.len() - 1)));
                    }
                }
                Op::Reconcile { which, input, output, dt } => {
                    now += dt;
                    // Each reservation is reconciled at most once.
                    if let Some((r, at)) = reservations.get_mut(which).and_then(Option::take) {
                        // Credits only (debits may legitimately overshoot).
                        let input = input.min(r.reserved.input_tokens);
                        l.reconcile(&mut s, &r, &limits, actual(input, output, Some(0)), now).unwrap();
                        log[at].2 = input;
                    }
                }
            }
        }
        for &(key, t0, _) in &log {
            let window: Vec<_> = log.iter().filter(|(k, t, _)| *k == key && *t >= t0 && *t < t0 + MINUTE_MS).collect();
            prop_assert!(window.len() <= 7);
            prop_assert!(window.iter().map(|w| w.2).sum::<u64>() <= 1000);
        }
    }
}

/// Output limits reserve each request's expected output: 64 requests
/// admitted at once, each asking for up to 100 output tokens, fit a limit
/// of 1,000 output tokens; without the reservation all 64 would pass and
/// then use 6,400.
#[test]
fn concurrent_requests_reserve_their_expected_output() {
    let (l, mut s, limits) = setup(json!({"output_tokens_per_minute": 1000}));
    let demand = Demand {
        input_tokens: 10,
        output_tokens: 100,
        ..Demand::default()
    };
    let admitted_now: Vec<_> = (0..64)
        .filter_map(|i| match l.admit(&mut s, "k", &limits, demand, i).outcome {
            Outcome::Admitted(r) => Some(r),
            Outcome::Rejected(_) => None,
        })
        .collect();
    assert_eq!(admitted_now.len(), 10);
    // Each answer used 80 of its 100: the difference is credited back.
    for r in &admitted_now {
        l.reconcile(&mut s, r, &limits, actual(10, 80, None), 100)
            .unwrap();
    }
    assert_eq!(l.peek(&s, "k", &limits, 100)[0].used, 800);
    // A request asking for more than there is room for is admitted while
    // the window is not full and reserves the room; then the window is full.
    let big = Demand {
        output_tokens: 5000,
        ..demand
    };
    assert!(admits(&l, &mut s, "k", &limits, big, 200));
    assert_eq!(l.peek(&s, "k", &limits, 200)[0].used, 1000);
    assert!(!admits(&l, &mut s, "k", &limits, demand, 200));
}

/// Total-token and cost limits reserve the expected output too; an
/// unpriced call (`cost_nano_usd: None`) keeps its reserved cost.
#[test]
fn total_and_cost_limits_reserve_the_output_and_unpriced_calls_keep_it() {
    let (l, mut s, limits) =
        setup(json!({"total_tokens_per_day": 1000, "cost_usd_per_month": 1.0}));
    let demand = Demand {
        input_tokens: 100,
        output_tokens: 400,
        cost_nano_usd: 1_000_000,
        output_cost_nano_usd: 4_000_000,
    };
    let Outcome::Admitted(r) = l.admit(&mut s, "k", &limits, demand, 0).outcome else {
        panic!()
    };
    assert_eq!(used(&l, &s, "k", &limits, 0), [500, 5_000_000]);
    l.reconcile(&mut s, &r, &limits, actual(100, 50, None), 10)
        .unwrap();
    assert_eq!(
        used(&l, &s, "k", &limits, 10),
        [150, 5_000_000],
        "the tokens are corrected; the unknown cost stays as reserved"
    );
}

/// A reservation given back (another level refused the request) leaves
/// nothing behind, the request count included.
#[test]
fn a_released_reservation_leaves_nothing() {
    let (l, mut s, limits) = setup(json!({
        "requests_per_minute": 5,
        "input_tokens_per_minute": 1000,
        "output_tokens_per_minute": 1000,
    }));
    let demand = Demand {
        input_tokens: 300,
        output_tokens: 200,
        ..Demand::default()
    };
    let Outcome::Admitted(r) = l.admit(&mut s, "k", &limits, demand, 0).outcome else {
        panic!()
    };
    l.release(&mut s, &r, &limits, 50).unwrap();
    assert!(used(&l, &s, "k", &limits, 50).iter().all(|&u| u == 0));
}

/// A slot holds at most `max_slot_bytes`: past it, new keys are handled as
/// contention (admitted unreserved or refused, by `on_contention`), while
/// the keys already there keep being counted.
#[test]
fn a_full_slot_takes_no_new_keys_but_keeps_counting_its_own() {
    use token_limit::limit::policy::FailMode;
    let l = Limiter::new(&StoreConfig {
        slots: 1,
        max_slot_bytes: 512,
        on_contention: FailMode::Closed,
        ..StoreConfig::default()
    });
    let mut s = MemoryStore::default();
    let limits =
        limit_set(json!({"requests_per_minute": 1000, "input_tokens_per_minute": 100_000}));
    let mut keys = 0;
    while admits(&l, &mut s, &format!("k{keys}"), &limits, tokens(5), 0) {
        keys += 1;
        assert!(keys < 100, "the slot never filled");
    }
    assert!(keys >= 5, "{keys}");
    let Outcome::Rejected(r) = l.admit(&mut s, "new", &limits, tokens(5), 0).outcome else {
        panic!()
    };
    assert_eq!(r.reason, Reason::StoreContention);
    assert!(
        admits(&l, &mut s, "k0", &limits, tokens(5), 0),
        "a key already in the slot is still counted"
    );
    assert!(s.get("tl/0").unwrap().0.len() <= 600);
}
