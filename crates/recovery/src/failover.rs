//! Failover: a dead (or, forced, a live) primary is replaced by the best replica and the other
//! replicas follow it; a dead intermediate primary's replicas move up to its source.

use arbor_analysis::Analysis;
use arbor_store::Intents;
use arbor_topology::InstanceKey;

use crate::actions::{
    apply_received, catch_up, ignore_matcher, keep_semi_sync, open, policy, remove_delay,
    repoint_all, run, run_all, verify_following, ApplyWait,
};
use crate::audit::{Audit, Done};
use crate::candidate::choose_candidate;
use crate::engine::RecoveryEngine;

/// A dead (or, forced, a live) primary: promote the best replica and repoint the others.
pub(crate) async fn recover_dead_primary(
    engine: &RecoveryEngine,
    audit: &Audit,
    analysis: &Analysis,
    force: bool,
    designated: Option<&InstanceKey>,
) -> Result<Done, String> {
    let settings = &engine.inner.settings;
    // Every member of the cluster is read again first, not only the replicas the last
    // snapshot knew: a server that became a replica since (a former primary rejoined a poll
    // ago) must be brought along, not left pointing at the dead primary.
    let snapshot = engine
        .fresh_snapshot_of(&analysis.cluster, Some(&analysis.key))
        .await
        .map_err(|e| e.to_string())?;
    let topology = &snapshot.topology;
    let failed = topology
        .record(&analysis.key)
        .ok_or_else(|| format!("{} is not known", analysis.key))?;
    if force {
        // The primary may be alive: stop it taking writes before anything moves.
        match open(engine, &analysis.key).await {
            Ok(mut session) => {
                let statements = session
                    .dialect()
                    .set_read_only(true, settings.use_super_read_only);
                if let Err(error) = run_all(&mut session, audit, &statements).await {
                    audit
                        .step(format!("could not set {} read-only: {error}", analysis.key))
                        .await;
                }
            }
            Err(error) => {
                audit
                    .step(format!("{} not reachable: {error}", analysis.key))
                    .await
            }
        }
    }
    let replicas = topology.replicas_of(&analysis.key);
    let mut rules = engine.promotion_rules().await.map_err(|e| e.to_string())?;
    if let Some(designated) = designated {
        if !replicas.iter().any(|r| r.key() == designated) {
            return Err(format!(
                "{designated} is not a replica of {}: it cannot be promoted in its place",
                analysis.key
            ));
        }
        audit
            .step(format!("{designated} designated by the operator"))
            .await;
        rules.insert(designated.clone(), arbor_topology::PromotionRule::Must);
    }
    // CoMasterRecoveryMustPromoteOtherCoMaster: the ring's other half, or nobody.
    let other_co_primary = failed
        .instance
        .source()
        .filter(|_| analysis.is_co_primary && settings.co_master_must_promote_other)
        .filter(|_| designated.is_none())
        .cloned();
    if let Some(other) = &other_co_primary {
        audit
            .step(format!(
                "{} is a co-primary: its successor must be the other co-primary, {other} \
                 (CoMasterRecoveryMustPromoteOtherCoMaster)",
                analysis.key
            ))
            .await;
        rules.insert(other.clone(), arbor_topology::PromotionRule::Must);
    }
    let ignore = ignore_matcher(engine);
    let choice = choose_candidate(failed, &replicas, &policy(engine, rules, &ignore))?;
    for reason in &choice.reasons {
        audit.step(reason.clone()).await;
    }
    if let Some(other) = other_co_primary.filter(|other| *other != choice.promote) {
        return Err(format!(
            "the other co-primary {other} cannot be promoted (see above), and \
             CoMasterRecoveryMustPromoteOtherCoMaster allows no other successor"
        ));
    }
    if let Some(designated) = designated.filter(|d| **d != choice.promote) {
        audit
            .step(format!(
                "the designated {designated} cannot be promoted (see above): promoting {} instead, \
                 so that the cluster has a primary",
                choice.promote
            ))
            .await;
    }
    let lost: Vec<InstanceKey> = choice.lost.iter().map(|(k, _)| k.clone()).collect();
    let errors: Vec<String> = choice
        .lost
        .iter()
        .map(|(k, why)| format!("{k} lost: {why}"))
        .collect();
    let mut promote = choice.promote.clone();
    let mut others = choice.others.clone();
    for delayed in &choice.remove_delay {
        remove_delay(engine, audit, delayed).await?;
    }
    if let Some(ahead) = &choice.catch_up_from {
        match catch_up(engine, audit, &promote, ahead).await {
            Ok(()) => {
                audit
                    .step(format!("{promote} caught up from {ahead}"))
                    .await
            }
            Err(error) => {
                audit
                    .step(format!("{promote} could not catch up ({error}); promoting {ahead}, the most advanced, instead"))
                    .await;
                others.retain(|k| k != ahead);
                others.push(promote.clone());
                promote = ahead.clone();
            }
        }
    }
    if let (Some(limit), Some(record)) = (settings.fail_promotion_on_lag, topology.record(&promote))
    {
        if let Some(lag) = engine
            .known_lag(record)
            .filter(|lag| *lag >= limit.as_secs())
        {
            return Err(format!(
                "{promote} lags {lag}s, at least FailMasterPromotionOnLagMinutes ({} min): not promoted",
                limit.as_secs() / 60
            ));
        }
    }
    // Replicas far behind are repointed once the new primary serves and the hooks ran
    // (PostponeReplicaRecoveryOnLagMinutes): they must not hold up the failover.
    let mut postponed = Vec::new();
    if let Some(limit) = settings.postpone_lagging {
        others.retain(|key| {
            let lag = topology.record(key).and_then(|r| engine.known_lag(r));
            let later = lag.is_some_and(|lag| lag >= limit.as_secs());
            if later {
                postponed.push(key.clone());
            }
            !later
        });
    }
    for key in &postponed {
        audit
            .step(format!(
                "{key} lags at least PostponeReplicaRecoveryOnLagMinutes: repointed after the hooks"
            ))
            .await;
    }

    audit.commit_successor(&promote).await?;
    // As the cluster had it, or as DetectSemiSyncEnforcedQuery asks of the new primary.
    let semi_sync_primary = failed.instance.semi_sync.primary_enabled
        || topology
            .record(&promote)
            .and_then(|r| r.instance.semi_sync.priority)
            .is_some_and(|p| p > 0);
    let mut done = promote_and_repoint(
        engine,
        audit,
        &analysis.key,
        Promotion {
            promote,
            others,
            lost,
            errors,
            force,
            wait_for_relay_log: true,
            semi_sync_primary,
        },
    )
    .await?;
    done.postponed = postponed;
    Ok(done)
}

/// What is left to do once a successor is chosen and recorded.
pub(crate) struct Promotion {
    pub promote: InstanceKey,
    pub others: Vec<InstanceKey>,
    pub lost: Vec<InstanceKey>,
    pub errors: Vec<String>,
    /// The failed primary may be alive (a forced recovery): it is not touched again.
    pub force: bool,
    pub wait_for_relay_log: bool,
    /// The failed primary had the primary side of semi-synchronous replication on: the new
    /// primary gets it too, so that the cluster keeps its durability setting.
    pub semi_sync_primary: bool,
}

/// Promotes the recorded successor and repoints the other replicas under it. Every step is
/// idempotent, so a node that takes over an interrupted recovery runs it again from here.
pub(crate) async fn promote_and_repoint(
    engine: &RecoveryEngine,
    audit: &Audit,
    failed: &InstanceKey,
    promotion: Promotion,
) -> Result<Done, String> {
    let settings = &engine.inner.settings;
    let Promotion {
        promote,
        mut others,
        mut lost,
        mut errors,
        force,
        wait_for_relay_log,
        semi_sync_primary,
    } = promotion;
    let mut session = open(engine, &promote).await?;
    if wait_for_relay_log {
        apply_before_promotion(engine, audit, &mut session).await?;
    }
    let dialect = session.dialect();
    run(&mut session, audit, &dialect.stop_replica()).await?;
    if settings.apply_promotion {
        run(&mut session, audit, &dialect.reset_replica_all()).await?;
        run_all(
            &mut session,
            audit,
            &dialect.set_read_only(false, settings.use_super_read_only),
        )
        .await?;
        if semi_sync_primary {
            // Its replicas acknowledged the failed primary; now they acknowledge this one.
            if let Err(error) = keep_semi_sync(&mut session, audit, true).await {
                errors.push(error);
            }
        }
    } else {
        audit
            .step(format!(
                "ApplyMySQLPromotionAfterMasterFailover is off: {promote} keeps its replication \
                 settings and read_only; the hooks finish its promotion"
            ))
            .await;
    }
    if settings.detach_promoted_source {
        detach_source(&mut session, audit, failed, "the promoted server").await;
    }
    audit.step(format!("promoted {promote}")).await;
    end_downtime_of_successor(engine, audit, &promote).await;

    for (key, error) in repoint_all(engine, audit, &others, &promote).await {
        errors.push(format!("cannot repoint {key}: {error}"));
        lost.push(key.clone());
        others.retain(|k| k != &key);
    }
    // Best effort: a dead primary that comes back must not take writes. Reaching a frozen one
    // costs a connect timeout, so this runs aside and the recovery does not wait for it (the
    // aftercare fences it anyway when it answers again).
    if !force && settings.apply_promotion {
        let (engine, audit, failed) = (engine.clone(), audit.clone(), failed.clone());
        tokio::spawn(async move {
            if let Ok(mut old) = open(&engine, &failed).await {
                let statements = old
                    .dialect()
                    .set_read_only(true, engine.inner.settings.use_super_read_only);
                let _ = run_all(&mut old, &audit, &statements).await;
            }
        });
    }
    for (key, detail) in verify_following(engine, &promote, &others).await? {
        errors.push(format!("{key} is not replicating from {promote}: {detail}"));
        lost.push(key.clone());
    }
    if settings.detach_lost_replicas {
        detach_lost(engine, audit, failed, &lost).await;
    }
    let mut participating = vec![promote.clone()];
    participating.extend(others);
    audit
        .step(format!(
            "{promote} is the new primary; {} replica(s) lost",
            lost.len()
        ))
        .await;
    Ok(Done {
        successor: Some(promote),
        lost,
        participating,
        errors,
        postponed: Vec::new(),
    })
}

/// The new primary is no longer lost or under maintenance, whatever a downtime said of it
/// before (orchestrator ends the successor's downtime too): a downtimed primary would never
/// be recovered.
pub(crate) async fn end_downtime_of_successor(
    engine: &RecoveryEngine,
    audit: &Audit,
    successor: &InstanceKey,
) {
    match engine.inner.store.end_downtime(successor).await {
        Ok(true) => {
            audit
                .step(format!("{successor} is the new primary: its downtime ends"))
                .await
        }
        Ok(false) => {}
        Err(error) => {
            audit
                .step(format!("cannot end the downtime of {successor}: {error}"))
                .await
        }
    }
}

/// Lets the replica about to be promoted apply its relay log, as the configuration says:
/// within `PromotionCatchUpTimeoutSeconds` then promote anyway (arbor's default, said in the
/// audit), fail (`FailMasterPromotionIfSQLThreadNotUpToDate`), or as long as it takes
/// (`DelayMasterPromotionIfSQLThreadNotUpToDate`).
async fn apply_before_promotion(
    engine: &RecoveryEngine,
    audit: &Audit,
    session: &mut arbor_mysql::Session,
) -> Result<(), String> {
    let settings = &engine.inner.settings;
    let promote = session.key().clone();
    if settings.delay_until_caught_up {
        return apply_received(session, audit, ApplyWait::AsLongAsItTakes)
            .await
            .map(|_| ())
            .map_err(|e| {
                format!("{e} (DelayMasterPromotionIfSQLThreadNotUpToDate): not promoted")
            });
    }
    if apply_received(session, audit, ApplyWait::Within(settings.catch_up_timeout)).await? {
        return Ok(());
    }
    if settings.fail_if_not_caught_up {
        return Err(format!(
            "{promote} did not apply its relay log within {:?} (FailMasterPromotionIfSQLThreadNotUpToDate): not promoted",
            settings.catch_up_timeout
        ));
    }
    audit
        .step(format!(
            "{promote} has not applied all it received within {:?}; promoting anyway",
            settings.catch_up_timeout
        ))
        .await;
    Ok(())
}

/// Rewrites a server's link to `failed` as `//host` (orchestrator's detach): it keeps its
/// positions for an operator, and can no longer reconnect to a primary that comes back.
/// Servers whose link points elsewhere (already repointed) are left alone. Returns whether
/// it detached.
pub(crate) async fn detach_source(
    session: &mut arbor_mysql::Session,
    audit: &Audit,
    failed: &InstanceKey,
    what: &str,
) -> bool {
    let key = session.key().clone();
    let links = match session.replica_links().await {
        Ok(links) => links,
        Err(error) => {
            audit
                .step(format!("cannot read {what} {key} to detach it: {error}"))
                .await;
            return false;
        }
    };
    if let Some(named) = links
        .iter()
        .find(|l| !l.connection_name.is_empty() && &l.source == failed)
    {
        audit
            .step(format!(
                "{what} {key} replicates from {failed} over the named connection '{}', which \
                 arbor does not change: left as it is",
                named.connection_name
            ))
            .await;
        return false;
    }
    let status = links.into_iter().find(|l| l.connection_name.is_empty());
    match status {
        Some(status) if &status.source == failed => {
            let dialect = session.dialect();
            let statements = [
                dialect.stop_replica(),
                dialect.set_source_host(&format!("//{}", failed.hostname)),
            ];
            match run_all(session, audit, &statements).await {
                Ok(()) => true,
                Err(error) => {
                    audit
                        .step(format!("cannot detach {what} {key}: {error}"))
                        .await;
                    false
                }
            }
        }
        _ => {
            audit
                .step(format!(
                    "{what} {key} has no link to {failed}: nothing to detach"
                ))
                .await;
            false
        }
    }
}

/// `DetachLostReplicasAfterMasterFailover`: lost replicas still pointing at the failed primary
/// are detached; unreachable ones are said to be so.
async fn detach_lost(
    engine: &RecoveryEngine,
    audit: &Audit,
    failed: &InstanceKey,
    lost: &[InstanceKey],
) {
    for key in lost {
        match open(engine, key).await {
            Ok(mut session) => {
                detach_source(&mut session, audit, failed, "lost replica").await;
            }
            Err(error) => {
                audit
                    .step(format!("cannot detach lost replica {key}: {error}"))
                    .await
            }
        }
    }
}

/// `PostponeReplicaRecoveryOnLagMinutes`: the lagging replicas left out of a failover are
/// repointed under the new primary once its hooks ran; the audit says how each fared.
pub(crate) async fn repoint_postponed(
    engine: &RecoveryEngine,
    audit: &Audit,
    postponed: &[InstanceKey],
    successor: &InstanceKey,
) {
    if postponed.is_empty() {
        return;
    }
    let mut moved = postponed.to_vec();
    for (key, error) in repoint_all(engine, audit, postponed, successor).await {
        audit
            .step(format!("postponed {key} could not be repointed: {error}"))
            .await;
        moved.retain(|k| k != &key);
    }
    match verify_following(engine, successor, &moved).await {
        Ok(lagging) => {
            for key in &moved {
                match lagging.iter().find(|(k, _)| k == key) {
                    Some((_, detail)) => {
                        audit
                            .step(format!(
                                "postponed {key} is not replicating from {successor}: {detail}"
                            ))
                            .await
                    }
                    None => {
                        audit
                            .step(format!("postponed {key} replicates from {successor}"))
                            .await
                    }
                }
            }
        }
        Err(error) => {
            audit
                .step(format!("cannot verify the postponed replicas: {error}"))
                .await
        }
    }
}

/// `RecoverNonWriteableMaster`: a primary found read-only (its replicas replicating) is set
/// writable, as orchestrator does; nothing moves.
pub(crate) async fn make_primary_writable(
    engine: &RecoveryEngine,
    audit: &Audit,
    primary: &InstanceKey,
) -> Result<Done, String> {
    let mut session = open(engine, primary).await?;
    let statements = session
        .dialect()
        .set_read_only(false, engine.inner.settings.use_super_read_only);
    run_all(&mut session, audit, &statements).await?;
    audit
        .step(format!(
            "{primary} was read-only; it takes writes again (RecoverNonWriteableMaster)"
        ))
        .await;
    Ok(Done {
        successor: None,
        participating: vec![primary.clone()],
        ..Done::default()
    })
}

/// A dead intermediate primary: its replicas move up to its source.
pub(crate) async fn recover_intermediate_primary(
    engine: &RecoveryEngine,
    audit: &Audit,
    analysis: &Analysis,
) -> Result<Done, String> {
    let snapshot = engine.snapshot().await.map_err(|e| e.to_string())?;
    let topology = &snapshot.topology;
    let failed = topology
        .record(&analysis.key)
        .ok_or_else(|| format!("{} is not known", analysis.key))?;
    let grandparent = failed.instance.source().cloned().ok_or_else(|| {
        format!(
            "{} has no known source to move its replicas to",
            analysis.key
        )
    })?;
    let grandparent_ok = topology
        .record(&grandparent)
        .is_some_and(|r| r.is_last_check_valid());
    if !grandparent_ok {
        return Err(format!(
            "{grandparent}, the source of {}, cannot be reached either",
            analysis.key
        ));
    }
    let mut lost = Vec::new();
    let mut errors = Vec::new();
    let mut moved = Vec::new();
    for replica in topology.replicas_of(&analysis.key) {
        if replica.is_last_check_valid() {
            moved.push(replica.key().clone());
        } else {
            lost.push(replica.key().clone());
            errors.push(format!("{} lost: unreachable", replica.key()));
        }
    }
    audit
        .step(format!(
            "moving {} replica(s) of {} up to {grandparent}",
            moved.len(),
            analysis.key
        ))
        .await;
    for (key, error) in repoint_all(engine, audit, &moved, &grandparent).await {
        errors.push(format!("cannot repoint {key}: {error}"));
        lost.push(key.clone());
        moved.retain(|k| k != &key);
    }
    for (key, detail) in verify_following(engine, &grandparent, &moved).await? {
        errors.push(format!(
            "{key} is not replicating from {grandparent}: {detail}"
        ));
        lost.push(key);
    }
    Ok(Done {
        successor: Some(grandparent),
        lost,
        participating: moved,
        errors,
        postponed: Vec::new(),
    })
}
