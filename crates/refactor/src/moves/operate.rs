//! Operations on one server (`ReplicaOperation`): stop and start replication, skip a
//! failing statement, reset, read-only, and the like.

use super::*;

impl Refactorer {
    /// The GTID of the event group the SQL thread stopped at: the first `Gtid` event at its
    /// relay log position (`BEGIN GTID 0-1-8`).
    async fn failing_gtid_in_relay_log(
        &self,
        key: &InstanceKey,
        relay: &arbor_topology::BinlogCoordinates,
    ) -> Option<String> {
        if relay.log_file.is_empty() {
            return None;
        }
        let mut session = self.session(key).await.ok()?;
        let sql = format!(
            "SHOW RELAYLOG EVENTS IN {} FROM {} LIMIT 3",
            arbor_mysql::ops::quote(&relay.log_file),
            relay.log_pos
        );
        let rows = session.query_rows(&sql).await.ok()?;
        rows.iter().find_map(|row| {
            let info = row.last()?.as_deref()?;
            let start = info.find("GTID ")? + "GTID ".len();
            let gtid: String = info[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            (gtid.split('-').count() == 3).then_some(gtid)
        })
    }

    /// Waits until a replica whose I/O thread is stopped has applied everything it received,
    /// or `limit` passes (then it says how far behind it stayed).
    async fn wait_applied(
        &self,
        key: &InstanceKey,
        limit: std::time::Duration,
    ) -> Result<(), RefactorError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut session = self.session(key).await?;
        loop {
            let status = session
                .replica_status()
                .await
                .map_err(|e| RefactorError::Failed(format!("{key}: {e}")))?
                .ok_or_else(|| RefactorError::Refused(format!("{key} is not a replica")))?;
            if !status.sql_thread_running || status.exec_coordinates == status.read_coordinates {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RefactorError::Refused(format!(
                    "{key} did not apply its relay log within {}s (executed {}, received {}); \
                     its I/O thread stays stopped",
                    limit.as_secs(),
                    status.exec_coordinates,
                    status.read_coordinates
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The statements that stop a replica's running threads, run `injected` (when not empty)
    /// and start the same threads again (orchestrator's `restart-replica-statements`); not run.
    pub async fn restart_statements(
        &self,
        key: &InstanceKey,
        injected: &str,
    ) -> Result<Vec<String>, RefactorError> {
        self.discovery.probe_now(std::slice::from_ref(key)).await;
        let topology = self.topology().await?;
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
        let replication = record
            .instance
            .replication
            .as_ref()
            .ok_or_else(|| RefactorError::Refused(format!("{key} is not a replica")))?;
        let dialect = self.session(key).await?.dialect();
        Ok(dialect.restart_preserving(
            replication.io_thread != arbor_topology::IoThreadState::Stopped,
            replication.sql_thread_running,
            injected,
        ))
    }

    /// An operation on one server.
    pub async fn operate(
        &self,
        key: &InstanceKey,
        operation: ReplicaOperation,
    ) -> Result<(), RefactorError> {
        // Judged on a fresh reading, not the last poll's.
        self.discovery.probe_now(std::slice::from_ref(key)).await;
        let topology = self.topology().await?;
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
        let is_replica = record.instance.replication.is_some();
        let needs_replica = matches!(
            operation,
            ReplicaOperation::StopReplica
                | ReplicaOperation::StartReplica
                | ReplicaOperation::RestartReplica
                | ReplicaOperation::ResetReplica
                | ReplicaOperation::SkipQuery
                | ReplicaOperation::DelayReplication(_)
                | ReplicaOperation::DetachSourceHost
                | ReplicaOperation::ReattachSourceHost
                | ReplicaOperation::StopReplicaNicely(_)
                | ReplicaOperation::EnableGtid
                | ReplicaOperation::DisableGtid
                | ReplicaOperation::SemiSyncReplica(_)
        );
        if needs_replica && !is_replica {
            return Err(RefactorError::Refused(format!("{key} is not a replica")));
        }
        let gtid_kind = record
            .instance
            .replication
            .as_ref()
            .map(|r| r.gtid_kind)
            .unwrap_or(arbor_topology::GtidKind::None);
        match operation {
            ReplicaOperation::EnableGtid if gtid_kind != arbor_topology::GtidKind::None => {
                return Err(RefactorError::Refused(format!(
                    "{key} already replicates with GTID positioning"
                )));
            }
            ReplicaOperation::DisableGtid if gtid_kind == arbor_topology::GtidKind::None => {
                return Err(RefactorError::Refused(format!(
                    "{key} does not replicate with GTID positioning"
                )));
            }
            ReplicaOperation::EnableGtid
                if record.instance.flavor != arbor_topology::Flavor::MariaDb
                    && !record.instance.gtid_mode.eq_ignore_ascii_case("ON") =>
            {
                return Err(RefactorError::Refused(format!(
                    "{key} has gtid_mode={}: auto-positioning needs gtid_mode=ON",
                    record.instance.gtid_mode
                )));
            }
            _ => {}
        }
        if let ReplicaOperation::PurgeBinaryLogs(file) = &operation {
            // What the replicas read now, not at the last poll.
            let replicas: Vec<InstanceKey> = topology.replica_keys_of(key);
            self.discovery.probe_now(&replicas).await;
            let topology = self.topology().await?;
            for replica in topology.replicas_of(key) {
                let reading = replica
                    .instance
                    .replication
                    .as_ref()
                    .map(|r| r.read_coordinates.log_file.as_str())
                    .unwrap_or("");
                if replica.is_last_check_valid() && !reading.is_empty() && reading < file.as_str() {
                    return Err(RefactorError::Refused(format!(
                        "{} still reads {reading}, older than {file}: purging would break it",
                        replica.key()
                    )));
                }
            }
        }
        let name = operation.name();
        let locks = self.lock(std::slice::from_ref(key), name).await?;
        let result = async {
            let dialect = self.session(key).await?.dialect();
            // As configured: `//host` when detached.
            let source_host = record
                .instance
                .replication
                .as_ref()
                .map(|r| r.source.hostname.clone())
                .unwrap_or_default();
            let statements = match &operation {
                ReplicaOperation::StopReplica => vec![dialect.stop_replica()],
                ReplicaOperation::StartReplica => vec![dialect.start_replica()],
                ReplicaOperation::RestartReplica => {
                    vec![dialect.stop_replica(), dialect.start_replica()]
                }
                ReplicaOperation::ResetReplica => {
                    vec![dialect.stop_replica(), dialect.reset_replica_all()]
                }
                ReplicaOperation::SetReadOnly => {
                    dialect.set_read_only(true, self.settings.use_super_read_only)
                }
                ReplicaOperation::SetWriteable => {
                    dialect.set_read_only(false, self.settings.use_super_read_only)
                }
                ReplicaOperation::FlushBinaryLogs => vec!["FLUSH BINARY LOGS".to_string()],
                ReplicaOperation::SkipQuery => {
                    let failing = match record.instance.replication.as_ref() {
                        Some(status) => match failing_gtid(&status.last_sql_error) {
                            Some(gtid) => Some(gtid),
                            None => {
                                self.failing_gtid_in_relay_log(key, &status.relay_coordinates)
                                    .await
                            }
                        },
                        None => None,
                    };
                    skip_statements(key, &record.instance, dialect, failing)?
                }
                ReplicaOperation::DelayReplication(seconds) => dialect.delay_replication(*seconds),
                ReplicaOperation::DetachSourceHost => {
                    if source_host.starts_with("//") {
                        return Err(RefactorError::Refused(format!("{key} is already detached")));
                    }
                    vec![
                        dialect.stop_replica(),
                        dialect.set_source_host(&format!("//{source_host}")),
                    ]
                }
                ReplicaOperation::ReattachSourceHost => {
                    let Some(host) = source_host.strip_prefix("//") else {
                        return Err(RefactorError::Refused(format!("{key} is not detached")));
                    };
                    vec![
                        dialect.stop_replica(),
                        dialect.set_source_host(host),
                        dialect.start_replica(),
                    ]
                }
                ReplicaOperation::PurgeBinaryLogs(file) => {
                    vec![format!(
                        "PURGE BINARY LOGS TO {}",
                        arbor_mysql::ops::quote(file)
                    )]
                }
                ReplicaOperation::StopReplicaNicely(limit) => {
                    self.run(key, &[dialect.stop_replica_io_thread()]).await?;
                    self.wait_applied(key, *limit).await?;
                    vec![dialect.stop_replica()]
                }
                ReplicaOperation::EnableGtid => dialect.set_gtid_positioning(true),
                ReplicaOperation::DisableGtid => dialect.set_gtid_positioning(false),
                ReplicaOperation::KillQuery(id) => vec![format!("KILL QUERY {id}")],
                ReplicaOperation::SemiSyncPrimary(on) => dialect.set_semi_sync(true, *on, false),
                ReplicaOperation::SemiSyncReplica(on) => {
                    let io_running = record
                        .instance
                        .replication
                        .as_ref()
                        .is_some_and(|r| r.io_thread != arbor_topology::IoThreadState::Stopped);
                    dialect.set_semi_sync(false, *on, io_running)
                }
            };
            self.run(key, &statements).await?;
            self.discovery.probe_now(std::slice::from_ref(key)).await;
            Ok(())
        }
        .await;
        locks.release().await;
        result
    }
}

/// How to skip the event a replica's SQL thread stopped at.
///
/// MariaDB with GTID: advance `gtid_slave_pos` past the failing GTID, which MariaDB names in
/// `Last_SQL_Error` (this needs only REPLICATION SLAVE ADMIN, unlike `sql_slave_skip_counter`,
/// which needs SUPER). Without GTID: the skip counter.
fn skip_statements(
    key: &InstanceKey,
    instance: &arbor_topology::Instance,
    dialect: arbor_mysql::Dialect,
    failing: Option<String>,
) -> Result<Vec<String>, RefactorError> {
    let replication = instance
        .replication
        .as_ref()
        .ok_or_else(|| RefactorError::Refused(format!("{key} is not a replica")))?;
    if replication.sql_thread_running {
        return Err(RefactorError::Refused(format!(
            "{key}'s SQL thread is running: there is nothing to skip"
        )));
    }
    match replication.gtid_kind {
        arbor_topology::GtidKind::MariaDb => {
            let failing = failing.ok_or_else(|| {
                RefactorError::Refused(format!(
                    "{key}: cannot tell the failing GTID (last SQL error: {:?})",
                    replication.last_sql_error
                ))
            })?;
            let domain = failing.split('-').next().unwrap_or("0");
            let mut position: Vec<String> = instance
                .gtid_slave_pos
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty() && g.split('-').next() != Some(domain))
                .map(str::to_string)
                .collect();
            position.push(failing);
            position.sort();
            Ok(vec![
                dialect.stop_replica(),
                format!(
                    "SET GLOBAL gtid_slave_pos = {}",
                    arbor_mysql::ops::quote(&position.join(","))
                ),
                dialect.start_replica(),
            ])
        }
        arbor_topology::GtidKind::Oracle => {
            // The failing transaction: named in the error, else the first one received and
            // not executed. An empty transaction under its GTID makes the replica skip it.
            let failing = mysql_failing_gtid(&replication.last_sql_error).or_else(|| {
                arbor_analysis::MysqlGtidSet::parse(&replication.gtid_io_pos)
                    .subtract(&arbor_analysis::MysqlGtidSet::parse(
                        &instance.gtid_executed,
                    ))
                    .first()
            });
            let failing = failing.ok_or_else(|| {
                RefactorError::Refused(format!(
                    "{key}: cannot tell the failing GTID (last SQL error: {:?})",
                    replication.last_sql_error
                ))
            })?;
            Ok(vec![
                dialect.stop_replica(),
                format!("SET gtid_next = {}", arbor_mysql::ops::quote(&failing)),
                "BEGIN".into(),
                "COMMIT".into(),
                "SET gtid_next = 'AUTOMATIC'".into(),
                dialect.start_replica(),
            ])
        }
        arbor_topology::GtidKind::None => Ok(dialect.skip_one_event().unwrap_or_default()),
    }
}

/// The `Gtid D-S-N` MariaDB puts in a replication SQL error.
/// The GTID MySQL names in a worker's error: `... failed executing transaction 'UUID:N' ...`.
fn mysql_failing_gtid(error: &str) -> Option<String> {
    let start = error.find("transaction '")? + "transaction '".len();
    let gtid: String = error[start..].chars().take_while(|c| *c != '\'').collect();
    let (uuid, n) = gtid.split_once(':')?;
    (uuid.len() == 36 && n.parse::<u64>().is_ok()).then_some(gtid)
}

fn failing_gtid(error: &str) -> Option<String> {
    let start = error.find("Gtid ")? + "Gtid ".len();
    let gtid: String = error[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    (gtid.split('-').count() == 3).then_some(gtid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_gtid_is_read_from_mariadbs_error() {
        let error = "Could not execute Write_rows_v1 event on table s.t; Duplicate entry '9' for key 'PRIMARY', \
                     Error_code: 1062; handler error HA_ERR_FOUND_DUPP_KEY; the event's master log mysql-bin.000001, \
                     end_log_pos 1234, Gtid 0-1-8, Internal MariaDB error code: 1062";
        assert_eq!(failing_gtid(error), Some("0-1-8".to_string()));
        assert_eq!(failing_gtid("no gtid here"), None);
    }

    #[test]
    fn mysql_gtid_replicas_skip_by_an_empty_transaction() {
        let uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let error = format!(
            "Coordinator stopped because there were error(s) in the worker(s). The most recent \
             failure being: Worker 1 failed executing transaction '{uuid}:12' at source log \
             binlog.000001, end_log_pos 1234."
        );
        assert_eq!(mysql_failing_gtid(&error), Some(format!("{uuid}:12")));

        let mut instance = arbor_topology::Instance::unseen("r:3306".parse().unwrap());
        instance.gtid_executed = format!("{uuid}:1-11");
        instance.replication = Some(arbor_topology::ReplicaStatus {
            gtid_kind: arbor_topology::GtidKind::Oracle,
            gtid_io_pos: format!("{uuid}:1-15"),
            last_sql_errno: 1062,
            last_sql_error: "Duplicate entry".into(),
            ..Default::default()
        });
        let dialect = arbor_mysql::Dialect::new(
            arbor_topology::Flavor::MySql,
            arbor_topology::ServerVersion::parse("8.4.3"),
        );
        // No GTID in the error: the first received and not executed.
        let statements = skip_statements(&instance.key.clone(), &instance, dialect, None).unwrap();
        assert_eq!(
            statements,
            vec![
                "STOP REPLICA".to_string(),
                format!("SET gtid_next = '{uuid}:12'"),
                "BEGIN".into(),
                "COMMIT".into(),
                "SET gtid_next = 'AUTOMATIC'".into(),
                "START REPLICA".into(),
            ]
        );
    }
}
