use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_discovery::DiscoveryHandle;
use arbor_mysql::{Link, Operator, ReplicationSsl, Session};
use arbor_store::Intents;
use arbor_store::{LockDecision, Store, StoreError};
use arbor_topology::{BinlogCoordinates, InstanceKey, Timestamp, Topology, TopologyOptions};

use crate::checks::{can_replicate_from, can_replicate_from_binlog, is_descendant, route, Route};

mod errant;
mod operate;
mod regroup;

#[derive(Debug, thiserror::Error)]
pub enum RefactorError {
    /// The move cannot work; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Someone holds a maintenance lock on an instance the move needs.
    #[error("{key} is locked by {owner} ({reason}) until {until}")]
    Locked {
        key: InstanceKey,
        owner: String,
        reason: String,
        until: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// A statement failed part-way; the message says which and what was done before it.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Operations that change one server in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaOperation {
    StopReplica,
    StartReplica,
    RestartReplica,
    /// `STOP SLAVE` then `RESET SLAVE ALL`: the server stops being a replica.
    ResetReplica,
    SetReadOnly,
    SetWriteable,
    FlushBinaryLogs,
    SkipQuery,
    DelayReplication(u64),
    /// Rewrites the source host to `//host`: replication stops finding its source, keeping
    /// its position, until reattached.
    DetachSourceHost,
    ReattachSourceHost,
    /// `PURGE BINARY LOGS TO` the file, refused while a replica still reads older files.
    PurgeBinaryLogs(String),
    /// Stops the I/O thread, lets the SQL thread apply what was received (up to the given
    /// time), then stops replication: the replica stops at a consistent point.
    StopReplicaNicely(std::time::Duration),
    EnableGtid,
    DisableGtid,
    /// `KILL QUERY` of one connection.
    KillQuery(u64),
    /// Semi-synchronous replication on (`true`) or off, on the primary side.
    SemiSyncPrimary(bool),
    /// Semi-synchronous replication on (`true`) or off, on the replica side.
    SemiSyncReplica(bool),
}

impl ReplicaOperation {
    fn name(&self) -> &'static str {
        match self {
            ReplicaOperation::StopReplica => "stop-replica",
            ReplicaOperation::StartReplica => "start-replica",
            ReplicaOperation::RestartReplica => "restart-replica",
            ReplicaOperation::ResetReplica => "reset-replica",
            ReplicaOperation::SetReadOnly => "set-read-only",
            ReplicaOperation::SetWriteable => "set-writeable",
            ReplicaOperation::FlushBinaryLogs => "flush-binary-logs",
            ReplicaOperation::SkipQuery => "skip-query",
            ReplicaOperation::DelayReplication(_) => "delay-replication",
            ReplicaOperation::DetachSourceHost => "detach-replica-master-host",
            ReplicaOperation::ReattachSourceHost => "reattach-replica-master-host",
            ReplicaOperation::PurgeBinaryLogs(_) => "purge-binary-logs",
            ReplicaOperation::StopReplicaNicely(_) => "stop-replica-nice",
            ReplicaOperation::EnableGtid => "enable-gtid",
            ReplicaOperation::DisableGtid => "disable-gtid",
            ReplicaOperation::KillQuery(_) => "kill-query",
            ReplicaOperation::SemiSyncPrimary(true) => "enable-semi-sync-master",
            ReplicaOperation::SemiSyncPrimary(false) => "disable-semi-sync-master",
            ReplicaOperation::SemiSyncReplica(true) => "enable-semi-sync-replica",
            ReplicaOperation::SemiSyncReplica(false) => "disable-semi-sync-replica",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RefactorSettings {
    /// This node's name on the locks it takes.
    pub node_name: String,
    /// How long a move's lock holds at most (`MaintenanceExpireMinutes`), should the node die
    /// mid-move.
    pub lock_expiry: Duration,
    pub default_port: u16,
    /// `UseSuperReadOnly`.
    pub use_super_read_only: bool,
    /// `MySQLReplicaUser`/`MySQLReplicaPassword`: for a primary that starts replicating
    /// (`make-co-master`), which has no replication credentials of its own.
    pub replication_credentials: Option<(String, String)>,
    /// `MySQLReplicaSSL*`: TLS for the links a move makes.
    pub replication_ssl: Option<ReplicationSsl>,
}

impl Default for RefactorSettings {
    fn default() -> Self {
        RefactorSettings {
            node_name: "arbor".into(),
            lock_expiry: Duration::from_secs(600),
            default_port: 3306,
            use_super_read_only: false,
            replication_credentials: None,
            replication_ssl: None,
        }
    }
}

/// Moves replicas around and changes servers, safely: each operation checks first that it can
/// work, takes the maintenance locks of the instances it changes (refusing, with the holder's
/// name, when someone else holds one), acts, re-reads what it changed, and releases the locks.
#[derive(Clone)]
pub struct Refactorer {
    store: Arc<dyn Store>,
    discovery: DiscoveryHandle,
    operator: Operator,
    settings: RefactorSettings,
}

/// The locks one operation holds.
struct Locks {
    store: Arc<dyn Store>,
    held: Vec<(InstanceKey, i64)>,
}

impl Locks {
    async fn release(self) {
        for (key, id) in self.held {
            if let Err(error) = self.store.end_maintenance(&key, Some(id)).await {
                tracing::error!(%key, %error, "cannot release a maintenance lock");
            }
        }
    }
}

/// How long a move waits for the moved replica to be seen replicating from its new source.
const SETTLE_DEADLINE: Duration = Duration::from_secs(10);
/// How long a file:position move waits for a replica to apply up to the chosen point.
const APPLY_DEADLINE: Duration = Duration::from_secs(60);

/// Whether `a` comes before `b` in the same server's binary log (file names sort, as MySQL
/// numbers them with leading zeros).
fn is_before(a: &BinlogCoordinates, b: &BinlogCoordinates) -> bool {
    (a.log_file.as_str(), a.log_pos) < (b.log_file.as_str(), b.log_pos)
}

async fn exec(session: &mut Session, sql: &str) -> Result<(), RefactorError> {
    tracing::info!(key = %session.key(), "{sql}");
    session
        .execute(sql)
        .await
        .map_err(|e| RefactorError::Failed(format!("{}: {sql} failed: {e}", session.key())))
}

/// The end of a (stopped) server's binary log: where its replicas continue from.
async fn binary_log_end(session: &mut Session) -> Result<BinlogCoordinates, RefactorError> {
    let key = session.key().clone();
    session
        .binary_log_status()
        .await
        .map_err(|e| RefactorError::Failed(e.to_string()))?
        .ok_or_else(|| RefactorError::Failed(format!("{key} shows no binary log position")))
}

/// Starts replication again on the moved replica and its helper, whatever the move's
/// `result`: the replica from wherever it now points. The move's own error comes first.
async fn restart_both(
    result: Result<(), RefactorError>,
    moved: &mut Session,
    helper: &mut Session,
) -> Result<(), RefactorError> {
    let start = moved.dialect().start_replica();
    let restarted = exec(moved, &start).await;
    let start = helper.dialect().start_replica();
    let resumed = exec(helper, &start).await;
    result.and(restarted).and(resumed)
}

async fn status_of(session: &mut Session) -> Result<arbor_topology::ReplicaStatus, RefactorError> {
    let key = session.key().clone();
    session
        .replica_status()
        .await
        .map_err(|e| RefactorError::Failed(format!("cannot read {key}'s replication status: {e}")))?
        .ok_or_else(|| RefactorError::Failed(format!("{key} no longer replicates")))
}

/// Lets a stopped replica's SQL thread apply its source's log up to `until`, then stops it
/// again (both threads).
async fn apply_until(
    session: &mut Session,
    until: &BinlogCoordinates,
) -> Result<(), RefactorError> {
    let key = session.key().clone();
    let dialect = session.dialect();
    if !is_before(&status_of(session).await?.exec_coordinates, until) {
        return Ok(());
    }
    exec(session, &dialect.start_replica_until(until)).await?;
    let started = Instant::now();
    loop {
        let status = status_of(session).await?;
        if !status.sql_thread_running {
            if status.last_sql_errno != 0 {
                let _ = exec(session, &dialect.stop_replica()).await;
                return Err(RefactorError::Failed(format!(
                    "{key} stopped with error {} ({}) before reaching {}:{} of its source",
                    status.last_sql_errno, status.last_sql_error, until.log_file, until.log_pos
                )));
            }
            if !is_before(&status.exec_coordinates, until) {
                break;
            }
        }
        if started.elapsed() > APPLY_DEADLINE {
            let _ = exec(session, &dialect.stop_replica()).await;
            return Err(RefactorError::Failed(format!(
                "{key} did not reach {}:{} of its source within {}s",
                until.log_file,
                until.log_pos,
                APPLY_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec(session, &dialect.stop_replica()).await
}

impl Refactorer {
    pub fn new(
        store: Arc<dyn Store>,
        discovery: DiscoveryHandle,
        operator: Operator,
        settings: RefactorSettings,
    ) -> Refactorer {
        Refactorer {
            store,
            discovery,
            operator,
            settings,
        }
    }

    async fn topology(&self) -> Result<Topology, RefactorError> {
        let records = self.store.all_instances().await?;
        let successions = self.store.successions().await?;
        Ok(Topology::new(
            records,
            &TopologyOptions {
                default_port: self.settings.default_port,
                successions: &successions,
                ..TopologyOptions::default()
            },
        ))
    }

    /// Takes the locks of `keys` (in key order, so two operations never wait on each other in
    /// a circle), or none.
    async fn lock(&self, keys: &[InstanceKey], operation: &str) -> Result<Locks, RefactorError> {
        // Every server an operation changes is locked first: the one place to refuse those
        // whose replication arbor does not manage (named connections only).
        let topology = self.topology().await?;
        for key in keys {
            if let Some(why) = topology
                .record(key)
                .and_then(|r| r.instance.unmanaged_links())
            {
                return Err(RefactorError::Refused(format!("{operation}: {why}")));
            }
        }
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let mut locks = Locks {
            store: Arc::clone(&self.store),
            held: Vec::new(),
        };
        let now = Timestamp::now();
        for key in keys {
            let decision = self
                .store
                .begin_maintenance(
                    &key,
                    &format!("arbor {operation}"),
                    operation,
                    &self.settings.node_name,
                    now,
                    now.plus(self.settings.lock_expiry),
                )
                .await;
            match decision {
                Ok(LockDecision::Acquired { id }) => locks.held.push((key, id)),
                Ok(LockDecision::Held(holder)) => {
                    locks.release().await;
                    return Err(RefactorError::Locked {
                        key,
                        owner: holder.owner,
                        reason: holder.reason,
                        until: holder.expires_at.to_sql_datetime(),
                    });
                }
                Err(error) => {
                    locks.release().await;
                    return Err(error.into());
                }
            }
        }
        Ok(locks)
    }

    async fn session(&self, key: &InstanceKey) -> Result<Session, RefactorError> {
        self.operator
            .session(key)
            .await
            .map_err(|e| RefactorError::Failed(format!("cannot connect to {key}: {e}")))
    }

    async fn run(&self, key: &InstanceKey, statements: &[String]) -> Result<(), RefactorError> {
        // The replication password may be in a CHANGE MASTER: never in a log or a reply.
        let secret = self
            .settings
            .replication_credentials
            .as_ref()
            .map(|(_, password)| password.as_str())
            .filter(|p| !p.is_empty());
        let hide = |text: &str| match secret {
            Some(secret) => text.replace(secret, "****"),
            None => text.to_string(),
        };
        let mut session = self.session(key).await?;
        for (index, sql) in statements.iter().enumerate() {
            tracing::info!(%key, "{}", hide(sql));
            if let Err(error) = session.execute(sql).await {
                let done = statements[..index].join("; ");
                return Err(RefactorError::Failed(hide(&format!(
                    "{key}: {sql} failed: {error}{}",
                    if done.is_empty() {
                        String::new()
                    } else {
                        format!(" (done before it: {done})")
                    }
                ))));
            }
        }
        Ok(())
    }

    /// How `replica`'s link to a new source is set up: a replica keeps its own link's
    /// credentials and retry interval; a server with no link (it never replicated, or a
    /// failover demoted it) gets `MySQLReplicaUser`'s, or the move is refused.
    async fn link_for(&self, replica: &InstanceKey) -> Result<Link<'_>, RefactorError> {
        let has_link = self
            .session(replica)
            .await?
            .replica_status()
            .await
            .map_err(|e| {
                RefactorError::Failed(format!("cannot read {replica}'s replication status: {e}"))
            })?
            .is_some();
        if has_link {
            return Ok(Link::keep());
        }
        match &self.settings.replication_credentials {
            Some((user, password)) => Ok(Link::new_with(
                user,
                password,
                self.settings.replication_ssl.as_ref(),
            )),
            None => Err(RefactorError::Refused(format!(
                "{replica} has no replication link to keep credentials from: set \
                 MySQLReplicaUser and MySQLReplicaPassword"
            ))),
        }
    }

    /// Re-reads `keys` until `replica` replicates from `source` (or the deadline), so the
    /// caller gets the state after the move, not before.
    async fn settle(
        &self,
        keys: &[InstanceKey],
        replica: &InstanceKey,
        source: &InstanceKey,
    ) -> Result<(), RefactorError> {
        let started = Instant::now();
        loop {
            self.discovery.probe_now(keys).await;
            let topology = self.topology().await?;
            let following = topology.record(replica).is_some_and(|r| {
                r.instance
                    .replication
                    .as_ref()
                    .is_some_and(|status| &status.source == source && status.is_replicating())
            });
            if following || started.elapsed() > SETTLE_DEADLINE {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn repoint_locked(
        &self,
        replica: &InstanceKey,
        source: &InstanceKey,
    ) -> Result<(), RefactorError> {
        let dialect = self.session(replica).await?.dialect();
        let link = self.link_for(replica).await?;
        // A server without a link (a demoted primary) starts from what its own binary log
        // holds, not from a replica position it had long ago (MariaDB's gtid_slave_pos).
        let mut statements = if link.credentials.is_some() {
            dialect.prepare_former_primary()
        } else {
            Vec::new()
        };
        statements.extend(dialect.repoint_statements(source, &link));
        self.run(replica, &statements).await?;
        self.settle(&[replica.clone(), source.clone()], replica, source)
            .await
    }

    /// Checks, locks `replica`, moves it below `source`, re-reads.
    async fn checked_move(
        &self,
        replica: &InstanceKey,
        source: &InstanceKey,
        operation: &str,
    ) -> Result<(), RefactorError> {
        let locks = self.lock(std::slice::from_ref(replica), operation).await?;
        // Checked under the lock, on fresh readings: a move that finished just before must be
        // seen, and a source that just died must not be chosen.
        let result = async {
            self.discovery
                .probe_now(&[replica.clone(), source.clone()])
                .await;
            let topology = self.topology().await?;
            for key in [replica, source] {
                if topology.record(key).is_none() {
                    return Err(RefactorError::NotFound(format!("unknown instance {key}")));
                }
            }
            let route = route(&topology, replica, source).map_err(RefactorError::Refused)?;
            if route == Route::Gtid {
                can_replicate_from(&topology, replica, source).map_err(RefactorError::Refused)?;
                return self.repoint_locked(replica, source).await;
            }
            can_replicate_from_binlog(&topology, replica, source)
                .map_err(RefactorError::Refused)?;
            // The file:position routes stop a second server: it is locked too.
            let helper = match &route {
                Route::UpFrom { via } => via.clone(),
                _ => source.clone(),
            };
            let helper_lock = self.lock(std::slice::from_ref(&helper), operation).await?;
            let moved = match route {
                Route::UpFrom { via } => self.move_up_by_position(replica, &via, source).await,
                _ => self.move_below_by_position(replica, source).await,
            };
            helper_lock.release().await;
            moved
        }
        .await;
        locks.release().await;
        result
    }

    /// File:position move-up: `replica` below `via` below `target` goes below `target`. `via`
    /// stops, so its binary log ends at a known point; the replica applies up to that point;
    /// `via`'s own position on `target` is then where the replica continues.
    async fn move_up_by_position(
        &self,
        replica: &InstanceKey,
        via: &InstanceKey,
        target: &InstanceKey,
    ) -> Result<(), RefactorError> {
        let mut middle = self.session(via).await?;
        let mut moved = self.session(replica).await?;
        let dialect = moved.dialect();
        let stop = middle.dialect().stop_replica();
        exec(&mut middle, &stop).await?;
        let result = async {
            exec(&mut moved, &dialect.stop_replica()).await?;
            let end = binary_log_end(&mut middle).await?;
            apply_until(&mut moved, &end).await?;
            let at = status_of(&mut middle).await?.exec_coordinates;
            exec(
                &mut moved,
                &dialect.change_source_file_position(target, &at),
            )
            .await
        }
        .await;
        restart_both(result, &mut moved, &mut middle).await?;
        self.settle(
            &[replica.clone(), via.clone(), target.clone()],
            replica,
            target,
        )
        .await
    }

    /// File:position move-below: `replica` goes below its sibling `sibling`. Both stop; the one
    /// behind applies up to the other's point of their common source's log; from there on the
    /// sibling's binary log end is where the replica continues.
    async fn move_below_by_position(
        &self,
        replica: &InstanceKey,
        sibling: &InstanceKey,
    ) -> Result<(), RefactorError> {
        let mut new_source = self.session(sibling).await?;
        let mut moved = self.session(replica).await?;
        let dialect = moved.dialect();
        let stop = new_source.dialect().stop_replica();
        exec(&mut new_source, &stop).await?;
        let result = async {
            exec(&mut moved, &dialect.stop_replica()).await?;
            let mine = status_of(&mut moved).await?.exec_coordinates;
            let theirs = status_of(&mut new_source).await?.exec_coordinates;
            if is_before(&mine, &theirs) {
                apply_until(&mut moved, &theirs).await?;
            } else if is_before(&theirs, &mine) {
                apply_until(&mut new_source, &mine).await?;
            }
            let end = binary_log_end(&mut new_source).await?;
            exec(
                &mut moved,
                &dialect.change_source_file_position(sibling, &end),
            )
            .await
        }
        .await;
        restart_both(result, &mut moved, &mut new_source).await?;
        self.settle(&[replica.clone(), sibling.clone()], replica, sibling)
            .await
    }

    /// `key`'s record, or "unknown instance" (404), as orchestrator answers.
    fn known<'t>(
        topology: &'t Topology,
        key: &InstanceKey,
    ) -> Result<&'t arbor_topology::InstanceRecord, RefactorError> {
        topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))
    }

    fn source_of(topology: &Topology, key: &InstanceKey) -> Result<InstanceKey, RefactorError> {
        let record = Self::known(topology, key)?;
        record
            .instance
            .source()
            .cloned()
            .ok_or_else(|| RefactorError::Refused(format!("{key} is not a replica")))
    }

    /// `relocate`: moves `replica` below `source`, anywhere it can replicate from.
    pub async fn relocate(
        &self,
        replica: &InstanceKey,
        source: &InstanceKey,
    ) -> Result<(), RefactorError> {
        self.checked_move(replica, source, "relocate").await
    }

    /// `move-up`: `replica` becomes a sibling of its source.
    pub async fn move_up(&self, replica: &InstanceKey) -> Result<(), RefactorError> {
        let topology = self.topology().await?;
        let source = Self::source_of(&topology, replica)?;
        let grandparent = Self::source_of(&topology, &source).map_err(|_| {
            RefactorError::Refused(format!(
                "{replica}'s source {source} is a primary: nothing to move up to"
            ))
        })?;
        self.checked_move(replica, &grandparent, "move-up").await
    }

    /// `move-below`: `replica` goes below its sibling `sibling`.
    pub async fn move_below(
        &self,
        replica: &InstanceKey,
        sibling: &InstanceKey,
    ) -> Result<(), RefactorError> {
        let topology = self.topology().await?;
        let source = Self::source_of(&topology, replica)?;
        let sibling_source = Self::source_of(&topology, sibling).ok();
        if sibling_source.as_ref() != Some(&source) {
            return Err(RefactorError::Refused(format!(
                "{sibling} is not a sibling of {replica}: use relocate"
            )));
        }
        self.checked_move(replica, sibling, "move-below").await
    }

    /// `repoint`: points `replica` at `source` (default: its current source), checking only
    /// that the source can be reached (orchestrator's "risky" move).
    pub async fn repoint(
        &self,
        replica: &InstanceKey,
        source: Option<&InstanceKey>,
    ) -> Result<(), RefactorError> {
        let topology = self.topology().await?;
        let source = match source {
            Some(source) => source.clone(),
            None => Self::source_of(&topology, replica)?,
        };
        if !topology
            .record(&source)
            .is_some_and(|r| r.is_last_check_valid())
        {
            return Err(RefactorError::Refused(format!(
                "{source} cannot be reached"
            )));
        }
        if &source == replica || is_descendant(&topology, &source, replica) {
            return Err(RefactorError::Refused(format!(
                "{source} replicates from {replica}: it would make a loop"
            )));
        }
        let locks = self.lock(std::slice::from_ref(replica), "repoint").await?;
        let result = self.repoint_locked(replica, &source).await;
        locks.release().await;
        result
    }

    /// Moves each replica of `key` (each checked and locked on its own); partial success is
    /// success, the others' errors are returned beside the moved ones.
    async fn move_each(
        &self,
        replicas: Vec<InstanceKey>,
        target: &InstanceKey,
        operation: &str,
        checked: bool,
    ) -> Result<(Vec<InstanceKey>, Vec<String>), RefactorError> {
        let attempts = replicas.iter().map(|replica| async move {
            let result = if checked {
                self.checked_move(replica, target, operation).await
            } else {
                self.repoint(replica, Some(target)).await
            };
            (replica.clone(), result)
        });
        let mut moved = Vec::new();
        let mut errors = Vec::new();
        for (replica, result) in futures_util::future::join_all(attempts).await {
            match result {
                Ok(()) => moved.push(replica),
                Err(error) => errors.push(format!("{replica}: {error}")),
            }
        }
        if moved.is_empty() && !errors.is_empty() {
            return Err(RefactorError::Failed(errors.join("; ")));
        }
        Ok((moved, errors))
    }

    /// `relocate-replicas`: every replica of `key` below `target`.
    pub async fn relocate_replicas(
        &self,
        key: &InstanceKey,
        target: &InstanceKey,
    ) -> Result<(Vec<InstanceKey>, Vec<String>), RefactorError> {
        let topology = self.topology().await?;
        Self::known(&topology, key)?;
        Self::known(&topology, target)?;
        let replicas: Vec<InstanceKey> = topology
            .replica_keys_of(key)
            .into_iter()
            .filter(|k| k != target)
            .collect();
        self.move_each(replicas, target, "relocate-replicas", true)
            .await
    }

    /// `move-up-replicas`: every replica of `key` becomes its sibling.
    pub async fn move_up_replicas(
        &self,
        key: &InstanceKey,
    ) -> Result<(Vec<InstanceKey>, Vec<String>), RefactorError> {
        let topology = self.topology().await?;
        let source = Self::source_of(&topology, key)?;
        let replicas = topology.replica_keys_of(key);
        self.move_each(replicas, &source, "move-up-replicas", true)
            .await
    }

    /// `repoint-replicas`: every replica of `key` re-pointed at it.
    pub async fn repoint_replicas(
        &self,
        key: &InstanceKey,
    ) -> Result<(Vec<InstanceKey>, Vec<String>), RefactorError> {
        let topology = self.topology().await?;
        Self::known(&topology, key)?;
        let replicas = topology.replica_keys_of(key);
        self.move_each(replicas, key, "repoint-replicas", false)
            .await
    }

    /// `take-siblings`: the other replicas of `key`'s source move below `key`.
    pub async fn take_siblings(
        &self,
        key: &InstanceKey,
    ) -> Result<(Vec<InstanceKey>, Vec<String>), RefactorError> {
        let topology = self.topology().await?;
        let source = Self::source_of(&topology, key)?;
        let siblings = topology
            .replica_keys_of(&source)
            .into_iter()
            .filter(|k| k != key)
            .collect();
        self.move_each(siblings, key, "take-siblings", true).await
    }

    /// `take-master`: `key` and its source swap places (its source must itself be a replica).
    pub async fn take_master(&self, key: &InstanceKey) -> Result<(), RefactorError> {
        let topology = self.topology().await?;
        let source = Self::source_of(&topology, key)?;
        let grandparent = Self::source_of(&topology, &source).map_err(|_| {
            RefactorError::Refused(format!(
                "{source} is a primary: use graceful-master-takeover to replace a primary"
            ))
        })?;
        can_replicate_from(&topology, key, &grandparent).map_err(RefactorError::Refused)?;
        let locks = self
            .lock(&[key.clone(), source.clone()], "take-master")
            .await?;
        let result = async {
            self.repoint_locked(key, &grandparent).await?;
            self.repoint_locked(&source, key).await
        }
        .await;
        locks.release().await;
        result
    }

    /// `make-co-master`: `key`'s source (a primary) also replicates from `key`: a two-node ring.
    pub async fn make_co_master(&self, key: &InstanceKey) -> Result<(), RefactorError> {
        let topology = self.topology().await?;
        let source = Self::source_of(&topology, key)?;
        if topology
            .record(&source)
            .and_then(|r| r.instance.source())
            .is_some()
        {
            return Err(RefactorError::Refused(format!(
                "{source} is not a primary: make-co-master pairs a primary with its replica"
            )));
        }
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
        if !(record.instance.log_bin && record.instance.log_replica_updates) {
            return Err(RefactorError::Refused(format!(
                "{key} must write a binary log with log_slave_updates to be a co-primary"
            )));
        }
        let Some((user, password)) = self.settings.replication_credentials.clone() else {
            return Err(RefactorError::Refused(format!(
                "{source} has never replicated: make-co-master needs replication credentials (MySQLReplicaUser, MySQLReplicaPassword)"
            )));
        };
        let locks = self
            .lock(std::slice::from_ref(&source), "make-co-master")
            .await?;
        let result = async {
            let dialect = self.session(&source).await?.dialect();
            let mut statements = dialect.prepare_former_primary();
            statements.extend(dialect.repoint_statements(
                key,
                &Link::new_with(&user, &password, self.settings.replication_ssl.as_ref()),
            ));
            self.run(&source, &statements).await?;
            self.settle(&[source.clone(), key.clone()], &source, key)
                .await
        }
        .await;
        locks.release().await;
        result
    }

    /// Whether `replica` can replicate from `source`, and why not.
    pub async fn can_replicate_from(
        &self,
        replica: &InstanceKey,
        source: &InstanceKey,
    ) -> Result<Result<(), String>, RefactorError> {
        let topology = self.topology().await?;
        Ok(can_replicate_from(&topology, replica, source))
    }
}
