//! The pii-scan stage of the pipeline.

use crate::config::PiiConfig;
use std::rc::Rc;
use wasm_glue::{Stage, StageStream};

pub struct PiiScan {
    /// Validated at load; read by the detector engine (pii-scan issue).
    #[allow(dead_code)]
    config: Rc<PiiConfig>,
}

impl PiiScan {
    pub fn new(config: PiiConfig) -> Self {
        PiiScan { config: Rc::new(config) }
    }
}

impl Stage for PiiScan {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(PiiStream)
    }
}

/// Passes traffic until the detector engine lands (pii-scan issue).
struct PiiStream;

impl StageStream for PiiStream {}
