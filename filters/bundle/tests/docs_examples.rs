//! Every JSON example in docs/configuration.md is a configuration the bundle
//! accepts, so the reference cannot drift from the code.

const DOC: &str = include_str!("../../../docs/configuration.md");

fn json_blocks() -> Vec<&'static str> {
    DOC.split("```json\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect()
}

#[test]
fn every_documented_example_loads() {
    let blocks = json_blocks();
    assert!(
        blocks.len() >= 6,
        "expected an example per filter and role, found {}",
        blocks.len()
    );
    for block in blocks {
        if let Err(err) = llm_gateway_bundle::load(block.as_bytes()) {
            panic!("docs/configuration.md example does not load: {err}\n{block}");
        }
    }
}

#[test]
fn the_documented_error_is_the_real_one() {
    let err = llm_gateway_bundle::load(br#"{"pii_scan": {"entities": {"EMAIL": "shred"}}}"#)
        .err()
        .unwrap();
    assert!(
        DOC.contains(&err.to_string()),
        "docs/configuration.md shows a different error than: {err}"
    );
}

#[test]
fn the_shipped_filter_configs_load() {
    for file in ["demo.json", "production.json"] {
        let path = format!("{}/../../envoy/filters/{file}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap();
        if let Err(err) = llm_gateway_bundle::load(&bytes) {
            panic!("{path}: {err}");
        }
    }
}
