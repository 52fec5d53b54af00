//! The audit stage of the pipeline.

use crate::config::AuditConfig;
use std::rc::Rc;
use wasm_glue::{Exchange, Flow, Host, Stage, StageStream};

pub struct Audit {
    config: Rc<AuditConfig>,
}

impl Audit {
    pub fn new(config: AuditConfig) -> Self {
        Audit { config: Rc::new(config) }
    }
}

impl Stage for Audit {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(AuditStream { config: self.config.clone() })
    }
}

struct AuditStream {
    config: Rc<AuditConfig>,
}

impl StageStream for AuditStream {
    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        host.set_fact("llm.api", ex.api.name());
        if let Some(request) = &ex.request {
            if let Some(model) = &request.model {
                host.set_fact("llm.model.requested", model);
            }
        }
        for header in &self.config.client_headers {
            if let Some(value) = ex.request_header(header) {
                host.set_fact(&format!("llm.client.{header}"), value);
            }
        }
        Flow::Continue
    }
}
