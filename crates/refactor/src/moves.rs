use arbor_store::Intents;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_discovery::DiscoveryHandle;
use arbor_mysql::{Link, Operator, Session};
use arbor_store::{LockDecision, Store, StoreError};
use arbor_topology::{BinlogCoordinates, InstanceKey, Timestamp, Topology, TopologyOptions};

use crate::checks::{can_replicate_from, can_replicate_from_binlog, is_descendant, route, Route};

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
}

impl Default for RefactorSettings {
    fn default() -> Self {
        RefactorSettings {
            node_name: "arbor".into(),
            lock_expiry: Duration::from_secs(600),
            default_port: 3306,
            use_super_read_only: false,
            replication_credentials: None,
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
            Some((user, password)) => Ok(Link::new_with(user, password)),
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

    fn source_of(topology: &Topology, key: &InstanceKey) -> Result<InstanceKey, RefactorError> {
        let record = topology
            .record(key)
            .ok_or_else(|| RefactorError::NotFound(format!("unknown instance {key}")))?;
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
            statements.extend(dialect.repoint_statements(key, &Link::new_with(&user, &password)));
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
        );
        if needs_replica && !is_replica {
            return Err(RefactorError::Refused(format!("{key} is not a replica")));
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
