use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::{InstanceKey, InstanceRecord, InstanceStatus};

/// Settings that shape how a snapshot is read.
pub struct TopologyOptions<'a> {
    /// `ReasonableReplicationLagSeconds`: above it a replica shows as lagging.
    pub reasonable_lag: Duration,
    /// The default port for hints given as a bare host.
    pub default_port: u16,
    /// Maps a cluster name to an alias when no `DetectClusterAliasQuery` alias exists
    /// (orchestrator's `ClusterNameToAlias`, whose keys are regular expressions).
    pub alias_for_cluster_name: &'a dyn Fn(&str) -> Option<String>,
    /// An operator's alias for a cluster (`set-cluster-alias`): wins over every other.
    pub alias_override: &'a dyn Fn(&str) -> Option<String>,
}

impl Default for TopologyOptions<'_> {
    fn default() -> Self {
        TopologyOptions {
            reasonable_lag: Duration::from_secs(10),
            default_port: 3306,
            alias_for_cluster_name: &|_| None,
            alias_override: &|_| None,
        }
    }
}

/// One cluster of a snapshot, as listed by `clusters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSummary {
    /// The primary's `host:port`.
    pub name: String,
    pub alias: String,
    /// The primary's key, when arbor has ever read the primary.
    pub primary: Option<InstanceKey>,
    pub instance_count: usize,
    /// Instances whose last check failed.
    pub unreachable_count: usize,
}

/// A hint given by a user did not name a known cluster or instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cluster or instance: {0}")]
pub struct ResolveHintError(pub String);

/// A snapshot of every known instance, with the clusters they form.
///
/// Clusters are derived here on every snapshot rather than stored: a replica's cluster is the
/// cluster of its source, followed upwards until a server with no source. Deriving them from
/// the whole snapshot means a freshly crawled chain is in the right cluster at once, instead of
/// converging over several polls as orchestrator's per-row `cluster_name` column does.
pub struct Topology {
    records: BTreeMap<InstanceKey, InstanceRecord>,
    cluster_of: HashMap<InstanceKey, String>,
    depth_of: HashMap<InstanceKey, usize>,
    aliases: BTreeMap<String, String>,
    reasonable_lag: Duration,
    default_port: u16,
}

impl Topology {
    pub fn new(records: Vec<InstanceRecord>, options: &TopologyOptions<'_>) -> Topology {
        let records: BTreeMap<InstanceKey, InstanceRecord> = records
            .into_iter()
            .map(|record| (record.key().clone(), record))
            .collect();
        let mut cluster_of = HashMap::with_capacity(records.len());
        let mut depth_of = HashMap::with_capacity(records.len());
        for key in records.keys() {
            let (cluster, depth) = find_cluster(&records, key);
            cluster_of.insert(key.clone(), cluster);
            depth_of.insert(key.clone(), depth);
        }
        let mut topology = Topology {
            records,
            cluster_of,
            depth_of,
            aliases: BTreeMap::new(),
            reasonable_lag: options.reasonable_lag,
            default_port: options.default_port,
        };
        for name in topology.cluster_names() {
            let detected = topology
                .cluster_root(&name)
                .map(|root| root.instance.suggested_cluster_alias.clone())
                .filter(|alias| !alias.is_empty());
            let alias = (options.alias_override)(&name)
                .or(detected)
                .or_else(|| (options.alias_for_cluster_name)(&name))
                .unwrap_or_else(|| name.clone());
            topology.aliases.insert(name, alias);
        }
        topology
    }

    pub fn records(&self) -> impl Iterator<Item = &InstanceRecord> {
        self.records.values()
    }

    pub fn record(&self, key: &InstanceKey) -> Option<&InstanceRecord> {
        self.records.get(key)
    }

    pub fn cluster_of(&self, key: &InstanceKey) -> Option<&str> {
        self.cluster_of.get(key).map(String::as_str)
    }

    pub fn alias_of(&self, cluster_name: &str) -> Option<&str> {
        self.aliases.get(cluster_name).map(String::as_str)
    }

    /// Distance from the cluster's primary (0 for the primary itself).
    pub fn depth_of(&self, key: &InstanceKey) -> usize {
        self.depth_of.get(key).copied().unwrap_or(0)
    }

    pub fn status_of(&self, record: &InstanceRecord) -> InstanceStatus {
        record.status(self.reasonable_lag)
    }

    /// Sorted, without duplicates.
    pub fn cluster_names(&self) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> = self.cluster_of.values().collect();
        names.into_iter().cloned().collect()
    }

    /// Members of a cluster, in key order.
    pub fn cluster_members(&self, cluster_name: &str) -> Vec<&InstanceRecord> {
        self.records
            .values()
            .filter(|record| self.cluster_of(record.key()) == Some(cluster_name))
            .collect()
    }

    /// The record of the server the cluster is named after, if arbor knows it.
    pub fn cluster_root(&self, cluster_name: &str) -> Option<&InstanceRecord> {
        let key = cluster_name.parse::<InstanceKey>().ok()?;
        self.records
            .get(&key)
            .filter(|record| self.cluster_of(record.key()) == Some(cluster_name))
    }

    pub fn cluster_summaries(&self) -> Vec<ClusterSummary> {
        self.cluster_names()
            .into_iter()
            .map(|name| {
                let members = self.cluster_members(&name);
                ClusterSummary {
                    alias: self.alias_of(&name).unwrap_or(&name).to_string(),
                    primary: self.cluster_root(&name).map(|r| r.key().clone()),
                    instance_count: members.len(),
                    unreachable_count: members
                        .iter()
                        .filter(|r| self.status_of(r) == InstanceStatus::Unreachable)
                        .count(),
                    name,
                }
            })
            .collect()
    }

    /// Resolves what a user typed to a cluster name: a cluster name, an alias, or the
    /// `host[:port]` of any known instance (meaning that instance's cluster).
    pub fn resolve_cluster_hint(&self, hint: &str) -> Result<String, ResolveHintError> {
        let hint = hint.trim();
        if let Some((name, _)) = self.aliases.iter().find(|(name, _)| name.as_str() == hint) {
            return Ok(name.clone());
        }
        if let Some((name, _)) = self
            .aliases
            .iter()
            .find(|(_, alias)| alias.as_str() == hint)
        {
            return Ok(name.clone());
        }
        if let Ok(key) = InstanceKey::parse_with_default_port(hint, self.default_port) {
            if let Some(cluster) = self.cluster_of(&key) {
                return Ok(cluster.to_string());
            }
            if self.aliases.contains_key(&key.to_string()) {
                return Ok(key.to_string());
            }
        }
        Err(ResolveHintError(hint.to_string()))
    }

    /// Direct replicas of `key` among known records (by their own replication status, which
    /// is the truth even when the source cannot be reached), in key order.
    pub fn replicas_of(&self, key: &InstanceKey) -> Vec<&InstanceRecord> {
        self.records
            .values()
            .filter(|record| record.instance.source() == Some(key))
            .collect()
    }

    /// The keys of the instances that replicate directly from `key`.
    pub fn replica_keys_of(&self, key: &InstanceKey) -> Vec<InstanceKey> {
        self.replicas_of(key)
            .into_iter()
            .map(|record| record.key().clone())
            .collect()
    }
}

/// Follows source links upwards from `start` and returns the cluster name and depth.
///
/// A source arbor has never recorded still names the cluster (its key is known from the
/// replica's status). A cycle is a co-primary ring: the cluster is named after its writable
/// member, or its smallest key when all are read-only, so every member agrees on the name.
fn find_cluster(
    records: &BTreeMap<InstanceKey, InstanceRecord>,
    start: &InstanceKey,
) -> (String, usize) {
    let mut path: Vec<&InstanceKey> = vec![start];
    let mut on_path: HashSet<&InstanceKey> = HashSet::from([start]);
    let mut current = start;
    loop {
        let source = records.get(current).and_then(|r| r.instance.source());
        let Some(source) = source else {
            return (current.to_string(), path.len() - 1);
        };
        if on_path.contains(source) {
            let cycle_start = path.iter().position(|k| *k == source).unwrap_or(0);
            let cycle = &path[cycle_start..];
            let writable = cycle
                .iter()
                .find(|k| records.get(**k).is_some_and(|r| !r.instance.read_only));
            let root = writable
                .copied()
                .unwrap_or_else(|| cycle.iter().min().copied().unwrap_or(source));
            let depth = path.iter().position(|k| *k == root).unwrap_or(0);
            return (root.to_string(), depth);
        }
        if !records.contains_key(source) {
            return (source.to_string(), path.len());
        }
        path.push(source);
        on_path.insert(source);
        current = source;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Instance, IoThreadState, ReplicaStatus, Timestamp};

    pub(crate) fn seen(key: &str, source: Option<&str>) -> InstanceRecord {
        let key: InstanceKey = key.parse().unwrap();
        let mut instance = Instance::unseen(key.clone());
        instance.version = "10.11.6-MariaDB-log".into();
        instance.flavor = crate::Flavor::MariaDb;
        instance.read_only = source.is_some();
        instance.log_bin = true;
        instance.log_replica_updates = true;
        instance.binlog_format = "ROW".into();
        instance.replication = source.map(|source| ReplicaStatus {
            source: source.parse().unwrap(),
            io_thread: IoThreadState::Running,
            sql_thread_running: true,
            seconds_behind_source: Some(0),
            gtid_kind: crate::GtidKind::MariaDb,
            ..ReplicaStatus::default()
        });
        InstanceRecord {
            instance,
            first_discovered: Timestamp(0),
            last_attempted_check: Some(Timestamp(10)),
            last_checked: Some(Timestamp(20)),
            last_seen: Some(Timestamp(20)),
            last_error: String::new(),
        }
    }

    #[test]
    fn clusters_follow_source_links_to_the_primary() {
        let topology = Topology::new(
            vec![
                seen("p:1", None),
                seen("r1:1", Some("p:1")),
                seen("r2:1", Some("p:1")),
                seen("r3:1", Some("r1:1")),
                seen("other:1", None),
            ],
            &TopologyOptions::default(),
        );
        for key in ["p:1", "r1:1", "r2:1", "r3:1"] {
            assert_eq!(topology.cluster_of(&key.parse().unwrap()), Some("p:1"));
        }
        assert_eq!(
            topology.cluster_of(&"other:1".parse().unwrap()),
            Some("other:1")
        );
        assert_eq!(topology.depth_of(&"r3:1".parse().unwrap()), 2);
        assert_eq!(topology.cluster_names(), vec!["other:1", "p:1"]);
        let summaries = topology.cluster_summaries();
        assert_eq!(summaries[1].instance_count, 4);
        assert_eq!(summaries[1].primary, Some("p:1".parse().unwrap()));
    }

    #[test]
    fn an_unknown_source_still_names_the_cluster() {
        // R3 was discovered first; its source R1 is known by key only.
        let topology = Topology::new(
            vec![seen("r3:1", Some("r1:1"))],
            &TopologyOptions::default(),
        );
        assert_eq!(topology.cluster_of(&"r3:1".parse().unwrap()), Some("r1:1"));
        assert!(topology.cluster_root("r1:1").is_none());
        assert_eq!(topology.resolve_cluster_hint("r1:1").unwrap(), "r1:1");
    }

    #[test]
    fn co_primaries_agree_on_the_writable_member() {
        let mut a = seen("a:1", Some("b:1"));
        a.instance.read_only = true;
        let mut b = seen("b:1", Some("a:1"));
        b.instance.read_only = false;
        let c = seen("c:1", Some("a:1"));
        let topology = Topology::new(vec![a, b, c], &TopologyOptions::default());
        for key in ["a:1", "b:1", "c:1"] {
            assert_eq!(topology.cluster_of(&key.parse().unwrap()), Some("b:1"));
        }
        assert_eq!(topology.depth_of(&"b:1".parse().unwrap()), 0);
    }

    #[test]
    fn hints_resolve_by_name_alias_or_member() {
        let mut p = seen("p:1", None);
        p.instance.suggested_cluster_alias = "orders".into();
        let alias_map = |name: &str| (name == "q:1").then(|| "from-map".to_string());
        let topology = Topology::new(
            vec![p, seen("r1:1", Some("p:1")), seen("q:1", None)],
            &TopologyOptions {
                alias_for_cluster_name: &alias_map,
                ..TopologyOptions::default()
            },
        );
        assert_eq!(topology.resolve_cluster_hint("p:1").unwrap(), "p:1");
        assert_eq!(topology.resolve_cluster_hint("orders").unwrap(), "p:1");
        assert_eq!(topology.resolve_cluster_hint("r1:1").unwrap(), "p:1");
        assert_eq!(topology.resolve_cluster_hint("from-map").unwrap(), "q:1");
        assert_eq!(topology.alias_of("q:1"), Some("from-map"));
        assert_eq!(
            topology.resolve_cluster_hint("nope:1"),
            Err(ResolveHintError("nope:1".into()))
        );
    }

    #[test]
    fn an_operators_alias_wins_over_detected_and_configured_ones() {
        let mut p = seen("p:1", None);
        p.instance.suggested_cluster_alias = "detected".into();
        let configured = |_: &str| Some("configured".to_string());
        let manual = |name: &str| (name == "p:1").then(|| "manual".to_string());
        let topology = Topology::new(
            vec![p, seen("q:1", None)],
            &TopologyOptions {
                alias_for_cluster_name: &configured,
                alias_override: &manual,
                ..TopologyOptions::default()
            },
        );
        assert_eq!(topology.alias_of("p:1"), Some("manual"));
        assert_eq!(topology.alias_of("q:1"), Some("configured"));
        assert_eq!(topology.resolve_cluster_hint("manual").unwrap(), "p:1");
    }
}
