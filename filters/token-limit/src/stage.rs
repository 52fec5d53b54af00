//! The token-limit stage of the pipeline.

use crate::config::TokenLimitConfig;
use std::rc::Rc;
use wasm_glue::{Exchange, Flow, Host, Stage, StageStream};

pub struct TokenLimit {
    config: Rc<TokenLimitConfig>,
}

impl TokenLimit {
    pub fn new(config: TokenLimitConfig) -> Self {
        TokenLimit { config: Rc::new(config) }
    }
}

impl Stage for TokenLimit {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(TokenLimitStream { config: self.config.clone() })
    }
}

struct TokenLimitStream {
    config: Rc<TokenLimitConfig>,
}

impl StageStream for TokenLimitStream {
    /// Publishes the key the request will be limited under.
    fn on_request(&mut self, ex: &mut Exchange, host: &mut dyn Host) -> Flow {
        if let Some(key) = ex.request_header(&self.config.key_header) {
            host.set_fact("llm.ratelimit.key", key);
        }
        Flow::Continue
    }
}
