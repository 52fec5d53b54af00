//! The floor of `make bench`: the bundle's pipeline (one VM, the same glue,
//! the same buffering and parsing of both bodies) with four stages named
//! after the bundle's that read the parsed request and response and do
//! nothing else. What it costs over bare Envoy is what any bundle of four
//! stages that read both bodies must pay; the bundle's distance to it is
//! what its stages' own work and host calls cost. Built by `make bench`
//! into `build/wasm-floor/floor_bundle.wasm`; its configuration is ignored.

use wasm_glue::{ConfigError, Exchange, Stage, StageStream, Stages};

/// The bundle's stages in chain order.
const NAMES: [&str; 4] = ["audit", "pii_scan", "token_limit", "provider_route"];

struct Reader(&'static str);

impl Stage for Reader {
    fn name(&self) -> &'static str {
        self.0
    }

    fn stream(&self) -> Box<dyn StageStream> {
        Box::new(ReaderStream)
    }
}

/// Reads both bodies (the default reads the request of every API with a
/// JSON body) and nothing else.
struct ReaderStream;

impl StageStream for ReaderStream {
    fn reads_response(&self, _ex: &Exchange) -> bool {
        true
    }
}

/// The four readers, whatever the configuration says.
pub fn load(_config: &[u8]) -> Result<Stages, ConfigError> {
    Ok(Stages::new(
        NAMES
            .iter()
            .map(|name| Box::new(Reader(name)) as Box<dyn Stage>)
            .collect(),
    ))
}

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    wasm_glue::wasm::start(load);
}}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_readers_in_the_bundles_order() {
        let stages = load(b"{}").unwrap();
        let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
        assert_eq!(names, NAMES);
    }
}
