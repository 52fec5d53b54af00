//! What every mode shares: where to send, what, and for how long.

use crate::request::RequestTemplate;
use crate::stats::Window;
use crate::target::Target;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Plan {
    pub target: Target,
    pub template: RequestTemplate,
    /// Scan responses as SSE for the time to first token.
    pub stream: bool,
    /// Sent but not recorded, before the window.
    pub warmup: Duration,
    /// The recorded window's length.
    pub duration: Duration,
}

impl Plan {
    /// The recorded window of a run that starts at `start`.
    pub fn window(&self, start: Instant) -> Window {
        let begin = start + self.warmup;
        Window {
            start: begin,
            end: begin + self.duration,
        }
    }
}
