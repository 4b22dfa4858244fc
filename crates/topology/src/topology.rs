use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::{InstanceKey, InstanceRecord, InstanceStatus, PromotionRule, Timestamp};

/// A primary replaced by another in a successful failover or takeover. A cluster is named after
/// its primary, so its name changes with each succession; the successions are how every former
/// name still finds the cluster, and how a lost former primary stays part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Succession {
    pub former: InstanceKey,
    pub successor: InstanceKey,
    pub at: Timestamp,
}

/// Settings that shape how a snapshot is read.
pub struct TopologyOptions<'a> {
    /// `ReasonableReplicationLagSeconds`: above it a replica shows as lagging.
    pub reasonable_lag: Duration,
    /// The default port for hints given as a bare host.
    pub default_port: u16,
    /// Maps a cluster name to an alias when no `DetectClusterAliasQuery` alias exists
    /// (orchestrator's `ClusterNameToAlias`, whose keys are regular expressions).
    pub alias_for_cluster_name: &'a dyn Fn(&str) -> Option<String>,
    /// An operator's alias for a cluster (`set-cluster-alias`), also the alias a cluster keeps
    /// across failovers: wins over every other.
    pub alias_override: &'a dyn Fn(&str) -> Option<String>,
    /// Every primary replaced so far, oldest first.
    pub successions: &'a [Succession],
    /// The promotion rules in force (`register-candidate`); a server without one is neutral.
    pub promotion_rules: &'a [(InstanceKey, PromotionRule)],
}

impl Default for TopologyOptions<'_> {
    fn default() -> Self {
        TopologyOptions {
            reasonable_lag: Duration::from_secs(10),
            default_port: 3306,
            alias_for_cluster_name: &|_| None,
            alias_override: &|_| None,
            successions: &[],
            promotion_rules: &[],
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
    records: Records,
    cluster_of: HashMap<InstanceKey, String>,
    depth_of: HashMap<InstanceKey, usize>,
    aliases: BTreeMap<String, String>,
    /// Servers that replicate from no one and serve no replica, kept in a cluster they belong
    /// to rather than drawn as clusters of their own, and why.
    kept: HashMap<InstanceKey, Kept>,
    /// Every name a cluster had (each succession's former primary), by the name it has now.
    former_names: BTreeMap<String, Vec<String>>,
    /// Each cluster's members, in key order.
    members: BTreeMap<String, Vec<InstanceKey>>,
    /// The direct replicas of each source, in key order.
    replicas: HashMap<InstanceKey, Vec<InstanceKey>>,
    reasonable_lag: Duration,
    default_port: u16,
    promotion_rules: HashMap<InstanceKey, PromotionRule>,
}

impl Topology {
    /// The promotion rule of `key` in force when the topology was read (neutral without one).
    pub fn promotion_rule(&self, key: &InstanceKey) -> PromotionRule {
        self.promotion_rules
            .get(key)
            .copied()
            .unwrap_or(PromotionRule::Neutral)
    }

    pub fn new(records: Vec<InstanceRecord>, options: &TopologyOptions<'_>) -> Topology {
        let records = Records::new(records);
        let (mut cluster_of, mut depth_of) = assign_clusters(&records);
        let kept = keep_lone_servers(
            &records,
            &mut cluster_of,
            &mut depth_of,
            options.successions,
        );
        let mut members: BTreeMap<String, Vec<InstanceKey>> = BTreeMap::new();
        let mut replicas: HashMap<InstanceKey, Vec<InstanceKey>> = HashMap::new();
        for (key, record) in records.iter() {
            if let Some(cluster) = cluster_of.get(key) {
                members
                    .entry(cluster.clone())
                    .or_default()
                    .push(key.clone());
            }
            if let Some(source) = record.instance.source() {
                replicas
                    .entry(source.clone())
                    .or_default()
                    .push(key.clone());
            }
        }
        let mut topology = Topology {
            records,
            cluster_of,
            depth_of,
            aliases: BTreeMap::new(),
            kept,
            former_names: BTreeMap::new(),
            members,
            replicas,
            reasonable_lag: options.reasonable_lag,
            default_port: options.default_port,
            promotion_rules: options.promotion_rules.iter().cloned().collect(),
        };
        topology.former_names = topology.collect_former_names(options.successions);
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

    /// Why `key`, which replicates from no one and serves no replica, is drawn in a cluster
    /// other than one of its own.
    pub fn kept(&self, key: &InstanceKey) -> Option<&Kept> {
        self.kept.get(key)
    }

    /// The primary that replaced `key`, when `key` is a former primary kept in its successor's
    /// cluster: lost, or back but not rejoined.
    pub fn replaced_by(&self, key: &InstanceKey) -> Option<&InstanceKey> {
        match self.kept.get(key) {
            Some(Kept::FormerPrimary { replaced_by }) => Some(replaced_by),
            _ => None,
        }
    }

    /// Every name the cluster had before its current one (its former primaries), oldest first.
    pub fn former_names(&self, cluster_name: &str) -> &[String] {
        self.former_names
            .get(cluster_name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The cluster's current name and every former one: what its recoveries were recorded
    /// under.
    pub fn names_of(&self, cluster_name: &str) -> Vec<String> {
        let mut names = vec![cluster_name.to_string()];
        names.extend(self.former_names(cluster_name).iter().cloned());
        names
    }

    /// Which current cluster a former name leads to: the cluster its primary is in now, else
    /// the cluster of whoever replaced it (followed through later successions).
    fn collect_former_names(&self, successions: &[Succession]) -> BTreeMap<String, Vec<String>> {
        let next: HashMap<&InstanceKey, &InstanceKey> = successions
            .iter()
            .map(|s| (&s.former, &s.successor))
            .collect();
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for succession in successions {
            let former = succession.former.to_string();
            let mut at = &succession.former;
            let mut seen = HashSet::new();
            let cluster = loop {
                if let Some(cluster) = self.cluster_of(at) {
                    break Some(cluster.to_string());
                }
                match next.get(at) {
                    Some(successor) if seen.insert(at) => at = successor,
                    _ => break None,
                }
            };
            if let Some(cluster) = cluster.filter(|c| *c != former) {
                let list = names.entry(cluster).or_default();
                if !list.contains(&former) {
                    list.push(former);
                }
            }
        }
        names
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
        self.members.keys().cloned().collect()
    }

    /// Members of a cluster, in key order.
    pub fn cluster_members(&self, cluster_name: &str) -> Vec<&InstanceRecord> {
        self.records_of(self.members.get(cluster_name))
    }

    fn records_of(&self, keys: Option<&Vec<InstanceKey>>) -> Vec<&InstanceRecord> {
        keys.into_iter()
            .flatten()
            .filter_map(|key| self.records.get(key))
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

    /// Resolves what a user typed to a cluster name: a cluster name, an alias, a former name
    /// (a primary it had before a failover), or the `host[:port]` of any known instance
    /// (meaning that instance's cluster).
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
            let name = key.to_string();
            if let Some((cluster, _)) = self
                .former_names
                .iter()
                .find(|(_, names)| names.contains(&name))
            {
                return Ok(cluster.clone());
            }
        }
        Err(ResolveHintError(hint.to_string()))
    }

    /// Whether `key` is one of a co-primary pair: its source replicates from it (a two-node
    /// ring, orchestrator's `IsCoMaster`).
    pub fn is_co_primary(&self, key: &InstanceKey) -> bool {
        self.record(key)
            .and_then(|r| r.instance.source())
            .and_then(|source| self.record(source))
            .and_then(|r| r.instance.source())
            .is_some_and(|grand| grand == key)
    }

    /// Direct replicas of `key` among known records (by their own replication status, which
    /// is the truth even when the source cannot be reached), in key order.
    pub fn replicas_of(&self, key: &InstanceKey) -> Vec<&InstanceRecord> {
        self.records_of(self.replicas.get(key))
    }

    /// The keys of the instances that replicate directly from `key`.
    pub fn replica_keys_of(&self, key: &InstanceKey) -> Vec<InstanceKey> {
        self.replicas_of(key)
            .into_iter()
            .map(|record| record.key().clone())
            .collect()
    }
}

/// Why a server that replicates from no one is drawn in a cluster other than one of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// A former primary, lost or back but not rejoined, in the cluster of its successor, with
    /// any lost replicas still pointing at it.
    FormerPrimary { replaced_by: InstanceKey },
    /// A replica detached from its source (`//host`), in that source's cluster.
    Detached { from: InstanceKey },
}

/// Keeps servers where they belong instead of as clusters of their own that look healthy:
///
/// - a former primary (named by a succession) that replicates from no one, in the cluster of
///   the primary that replaced it (its successor may have been replaced in turn: the chain is
///   followed to a cluster that exists), together with the replicas still pointing at it (lost
///   in the failover), unless it is back, writable and serving live replicas while none of
///   its successors leads: a primary again, which an operator made one;
/// - a detached replica that serves no replica, in the cluster of the source it was
///   detached from.
fn keep_lone_servers(
    records: &Records,
    cluster_of: &mut HashMap<InstanceKey, String>,
    depth_of: &mut HashMap<InstanceKey, usize>,
    successions: &[Succession],
) -> HashMap<InstanceKey, Kept> {
    if successions.is_empty()
        && !records.values().any(|r| {
            r.instance
                .replication
                .as_ref()
                .is_some_and(|s| s.is_detached())
        })
    {
        return HashMap::new();
    }
    let next = replaced(successions);
    let has_replicas: HashSet<&InstanceKey> = records
        .values()
        .filter_map(|r| r.instance.source())
        .collect();
    // Replicas read alive (a dead one's last reading still names the source it had).
    let has_live_replicas: HashSet<&InstanceKey> = records
        .values()
        .filter(|r| r.is_last_check_valid())
        .filter_map(|r| r.instance.source())
        .collect();
    let is_root = |key: &InstanceKey| {
        records
            .get(key)
            .is_some_and(|r| r.instance.source().is_none())
    };
    let is_live_primary = |key: &InstanceKey| {
        records.get(key).is_some_and(|r| {
            r.is_last_check_valid() && r.instance.source().is_none() && !r.instance.read_only
        })
    };
    // Whether one of those that replaced `key` leads now: reachable, writable, a root.
    let replaced_by_a_live_primary = |key: &InstanceKey| {
        let mut at = key;
        let mut seen: HashSet<&InstanceKey> = HashSet::from([key]);
        while let Some(successor) = next.get(at) {
            if !seen.insert(successor) {
                return false;
            }
            if is_live_primary(successor) {
                return true;
            }
            at = successor;
        }
        false
    };
    // A former primary stays with its successor unless it is a primary again: reachable,
    // writable, serving live replicas, and no successor of it leads. Beside a successor that
    // leads, it is a split brain in the making (a lost replica reconnected to it), and stays
    // a former primary, to be fenced.
    let is_kept_former = |key: &InstanceKey| {
        next.contains_key(key)
            && records.get(key).is_some_and(|r| {
                r.instance.source().is_none()
                    && (!has_live_replicas.contains(key)
                        || !r.is_last_check_valid()
                        || r.instance.read_only
                        || replaced_by_a_live_primary(key))
            })
    };
    let settled: &HashMap<InstanceKey, String> = cluster_of;
    let cluster_via = |start: &InstanceKey| -> Option<String> {
        let mut at = start;
        let mut seen: HashSet<&InstanceKey> = HashSet::new();
        loop {
            if !seen.insert(at) {
                return None;
            }
            match next.get(at) {
                Some(further) if is_kept_former(at) || !records.contains_key(at) => at = further,
                _ => return settled.get(at).cloned().or_else(|| Some(at.to_string())),
            }
        }
    };
    let mut moves: Vec<(InstanceKey, String, Kept)> = Vec::new();
    for (key, record) in records.iter() {
        if !is_root(key) {
            continue;
        }
        let (cluster, why) = if is_kept_former(key) {
            let successor = next[key];
            (
                cluster_via(successor),
                Kept::FormerPrimary {
                    replaced_by: successor.clone(),
                },
            )
        } else if let Some(from) = record
            .instance
            .replication
            .as_ref()
            .and_then(|r| r.detached_from())
            .filter(|_| !has_replicas.contains(key))
        {
            (cluster_via(&from), Kept::Detached { from })
        } else {
            continue;
        };
        if let Some(cluster) = cluster.filter(|c| *c != key.to_string()) {
            moves.push((key.clone(), cluster, why));
        }
    }
    let mut kept = HashMap::with_capacity(moves.len());
    for (key, cluster, why) in moves {
        // The kept server's own cluster (itself and whatever still replicates from it) joins
        // the one it belongs to, one level down.
        let own = key.to_string();
        let members: Vec<InstanceKey> = cluster_of
            .iter()
            .filter(|(_, c)| **c == own)
            .map(|(k, _)| k.clone())
            .collect();
        for member in members {
            cluster_of.insert(member.clone(), cluster.clone());
            *depth_of.entry(member).or_insert(0) += 1;
        }
        kept.insert(key, why);
    }
    kept
}

/// Who replaced whom, as of the latest succession: a server replaced and later promoted again
/// (a takeover back, a second failover) is a primary again, not a former one.
fn replaced(successions: &[Succession]) -> HashMap<&InstanceKey, &InstanceKey> {
    let mut next: HashMap<&InstanceKey, &InstanceKey> = HashMap::new();
    for succession in successions {
        next.remove(&succession.successor);
        next.insert(&succession.former, &succession.successor);
    }
    next
}

/// The snapshot's records in key order, found by key through an index. (A map of the records
/// themselves would move every record, near a kilobyte each, to sort them into its nodes.)
struct Records {
    list: Vec<InstanceRecord>,
    index: HashMap<InstanceKey, usize>,
}

impl Records {
    fn new(mut list: Vec<InstanceRecord>) -> Records {
        // Stores list records in key order already: then this is one pass.
        list.sort_by(|a, b| a.key().cmp(b.key()));
        list.dedup_by(|later, earlier| later.key() == earlier.key());
        let index = list
            .iter()
            .enumerate()
            .map(|(i, record)| (record.key().clone(), i))
            .collect();
        Records { list, index }
    }

    fn get(&self, key: &InstanceKey) -> Option<&InstanceRecord> {
        self.index.get(key).map(|i| &self.list[*i])
    }

    fn contains_key(&self, key: &InstanceKey) -> bool {
        self.index.contains_key(key)
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    fn keys(&self) -> impl Iterator<Item = &InstanceKey> {
        self.list.iter().map(InstanceRecord::key)
    }

    fn values(&self) -> std::slice::Iter<'_, InstanceRecord> {
        self.list.iter()
    }

    fn iter(&self) -> impl Iterator<Item = (&InstanceKey, &InstanceRecord)> {
        self.list.iter().map(|record| (record.key(), record))
    }
}

/// Every instance's cluster and depth. Each walk up the source links stops at the first
/// instance already placed, so the whole snapshot costs one visit per instance (a walk from
/// every instance to its primary would cost the sum of all depths, and a set per walk).
fn assign_clusters(
    records: &Records,
) -> (HashMap<InstanceKey, String>, HashMap<InstanceKey, usize>) {
    let mut cluster_of: HashMap<InstanceKey, String> = HashMap::with_capacity(records.len());
    let mut depth_of: HashMap<InstanceKey, usize> = HashMap::with_capacity(records.len());
    for start in records.keys() {
        if cluster_of.contains_key(start) {
            continue;
        }
        let mut path: Vec<&InstanceKey> = vec![start];
        // The cluster, and the depth of the path's last instance.
        let (cluster, last_depth) = loop {
            let current = path[path.len() - 1];
            let Some(source) = records.get(current).and_then(|r| r.instance.source()) else {
                break (current.to_string(), 0);
            };
            if let Some(cluster) = cluster_of.get(source) {
                break (cluster.clone(), depth_of[source] + 1);
            }
            if !records.contains_key(source) {
                break (source.to_string(), 1);
            }
            if path.contains(&source) {
                // A co-primary ring (rare): each member is placed by a walk of its own.
                for key in &path {
                    let (cluster, depth) = find_cluster(records, key);
                    cluster_of.insert((*key).clone(), cluster);
                    depth_of.insert((*key).clone(), depth);
                }
                path.clear();
                break (String::new(), 0);
            }
            path.push(source);
        };
        let last = path.len().saturating_sub(1);
        for (i, key) in path.iter().enumerate() {
            cluster_of.insert((*key).clone(), cluster.clone());
            depth_of.insert((*key).clone(), last_depth + (last - i));
        }
    }
    (cluster_of, depth_of)
}

/// Follows source links upwards from `start` and returns the cluster name and depth.
///
/// A source arbor has never recorded still names the cluster (its key is known from the
/// replica's status). A cycle is a co-primary ring: the cluster is named after its writable
/// member, or its smallest key when all are read-only, so every member agrees on the name.
fn find_cluster(records: &Records, start: &InstanceKey) -> (String, usize) {
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
                .find(|k| records.get(k).is_some_and(|r| !r.instance.read_only));
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
pub(crate) mod tests;
