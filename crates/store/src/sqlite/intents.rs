//! The SQLite store's body for each [`Command`](crate::Command): what
//! [`dispatch`](crate::command::dispatch) calls when the store applies one.

use std::time::Duration;

use arbor_topology::{Downtime, InstanceKey, PromotionRule, Timestamp};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::*;
use crate::command::{AckTarget, Backend};
use crate::{
    FailureDetection, LockDecision, RecoveryOutcome, RecoveryStart, RecoveryStep, StartDecision,
    StoreError,
};

#[async_trait]
impl Backend for SqliteStore {
    async fn register_instance(
        &self,
        key: &InstanceKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let data = to_json(&Instance::unseen(key.clone()))?;
            let inserted = conn.execute(
                &SqlDialect::Sqlite.insert_if_absent(sql::REGISTER_INSTANCE),
                params![key.hostname, key.port, at.millis(), data],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let deleted = conn.execute(sql::FORGET_INSTANCE, params![key.hostname, key.port])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                &SqlDialect::Sqlite.begin_downtime(),
                params![
                    downtime.key.hostname,
                    downtime.key.port,
                    downtime.owner,
                    downtime.reason,
                    downtime.begin.millis(),
                    downtime.end.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let deleted = conn.execute(sql::END_DOWNTIME, params![key.hostname, key.port])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            conn.execute(
                &SqlDialect::Sqlite.register_candidate(),
                params![key.hostname, key.port, rule.name(), expires_at.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError> {
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            let since = detection.detected_at.millis() - dedupe_window.as_millis() as i64;
            let recent: i64 = tx.query_row(
                sql::COUNT_RECENT_DETECTIONS,
                params![
                    detection.key.hostname,
                    detection.key.port,
                    detection.analysis,
                    since
                ],
                |row| row.get(0),
            )?;
            if recent > 0 {
                return Ok(false);
            }
            tx.execute(
                sql::RECORD_DETECTION,
                params![
                    detection.cluster,
                    detection.key.hostname,
                    detection.key.port,
                    detection.analysis,
                    detection.description,
                    detection.detected_at.millis()
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError> {
        self.with_conn(move |conn| {
            // IMMEDIATE: take the write lock before reading, so two starts cannot both pass
            // the checks.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let active: Option<i64> = tx
                .query_row(sql::ACTIVE_RECOVERY_OF_CLUSTER, [&start.cluster], |row| {
                    row.get(0)
                })
                .optional()?;
            if let Some(blocking_id) = active {
                return Ok(StartDecision::still_running(blocking_id, &start.cluster));
            }
            if ignore_block {
                tx.execute(
                    sql::SUPERSEDE_UNACKNOWLEDGED,
                    params![start.cluster, start.started_at.millis()],
                )?;
            } else {
                let since = start.started_at.millis() - block.as_millis() as i64;
                // The same cluster, or the instance a recent recovery promoted: a failover
                // renames the cluster after its new primary, and that primary failing in turn
                // is the flapping this guards against.
                let recent: Option<i64> = tx
                    .query_row(
                        sql::RECENT_UNACKNOWLEDGED_RECOVERY,
                        params![
                            start.cluster,
                            since,
                            start.failed.hostname,
                            start.failed.port
                        ],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(blocking_id) = recent {
                    return Ok(StartDecision::recently_recovered(
                        blocking_id,
                        &start.cluster,
                        &start.failed,
                    ));
                }
            }
            tx.execute(
                &SqlDialect::Sqlite.text(sql::START_RECOVERY),
                params![
                    start.uid,
                    start.cluster,
                    start.failed.hostname,
                    start.failed.port,
                    start.analysis,
                    start.kind,
                    start.manual,
                    start.processing_node,
                    start.started_at.millis()
                ],
            )?;
            let id = tx.last_insert_rowid();
            if !start.analysis_entry.is_empty() {
                tx.execute(
                    sql::RECORD_RECOVERY_ANALYSIS,
                    params![id, start.analysis_entry],
                )?;
            }
            tx.commit()?;
            Ok(StartDecision::Started { id })
        })
        .await
    }

    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                sql::ADD_RECOVERY_STEP,
                params![id, step.at.millis(), step.message],
            )?;
            Ok(())
        })
        .await
    }

    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError> {
        let successor = successor.clone();
        self.with_conn(move |conn| {
            conn.execute(
                sql::RECORD_RECOVERY_SUCCESSOR,
                params![id, successor.hostname, successor.port],
            )?;
            Ok(())
        })
        .await
    }

    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                sql::FINISH_RECOVERY,
                params![
                    id,
                    outcome.ended_at.millis(),
                    outcome.successful,
                    outcome.successor.as_ref().map(|k| k.hostname.clone()),
                    outcome.successor.as_ref().map(|k| k.port),
                    to_json_list(&outcome.lost_replicas)?,
                    to_json_list(&outcome.participating)?,
                    to_json_list(&outcome.errors)?,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn acknowledge_recoveries(
        &self,
        cluster: Option<&str>,
        only: Option<&AckTarget>,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let (id, uid, host, port) = match only {
            Some(AckTarget::Id(id)) => (Some(*id), None, None, None),
            Some(AckTarget::Uid(uid)) => (None, Some(uid.clone()), None, None),
            Some(AckTarget::Instance(key)) => {
                (None, None, Some(key.hostname.clone()), Some(key.port))
            }
            None => (None, None, None, None),
        };
        let (cluster, by, comment) = (
            cluster.map(str::to_string),
            by.to_string(),
            comment.to_string(),
        );
        self.with_conn(move |conn| {
            let updated = conn.execute(
                sql::ACKNOWLEDGE_RECOVERIES,
                params![cluster, at.millis(), by, comment, id, uid, host, port],
            )?;
            Ok(updated)
        })
        .await
    }

    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError> {
        let note = note.to_string();
        self.with_conn(move |conn| {
            let errors = serde_json::to_string(&[note.as_str()]).unwrap_or_default();
            let updated = conn.execute(
                sql::ABANDON_ACTIVE_RECOVERIES,
                params![at.millis(), errors, note],
            )?;
            Ok(updated)
        })
        .await
    }

    async fn begin_maintenance(
        &self,
        key: &InstanceKey,
        owner: &str,
        reason: &str,
        node: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<LockDecision, StoreError> {
        let (key, owner, reason, node) = (
            key.clone(),
            owner.to_string(),
            reason.to_string(),
            node.to_string(),
        );
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                sql::DELETE_EXPIRED_MAINTENANCE,
                params![key.hostname, key.port, now.millis()],
            )?;
            let held = tx
                .query_row(
                    sql::MAINTENANCE_OF,
                    params![key.hostname, key.port],
                    read_maintenance,
                )
                .optional()?;
            if let Some(held) = held {
                return Ok(LockDecision::Held(held));
            }
            tx.execute(
                &SqlDialect::Sqlite.insert_if_absent(sql::BEGIN_MAINTENANCE),
                params![
                    key.hostname,
                    key.port,
                    owner,
                    reason,
                    node,
                    now.millis(),
                    expires_at.millis()
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(LockDecision::Acquired { id })
        })
        .await
    }

    async fn end_maintenance(
        &self,
        key: &InstanceKey,
        id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let deleted =
                conn.execute(sql::END_MAINTENANCE, params![key.hostname, key.port, id])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError> {
        let node = node.to_string();
        self.with_conn(move |conn| Ok(conn.execute(sql::RELEASE_NODE_MAINTENANCE, [node])?))
            .await
    }

    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError> {
        let (key, name, value) = (key.clone(), name.to_string(), value.to_string());
        self.with_conn(move |conn| {
            conn.execute(
                &SqlDialect::Sqlite.tag(),
                params![key.hostname, key.port, name, value],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_pool_instances(
        &self,
        pool: &str,
        instances: &[InstanceKey],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        // Each instance once, whatever the submission repeats.
        let instances: std::collections::BTreeSet<InstanceKey> =
            instances.iter().cloned().collect();
        let pool = pool.to_string();
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(sql::CLEAR_POOL, params![pool])?;
            for key in &instances {
                tx.execute(
                    sql::ADD_TO_POOL,
                    params![pool, key.hostname, key.port, at.millis()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError> {
        let (key, name) = (key.clone(), name.to_string());
        self.with_conn(move |conn| {
            Ok(conn.execute(sql::UNTAG, params![key.hostname, key.port, name])? > 0)
        })
        .await
    }

    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError> {
        let name = name.to_string();
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            let keys = {
                let mut statement =
                    tx.prepare_cached(&SqlDialect::Sqlite.locking(sql::TAGGED_BY_NAME))?;
                let rows = statement.query_map([&name], |row| {
                    Ok(InstanceKey {
                        hostname: row.get(0)?,
                        port: row.get(1)?,
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            tx.execute(sql::UNTAG_ALL, [&name])?;
            tx.commit()?;
            Ok(keys)
        })
        .await
    }

    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                &SqlDialect::Sqlite.set_global_recoveries_disabled(),
                [if disabled { "1" } else { "0" }],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError> {
        let (cluster, alias) = (cluster.to_string(), alias.trim().to_string());
        self.with_conn(move |conn| {
            if alias.is_empty() {
                conn.execute(sql::DELETE_CLUSTER_ALIAS, [&cluster])?;
            } else {
                conn.execute(&SqlDialect::Sqlite.set_cluster_alias(), [&cluster, &alias])?;
            }
            Ok(())
        })
        .await
    }
}
