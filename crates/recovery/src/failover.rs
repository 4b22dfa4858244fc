//! Failover: a dead (or, forced, a live) primary is replaced by the best replica and the other
//! replicas follow it; a dead intermediate primary's replicas move up to its source.

use arbor_analysis::Analysis;
use arbor_topology::InstanceKey;

use crate::actions::{
    apply_received, catch_up, ignore_matcher, open, policy, repoint_all, run, run_all,
    verify_following,
};
use crate::candidate::choose_candidate;
use crate::engine::RecoveryEngine;
use crate::run::{Audit, Done};

/// A dead (or, forced, a live) primary: promote the best replica and repoint the others.
pub(crate) async fn recover_dead_primary(
    engine: &RecoveryEngine,
    audit: &Audit,
    analysis: &Analysis,
    force: bool,
) -> Result<Done, String> {
    let settings = &engine.inner.settings;
    let (topology, _) = engine.snapshot().await.map_err(|e| e.to_string())?;
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
    let rules = engine.promotion_rules().await.map_err(|e| e.to_string())?;
    let ignore = ignore_matcher(engine);
    let choice = choose_candidate(failed, &replicas, &policy(engine, rules, &ignore))?;
    for reason in &choice.reasons {
        audit.step(reason.clone()).await;
    }
    let lost: Vec<InstanceKey> = choice.lost.iter().map(|(k, _)| k.clone()).collect();
    let errors: Vec<String> = choice
        .lost
        .iter()
        .map(|(k, why)| format!("{k} lost: {why}"))
        .collect();
    let mut promote = choice.promote.clone();
    let mut others = choice.others.clone();
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

    audit.commit_successor(&promote).await?;
    promote_and_repoint(
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
        },
    )
    .await
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
    } = promotion;
    let mut session = open(engine, &promote).await?;
    if wait_for_relay_log && !apply_received(&mut session, audit, settings.catch_up_timeout).await?
    {
        if settings.fail_if_not_caught_up {
            return Err(format!(
                "{promote} did not apply its relay log within {:?} (FailMasterPromotionIfSQLThreadNotUpToDate)",
                settings.catch_up_timeout
            ));
        }
        audit
            .step(format!(
                "{promote} has not applied all it received; promoting anyway"
            ))
            .await;
    }
    let dialect = session.dialect();
    run(&mut session, audit, &dialect.stop_replica()).await?;
    run(&mut session, audit, &dialect.reset_replica_all()).await?;
    if settings.apply_promotion {
        run_all(
            &mut session,
            audit,
            &dialect.set_read_only(false, settings.use_super_read_only),
        )
        .await?;
    }
    audit.step(format!("promoted {promote}")).await;

    for (key, error) in repoint_all(engine, audit, &others, &promote).await {
        errors.push(format!("cannot repoint {key}: {error}"));
        lost.push(key.clone());
        others.retain(|k| k != &key);
    }
    if !force {
        // Best effort: a dead primary that comes back must not take writes.
        if let Ok(mut old) = open(engine, failed).await {
            let statements = old
                .dialect()
                .set_read_only(true, settings.use_super_read_only);
            let _ = run_all(&mut old, audit, &statements).await;
        }
    }
    for (key, detail) in verify_following(engine, &promote, &others).await? {
        errors.push(format!("{key} is not replicating from {promote}: {detail}"));
        lost.push(key.clone());
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
    })
}

/// A dead intermediate primary: its replicas move up to its source.
pub(crate) async fn recover_intermediate_primary(
    engine: &RecoveryEngine,
    audit: &Audit,
    analysis: &Analysis,
) -> Result<Done, String> {
    let (topology, _) = engine.snapshot().await.map_err(|e| e.to_string())?;
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
    })
}
