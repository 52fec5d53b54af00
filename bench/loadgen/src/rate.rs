//! Open loop at a constant rate, latency corrected for coordinated omission.
//!
//! A pacer thread emits each request's scheduled time (`Schedule`) with a
//! plain `thread::sleep`, which wakes within tens of microseconds, instead of
//! tokio's millisecond timer, which would add up to 1 ms to every figure. A
//! dispatcher hands each scheduled request to an idle connection, opening new
//! ones up to a cap when all are busy; when none can be had it waits, and the
//! requests queue behind it. Latency and TTFT are measured from the
//! *scheduled* time, so that queueing counts against the target (as in
//! wrk2): a stall shows up in the percentiles instead of hiding as a pause in
//! sending.

use crate::client::Client;
use crate::plan::Plan;
use crate::schedule::Schedule;
use crate::stats::{micros_of, RateFacts, Recorder, Shared, Window};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::time::timeout_at;

/// After the window, how long requests scheduled inside it may still take
/// (waiting to be sent included) before they count as timeouts.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    pub rate: f64,
    /// Opened before the schedule starts.
    pub connections: usize,
    /// At most this many connections in all.
    pub cap: usize,
}

/// One scheduled request handed to a connection.
#[derive(Debug, Clone, Copy)]
struct Job {
    scheduled: Instant,
    window: Window,
    deadline: Instant,
}

pub async fn run(plan: Arc<Plan>, config: RateConfig) -> (Recorder, Window, RateFacts) {
    let shared = Shared::default();
    let (idle_tx, mut idle_rx) = mpsc::unbounded_channel::<usize>();
    let mut jobs: Vec<mpsc::Sender<Job>> = Vec::new();
    let mut tasks = Vec::new();
    let mut spawn = |jobs: &mut Vec<mpsc::Sender<Job>>, preconnect: bool| {
        let (job_tx, job_rx) = mpsc::channel(1);
        let id = jobs.len();
        jobs.push(job_tx);
        tasks.push(tokio::spawn(connection(
            id,
            plan.clone(),
            job_rx,
            idle_tx.clone(),
            shared.clone(),
            preconnect,
        )));
        id
    };
    for _ in 0..config.connections {
        spawn(&mut jobs, true);
    }
    // The pool is open (or has failed to open) before the clock starts.
    let mut idle = VecDeque::with_capacity(config.cap);
    while idle.len() < config.connections {
        match idle_rx.recv().await {
            Some(id) => idle.push_back(id),
            None => break,
        }
    }

    let start = Instant::now();
    let window = plan.window(start);
    let deadline = window.end + DRAIN;
    let schedule = Schedule::new(start, config.rate);
    let (tick_tx, mut tick_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || pace(schedule, window.end, tick_tx));

    let mut facts = RateFacts {
        target_rps: config.rate,
        scheduled: 0,
        sent: 0,
        backlog_end: 0,
        connections_used: 0,
        connection_cap: config.cap as u64,
    };
    let mut late = 0u64;
    while let Some(scheduled) = tick_rx.recv().await {
        let recorded = window.contains(scheduled);
        facts.scheduled += u64::from(recorded);
        while let Ok(id) = idle_rx.try_recv() {
            idle.push_back(id);
        }
        let id = match idle.pop_front() {
            Some(id) => Some(id),
            None if jobs.len() < config.cap => Some(spawn(&mut jobs, false)),
            // Every connection busy and no more allowed: wait (the backlog
            // grows in `tick_rx`), at most until the drain deadline.
            None => timeout_at(deadline.into(), idle_rx.recv())
                .await
                .ok()
                .flatten(),
        };
        let now = Instant::now();
        let handed = match id.and_then(|id| jobs.get(id)) {
            Some(job_tx) if now < deadline => job_tx
                .try_send(Job {
                    scheduled,
                    window,
                    deadline,
                })
                .is_ok(),
            _ => false,
        };
        if recorded {
            if handed {
                facts.sent += 1;
                facts.backlog_end += u64::from(now >= window.end);
            } else {
                late += 1;
            }
        }
    }
    facts.connections_used = jobs.len() as u64;
    drop(jobs);
    for task in tasks {
        // A JoinError means a task panicked: its counts are simply missing.
        let _ = task.await;
    }
    let mut recorder = std::mem::take(&mut *shared.lock());
    recorder.timeouts += late;
    (recorder, window, facts)
}

/// Emits every scheduled time before `end`, each as soon as it is due (at
/// once when behind). Stops early if the dispatcher is gone.
fn pace(schedule: Schedule, end: Instant, ticks: mpsc::UnboundedSender<Instant>) {
    tighten_timer_slack();
    for i in 0.. {
        let due = schedule.at(i);
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if ticks.send(due).is_err() {
            break;
        }
    }
}

/// Linux lets a sleeping thread wake up to 50 µs late (its timer slack) so
/// that wake-ups batch; that would add 50 µs to every latency. 1 ns makes the
/// pacer wake on time. Best effort: on failure the default slack stays.
#[cfg(target_os = "linux")]
fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only
    // the calling thread's timer slack; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(not(target_os = "linux"))]
fn tighten_timer_slack() {}

/// One connection: optionally opens itself first, then serves jobs, telling
/// the dispatcher each time it is idle.
async fn connection(
    id: usize,
    plan: Arc<Plan>,
    mut jobs: mpsc::Receiver<Job>,
    idle: mpsc::UnboundedSender<usize>,
    shared: Shared,
    preconnect: bool,
) {
    let mut client = Client::new(plan.target.addr);
    if preconnect {
        // A failure here shows up as the first job's transport error.
        let _ = client.connect().await;
        if idle.send(id).is_err() {
            return;
        }
    }
    while let Some(job) = jobs.recv().await {
        let started = Instant::now();
        let exchange = client.exchange(&plan.template, plan.stream);
        let result = timeout_at(job.deadline.into(), exchange).await;
        let done = Instant::now();
        {
            let mut recorder = shared.lock();
            let recorded = job.window.contains(job.scheduled);
            match &result {
                Ok(result) => {
                    if recorded {
                        recorder.record(job.scheduled, done, result, plan.stream);
                        let lag = started.saturating_duration_since(job.scheduled);
                        recorder.send_lag.saturating_record(micros_of(lag));
                    }
                    recorder.count_completion(done, &job.window, result);
                }
                Err(_) => recorder.timeouts += u64::from(recorded),
            }
        }
        if result.is_err() {
            client.disconnect();
        }
        if idle.send(id).is_err() {
            break;
        }
    }
    shared.lock().connects += client.connects;
}
