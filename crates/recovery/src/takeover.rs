//! Graceful takeover: a planned switchover to a chosen replica, with no write lost.

use arbor_mysql::Link;
use arbor_store::RecoveryRecord;
use arbor_topology::{InstanceKey, Topology};

use crate::actions::{
    ignore_matcher, keep_semi_sync, open, policy, replication_credentials, repoint_all, run,
    run_all, run_hiding, verify_following,
};
use crate::audit::{Audit, Done};
use crate::candidate::choose_candidate;
use crate::engine::{healthy_analysis, RecoveryEngine, RecoveryError};
use crate::hooks::run_hooks;

/// A planned switchover: the other replicas move under the designated one, the primary turns
/// read-only, the designated replica catches up to its last transaction, is promoted, and the
/// old primary becomes its replica. If the designated replica does not catch up in time, the
/// primary is made writable again and nothing is promoted.
pub(crate) async fn graceful_takeover(
    engine: &RecoveryEngine,
    topology: &Topology,
    cluster: &str,
    designated: Option<InstanceKey>,
    start_replication: bool,
) -> Result<RecoveryRecord, RecoveryError> {
    let settings = &engine.inner.settings;
    let primary = topology
        .cluster_root(cluster)
        .filter(|p| p.is_last_check_valid())
        .ok_or_else(|| {
            RecoveryError::Refused(format!(
                "the primary of {cluster} is not reachable: use recover or force-master-failover"
            ))
        })?;
    let replicas: Vec<_> = topology
        .replicas_of(primary.key())
        .into_iter()
        .filter(|r| r.is_last_check_valid())
        .collect();
    let designated = match designated {
        // orchestrator's rule: without a designated replica, a primary with several direct
        // replicas is not taken over (which one?); `-auto` chooses.
        None if !start_replication && replicas.len() > 1 => {
            let names: Vec<String> = replicas.iter().map(|r| r.key().to_string()).collect();
            return Err(RecoveryError::Refused(format!(
                "{} has {} direct replicas ({}): name the one to promote, or use \
                 graceful-master-takeover-auto to let arbor choose",
                primary.key(),
                replicas.len(),
                names.join(", ")
            )));
        }
        Some(key) => {
            if !replicas.iter().any(|r| r.key() == &key) {
                return Err(RecoveryError::Refused(format!(
                    "{key} is not a reachable direct replica of {}",
                    primary.key()
                )));
            }
            key
        }
        None => {
            let rules = engine.promotion_rules().await?;
            let ignore = ignore_matcher(engine);
            choose_candidate(primary, &replicas, &policy(engine, rules, &ignore))
                .map_err(RecoveryError::Refused)?
                .promote
        }
    };
    let credentials = replication_credentials(engine, &designated)
        .await
        .map_err(RecoveryError::Refused)?;
    let audit = engine
        .begin(
            crate::run::Starting {
                cluster,
                failed: primary.key(),
                analysis: "GracefulMasterTakeover",
                kind: "GracefulMasterTakeover",
                manual: true,
                analysis_entry: engine
                    .analysis_entry(&crate::engine::healthy_analysis(topology, primary.key()))
                    .await,
            },
            // Planned by an operator, with every server healthy: never blocked by an earlier
            // recovery (only by one still running), and acknowledged when it succeeds.
            true,
        )
        .await?;
    audit
        .step(format!(
            "graceful takeover of {cluster}: {designated} replaces {}",
            primary.key()
        ))
        .await;
    let mut context = engine.hook_context(
        &healthy_analysis(topology, primary.key()),
        "graceful-master-takeover",
        &audit.uid,
    );
    context.failure_type = "GracefulMasterTakeover".into();
    let pre = run_hooks(
        &settings.hooks.pre_graceful_takeover,
        &settings.shell,
        &context,
        settings.hook_timeout,
        true,
    )
    .await;
    audit.hooks("PreGracefulTakeoverProcesses", &pre).await;
    let result = if pre.iter().any(|r| !r.success) {
        Err("a PreGracefulTakeoverProcesses hook failed: takeover aborted".to_string())
    } else {
        let siblings: Vec<InstanceKey> = replicas
            .iter()
            .map(|r| r.key().clone())
            .filter(|k| k != &designated)
            .collect();
        // The two swap roles in semi-synchronous replication too; a semi-sync priority
        // (DetectSemiSyncEnforcedQuery) above 0 asks for the primary side on the new primary,
        // and 0 keeps the demoted one from acknowledging.
        let priority = |key: &InstanceKey| {
            topology
                .record(key)
                .and_then(|r| r.instance.semi_sync.priority)
        };
        let semi_sync = SemiSyncRoles {
            primary_side: primary.instance.semi_sync.primary_enabled
                || priority(&designated).is_some_and(|p| p > 0),
            replica_side: priority(primary.key()) != Some(0)
                && topology
                    .record(&designated)
                    .is_some_and(|r| r.instance.semi_sync.replica_enabled),
        };
        let result = switch_over(
            engine,
            &audit,
            (primary.key(), &designated),
            &siblings,
            &credentials,
            start_replication,
            semi_sync,
        )
        .await;
        if result.is_ok() {
            let alias = topology.alias_of(cluster).unwrap_or(cluster);
            engine
                .keep_cluster_identity(&audit, cluster, alias, &designated)
                .await;
        }
        result
    };
    let post = [settings.hooks.post_graceful_takeover.as_slice()];
    let record = engine
        .finish(
            &audit,
            result,
            context,
            &post,
            &settings.hooks.post_unsuccessful_failover,
        )
        .await?;
    engine
        .acknowledge_planned(record, "graceful master takeover")
        .await
}

/// The semi-synchronous sides a takeover hands on: the primary side from the old primary to the
/// new one, the replica side from the promoted replica to the old primary.
#[derive(Clone, Copy)]
struct SemiSyncRoles {
    primary_side: bool,
    replica_side: bool,
}

async fn switch_over(
    engine: &RecoveryEngine,
    audit: &Audit,
    (primary, designated): (&InstanceKey, &InstanceKey),
    siblings: &[InstanceKey],
    credentials: &(String, String),
    start_replication: bool,
    semi_sync: SemiSyncRoles,
) -> Result<Done, String> {
    let settings = &engine.inner.settings;
    let mut errors = Vec::new();
    let mut lost = Vec::new();
    let mut moved = siblings.to_vec();
    for (key, error) in repoint_all(engine, audit, siblings, designated).await {
        errors.push(format!("cannot move {key} under {designated}: {error}"));
        lost.push(key.clone());
        moved.retain(|k| k != &key);
    }
    // Until the designated replica is promoted, a failure leaves the cluster as it was: the
    // primary writable again and every moved replica back under it.
    let mut promoting = false;
    let promoted = async {
        let mut old = open(engine, primary).await?;
        let old_dialect = old.dialect();
        run_all(
            &mut old,
            audit,
            &old_dialect.set_read_only(true, settings.use_super_read_only),
        )
        .await?;
        let position = old
            .query_value(old_dialect.executed_position_sql())
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        audit
            .step(format!("{primary} is read-only at {position}"))
            .await;
        let mut new = open(engine, designated).await?;
        let wait = new
            .dialect()
            .wait_for_position(&position, settings.catch_up_timeout);
        audit.step(format!("{designated}: {wait}")).await;
        let caught_up = new.query_value(&wait).await.map_err(|e| e.to_string())?;
        if caught_up.as_deref() != Some("0") {
            return Err(format!(
                "{designated} did not reach {position} within {:?}",
                settings.catch_up_timeout
            ));
        }
        promoting = true;
        let dialect = new.dialect();
        run(&mut new, audit, &dialect.stop_replica()).await?;
        run(&mut new, audit, &dialect.reset_replica_all()).await?;
        run_all(
            &mut new,
            audit,
            &dialect.set_read_only(false, settings.use_super_read_only),
        )
        .await?;
        if semi_sync.primary_side {
            if let Err(error) = keep_semi_sync(&mut new, audit, true).await {
                errors.push(error);
            }
        }
        Ok::<_, String>(old)
    }
    .await;
    let mut old = match promoted {
        Ok(old) => old,
        Err(error) => {
            let mut back = moved.clone();
            if promoting {
                back.push(designated.clone());
            }
            return Err(back_out(engine, audit, primary, &back, error).await);
        }
    };
    let old_dialect = old.dialect();
    audit.step(format!("promoted {designated}")).await;
    crate::failover::end_downtime_of_successor(engine, audit, designated).await;

    run_all(&mut old, audit, &old_dialect.prepare_former_primary()).await?;
    let link = Link::new_with(
        &credentials.0,
        &credentials.1,
        engine.inner.settings.replication_ssl.as_ref(),
    );
    let change = old_dialect.change_source_gtid(designated, &link);
    run_hiding(&mut old, audit, &change, Some(&credentials.1)).await?;
    if semi_sync.replica_side {
        if let Err(error) = keep_semi_sync(&mut old, audit, false).await {
            errors.push(error);
        }
    }
    let mut followers = moved.clone();
    if start_replication {
        run(&mut old, audit, &old_dialect.start_replica()).await?;
        followers.push(primary.clone());
    } else {
        audit
            .step(format!(
                "{primary} is configured to replicate from {designated}, not started"
            ))
            .await;
    }
    for (key, detail) in verify_following(engine, designated, &followers).await? {
        errors.push(format!(
            "{key} is not replicating from {designated}: {detail}"
        ));
        lost.push(key);
    }
    let mut participating = vec![designated.clone(), primary.clone()];
    participating.extend(moved);
    Ok(Done {
        successor: Some(designated.clone()),
        lost,
        participating,
        errors,
        postponed: Vec::new(),
    })
}

/// Undoes a takeover that failed before its promotion: the primary takes writes again and
/// `moved` replicate from it again. Returns the takeover's error with what the undo did.
async fn back_out(
    engine: &RecoveryEngine,
    audit: &Audit,
    primary: &InstanceKey,
    moved: &[InstanceKey],
    error: String,
) -> String {
    let settings = &engine.inner.settings;
    let writable = async {
        let mut session = open(engine, primary).await?;
        let statements = session
            .dialect()
            .set_read_only(false, settings.use_super_read_only);
        run_all(&mut session, audit, &statements).await
    }
    .await;
    let mut undone = match writable {
        Ok(()) => format!("{primary} is writable again"),
        Err(undo) => format!("{primary} could not be made writable again: {undo}"),
    };
    let failed = repoint_all(engine, audit, moved, primary).await;
    if !moved.is_empty() {
        undone.push_str(&format!(
            ", {} of {} moved replicas back under it",
            moved.len() - failed.len(),
            moved.len()
        ));
    }
    for (key, undo) in failed {
        undone.push_str(&format!("; {key} not moved back: {undo}"));
    }
    audit.step(format!("takeover backed out: {undone}")).await;
    format!("{error}; takeover backed out: {undone}")
}
