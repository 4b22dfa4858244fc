//! The statements recoveries are made of, each written to the audit as it runs: opening a
//! session, applying what a replica received, repointing, verifying that replicas follow, and
//! catching a preferred replica up from a more advanced one.

use std::time::{Duration, Instant};

use arbor_mysql::{Link, Session};
use arbor_topology::InstanceKey;

use crate::audit::Audit;
use crate::candidate::CandidatePolicy;
use crate::engine::RecoveryEngine;

/// How long a recovery waits for repointed replicas to be seen replicating from their new
/// source before it reports those that are not.
const VERIFY_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) async fn open(engine: &RecoveryEngine, key: &InstanceKey) -> Result<Session, String> {
    engine
        .inner
        .operator
        .session(key)
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn run(session: &mut Session, audit: &Audit, sql: &str) -> Result<(), String> {
    audit.step(format!("{}: {sql}", session.key())).await;
    session.execute(sql).await.map_err(|e| e.to_string())
}

/// [`run`], with `secret` (a password in the statement) shown as `****` in the audit and in
/// errors.
pub(crate) async fn run_hiding(
    session: &mut Session,
    audit: &Audit,
    sql: &str,
    secret: Option<&str>,
) -> Result<(), String> {
    let hide = |text: &str| match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "****"),
        _ => text.to_string(),
    };
    audit
        .step(format!("{}: {}", session.key(), hide(sql)))
        .await;
    session.execute(sql).await.map_err(|e| hide(&e.to_string()))
}

pub(crate) async fn run_all(
    session: &mut Session,
    audit: &Audit,
    statements: &[String],
) -> Result<(), String> {
    for sql in statements {
        run(session, audit, sql).await?;
    }
    Ok(())
}

/// Turns one side of semi-synchronous replication on, on the server of `session`, keeping the
/// cluster's durability setting across a change of primary. The audit says so; an error is
/// returned for the recovery's errors (the change of primary stands either way). A replica's
/// side takes effect when its I/O thread next connects: set it before starting replication.
pub(crate) async fn keep_semi_sync(
    session: &mut Session,
    audit: &Audit,
    primary_side: bool,
) -> Result<(), String> {
    let key = session.key().clone();
    let statements = session.dialect().set_semi_sync(primary_side, true, false);
    let side = if primary_side { "primary" } else { "replica" };
    match run_all(session, audit, &statements).await {
        Ok(()) => {
            audit
                .step(format!(
                    "{key}: semi-synchronous replication's {side} side on, as the cluster had it"
                ))
                .await;
            Ok(())
        }
        Err(error) => Err(format!(
            "cannot turn semi-synchronous replication's {side} side on on {key}: {error}"
        )),
    }
}

/// A delayed replica of a dead source loses its delay and applies what it received (its relay
/// log kept: see `Dialect::remove_delay`).
pub(crate) async fn remove_delay(
    engine: &RecoveryEngine,
    audit: &Audit,
    key: &InstanceKey,
) -> Result<(), String> {
    let mut session = open(engine, key).await?;
    let dialect = session.dialect();
    run(&mut session, audit, &dialect.stop_for_delay_change()).await?;
    let relay = session
        .replica_status()
        .await
        .map_err(|e| e.to_string())?
        .map(|status| status.relay_coordinates)
        .ok_or_else(|| format!("{key} is no longer a replica"))?;
    run_all(&mut session, audit, &dialect.remove_delay(&relay)).await?;
    audit
        .step(format!(
            "{key} was a delayed replica: its delay is removed, and it applies what it received"
        ))
        .await;
    Ok(())
}

/// How long a replica may take to apply what it received.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ApplyWait {
    Within(Duration),
    /// As long as it takes, unless its SQL thread stops with an error.
    AsLongAsItTakes,
}

/// Makes a replica apply everything its IO thread received. Never stops the IO thread first:
/// on MariaDB, restarting replication with both threads stopped throws the relay log away.
/// Returns whether it caught up in time.
pub(crate) async fn apply_received(
    session: &mut Session,
    audit: &Audit,
    wait: ApplyWait,
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
    let position = status.gtid_io_pos;
    let timeout = match wait {
        ApplyWait::Within(timeout) => timeout,
        ApplyWait::AsLongAsItTakes => Duration::from_secs(1),
    };
    let wait_sql = session.dialect().wait_for_position(&position, timeout);
    audit
        .step(match wait {
            ApplyWait::Within(_) => format!("{}: {wait_sql}", session.key()),
            ApplyWait::AsLongAsItTakes => format!(
                "{}: {wait_sql}, repeated until it has applied {position}",
                session.key()
            ),
        })
        .await;
    let started = Instant::now();
    let mut last_said = Instant::now();
    loop {
        let answer = session
            .query_value(&wait_sql)
            .await
            .map_err(|e| e.to_string())?;
        if answer.as_deref() == Some("0") {
            return Ok(true);
        }
        if let ApplyWait::Within(_) = wait {
            return Ok(false);
        }
        // Still applying: only a failed SQL thread stops the wait.
        if let Some(status) = session.replica_status().await.map_err(|e| e.to_string())? {
            if !status.sql_thread_running && status.last_sql_errno != 0 {
                return Err(format!(
                    "{}'s SQL thread stopped with error {}: {}",
                    session.key(),
                    status.last_sql_errno,
                    status.last_sql_error
                ));
            }
        }
        if last_said.elapsed() >= Duration::from_secs(10) {
            audit
                .step(format!(
                    "{} still applying its relay log after {:?}",
                    session.key(),
                    started.elapsed()
                ))
                .await;
            last_said = Instant::now();
        }
    }
}

/// The credentials a server without a replication link (a former primary, or one that never
/// replicated) replicates with: `MySQLReplicaUser`, else
/// `ReplicationCredentialsQuery` on the new primary, else (MySQL) the new primary's own
/// `mysql.slave_master_info`.
pub(crate) async fn replication_credentials(
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
        "no replication credentials for a server that has no replication link: set MySQLReplicaUser and \
         MySQLReplicaPassword, or ReplicationCredentialsQuery"
            .to_string(),
    )
}

/// Points `replica` at `source` with GTID positioning and starts replication. A replica keeps
/// the credentials and retry interval of its link; a server with no link gets the replication
/// credentials and a one-second retry.
pub(crate) async fn repoint(
    engine: &RecoveryEngine,
    audit: &Audit,
    replica: &InstanceKey,
    source: &InstanceKey,
) -> Result<(), String> {
    let mut session = open(engine, replica).await?;
    let dialect = session.dialect();
    let links = session.replica_links().await.map_err(|e| e.to_string())?;
    let has_link = links.iter().any(|link| link.connection_name.is_empty());
    if !has_link {
        // A named connection alone (multi-source without a default one): a CHANGE MASTER
        // here would add a default connection beside it. Left to the operator.
        if let Some(named) = links.first() {
            return Err(format!(
                "{replica} replicates over the named connection '{}' only, which arbor does \
                 not change: repoint it by hand",
                named.connection_name
            ));
        }
    }
    let credentials = if has_link {
        None
    } else {
        Some(replication_credentials(engine, source).await?)
    };
    let link = match &credentials {
        Some((user, password)) => Link::new_with(
            user,
            password,
            engine.inner.settings.replication_ssl.as_ref(),
        ),
        None => Link::keep(),
    };
    run(&mut session, audit, &dialect.stop_replica()).await?;
    let change = dialect.change_source_gtid(source, &link);
    let secret = credentials.as_ref().map(|(_, password)| password.as_str());
    run_hiding(&mut session, audit, &change, secret).await?;
    run(&mut session, audit, &dialect.start_replica()).await
}

/// Repoints `replicas` under `source` concurrently; returns the ones that failed, with why.
pub(crate) async fn repoint_all(
    engine: &RecoveryEngine,
    audit: &Audit,
    replicas: &[InstanceKey],
    source: &InstanceKey,
) -> Vec<(InstanceKey, String)> {
    let attempts = replicas.iter().map(|replica| async move {
        (
            replica.clone(),
            repoint(engine, audit, replica, source).await,
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
pub(crate) async fn verify_following(
    engine: &RecoveryEngine,
    source: &InstanceKey,
    replicas: &[InstanceKey],
) -> Result<Vec<(InstanceKey, String)>, String> {
    let started = Instant::now();
    // Replicas usually follow within milliseconds of START SLAVE: look again soon, then less
    // often, so the recovery (and its hooks) end right after the last replica follows.
    let mut pause = Duration::from_millis(5);
    loop {
        let mut keys = vec![source.clone()];
        keys.extend(replicas.iter().cloned());
        engine.inner.discovery.probe_now(&keys).await;
        let snapshot = engine.snapshot().await.map_err(|e| e.to_string())?;
        let topology = &snapshot.topology;
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
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

pub(crate) fn policy<'a>(
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

pub(crate) fn ignore_matcher(engine: &RecoveryEngine) -> impl Fn(&str) -> bool {
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
pub(crate) async fn catch_up(
    engine: &RecoveryEngine,
    audit: &Audit,
    target: &InstanceKey,
    ahead: &InstanceKey,
) -> Result<(), String> {
    let timeout = engine.inner.settings.catch_up_timeout;
    let mut source = open(engine, ahead).await?;
    if !apply_received(&mut source, audit, ApplyWait::Within(timeout)).await? {
        return Err(format!("{ahead} did not apply its relay log in time"));
    }
    let position_sql = source.dialect().executed_position_sql();
    let position = source
        .query_value(position_sql)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    repoint(engine, audit, target, ahead).await?;
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
