//! Facts a module's own stages published on one stream, kept beside its
//! pipeline, so that a stage reading what another stage of the same module
//! set costs no host call.
//!
//! In the bundle every stage runs in one pipeline and reads most of what the
//! others publish (the audit record gathers eleven facts): each read would
//! cross into Envoy and back into the module to copy the value, a large part
//! of the bundle's cost per call (docs/benchmarks.md). Facts are still
//! published to Envoy as they are set, for routes, access logs, the upstream
//! filter and modules loaded separately.

use crate::host::{Host, LogLevel, SharedConflict};
use llm_api::Fact;
use std::time::{Duration, SystemTime};

/// A set of facts, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FactSet(u64);

const _: () = assert!(Fact::ALL.len() <= 64, "a FactSet holds 64 facts");

impl FactSet {
    pub(crate) const ALL: FactSet = FactSet(u64::MAX);

    pub(crate) fn of(facts: &[Fact]) -> FactSet {
        FactSet(facts.iter().fold(0, |set, f| set | FactSet::bit(*f)))
    }

    pub(crate) fn contains(self, fact: Fact) -> bool {
        self.0 & FactSet::bit(fact) != 0
    }

    fn bit(fact: Fact) -> u64 {
        1 << (fact as u32)
    }
}

/// What this stream's stages published, in the order they did.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    known: Vec<(Fact, String)>,
}

impl Facts {
    fn get(&self, fact: Fact) -> Option<&str> {
        self.known
            .iter()
            .find(|(f, _)| *f == fact)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, fact: Fact, value: &str) {
        match self.known.iter_mut().find(|(f, _)| *f == fact) {
            Some((_, v)) => value.clone_into(v),
            None => self.known.push((fact, value.to_owned())),
        }
    }
}

/// The host as a pipeline's stages see it: facts they published are read
/// back from [`Facts`]; a fact one of them `owns` (may publish, per
/// [`crate::Stage::publishes`]) and did not publish is absent without asking
/// Envoy, since no other filter sets it. A fact reaches Envoy only if it is
/// in `to_envoy` (the configuration's `envoy_facts`). Every other call goes
/// to Envoy.
pub(crate) struct FactsHost<'a> {
    pub(crate) host: &'a mut dyn Host,
    pub(crate) facts: &'a mut Facts,
    pub(crate) owned: &'a [Fact],
    pub(crate) to_envoy: FactSet,
}

impl Host for FactsHost<'_> {
    fn set_fact(&mut self, fact: Fact, value: &str) {
        self.facts.set(fact, value);
        if self.to_envoy.contains(fact) {
            self.host.set_fact(fact, value);
        }
    }

    fn fact(&self, fact: Fact) -> Option<String> {
        if let Some(value) = self.facts.get(fact) {
            return Some(value.to_owned());
        }
        if self.owned.contains(&fact) {
            return None;
        }
        self.host.fact(fact)
    }

    fn now(&self) -> SystemTime {
        self.host.now()
    }
    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        self.host.set_request_header(name, value);
    }
    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        self.host.set_response_header(name, value);
    }
    fn clear_route_cache(&mut self) {
        self.host.clear_route_cache();
    }
    fn upstream_host_metadata(&self, namespace: &str, key: &str) -> Option<String> {
        self.host.upstream_host_metadata(namespace, key)
    }
    fn upstream_attempts(&self) -> Option<u64> {
        self.host.upstream_attempts()
    }
    fn count(&mut self, name: &str, by: u64) {
        self.host.count(name, by);
    }
    fn record(&mut self, name: &str, value: u64) {
        self.host.record(name, value);
    }
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.host.shared_get(key)
    }
    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedConflict> {
        self.host.shared_set(key, value, cas)
    }
    fn dispatch_http(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Option<u32> {
        self.host.dispatch_http(cluster, headers, body, timeout)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.host.log(level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryHost;

    #[test]
    fn published_facts_are_read_back_without_the_host_and_still_published() {
        let mut envoy = MemoryHost::default();
        envoy
            .facts
            .insert(Fact::AttemptModel.name().to_owned(), "from-upstream".into());
        let mut facts = Facts::default();
        let owned = [Fact::Provider, Fact::Cluster];
        let mut host = FactsHost {
            host: &mut envoy,
            facts: &mut facts,
            owned: &owned,
            to_envoy: FactSet::ALL,
        };
        host.set_fact(Fact::Provider, "openai");
        host.set_fact(Fact::Provider, "azure");
        assert_eq!(
            envoy.facts.get(Fact::Provider.name()).map(String::as_str),
            Some("azure"),
            "published to Envoy"
        );
        envoy.facts.insert(
            Fact::Provider.name().to_owned(),
            "changed in Envoy only".into(),
        );
        let host = FactsHost {
            host: &mut envoy,
            facts: &mut facts,
            owned: &owned,
            to_envoy: FactSet::ALL,
        };
        assert_eq!(
            host.fact(Fact::Provider).as_deref(),
            Some("azure"),
            "read back from the pipeline"
        );
        assert_eq!(host.fact(Fact::Cluster), None, "owned and unset: absent");
        assert_eq!(
            host.fact(Fact::AttemptModel).as_deref(),
            Some("from-upstream"),
            "not owned: Envoy's"
        );
    }

    #[test]
    fn only_the_facts_envoy_reads_are_published_to_it_and_all_are_read_back() {
        let mut envoy = MemoryHost::default();
        let mut facts = Facts::default();
        let mut host = FactsHost {
            host: &mut envoy,
            facts: &mut facts,
            owned: &[Fact::Provider, Fact::Cluster],
            to_envoy: FactSet::of(&[Fact::Cluster]),
        };
        host.set_fact(Fact::Provider, "openai");
        host.set_fact(Fact::Cluster, "openai_eu");
        assert_eq!(host.fact(Fact::Provider).as_deref(), Some("openai"));
        assert_eq!(
            envoy.facts.keys().collect::<Vec<_>>(),
            [Fact::Cluster.name()],
            "only the listed fact reached Envoy"
        );
    }

    #[test]
    fn a_fact_set_holds_exactly_its_facts() {
        let set = FactSet::of(&[Fact::Api, Fact::AuditRecord]);
        for fact in Fact::ALL {
            assert_eq!(
                set.contains(*fact),
                matches!(fact, Fact::Api | Fact::AuditRecord)
            );
            assert!(FactSet::ALL.contains(*fact));
        }
    }
}
