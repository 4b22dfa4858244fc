//! Orchestrator's discovery ignore filters: regular expressions matched against an instance's
//! `host:port`, which keep firewalled servers, binlog-dump clients posing as replicas and the
//! like out of arbor's view.

use arbor_topology::InstanceKey;
use regex::Regex;

/// The three `DiscoveryIgnore*HostnameFilters` lists, compiled.
#[derive(Debug, Clone, Default)]
pub struct IgnoreFilters {
    /// `DiscoveryIgnoreHostnameFilters`: never discovered, whichever way they are found.
    pub any: Vec<Regex>,
    /// `DiscoveryIgnoreReplicaHostnameFilters`: not crawled when a source lists them as replicas.
    pub replica: Vec<Regex>,
    /// `DiscoveryIgnoreMasterHostnameFilters`: not crawled when a replica names them as source.
    pub primary: Vec<Regex>,
}

/// Why an instance is kept out of discovery: the config key and the pattern that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredBy {
    pub key: &'static str,
    pub pattern: String,
}

/// How an instance came to discovery's attention; each way has its own filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundAs {
    /// A seed, an instance already in the store, or an explicit `discover` request.
    Named,
    /// Listed by its source among its replicas.
    Replica,
    /// Named by a replica as its source.
    Primary,
}

impl IgnoreFilters {
    /// Compiles the three lists. The config crate has already validated every pattern; an
    /// invalid one here is reported with its key all the same.
    pub fn new(any: &[String], replica: &[String], primary: &[String]) -> Result<Self, String> {
        fn compile(key: &str, patterns: &[String]) -> Result<Vec<Regex>, String> {
            patterns
                .iter()
                .map(|p| Regex::new(p).map_err(|e| format!("{key}: pattern {p:?}: {e}")))
                .collect()
        }
        Ok(IgnoreFilters {
            any: compile("DiscoveryIgnoreHostnameFilters", any)?,
            replica: compile("DiscoveryIgnoreReplicaHostnameFilters", replica)?,
            primary: compile("DiscoveryIgnoreMasterHostnameFilters", primary)?,
        })
    }

    /// The filter that keeps `key`, found as `found`, out of discovery, if any. Runs for every
    /// neighbour of every probe, so it allocates nothing when no filter applies.
    pub fn ignores(&self, key: &InstanceKey, found: FoundAs) -> Option<IgnoredBy> {
        let (specific_key, specific): (&'static str, &[Regex]) = match found {
            FoundAs::Named => ("", &[]),
            FoundAs::Replica => ("DiscoveryIgnoreReplicaHostnameFilters", &self.replica),
            FoundAs::Primary => ("DiscoveryIgnoreMasterHostnameFilters", &self.primary),
        };
        if self.any.is_empty() && specific.is_empty() {
            return None;
        }
        let code = key.to_string();
        [
            ("DiscoveryIgnoreHostnameFilters", self.any.as_slice()),
            (specific_key, specific),
        ]
        .into_iter()
        .find_map(|(config_key, patterns)| {
            patterns
                .iter()
                .find(|re| re.is_match(&code))
                .map(|re| IgnoredBy {
                    key: config_key,
                    pattern: re.as_str().to_string(),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> InstanceKey {
        text.parse().unwrap()
    }

    fn filters() -> IgnoreFilters {
        IgnoreFilters::new(
            &["^backup-".to_string()],
            &[":3399$".to_string()],
            &["^legacy\\.".to_string()],
        )
        .unwrap()
    }

    #[test]
    fn the_general_filter_applies_however_an_instance_is_found() {
        let f = filters();
        for found in [FoundAs::Named, FoundAs::Replica, FoundAs::Primary] {
            let by = f.ignores(&key("backup-1:3306"), found).unwrap();
            assert_eq!(by.key, "DiscoveryIgnoreHostnameFilters");
            assert_eq!(by.pattern, "^backup-");
        }
    }

    #[test]
    fn replica_and_primary_filters_apply_only_to_their_direction() {
        let f = filters();
        // Matched against host:port, as orchestrator does.
        let binlog_client = key("db7:3399");
        assert_eq!(
            f.ignores(&binlog_client, FoundAs::Replica).unwrap().key,
            "DiscoveryIgnoreReplicaHostnameFilters"
        );
        assert!(f.ignores(&binlog_client, FoundAs::Primary).is_none());
        assert!(f.ignores(&binlog_client, FoundAs::Named).is_none());

        let old_primary = key("legacy.example:3306");
        assert_eq!(
            f.ignores(&old_primary, FoundAs::Primary).unwrap().key,
            "DiscoveryIgnoreMasterHostnameFilters"
        );
        assert!(f.ignores(&old_primary, FoundAs::Replica).is_none());
        assert!(f.ignores(&key("db1:3306"), FoundAs::Replica).is_none());
    }

    #[test]
    fn a_bad_pattern_names_its_key() {
        let err = IgnoreFilters::new(&[], &["(".to_string()], &[]).unwrap_err();
        assert!(
            err.starts_with("DiscoveryIgnoreReplicaHostnameFilters"),
            "{err}"
        );
    }
}
