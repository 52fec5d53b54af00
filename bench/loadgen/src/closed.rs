//! Closed loop: each connection sends its next request as soon as the
//! previous response body has ended. Measures throughput at a fixed
//! concurrency; its latency is the service time only (a stalled target simply
//! gets fewer requests), which is why latency figures come from rate mode.

use crate::client::Client;
use crate::plan::Plan;
use crate::stats::{Recorder, Shared, Window};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::timeout_at;

/// Pause after a transport error so a dead target is not hammered in a loop.
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Runs `connections` loops until the window ends; requests still in flight
/// then are abandoned, not counted.
pub async fn run(plan: Arc<Plan>, connections: usize) -> (Recorder, Window) {
    let shared = Shared::default();
    let window = plan.window(Instant::now());
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(plan.clone(), window, shared.clone())))
        .collect();
    for task in tasks {
        // A JoinError means a task panicked: its counts are simply missing.
        let _ = task.await;
    }
    let recorder = std::mem::take(&mut *shared.lock());
    (recorder, window)
}

async fn connection(plan: Arc<Plan>, window: Window, shared: Shared) {
    let mut client = Client::new(plan.target.addr);
    let requests = async {
        loop {
            let started = Instant::now();
            let result = client.exchange(&plan.template, plan.stream).await;
            let done = Instant::now();
            if window.contains(done) {
                let mut recorder = shared.lock();
                recorder.record(started, done, &result, plan.stream);
                recorder.count_completion(done, &window, &result);
            }
            if result.is_err() {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    };
    // One timer for the whole loop, not one per request: the timer wheel
    // showed up in the profile.
    let _: Result<(), _> = timeout_at(window.end.into(), requests).await;
    shared.lock().connects += client.connects;
}
