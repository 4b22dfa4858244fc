//! Whether a replica can be moved below a source, in pure code, with the reason when not.

use arbor_topology::{Flavor, GtidKind, InstanceKey, Topology};

/// Whether `replica` can replicate from `source` with GTID positioning, as the last readings
/// say. `Err` holds the reason, worded for the operator.
pub fn can_replicate_from(
    topology: &Topology,
    replica: &InstanceKey,
    source: &InstanceKey,
) -> Result<(), String> {
    can_replicate_from_binlog(topology, replica, source)?;
    let (r, s) = match (topology.record(replica), topology.record(source)) {
        (Some(r), Some(s)) => (&r.instance, &s.instance),
        _ => return Err(format!("{replica} or {source} is not known to arbor")),
    };
    if r.flavor != Flavor::MariaDb && !(r.supports_gtid() && s.supports_gtid()) {
        return Err(format!(
            "moving {replica} below {source} needs GTID (gtid_mode=ON on both): without it, \
             arbor moves a replica only one level up (move-up) or below a sibling (move-below)"
        ));
    }
    // Transactions written on the replica itself that the new source never had: with GTID the
    // source cannot serve it (MariaDB stops it with error 1236) and the data has diverged.
    if let Some(errant) = arbor_analysis::errant_gtid(r, Some(s)) {
        return Err(format!(
            "{replica} holds transactions {source} does not have ({errant}): replicating from it \
             would fail, and the data has diverged; look at them (locate-gtid-errant), then \
             discard them (gtid-errant-reset-master) or bring {source} in line first"
        ));
    }
    Ok(())
}

/// How a move positions a replica on its new source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// GTID positioning: any source that has the replica's transactions.
    Gtid,
    /// File and position, one level up: the replica catches up with its source `via` (stopped),
    /// then continues from `via`'s own position in the new source's binary log.
    UpFrom { via: InstanceKey },
    /// File and position, below a sibling: the two are brought to the same point of their
    /// common source's log, then the replica continues from the sibling's binary log end.
    BelowSibling { common_source: InstanceKey },
}

/// Which route moves `replica` below `target`. A replica that positions by GTID keeps doing
/// so; one that positions by file and position keeps that for the moves it can make (one level
/// up, below a sibling). Beyond those, MariaDB switches it to GTID (its `gtid_slave_pos` is
/// kept whatever the mode), and MySQL without GTID refuses with the reason.
pub fn route(
    topology: &Topology,
    replica: &InstanceKey,
    target: &InstanceKey,
) -> Result<Route, String> {
    let record = topology
        .record(replica)
        .ok_or_else(|| format!("{replica} is not known to arbor"))?;
    let target_record = topology
        .record(target)
        .ok_or_else(|| format!("{target} is not known to arbor"))?;
    // A server that replicates from no one has no position to keep: GTID is the only way.
    let Some(status) = record.instance.replication.as_ref() else {
        return Ok(Route::Gtid);
    };
    let is_mariadb = record.instance.flavor == Flavor::MariaDb;
    let gtid_possible = if is_mariadb {
        status.gtid_kind != GtidKind::None
    } else {
        record.instance.supports_gtid() && target_record.instance.supports_gtid()
    };
    if gtid_possible {
        return Ok(Route::Gtid);
    }
    let source = &status.source;
    let source_of = |key: &InstanceKey| {
        topology
            .record(key)
            .and_then(|r| r.instance.source().cloned())
    };
    let adjacent = if source_of(source).as_ref() == Some(target) {
        Some(Route::UpFrom {
            via: source.clone(),
        })
    } else if source_of(target).as_ref() == Some(source) && target != replica {
        Some(Route::BelowSibling {
            common_source: source.clone(),
        })
    } else {
        None
    };
    match adjacent {
        Some(route) => {
            if status.is_broken() {
                return Err(format!(
                    "replication on {replica} is broken ({}: {}): a file:position move needs its \
                     SQL thread to apply up to a chosen point",
                    status.last_sql_errno, status.last_sql_error
                ));
            }
            let helper = match &route {
                Route::UpFrom { via } => via,
                _ => target,
            };
            if !topology
                .record(helper)
                .is_some_and(|r| r.is_last_check_valid())
            {
                return Err(format!("{helper} cannot be reached"));
            }
            Ok(route)
        }
        None if is_mariadb => Ok(Route::Gtid),
        None => Err(format!(
            "{replica} does not use GTID: without it, arbor moves a replica only one level up \
             (move-up) or below a sibling (move-below); move it in such steps, or enable GTID"
        )),
    }
}

/// Whether `replica` can replicate from `source` by any positioning: reachability, loops,
/// flavours, binary logs, versions and formats.
pub fn can_replicate_from_binlog(
    topology: &Topology,
    replica: &InstanceKey,
    source: &InstanceKey,
) -> Result<(), String> {
    if replica == source {
        return Err(format!("{replica} cannot replicate from itself"));
    }
    let replica_record = topology
        .record(replica)
        .ok_or_else(|| format!("{replica} is not known to arbor"))?;
    let source_record = topology
        .record(source)
        .ok_or_else(|| format!("{source} is not known to arbor"))?;
    if !replica_record.is_last_check_valid() {
        return Err(format!("{replica} cannot be reached"));
    }
    if !source_record.is_last_check_valid() {
        return Err(format!("{source} cannot be reached"));
    }
    if is_descendant(topology, source, replica) {
        return Err(format!(
            "{source} replicates (directly or not) from {replica}: moving {replica} below it would make a loop"
        ));
    }
    let (r, s) = (&replica_record.instance, &source_record.instance);
    if (r.flavor == Flavor::MariaDb) != (s.flavor == Flavor::MariaDb) {
        return Err(format!(
            "{replica} is {} and {source} is {}: replication between them is not supported",
            r.flavor.name(),
            s.flavor.name()
        ));
    }
    if !s.log_bin {
        return Err(format!("{source} does not write a binary log"));
    }
    if s.replication.is_some() && !s.log_replica_updates {
        return Err(format!(
            "{source} is a replica that does not log what it replicates (log_slave_updates off): its replicas would miss its source's transactions"
        ));
    }
    let (rv, sv) = (r.server_version(), s.server_version());
    if (rv.major, rv.minor) < (sv.major, sv.minor) {
        return Err(format!(
            "{replica} runs {rv}, older than {source} ({sv}): a replica must not be older than its source"
        ));
    }
    if r.log_bin
        && r.binlog_format.eq_ignore_ascii_case("STATEMENT")
        && !s.binlog_format.eq_ignore_ascii_case("STATEMENT")
    {
        return Err(format!(
            "{replica} logs in STATEMENT format and {source} in {}: {replica} could not log the row events it would receive",
            s.binlog_format
        ));
    }
    Ok(())
}

/// Whether `key` replicates, directly or through others, from `ancestor`.
pub fn is_descendant(topology: &Topology, key: &InstanceKey, ancestor: &InstanceKey) -> bool {
    let mut current = key.clone();
    for _ in 0..64 {
        match topology.record(&current).and_then(|r| r.instance.source()) {
            Some(source) if source == ancestor => return true,
            Some(source) => current = source.clone(),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_topology::{
        GtidKind, Instance, InstanceRecord, IoThreadState, ReplicaStatus, Timestamp,
        TopologyOptions,
    };

    fn node(key: &str, source: Option<&str>) -> InstanceRecord {
        let mut instance = Instance::unseen(key.parse().unwrap());
        instance.version = "10.11.6-MariaDB".into();
        instance.flavor = Flavor::MariaDb;
        instance.log_bin = true;
        instance.log_replica_updates = true;
        instance.binlog_format = "ROW".into();
        instance.replication = source.map(|s| ReplicaStatus {
            source: s.parse().unwrap(),
            io_thread: IoThreadState::Running,
            sql_thread_running: true,
            gtid_kind: GtidKind::MariaDb,
            ..ReplicaStatus::default()
        });
        InstanceRecord {
            instance,
            first_discovered: Timestamp(0),
            last_attempted_check: Some(Timestamp(1)),
            last_checked: Some(Timestamp(1)),
            last_seen: Some(Timestamp(1)),
            last_error: String::new(),
        }
    }

    fn check(records: Vec<InstanceRecord>, replica: &str, source: &str) -> Result<(), String> {
        let topology = Topology::new(records, &TopologyOptions::default());
        can_replicate_from(
            &topology,
            &replica.parse().unwrap(),
            &source.parse().unwrap(),
        )
    }

    fn base() -> Vec<InstanceRecord> {
        vec![
            node("p:1", None),
            node("r1:1", Some("p:1")),
            node("r2:1", Some("p:1")),
            node("r3:1", Some("r1:1")),
        ]
    }

    #[test]
    fn moves_that_work_pass() {
        assert_eq!(check(base(), "r2:1", "r1:1"), Ok(()));
        assert_eq!(check(base(), "r3:1", "p:1"), Ok(()));
        assert_eq!(check(base(), "r3:1", "r2:1"), Ok(()));
    }

    #[test]
    fn moves_that_cannot_work_are_refused_with_the_reason() {
        let refused = |records: Vec<InstanceRecord>, replica: &str, source: &str, reason: &str| {
            let error = check(records, replica, source).unwrap_err();
            assert!(error.contains(reason), "{replica} below {source}: {error}");
        };
        refused(base(), "r1:1", "r3:1", "would make a loop");
        refused(base(), "p:1", "r3:1", "would make a loop");
        refused(base(), "r2:1", "r2:1", "itself");
        refused(base(), "r2:1", "nowhere:1", "not known");
        let mut down = base();
        down[1].last_seen = Some(Timestamp(0));
        refused(down, "r2:1", "r1:1", "cannot be reached");
        let mut no_log = base();
        no_log[1].instance.log_replica_updates = false;
        refused(no_log, "r2:1", "r1:1", "log_slave_updates");
        let mut old = base();
        old[2].instance.version = "10.6.1-MariaDB".into();
        refused(old, "r2:1", "r1:1", "older than");
        let mut statement = base();
        statement[2].instance.binlog_format = "STATEMENT".into();
        refused(statement, "r2:1", "r1:1", "STATEMENT");
        let mut mysql = base();
        for record in &mut mysql {
            record.instance.flavor = Flavor::MySql;
            record.instance.version = "8.0.36".into();
            record.instance.gtid_mode = "OFF".into();
        }
        refused(mysql, "r2:1", "r1:1", "needs GTID");
    }

    fn without_gtid(mut records: Vec<InstanceRecord>, mysql: bool) -> Topology {
        for record in &mut records {
            if mysql {
                record.instance.flavor = Flavor::MySql;
                record.instance.version = "8.0.36".into();
                record.instance.gtid_mode = "OFF".into();
            }
            if let Some(status) = record.instance.replication.as_mut() {
                status.gtid_kind = GtidKind::None;
            }
        }
        Topology::new(records, &TopologyOptions::default())
    }

    fn route_of(topology: &Topology, replica: &str, target: &str) -> Result<Route, String> {
        route(
            topology,
            &replica.parse().unwrap(),
            &target.parse().unwrap(),
        )
    }

    #[test]
    fn replicas_without_gtid_move_by_file_and_position_one_step_at_a_time() {
        for mysql in [false, true] {
            let topology = without_gtid(base(), mysql);
            assert_eq!(
                route_of(&topology, "r3:1", "p:1"),
                Ok(Route::UpFrom {
                    via: "r1:1".parse().unwrap()
                })
            );
            assert_eq!(
                route_of(&topology, "r2:1", "r1:1"),
                Ok(Route::BelowSibling {
                    common_source: "p:1".parse().unwrap()
                })
            );
            let far = route_of(&topology, "r3:1", "r2:1");
            if mysql {
                assert!(far.unwrap_err().contains("does not use GTID"));
            } else {
                // MariaDB keeps gtid_slave_pos in every mode: it switches to GTID.
                assert_eq!(far, Ok(Route::Gtid));
            }
        }
        assert_eq!(
            route_of(
                &Topology::new(base(), &TopologyOptions::default()),
                "r3:1",
                "p:1"
            ),
            Ok(Route::Gtid),
            "a replica on GTID stays on GTID"
        );
    }

    #[test]
    fn a_file_position_move_needs_running_replication_and_a_reachable_helper() {
        let mut records = base();
        let status = records[3].instance.replication.as_mut().unwrap();
        status.sql_thread_running = false;
        status.last_sql_errno = 1062;
        let error = route_of(&without_gtid(records, true), "r3:1", "p:1").unwrap_err();
        assert!(error.contains("broken (1062"), "{error}");

        let mut records = base();
        records[1].last_checked = Some(Timestamp(5));
        let error = route_of(&without_gtid(records, true), "r2:1", "r1:1").unwrap_err();
        assert!(error.contains("r1:1 cannot be reached"), "{error}");
    }
}
