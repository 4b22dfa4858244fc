//! The MySQL store's body for each [`Command`](crate::Command): what
//! [`dispatch`](crate::command::dispatch) calls when the store applies one.

use std::time::Duration;

use arbor_topology::{Downtime, InstanceKey, PromotionRule, Timestamp};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Params, TxOpts, Value};

use super::*;
use crate::command::{AckTarget, Backend};
use crate::{
    FailureDetection, LockDecision, RecoveryOutcome, RecoveryStart, RecoveryStep, StartDecision,
    StoreError,
};

#[async_trait]
impl Backend for MySqlStore {
    async fn register_instance(
        &self,
        key: &InstanceKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            SqlDialect::MySql.insert_if_absent(sql::REGISTER_INSTANCE),
            args![
                key.hostname.as_str(),
                key.port,
                at.millis(),
                to_json(&Instance::unseen(key.clone()))?
            ],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() == 1)
    }

    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::FORGET_INSTANCE),
            args![key.hostname.as_str(), key.port],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            SqlDialect::MySql.begin_downtime(),
            args![
                downtime.key.hostname.as_str(),
                downtime.key.port,
                downtime.owner.as_str(),
                downtime.reason.as_str(),
                downtime.begin.millis(),
                downtime.end.millis()
            ],
        )
        .await
        .map_err(query_error)
    }

    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::END_DOWNTIME),
            args![key.hostname.as_str(), key.port],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            SqlDialect::MySql.register_candidate(),
            args![
                key.hostname.as_str(),
                key.port,
                rule.name(),
                expires_at.millis()
            ],
        )
        .await
        .map_err(query_error)
    }

    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = locked(&mut conn, "detection").await?;
        let since = detection.detected_at.millis() - dedupe_window.as_millis() as i64;
        let recent: Option<i64> = tx
            .exec_first(
                my(sql::COUNT_RECENT_DETECTIONS),
                args![
                    detection.key.hostname.as_str(),
                    detection.key.port,
                    detection.analysis.as_str(),
                    since
                ],
            )
            .await
            .map_err(query_error)?;
        if recent.unwrap_or(0) > 0 {
            tx.rollback().await.map_err(query_error)?;
            return Ok(false);
        }
        tx.exec_drop(
            my(sql::RECORD_DETECTION),
            args![
                detection.cluster.as_str(),
                detection.key.hostname.as_str(),
                detection.key.port,
                detection.analysis.as_str(),
                detection.description.as_str(),
                detection.detected_at.millis()
            ],
        )
        .await
        .map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(true)
    }

    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError> {
        let mut conn = self.conn().await?;
        // Every node's starts queue here: two cannot both pass the checks below.
        let mut tx = locked(&mut conn, "recovery").await?;
        let active: Option<i64> = tx
            .exec_first(
                my(sql::ACTIVE_RECOVERY_OF_CLUSTER),
                args![start.cluster.as_str()],
            )
            .await
            .map_err(query_error)?;
        if let Some(blocking_id) = active {
            tx.rollback().await.map_err(query_error)?;
            return Ok(StartDecision::still_running(blocking_id, &start.cluster));
        }
        if ignore_block {
            tx.exec_drop(
                my(sql::SUPERSEDE_UNACKNOWLEDGED),
                args![start.started_at.millis(), start.cluster.as_str()],
            )
            .await
            .map_err(query_error)?;
        } else {
            let since = start.started_at.millis() - block.as_millis() as i64;
            let recent: Option<i64> = tx
                .exec_first(
                    my(sql::RECENT_UNACKNOWLEDGED_RECOVERY),
                    args![
                        since,
                        start.cluster.as_str(),
                        start.failed.hostname.as_str(),
                        start.failed.port
                    ],
                )
                .await
                .map_err(query_error)?;
            if let Some(blocking_id) = recent {
                tx.rollback().await.map_err(query_error)?;
                return Ok(StartDecision::recently_recovered(
                    blocking_id,
                    &start.cluster,
                    &start.failed,
                ));
            }
        }
        tx.exec_drop(
            SqlDialect::MySql.text(sql::START_RECOVERY),
            args![
                start.uid.as_str(),
                start.cluster.as_str(),
                start.failed.hostname.as_str(),
                start.failed.port,
                start.analysis.as_str(),
                start.kind.as_str(),
                start.manual,
                start.processing_node.as_str(),
                start.started_at.millis()
            ],
        )
        .await
        .map_err(query_error)?;
        let id = tx.last_insert_id().unwrap_or_default() as i64;
        if !start.analysis_entry.is_empty() {
            tx.exec_drop(
                my(sql::RECORD_RECOVERY_ANALYSIS),
                args![id, start.analysis_entry.as_str()],
            )
            .await
            .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)?;
        Ok(StartDecision::Started { id })
    }

    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::ADD_RECOVERY_STEP),
            args![id, step.at.millis(), step.message.as_str()],
        )
        .await
        .map_err(query_error)
    }

    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::RECORD_RECOVERY_SUCCESSOR),
            args![successor.hostname.as_str(), successor.port, id],
        )
        .await
        .map_err(query_error)
    }

    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::FINISH_RECOVERY),
            args![
                outcome.ended_at.millis(),
                outcome.successful,
                outcome.successor.as_ref().map(|k| k.hostname.clone()),
                outcome.successor.as_ref().map(|k| k.port),
                to_json(&outcome.lost_replicas)?,
                to_json(&outcome.participating)?,
                to_json(&outcome.errors)?,
                id
            ],
        )
        .await
        .map_err(query_error)
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
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::ACKNOWLEDGE_RECOVERIES),
            args![
                at.millis(),
                by,
                comment,
                cluster,
                cluster,
                id,
                id,
                uid.clone(),
                uid,
                host.clone(),
                host,
                port
            ],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() as usize)
    }

    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::ABANDON_ACTIVE_RECOVERIES),
            args![at.millis(), to_json(&[note])?, at.millis(), note],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() as usize)
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
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::DELETE_EXPIRED_MAINTENANCE),
            args![key.hostname.as_str(), key.port, now.millis()],
        )
        .await
        .map_err(query_error)?;
        // The unique key decides between concurrent requests, on every node at once.
        conn.exec_drop(
            SqlDialect::MySql.insert_if_absent(sql::BEGIN_MAINTENANCE),
            args![
                key.hostname.as_str(),
                key.port,
                owner,
                reason,
                node,
                now.millis(),
                expires_at.millis()
            ],
        )
        .await
        .map_err(query_error)?;
        if conn.affected_rows() == 1 {
            return Ok(LockDecision::Acquired {
                id: conn.last_insert_id().unwrap_or_default() as i64,
            });
        }
        let held: Option<Row> = conn
            .exec_first(
                my(sql::MAINTENANCE_OF),
                args![key.hostname.as_str(), key.port],
            )
            .await
            .map_err(query_error)?;
        match held {
            Some(row) => Ok(LockDecision::Held(read_maintenance(&row))),
            // Released between our insert and our read: ask again.
            None => {
                Box::pin(self.begin_maintenance(key, owner, reason, node, now, expires_at)).await
            }
        }
    }

    async fn end_maintenance(
        &self,
        key: &InstanceKey,
        id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            my(sql::END_MAINTENANCE),
            args![key.hostname.as_str(), key.port, id, id],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(my(sql::RELEASE_NODE_MAINTENANCE), args![node])
            .await
            .map_err(query_error)?;
        Ok(conn.affected_rows() as usize)
    }

    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            SqlDialect::MySql.tag(),
            args![key.hostname.as_str(), key.port, name, value],
        )
        .await
        .map_err(query_error)
    }

    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(my(sql::UNTAG), args![key.hostname.as_str(), key.port, name])
            .await
            .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(query_error)?;
        let rows: Vec<Row> = tx
            .exec(SqlDialect::MySql.locking(sql::TAGGED_BY_NAME), args![name])
            .await
            .map_err(query_error)?;
        tx.exec_drop(my(sql::UNTAG_ALL), args![name])
            .await
            .map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(rows.iter().map(|row| key_of(row, 0, 1)).collect())
    }

    async fn set_pool_instances(
        &self,
        pool: &str,
        instances: &[InstanceKey],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        // Each instance once, whatever the submission repeats.
        let instances: std::collections::BTreeSet<&InstanceKey> = instances.iter().collect();
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(query_error)?;
        tx.exec_drop(my(sql::CLEAR_POOL), args![pool])
            .await
            .map_err(query_error)?;
        for key in instances {
            tx.exec_drop(
                my(sql::ADD_TO_POOL),
                args![pool, key.hostname.as_str(), key.port, at.millis()],
            )
            .await
            .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }

    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            SqlDialect::MySql.set_global_recoveries_disabled(),
            args![if disabled { "1" } else { "0" }],
        )
        .await
        .map_err(query_error)
    }

    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let alias = alias.trim();
        if alias.is_empty() {
            conn.exec_drop(my(sql::DELETE_CLUSTER_ALIAS), args![cluster])
                .await
                .map_err(query_error)
        } else {
            conn.exec_drop(SqlDialect::MySql.set_cluster_alias(), args![cluster, alias])
                .await
                .map_err(query_error)
        }
    }
}
