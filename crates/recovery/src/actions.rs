//! The recoveries: what is done to which server, in which order. Each step is written to the
//! audit as it happens.

use std::time::{Duration, Instant};

use arbor_analysis::Analysis;
use arbor_mysql::Session;
use arbor_store::RecoveryRecord;
use arbor_topology::{InstanceKey, Topology};

use crate::candidate::{choose_candidate, CandidatePolicy};
use crate::engine::{healthy_analysis, Audit, Done, RecoveryEngine, RecoveryError};
use crate::hooks::run_hooks;

/// How long a recovery waits for repointed replicas to be seen replicating from their new
/// source before it reports those that are not.
const VERIFY_DEADLINE: Duration = Duration::from_secs(10);

async fn open(engine: &RecoveryEngine, key: &InstanceKey) -> Result<Session, String> {
    engine
        .inner
        .operator
        .session(key)
        .await
        .map_err(|e| e.to_string())
}

async fn run(session: &mut Session, audit: &Audit, sql: &str) -> Result<(), String> {
    audit.step(format!("{}: {sql}", session.key())).await;
    session.execute(sql).await.map_err(|e| e.to_string())
}

async fn run_all(
    session: &mut Session,
    audit: &Audit,
    statements: &[String],
) -> Result<(), String> {
    for sql in statements {
        run(session, audit, sql).await?;
    }
    Ok(())
}

/// Makes a replica apply everything its IO thread received. Never stops the IO thread first:
/// on MariaDB, restarting replication with both threads stopped throws the relay log away.
/// Returns whether it caught up within `timeout`.
async fn apply_received(
    session: &mut Session,
    audit: &Audit,
    timeout: Duration,
) -> Result<bool, String> {
    let Some(status) = session.replica_status().await.map_err(|e| e.to_string())? else {
        return Ok(true);
    };
    if status.gtid_io_pos.is_empty() {
        audit
            .step(format!(
                "{} reports no GTID position received; not waiting",
                session.key()
            ))
            .await;
        return Ok(true);
    }
    if !status.sql_thread_running {
        let sql = session.dialect().start_replica_sql_thread();
        run(session, audit, &sql).await?;
    }
    let wait = session
        .dialect()
        .wait_for_position(&status.gtid_io_pos, timeout);
    audit.step(format!("{}: {wait}", session.key())).await;
    let answer = session
        .query_value(&wait)
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer.as_deref() == Some("0"))
}

/// Points `replica` at `source` with GTID positioning and starts replication.
async fn repoint(
    engine: &RecoveryEngine,
    audit: &Audit,
    replica: &InstanceKey,
    source: &InstanceKey,
    credentials: Option<(&str, &str)>,
) -> Result<(), String> {
    let mut session = open(engine, replica).await?;
    let dialect = session.dialect();
    run(&mut session, audit, &dialect.stop_replica()).await?;
    run(
        &mut session,
        audit,
        &dialect.change_source_gtid(source, credentials),
    )
    .await?;
    run(&mut session, audit, &dialect.start_replica()).await
}

/// Repoints `replicas` under `source` concurrently; returns the ones that failed, with why.
async fn repoint_all(
    engine: &RecoveryEngine,
    audit: &Audit,
    replicas: &[InstanceKey],
    source: &InstanceKey,
) -> Vec<(InstanceKey, String)> {
    let attempts = replicas.iter().map(|replica| async move {
        (
            replica.clone(),
            repoint(engine, audit, replica, source, None).await,
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    results
        .into_iter()
        .filter_map(|(key, result)| result.err().map(|e| (key, e)))
        .collect()
}

/// Re-reads `source` and `replicas` until every replica replicates from `source`, or the
/// deadline; returns those that do not, with what they say.
async fn verify_following(
    engine: &RecoveryEngine,
    source: &InstanceKey,
    replicas: &[InstanceKey],
) -> Result<Vec<(InstanceKey, String)>, String> {
    let started = Instant::now();
    loop {
        let mut keys = vec![source.clone()];
        keys.extend(replicas.iter().cloned());
        engine.inner.discovery.probe_now(&keys).await;
        let (topology, _) = engine.snapshot().await.map_err(|e| e.to_string())?;
        let lagging: Vec<(InstanceKey, String)> = replicas
            .iter()
            .filter_map(|key| {
                let record = topology.record(key)?;
                let replication = record.instance.replication.as_ref();
                let following = record.is_last_check_valid()
                    && replication.is_some_and(|r| &r.source == source && r.is_replicating());
                (!following).then(|| {
                    let detail = match replication {
                        Some(r) if &r.source != source => format!("replicates from {}", r.source),
                        Some(r) => format!(
                            "IO {:?}, SQL {}{}{}",
                            r.io_thread,
                            if r.sql_thread_running {
                                "running"
                            } else {
                                "stopped"
                            },
                            if r.last_io_error.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", r.last_io_error)
                            },
                            if r.last_sql_error.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", r.last_sql_error)
                            },
                        ),
                        None if !record.is_last_check_valid() => "unreachable".to_string(),
                        None => "not a replica".to_string(),
                    };
                    (key.clone(), detail)
                })
            })
            .collect();
        if lagging.is_empty() || started.elapsed() > VERIFY_DEADLINE {
            return Ok(lagging);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn policy<'a>(
    engine: &RecoveryEngine,
    rules: std::collections::HashMap<InstanceKey, arbor_topology::PromotionRule>,
    ignore: &'a dyn Fn(&str) -> bool,
) -> CandidatePolicy<'a> {
    let settings = &engine.inner.settings;
    CandidatePolicy {
        rules,
        ignore_hostname: Some(ignore),
        prevent_cross_data_center: settings.prevent_cross_data_center,
        prevent_cross_region: settings.prevent_cross_region,
    }
}

fn ignore_matcher(engine: &RecoveryEngine) -> impl Fn(&str) -> bool {
    let patterns: Vec<regex::Regex> = engine
        .inner
        .settings
        .promotion_ignore_hostname_filters
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect();
    move |host: &str| patterns.iter().any(|re| re.is_match(host))
}

/// Makes `target` replicate from `ahead` until it has everything `ahead` has.
async fn catch_up(
    engine: &RecoveryEngine,
    audit: &Audit,
    target: &InstanceKey,
    ahead: &InstanceKey,
) -> Result<(), String> {
    let timeout = engine.inner.settings.catch_up_timeout;
    let mut source = open(engine, ahead).await?;
    if !apply_received(&mut source, audit, timeout).await? {
        return Err(format!("{ahead} did not apply its relay log in time"));
    }
    let position_sql = source.dialect().executed_position_sql();
    let position = source
        .query_value(position_sql)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    repoint(engine, audit, target, ahead, None).await?;
    let mut session = open(engine, target).await?;
    let wait = session.dialect().wait_for_position(&position, timeout);
    audit.step(format!("{target}: {wait}")).await;
    match session
        .query_value(&wait)
        .await
        .map_err(|e| e.to_string())?
        .as_deref()
    {
        Some("0") => Ok(()),
        other => Err(format!(
            "{target} did not reach {position} (answer {other:?})"
        )),
    }
}

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

/// The credentials a former primary replicates with: `MySQLReplicaUser`, else
/// `ReplicationCredentialsQuery` on the new primary, else (MySQL) the new primary's own
/// `mysql.slave_master_info`.
async fn replication_credentials(
    engine: &RecoveryEngine,
    new_primary: &InstanceKey,
) -> Result<(String, String), String> {
    let settings = &engine.inner.settings;
    if let Some(credentials) = &settings.replication_credentials {
        return Ok(credentials.clone());
    }
    let mut session = open(engine, new_primary).await?;
    let queries = [
        settings.replication_credentials_query.as_str(),
        "SELECT User_name, User_password FROM mysql.slave_master_info LIMIT 1",
    ];
    for query in queries.iter().filter(|q| !q.trim().is_empty()) {
        if let Ok(Some(row)) = session.query_first_row(query).await {
            if let (Some(Some(user)), Some(Some(password))) = (row.first(), row.get(1)) {
                return Ok((user.clone(), password.clone()));
            }
        }
    }
    Err(
        "no replication credentials for the former primary: set MySQLReplicaUser and \
         MySQLReplicaPassword, or ReplicationCredentialsQuery"
            .to_string(),
    )
}

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
            cluster,
            primary.key(),
            "GracefulMasterTakeover",
            "GracefulMasterTakeover",
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
        switch_over(
            engine,
            &audit,
            primary.key(),
            &designated,
            &siblings,
            &credentials,
            start_replication,
        )
        .await
    };
    let post = [settings.hooks.post_graceful_takeover.as_slice()];
    engine
        .finish(
            &audit,
            result,
            context,
            &post,
            &settings.hooks.post_unsuccessful_failover,
        )
        .await
}

async fn switch_over(
    engine: &RecoveryEngine,
    audit: &Audit,
    primary: &InstanceKey,
    designated: &InstanceKey,
    siblings: &[InstanceKey],
    credentials: &(String, String),
    start_replication: bool,
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
        let undo = old_dialect.set_read_only(false, settings.use_super_read_only);
        let _ = run_all(&mut old, audit, &undo).await;
        return Err(format!(
            "{designated} did not reach {position} within {:?}; {primary} is writable again",
            settings.catch_up_timeout
        ));
    }
    let dialect = new.dialect();
    run(&mut new, audit, &dialect.stop_replica()).await?;
    run(&mut new, audit, &dialect.reset_replica_all()).await?;
    run_all(
        &mut new,
        audit,
        &dialect.set_read_only(false, settings.use_super_read_only),
    )
    .await?;
    audit.step(format!("promoted {designated}")).await;

    run_all(&mut old, audit, &old_dialect.prepare_former_primary()).await?;
    let change = old_dialect.change_source_gtid(designated, Some((&credentials.0, &credentials.1)));
    audit
        .step(format!(
            "{primary}: {}",
            change.replace(&credentials.1, "****")
        ))
        .await;
    old.execute(&change)
        .await
        .map_err(|e| e.to_string().replace(&credentials.1, "****"))?;
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
    })
}
