use std::collections::BTreeSet;
use std::time::Duration;

use arbor_topology::{
    Flavor, GtidKind, InstanceKey, InstanceRecord, IoThreadState, ReplicaStatus, Topology,
};
use serde::Serialize;

use crate::{errant_gtid, AnalysisCode, StructureWarning};

/// Settings the rules read.
#[derive(Debug, Clone)]
pub struct AnalysisSettings {
    /// `ReasonableReplicationLagSeconds`.
    pub reasonable_lag: Duration,
    /// `RecoverNonWriteableMaster`: a read-only primary is a problem to fix.
    pub recover_non_writeable_master: bool,
    /// `EnforceExactSemiSyncReplicas`: more semi-sync replicas than the wait count is a
    /// problem to fix (`MasterWithTooManySemiSyncReplicas`).
    pub enforce_exact_semi_sync: bool,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            reasonable_lag: Duration::from_secs(10),
            recover_non_writeable_master: false,
            enforce_exact_semi_sync: false,
        }
    }
}

/// The analysis of one instance: a code (or none), structure warnings, and the counts the
/// code was decided from, so an operator can see why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analysis {
    pub key: InstanceKey,
    pub source: Option<InstanceKey>,
    pub cluster: String,
    pub cluster_alias: String,
    pub code: Option<AnalysisCode>,
    pub structure: Vec<StructureWarning>,
    pub is_primary: bool,
    pub is_co_primary: bool,
    pub last_check_valid: bool,
    pub is_read_only: bool,
    pub count_replicas: usize,
    pub count_valid_replicas: usize,
    pub count_valid_replicating_replicas: usize,
    pub count_replicas_failing_to_connect: usize,
    pub count_lagging_replicas: usize,
    pub count_delayed_replicas: usize,
    pub replicas: Vec<InstanceKey>,
    /// This instance's errant transactions, when it has any.
    pub errant_gtid: String,
}

impl Analysis {
    /// Whether this analysis calls for a recovery.
    pub fn is_actionable(&self) -> bool {
        self.code.is_some_and(AnalysisCode::is_actionable)
    }

    pub fn description(&self) -> String {
        let mut parts: Vec<String> = self
            .code
            .iter()
            .map(|c| c.description().to_string())
            .collect();
        parts.extend(self.structure.iter().map(|w| w.name().to_string()));
        parts.join("; ")
    }
}

/// MySQL/MariaDB client errors that mean "cannot reach the source": can't connect (2003),
/// socket (2002), unknown host (2005), gone away (2006), lost connection (2013).
const CONNECTION_ERRORS: &[u32] = &[2002, 2003, 2005, 2006, 2013];

/// A replica's link as the rules read it.
struct ReplicaView {
    valid: bool,
    replicating: bool,
    /// The replica vouches that its source lives: it replicates, or its IO thread, retrying,
    /// got an answer from the source, if only an error (1040 too many connections, 1045 access
    /// denied, 1129 host blocked: codes below 2000 come from the server, 2000 and above from
    /// the client failing to reach it).
    vouches: bool,
    failing_to_connect: bool,
    lagging: bool,
    delayed: bool,
}

fn failing_to_connect(status: &ReplicaStatus) -> bool {
    let error = status.last_io_error.to_ascii_lowercase();
    status.io_thread != IoThreadState::Running
        && status.sql_thread_running
        // An error from the source itself (too many connections, ...) is an answer.
        && !(1000..2000).contains(&status.last_io_errno)
        && (CONNECTION_ERRORS.contains(&status.last_io_errno)
            || error.contains("connecting to master")
            || error.contains("connecting to source"))
}

fn view(record: &InstanceRecord, settings: &AnalysisSettings) -> ReplicaView {
    let valid = record.is_last_check_valid();
    let status = record.instance.replication.as_ref();
    let replicating = valid && status.is_some_and(ReplicaStatus::is_replicating);
    let answered = status.is_some_and(|s| {
        s.io_thread == IoThreadState::Connecting && (1000..2000).contains(&s.last_io_errno)
    });
    ReplicaView {
        valid,
        replicating,
        vouches: replicating || (valid && answered),
        failing_to_connect: valid && status.is_some_and(failing_to_connect),
        lagging: valid
            && status
                .and_then(|s| s.seconds_behind_source)
                .is_some_and(|lag| lag > settings.reasonable_lag.as_secs()),
        delayed: status.is_some_and(|s| s.sql_delay > 0),
    }
}

/// Analyzes every instance arbor has read at least once, and every instance arbor has never
/// read that replicas it has read name as their source: those replicas vouch that it is (or
/// was) their primary, and whether they still replicate from it says whether it lives, as in
/// orchestrator's holistic analysis. (A member that started just before a primary died may
/// never have read it alive; its replicas still tell.) Instances without a problem are left
/// out, as in orchestrator's `replication-analysis`.
pub fn analyze(topology: &Topology, settings: &AnalysisSettings) -> Vec<Analysis> {
    let mut analyses: Vec<Analysis> = topology
        .records()
        .filter(|record| {
            record.has_been_seen()
                || topology
                    .replicas_of(record.key())
                    .iter()
                    .any(|replica| replica.has_been_seen())
        })
        .map(|record| analyze_one(topology, record, settings))
        .filter(|analysis| analysis.code.is_some() || !analysis.structure.is_empty())
        .collect();
    analyses.sort_by(|a, b| (&a.cluster, &a.key).cmp(&(&b.cluster, &b.key)));
    analyses
}

fn analyze_one(
    topology: &Topology,
    record: &InstanceRecord,
    settings: &AnalysisSettings,
) -> Analysis {
    let instance = &record.instance;
    let key = record.key();
    let source = instance.source().cloned();
    let source_record = source.as_ref().and_then(|s| topology.record(s));
    let is_primary = source.is_none();
    let is_co_primary = source_record
        .and_then(|s| s.instance.source())
        .is_some_and(|grand| grand == key);
    let replicas = topology.replicas_of(key);
    let views: Vec<ReplicaView> = replicas.iter().map(|r| view(r, settings)).collect();
    let count = |f: fn(&ReplicaView) -> bool| views.iter().filter(|v| f(v)).count();
    let n = replicas.len();
    let valid = count(|v| v.valid);
    let replicating = count(|v| v.replicating);
    // Death needs every reachable replica to say the source is gone: one that still hears
    // from it (data or an error packet) is a witness to the contrary.
    let vouching = count(|v| v.vouches);
    let failing = count(|v| v.failing_to_connect);
    let lagging = count(|v| v.lagging);
    let delayed = count(|v| v.delayed);
    let lcv = record.is_last_check_valid();
    let read_only = instance.read_only;

    use AnalysisCode::*;
    let cluster = topology.cluster_of(key).unwrap_or_default().to_string();
    // A former primary kept in the cluster that replaced it: lost (nothing to say; the tree
    // shows it), or back after its failover. Back, it is judged against the current primary:
    // what it holds that the primary lacks is listed as errant.
    let former_errant = topology.replaced_by(key).filter(|_| lcv).map(|_| {
        let current = topology
            .cluster_root(&cluster)
            .filter(|p| p.is_last_check_valid())
            .map(|p| &p.instance);
        errant_gtid(instance, current).unwrap_or_default()
    });
    let code = if topology.replaced_by(key).is_some() {
        match &former_errant {
            Some(errant) if !errant.is_empty() => Some(FormerMasterWithErrantTransactions),
            Some(_) => Some(FormerMasterNotRejoined),
            None => None,
        }
    } else if is_primary {
        if !lcv && n == 0 {
            Some(DeadMasterWithoutReplicas)
        } else if !lcv && valid == n && vouching == 0 {
            Some(DeadMaster)
        } else if !lcv && valid == 0 {
            Some(DeadMasterAndReplicas)
        } else if !lcv && valid < n && vouching == 0 {
            Some(DeadMasterAndSomeReplicas)
        } else if !lcv && lagging == n && delayed < n && vouching > 0 {
            Some(UnreachableMasterWithLaggingReplicas)
        } else if !lcv && vouching > 0 {
            Some(UnreachableMaster)
        } else if lcv && n == 1 && valid == 1 && replicating == 0 {
            Some(MasterSingleReplicaNotReplicating)
        } else if lcv && n == 1 && valid == 0 {
            Some(MasterSingleReplicaDead)
        } else if lcv && n > 1 && valid == n && replicating == 0 {
            Some(AllMasterReplicasNotReplicating)
        } else if lcv && n > 1 && valid < n && valid > 0 && replicating == 0 {
            Some(AllMasterReplicasNotReplicatingOrDead)
        } else if lcv && semi_sync_short(instance) {
            // Commits wait for more acknowledgements than replicas can give: blocked until the
            // semi-sync timeout, or for good with a long one. orchestrator tells the two apart
            // by time; arbor by whether commits are waiting right now.
            if instance.semi_sync.wait_sessions > 0 {
                Some(LockedSemiSyncMaster)
            } else {
                Some(LockedSemiSyncMasterHypothesis)
            }
        } else if lcv && settings.enforce_exact_semi_sync && semi_sync_surplus(instance) {
            Some(MasterWithTooManySemiSyncReplicas)
        } else if lcv
            && settings.enforce_exact_semi_sync
            && crate::semi_sync::incorrect_acknowledgers(topology, key)
        {
            Some(MasterWithIncorrectSemiSyncReplicas)
        } else if lcv
            && read_only
            && settings.recover_non_writeable_master
            && (replicating > 0 || (n == 0 && !topology.former_names(&cluster).is_empty()))
        {
            // Replicas replicating from it say it is the primary of a structure. A server
            // with none is one too when arbor made it the cluster's primary in a failover or
            // takeover and nobody replaced it since: a primary that restarted read-only
            // after its replicas were lost, which would otherwise leave the cluster with no
            // writable server at all.
            Some(NoWriteableMasterStructureWarning)
        } else {
            None
        }
    } else if is_co_primary {
        // The other co-primary replicates from this one too; it counts as one of its replicas.
        if !lcv && n > 0 && valid == n && vouching == 0 {
            Some(DeadCoMaster)
        } else if !lcv && n > 0 && valid < n && valid > 0 && vouching == 0 {
            Some(DeadCoMasterAndSomeReplicas)
        } else if !lcv && valid > 0 && vouching > 0 {
            Some(UnreachableCoMaster)
        } else if lcv && n > 0 && replicating == 0 {
            Some(AllCoMasterReplicasNotReplicating)
        } else {
            None
        }
    } else if !lcv && n == 1 && valid == 1 && failing == 1 {
        Some(DeadIntermediateMasterWithSingleReplicaFailingToConnect)
    } else if !lcv && n == 1 && valid == 1 && vouching == 0 {
        Some(DeadIntermediateMasterWithSingleReplica)
    } else if !lcv && n > 1 && valid == n && vouching == 0 {
        Some(DeadIntermediateMaster)
    } else if !lcv && n > 0 && valid < n && valid > 0 && vouching == 0 {
        Some(DeadIntermediateMasterAndSomeReplicas)
    } else if !lcv && n > 0 && valid == 0 {
        Some(DeadIntermediateMasterAndReplicas)
    } else if !lcv && n > 0 && lagging == n && delayed < n && vouching > 0 {
        Some(UnreachableIntermediateMasterWithLaggingReplicas)
    } else if !lcv && vouching > 0 {
        Some(UnreachableIntermediateMaster)
    } else if lcv && n > 1 && replicating == 0 && failing > 0 && failing == valid {
        // Every reachable replica fails to connect: the intermediate primary answers arbor but
        // not its replicas. Needs two replicas to say so.
        Some(AllIntermediateMasterReplicasFailingToConnectOrDead)
    } else if lcv && n > 0 && replicating == 0 {
        Some(AllIntermediateMasterReplicasNotReplicating)
    } else if lcv
        && source_record.is_some_and(|s| s.instance.source().is_none() && s.is_last_check_valid())
        && view(record, settings).failing_to_connect
    {
        Some(FirstTierReplicaFailingToConnectToMaster)
    } else {
        None
    };

    let valid_source = source_record
        .filter(|s| s.is_last_check_valid())
        .map(|s| &s.instance);
    let errant = match former_errant {
        Some(errant) => errant,
        None if lcv && !is_primary => errant_gtid(instance, valid_source).unwrap_or_default(),
        None => String::new(),
    };
    let mut structure = structure_warnings(&replicas, is_primary);
    if is_primary && lcv && instance.semi_sync.primary_enabled {
        let valid_semi_sync = replicas
            .iter()
            .filter(|r| r.is_last_check_valid() && r.instance.semi_sync.replica_enabled)
            .count() as u64;
        if valid_semi_sync < instance.semi_sync.wait_for_replica_count {
            structure.push(StructureWarning::NotEnoughValidSemiSyncReplicasStructureWarning);
        }
    }
    if !errant.is_empty() {
        structure.insert(0, StructureWarning::ErrantGTIDStructureWarning);
    }

    Analysis {
        key: key.clone(),
        source,
        cluster_alias: topology.alias_of(&cluster).unwrap_or(&cluster).to_string(),
        cluster,
        code,
        structure,
        is_primary,
        is_co_primary,
        last_check_valid: lcv,
        is_read_only: read_only,
        count_replicas: n,
        count_valid_replicas: valid,
        count_valid_replicating_replicas: replicating,
        count_replicas_failing_to_connect: failing,
        count_lagging_replicas: lagging,
        count_delayed_replicas: delayed,
        replicas: replicas.iter().map(|r| r.key().clone()).collect(),
        errant_gtid: errant,
    }
}

/// A primary whose semi-synchronous replication waits for more acknowledgements than it has
/// semi-sync replicas connected (and has not fallen back to asynchronous).
fn semi_sync_short(instance: &arbor_topology::Instance) -> bool {
    let s = &instance.semi_sync;
    s.primary_enabled
        && s.primary_status
        && s.wait_for_replica_count > 0
        && s.primary_clients < s.wait_for_replica_count
}

/// More semi-synchronous replicas connected than the primary waits for (orchestrator's
/// condition for `MasterWithTooManySemiSyncReplicas`).
fn semi_sync_surplus(instance: &arbor_topology::Instance) -> bool {
    let s = &instance.semi_sync;
    s.primary_enabled
        && s.primary_status
        && s.wait_for_replica_count > 0
        && s.primary_clients > s.wait_for_replica_count
}

/// Warnings about the replicas of one instance: what would limit a failover of it.
fn structure_warnings(replicas: &[&InstanceRecord], is_primary: bool) -> Vec<StructureWarning> {
    let seen: Vec<&InstanceRecord> = replicas
        .iter()
        .copied()
        .filter(|r| r.has_been_seen())
        .collect();
    let mut warnings = Vec::new();
    if seen.is_empty() {
        return warnings;
    }
    let logging: Vec<&&InstanceRecord> = seen
        .iter()
        .filter(|r| r.instance.log_bin && r.instance.log_replica_updates)
        .collect();
    if logging.is_empty() {
        warnings.push(StructureWarning::NoLoggingReplicasStructureWarning);
    }
    let formats: BTreeSet<String> = logging
        .iter()
        .map(|r| r.instance.binlog_format.to_ascii_uppercase())
        .collect();
    let has = |f: &str| formats.contains(f);
    if has("STATEMENT") && has("MIXED") {
        warnings.push(StructureWarning::StatementAndMixedLoggingReplicasStructureWarning);
    }
    if has("STATEMENT") && has("ROW") {
        warnings.push(StructureWarning::StatementAndRowLoggingReplicasStructureWarning);
    }
    if has("MIXED") && has("ROW") {
        warnings.push(StructureWarning::MixedAndRowLoggingReplicasStructureWarning);
    }
    let versions: BTreeSet<(u16, u16)> = logging
        .iter()
        .map(|r| {
            let v = r.instance.server_version();
            (v.major, v.minor)
        })
        .collect();
    if versions.len() > 1 {
        warnings.push(StructureWarning::MultipleMajorVersionsLoggingReplicasStructureWarning);
    }
    let gtid_kinds: BTreeSet<u8> = seen
        .iter()
        .map(
            |r| match r.instance.replication.as_ref().map(|s| s.gtid_kind) {
                Some(GtidKind::Oracle) => 1,
                Some(GtidKind::MariaDb) => 2,
                _ => 0,
            },
        )
        .collect();
    if gtid_kinds.len() > 1 {
        warnings.push(StructureWarning::DifferentGTIDModesStructureWarning);
    }
    // MariaDB servers can always be moved with GTID; MySQL ones only with GTID on.
    let recoverable = seen.iter().any(|r| {
        r.instance.flavor == Flavor::MariaDb
            || r.instance.replication.as_ref().map(|s| s.gtid_kind) == Some(GtidKind::Oracle)
    });
    if is_primary && !recoverable {
        warnings.push(StructureWarning::NoFailoverSupportStructureWarning);
    }
    warnings
}
