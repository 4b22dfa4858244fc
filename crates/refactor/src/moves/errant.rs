//! Errant GTIDs: what a replica executed that its source never had, where it is, and the
//! two ways out (reset the replica's binary logs, or inject empty transactions on MySQL).

use super::*;

impl Refactorer {
    /// The errant transactions of `key` now (judged against a fresh reading of its source).
    async fn errant(&self, key: &InstanceKey) -> Result<(Topology, String), RefactorError> {
        let topology = self.topology().await?;
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
        // A server that replicates from no one has nothing errant relative to a source.
        let Some(source) = record.instance.source().cloned() else {
            return Ok((topology, String::new()));
        };
        self.discovery
            .probe_now(&[key.clone(), source.clone()])
            .await;
        let topology = self.topology().await?;
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
        let source = topology
            .record(&source)
            .filter(|s| s.is_last_check_valid())
            .map(|s| &s.instance);
        let errant = arbor_analysis::errant_gtid(&record.instance, source).unwrap_or_default();
        Ok((topology, errant))
    }

    /// The binary logs of `key` that hold its errant transactions (MariaDB: found with
    /// `BINLOG_GTID_POS` at the start of each file).
    pub async fn locate_gtid_errant(
        &self,
        key: &InstanceKey,
    ) -> Result<Vec<String>, RefactorError> {
        let (topology, errant) = self.errant(key).await?;
        if errant.is_empty() {
            return Ok(Vec::new());
        }
        let flavor = topology.record(key).map(|r| r.instance.flavor);
        let mut session = self.session(key).await?;
        let files: Vec<String> = session
            .query_rows("SHOW BINARY LOGS")
            .await
            .map_err(|e| RefactorError::Failed(e.to_string()))?
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect();
        if flavor != Some(arbor_topology::Flavor::MariaDb) {
            // MySQL opens every binary log with a Previous_gtids event: the set executed
            // before the file.
            let mut starts = Vec::new();
            for file in &files {
                let sql = format!(
                    "SHOW BINLOG EVENTS IN {} LIMIT 3",
                    arbor_mysql::ops::quote(file)
                );
                let rows = session
                    .query_rows(&sql)
                    .await
                    .map_err(|e| RefactorError::Failed(e.to_string()))?;
                let previous = rows
                    .iter()
                    .find(|row| row.get(2).cloned().flatten().as_deref() == Some("Previous_gtids"))
                    .and_then(|row| row.get(5).cloned().flatten())
                    .unwrap_or_default();
                starts.push((file.clone(), previous.replace('\n', "")));
            }
            return mysql_files_holding(&starts, &errant).map_err(RefactorError::Refused);
        }
        // The GTID state at the start of each file, per domain.
        let mut starts = Vec::new();
        for file in &files {
            let sql = format!(
                "SELECT BINLOG_GTID_POS({}, 4)",
                arbor_mysql::ops::quote(file)
            );
            let state = session
                .query_value(&sql)
                .await
                .map_err(|e| RefactorError::Failed(e.to_string()))?
                .unwrap_or_default();
            starts.push(state);
        }
        let seq_in = |state: &str, domain: &str| -> u64 {
            state
                .split(',')
                .filter_map(|g| {
                    let parts: Vec<&str> = g.trim().split('-').collect();
                    (parts.len() == 3 && parts[0] == domain).then(|| parts[2].parse().unwrap_or(0))
                })
                .max()
                .unwrap_or(0)
        };
        let mut found = Vec::new();
        for gtid in errant.split(',').map(str::trim) {
            let parts: Vec<&str> = gtid.split('-').collect();
            let (Some(domain), Some(Ok(seq))) =
                (parts.first(), parts.get(2).map(|s| s.parse::<u64>()))
            else {
                continue;
            };
            // The last file that starts before the errant transaction holds it.
            if let Some(index) = (0..files.len())
                .rev()
                .find(|i| seq_in(&starts[*i], domain) < seq)
            {
                if !found.contains(&files[index]) {
                    found.push(files[index].clone());
                }
            }
        }
        Ok(found)
    }

    /// Forgets the errant transactions of `key` by resetting its binary logs and GTID history
    /// to what it replicated (refused while it has replicas, which read those logs).
    pub async fn gtid_errant_reset_master(&self, key: &InstanceKey) -> Result<(), RefactorError> {
        let (topology, errant) = self.errant(key).await?;
        if errant.is_empty() {
            return Err(RefactorError::Refused(format!("{key} has no errant GTID")));
        }
        if !topology.replicas_of(key).is_empty() {
            return Err(RefactorError::Refused(format!(
                "{key} has replicas, which read its binary logs: move them away first"
            )));
        }
        let locks = self
            .lock(std::slice::from_ref(key), "gtid-errant-reset-master")
            .await?;
        let result = async {
            let mut session = self.session(key).await?;
            let dialect = session.dialect();
            let statements = match dialect.flavor {
                arbor_topology::Flavor::MariaDb => {
                    let position = session
                        .query_value("SELECT @@gtid_slave_pos")
                        .await
                        .map_err(|e| RefactorError::Failed(e.to_string()))?
                        .unwrap_or_default();
                    vec![
                        dialect.stop_replica(),
                        dialect.reset_binary_logs(),
                        format!(
                            "SET GLOBAL gtid_slave_pos = {}",
                            arbor_mysql::ops::quote(&position)
                        ),
                        dialect.start_replica(),
                    ]
                }
                _ => {
                    let executed = session
                        .query_value("SELECT @@global.gtid_executed")
                        .await
                        .map_err(|e| RefactorError::Failed(e.to_string()))?
                        .unwrap_or_default();
                    let kept = arbor_analysis::MysqlGtidSet::parse(&executed)
                        .subtract(&arbor_analysis::MysqlGtidSet::parse(&errant));
                    vec![
                        dialect.stop_replica(),
                        dialect.reset_binary_logs(),
                        format!(
                            "SET GLOBAL gtid_purged = {}",
                            arbor_mysql::ops::quote(&kept.to_string())
                        ),
                        dialect.start_replica(),
                    ]
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

    /// Makes the errant transactions of `key` known to its cluster's primary, as empty
    /// transactions with the same GTIDs (MySQL only: MariaDB does not log empty transactions).
    pub async fn gtid_errant_inject_empty(&self, key: &InstanceKey) -> Result<(), RefactorError> {
        let (topology, errant) = self.errant(key).await?;
        if errant.is_empty() {
            return Err(RefactorError::Refused(format!("{key} has no errant GTID")));
        }
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
        if record.instance.flavor == arbor_topology::Flavor::MariaDb {
            return Err(RefactorError::Refused(format!(
                "MariaDB does not log empty transactions, so {errant} cannot be injected on the primary: use gtid-errant-reset-master on {key}"
            )));
        }
        let cluster = topology.cluster_of(key).unwrap_or_default().to_string();
        let primary = topology
            .cluster_root(&cluster)
            .map(|r| r.key().clone())
            .ok_or_else(|| {
                RefactorError::Refused(format!("the primary of {cluster} was never read"))
            })?;
        let mut statements = Vec::new();
        for gtid in each_gtid(&errant).map_err(RefactorError::Refused)? {
            statements.push(format!("SET gtid_next = '{gtid}'"));
            statements.push("BEGIN".into());
            statements.push("COMMIT".into());
        }
        statements.push("SET gtid_next = 'AUTOMATIC'".into());
        let locks = self
            .lock(std::slice::from_ref(&primary), "gtid-errant-inject-empty")
            .await?;
        let result = self.run(&primary, &statements).await;
        locks.release().await;
        result?;
        self.discovery.probe_now(&[primary, key.clone()]).await;
        Ok(())
    }
}

/// Every transaction of a MySQL GTID set, one `uuid:n` each; refused beyond 10,000 of one
/// source (handled one by one, more would take too long and hints at a wrong set).
fn each_gtid(set: &str) -> Result<Vec<String>, String> {
    let parsed = arbor_analysis::MysqlGtidSet::parse(set);
    if let Some((uuid, count)) = parsed.counts().into_iter().find(|(_, c)| *c > 10_000) {
        return Err(format!(
            "{count} errant transactions of {uuid}: too many to handle one by one"
        ));
    }
    let mut all = Vec::new();
    for part in set.split(',') {
        let mut pieces = part.trim().split(':');
        let Some(uuid) = pieces.next() else { continue };
        for range in pieces {
            let (start, end) = match range.split_once('-') {
                Some((a, b)) => (a.parse::<u64>().unwrap_or(0), b.parse::<u64>().unwrap_or(0)),
                None => (range.parse().unwrap_or(0), range.parse().unwrap_or(0)),
            };
            all.extend((start..=end).map(|n| format!("{uuid}:{n}")));
        }
    }
    Ok(all)
}

/// MySQL: the binary logs holding the `errant` transactions, given each file with the GTID set
/// executed before it starts: a transaction is in the last file whose start lacks it.
fn mysql_files_holding(starts: &[(String, String)], errant: &str) -> Result<Vec<String>, String> {
    use arbor_analysis::MysqlGtidSet;

    let before: Vec<MysqlGtidSet> = starts
        .iter()
        .map(|(_, set)| MysqlGtidSet::parse(set))
        .collect();
    let mut found = Vec::new();
    for gtid in each_gtid(errant)? {
        let one = MysqlGtidSet::parse(&gtid);
        let holder = (0..starts.len())
            .rev()
            .find(|&i| !one.subtract(&before[i]).is_empty());
        if let Some(i) = holder {
            if !found.contains(&starts[i].0) {
                found.push(starts[i].0.clone());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_errant_transactions_are_found_in_the_file_that_starts_before_them() {
        let a = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let b = "4e11fa47-71ca-11e1-9e33-c80aa9429562";
        let starts = vec![
            ("bin.000001".to_string(), String::new()),
            ("bin.000002".to_string(), format!("{a}:1-10")),
            ("bin.000003".to_string(), format!("{a}:1-20,{b}:1-2")),
        ];
        assert_eq!(
            mysql_files_holding(&starts, &format!("{b}:1-2")),
            Ok(vec!["bin.000002".to_string()])
        );
        assert_eq!(
            mysql_files_holding(&starts, &format!("{a}:5,{b}:3")),
            Ok(vec!["bin.000001".to_string(), "bin.000003".to_string()])
        );
    }
}
