//! The `translate` role: runs per upstream attempt on a provider's cluster.

use crate::config::TranslateConfig;
use wasm_glue::{Exchange, Stage, StageStream};

pub struct Translate {
    /// Validated at load; read by the translators (provider-rewrite issue).
    #[allow(dead_code)]
    config: TranslateConfig,
}

impl Translate {
    pub fn new(config: TranslateConfig) -> Self {
        Translate { config }
    }
}

impl Stage for Translate {
    fn name(&self) -> &'static str {
        "provider_translate"
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(TranslateStream)
    }
}

/// Passes requests through until the translators land.
struct TranslateStream;

impl StageStream for TranslateStream {
    /// Nothing to translate yet, so the body streams through unparsed.
    fn reads_request_body(&self, _ex: &Exchange) -> bool {
        false
    }
}
