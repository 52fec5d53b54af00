//! The facts the stages publish (`llm_api::Fact`) against what uses them:
//! every fact the bundle's stages set is one some stage declares with
//! `Stage::publishes` (the pipeline answers reads of declared facts itself,
//! so a fact set but not declared would cost a host call on every read),
//! each fact has exactly one publisher, the fact table of
//! docs/architecture.md lists every fact with it, and every fact name in
//! the Envoy configs, examples, docs and doc comments is a defined one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use llm_api::Fact;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use wasm_glue::testing::{ClientRequest, MemoryHost, ProviderResponse};
use wasm_glue::{ModuleSettings, Stage, Stages};

fn call(stages: &Rc<Stages>, host: &mut MemoryHost, request: &Value, response: ProviderResponse) {
    let request = ClientRequest::post("/v1/chat/completions")
        .header("x-client-id", "demo")
        .header("x-agent-id", "a")
        .json(request);
    host.call(stages, &request, &response);
}

#[test]
fn every_fact_the_bundle_sets_is_declared_and_none_it_reads_back_reaches_the_host() {
    let mut config: Value =
        serde_json::from_str(include_str!("../../../envoy/filters/demo.json")).unwrap();
    config["pii_scan"]["entities"] = json!({"EMAIL": "route"});
    config["pii_scan"]["route_to"] = json!({"provider": "azure"});
    config["pii_scan"]["response"] = json!({"default_action": "redact"});
    let stages = Rc::new(llm_gateway_bundle::load(&serde_json::to_vec(&config).unwrap()).unwrap());
    let declared: BTreeSet<&str> = stages
        .iter()
        .flat_map(|s| s.publishes().iter().map(|f| f.name()))
        .collect();
    let mut host = MemoryHost::default();
    host.tracing.set(true);

    let email = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "mail me at jane.doe@example.com"}]});
    let reply = json!({"model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "write to bob@example.org"}}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}});
    call(
        &stages,
        &mut host,
        &email,
        ProviderResponse::json(200, &reply),
    );
    let plain = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    call(
        &stages,
        &mut host,
        &plain,
        ProviderResponse::json(200, &reply),
    );
    let azure = json!({"model": "gpt-4o-mini-azure", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n",
        "data: [DONE]\n\n"
    );
    call(&stages, &mut host, &azure, ProviderResponse::sse(stream));

    let set: BTreeSet<String> = host.traced("set_fact").into_iter().collect();
    let read: BTreeSet<String> = host.traced("fact").into_iter().collect();
    for fact in [
        Fact::PiiFindings,
        Fact::PiiRoute,
        Fact::PiiResponseFindings,
        Fact::AzureDeployment,
        Fact::Fallback,
        Fact::UsageStream,
        Fact::AuditRecord,
    ] {
        assert!(
            set.contains(fact.name()),
            "the calls exercise {fact:?}: {set:?}"
        );
    }
    let undeclared: Vec<&String> = set
        .iter()
        .filter(|f| !declared.contains(f.as_str()))
        .collect();
    assert!(
        undeclared.is_empty(),
        "set but not declared by any stage: {undeclared:?}"
    );
    let asked: Vec<&String> = read
        .iter()
        .filter(|f| declared.contains(f.as_str()))
        .collect();
    assert!(
        asked.is_empty(),
        "facts of the bundle's own stages read from the host: {asked:?}"
    );
    assert!(
        read.contains(Fact::AttemptProvider.name()),
        "the upstream filter's facts still come from the host: {read:?}"
    );
}

/// The workspace's root directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every stage that publishes facts: the bundle's four, from the demo's
/// configuration, and the upstream translate stage.
fn every_stage() -> Vec<Box<dyn Stage>> {
    type Builder = wasm_glue::config::StageBuilder;
    let demo: Value =
        serde_json::from_str(include_str!("../../../envoy/filters/demo.json")).unwrap();
    let sections: [(&str, Builder); 4] = [
        (audit::NAME, audit::stage),
        (pii_scan::NAME, pii_scan::stage),
        (token_limit::NAME, token_limit::stage),
        (route_translate::NAME, route_translate::stage),
    ];
    let settings = ModuleSettings::default();
    let mut stages: Vec<Box<dyn Stage>> = sections
        .iter()
        .map(|(name, build)| build(demo[*name].clone(), &settings).unwrap())
        .collect();
    stages.push(
        route_translate::stage(
            json!({"role": "translate", "provider": "openai"}),
            &settings,
        )
        .unwrap(),
    );
    stages
}

/// Each fact and the stages that publish it.
fn publishers() -> BTreeMap<Fact, Vec<&'static str>> {
    let mut publishers: BTreeMap<Fact, Vec<&'static str>> = BTreeMap::new();
    for stage in every_stage() {
        for fact in stage.publishes() {
            publishers.entry(*fact).or_default().push(stage.name());
        }
    }
    publishers
}

#[test]
fn every_fact_has_exactly_one_publisher() {
    let publishers = publishers();
    for fact in Fact::ALL {
        match publishers.get(fact).map(Vec::as_slice) {
            Some([_]) => {}
            other => panic!("{fact:?} is published by {other:?}, not by exactly one stage"),
        }
    }
}

/// The rows of the fact table of docs/architecture.md: the facts each
/// names and its "set by" column.
fn docs_fact_table() -> Vec<(Vec<String>, String)> {
    let docs = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let table = docs
        .lines()
        .skip_while(|line| !line.starts_with("| fact | set by | value |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'));
    let mut rows = Vec::new();
    for line in table {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let facts = cells[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        rows.push((facts, cells[2].to_owned()));
    }
    assert!(!rows.is_empty(), "docs/architecture.md has a fact table");
    rows
}

#[test]
fn the_docs_fact_table_lists_every_fact_with_its_publisher() {
    let publishers = publishers();
    let mut listed = BTreeSet::new();
    for (facts, set_by) in docs_fact_table() {
        for name in facts {
            let fact = Fact::ALL
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("the docs' fact table lists `{name}`, which is no fact"));
            assert!(listed.insert(*fact), "`{name}` is listed twice");
            assert_eq!(
                publishers[fact],
                [set_by.as_str()],
                "the stage the docs say sets `{name}`"
            );
        }
    }
    let missing: Vec<&str> = Fact::ALL
        .iter()
        .filter(|f| !listed.contains(*f))
        .map(|f| f.name())
        .collect();
    assert!(
        missing.is_empty(),
        "facts missing from the docs' table: {missing:?}"
    );
}

/// The files that may name facts: the Envoy configs and their filter
/// configs, the deployment examples, the docs, the harness and Python tests
/// that render or read configs, and the filters' sources (doc comments).
fn files_naming_facts() -> Vec<PathBuf> {
    fn walk(path: &Path, files: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(&entry.unwrap().path(), files);
            }
        } else {
            files.push(path.to_owned());
        }
    }
    let mut files = Vec::new();
    for dir in [
        "README.md",
        "envoy",
        "examples",
        "docs",
        "tests/harness",
        "tools",
        "tests/python",
        "filters",
    ] {
        walk(&root().join(dir), &mut files);
    }
    files
}

/// The fact names in `text`: every `wasm.llm.<name>` (filter state as
/// Envoy names it) and, in docs and doc comments, every `` `llm.<name>` ``.
fn fact_names(text: &str) -> Vec<&str> {
    let name_at = |start: usize| {
        let len = text[start..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
            .unwrap_or(text.len() - start);
        (start, start + len)
    };
    let mut names = Vec::new();
    for (at, _) in text.match_indices("wasm.llm.") {
        let (start, end) = name_at(at + "wasm.".len());
        // A sentence may end after the name; `wasm.llm.*` names none.
        let name = text[start..end].trim_end_matches('.');
        if name != "llm" {
            names.push(name);
        }
    }
    for (at, _) in text.match_indices("`llm.") {
        let (start, end) = name_at(at + 1);
        if text[end..].starts_with('`') {
            names.push(&text[start..end]);
        }
    }
    names
}

#[test]
fn every_fact_named_in_configs_examples_and_docs_is_defined() {
    let mut named = BTreeSet::new();
    let mut unknown = Vec::new();
    for file in files_naming_facts() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for name in fact_names(&text) {
            match Fact::ALL.iter().find(|f| f.name() == name) {
                Some(fact) => {
                    named.insert(*fact);
                }
                None => {
                    let path = file.strip_prefix(root()).unwrap_or(&file);
                    unknown.push(format!("{}: {name}", path.display()));
                }
            }
        }
    }
    assert!(unknown.is_empty(), "names that are no fact: {unknown:#?}");
    for fact in [Fact::Cluster, Fact::AuditRecord, Fact::AttemptProvider] {
        assert!(
            named.contains(&fact),
            "the configs name {fact:?}: {named:?}"
        );
    }
}
