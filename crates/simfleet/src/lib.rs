//! A simulated MySQL/MariaDB fleet: many fake instances in one process, each on its own
//! loopback port, answering the MySQL protocol well enough for arbor's probes and recoveries:
//! versions and flavours (MariaDB 10.11, MySQL 8.0, 8.4, each with its own statement dialect),
//! replication state built from the simulated topology, GTID positions that advance under a
//! simulated write load, replication lag, and faults on command (kill: connections refused;
//! hang: connections accepted and never answered; slow: every reply delayed; broken
//! replication: the SQL thread stopped on an error).
//!
//! It is for scale and fault cases real servers cannot give; behaviour claims about MySQL are
//! tested against real `mariadbd` elsewhere.
//!
//! Replication statements change the simulated topology as they would a real one (`STOP/START
//! SLAVE|REPLICA`, `CHANGE MASTER|REPLICATION SOURCE TO ... PORT`, `RESET SLAVE|REPLICA
//! [ALL]`, `SET GLOBAL read_only`), and the waits a recovery makes (`MASTER_GTID_WAIT`,
//! `WAIT_FOR_EXECUTED_GTID_SET`) return once the position is applied.
//! Limits: one binary log file per server, no errant transactions, replication filters,
//! delays and credentials accepted and ignored, no prepared statements.
//!
//! Fleets are described in code (`Fleet::start`), by a JSON file or a generator
//! ([`Topology`]), and `arbor simfleet` runs one as a process of its own ([`control`]).

pub mod control;
mod model;
mod protocol;
mod sql;
mod topology;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use model::Health;
use model::{FleetState, Instance};
use protocol::{Command, Packets, Reply};
use sql::Outcome;
pub use topology::{ClusterSpec, InstanceSpec, Topology, TopologyError};

/// What an instance claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb1011,
    MySql80,
    MySql84,
}

impl Flavor {
    fn version(self) -> &'static str {
        match self {
            Flavor::MariaDb1011 => "10.11.6-MariaDB-log",
            Flavor::MySql80 => "8.0.36-log",
            Flavor::MySql84 => "8.4.3",
        }
    }

    fn is_mariadb(self) -> bool {
        self == Flavor::MariaDb1011
    }

    /// The semi-sync variables' generation: MariaDB and MySQL before 8.0.26 say
    /// `master`/`slave`, MySQL 8.0.26 and later (its new plugins) `source`/`replica`.
    fn semi_sync_words(self) -> (&'static str, &'static str) {
        match self {
            Flavor::MariaDb1011 => ("master", "slave"),
            Flavor::MySql80 | Flavor::MySql84 => ("source", "replica"),
        }
    }

    /// MySQL 8.4 answers only the new `REPLICA`/`SOURCE` statements and columns.
    fn replica_words(self) -> bool {
        self == Flavor::MySql84
    }
}

/// How often the write load and replication advance.
const TICK: Duration = Duration::from_millis(100);
/// How often a held or waiting connection looks at its instance again.
const RECHECK: Duration = Duration::from_millis(10);

/// A running fleet; its instances stop when it is dropped.
pub struct Fleet {
    state: Arc<Mutex<FleetState>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Fleet {
    /// Starts one instance per entry of `sources` (the index of its source, `None` for a
    /// primary), all of `flavor`, each listening on a free port of 127.0.0.1.
    pub async fn start(sources: &[Option<usize>], flavor: Flavor) -> io::Result<Fleet> {
        let specs = sources.iter().map(|s| (flavor, *s, 0.0)).collect();
        Fleet::build(specs, 0.0).await
    }

    /// Starts the instances a topology describes, cluster after cluster (instance indices
    /// count across clusters).
    pub async fn from_topology(topology: &Topology) -> io::Result<Fleet> {
        topology
            .check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Fleet::build(topology.instances(), topology.write_rate).await
    }

    async fn build(specs: Vec<(Flavor, Option<usize>, f64)>, write_rate: f64) -> io::Result<Fleet> {
        let mut state = FleetState {
            write_rate,
            ..FleetState::default()
        };
        let mut listeners = Vec::new();
        for (index, (flavor, source, lag)) in specs.iter().enumerate() {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let port = listener.local_addr()?.port();
            let mut instance = Instance::new(port, index as u32 + 1, *flavor, *source);
            instance.lag_seconds = *lag;
            state.instances.push(instance);
            listeners.push(listener);
        }
        // Every instance starts with its cluster primary's transactions.
        for index in 0..state.instances.len() {
            let root = state.root_of(index);
            let writer = state.instances[root].server_id;
            state.instances[index].history = vec![(writer, 1)];
        }
        let state = Arc::new(Mutex::new(state));
        let mut tasks: Vec<JoinHandle<()>> = listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| tokio::spawn(serve(listener, Arc::clone(&state), index)))
            .collect();
        let ticking = Arc::clone(&state);
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = Instant::now();
            loop {
                interval.tick().await;
                let now = Instant::now();
                lock(&ticking).tick(now - last);
                last = now;
            }
        }));
        Ok(Fleet { state, tasks })
    }

    fn with<T>(&self, work: impl FnOnce(&mut FleetState) -> T) -> T {
        work(&mut lock(&self.state))
    }

    pub fn len(&self) -> usize {
        self.with(|s| s.instances.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn port(&self, index: usize) -> u16 {
        self.with(|s| s.instances[index].port)
    }

    /// The instance listening on `port`, if it is one of this fleet's.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.with(|s| s.instances.iter().position(|i| i.port == port))
    }

    /// `127.0.0.1:PORT` of instance `index`.
    pub fn key(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.port(index))
    }

    /// Sets how instance `index` behaves from now on (its open connections too).
    pub fn set_health(&self, index: usize, health: Health) {
        self.with(|s| {
            s.instances[index].health = health;
            s.health_changes.0.send_replace(());
        });
    }

    /// Delays every reply of instance `index` by `delay` (zero: answers at once again).
    pub fn set_delay(&self, index: usize, delay: Duration) {
        self.with(|s| s.instances[index].delay = delay);
    }

    /// Transactions per second each writable primary commits from now on.
    pub fn set_write_rate(&self, per_second: f64) {
        self.with(|s| s.write_rate = per_second.max(0.0));
    }

    /// How far instance `index`'s SQL thread trails what it receives while writes flow.
    pub fn set_lag(&self, index: usize, seconds: f64) {
        self.with(|s| s.instances[index].lag_seconds = seconds.max(0.0));
    }

    /// Breaks instance `index`'s replication: its SQL thread stops on a duplicate-key error,
    /// as when a row written on the replica collides with the source's. `START SLAVE` fails the
    /// same way; skipping the event (`sql_slave_skip_counter`), `RESET SLAVE` or a new source
    /// clears it.
    pub fn break_replication(&self, index: usize) {
        self.with(|s| {
            let instance = &mut s.instances[index];
            instance.sql_running = false;
            instance.sql_error = Some((
                1062,
                "Could not execute Write_rows event on table app.t: Duplicate entry '1' for \
                 key 'PRIMARY'"
                    .into(),
            ));
        });
    }

    /// The index of instance `index`'s source, if it replicates.
    pub fn source_of(&self, index: usize) -> Option<usize> {
        self.with(|s| s.instances[index].source)
    }

    /// Whether instance `index` replicates with both threads running.
    pub fn is_replicating(&self, index: usize) -> bool {
        self.with(|s| {
            let i = &s.instances[index];
            i.source.is_some() && i.io_running && i.sql_running && i.sql_error.is_none()
        })
    }

    /// Instance `index`'s semi-sync sides: (primary side on, replica side on).
    pub fn semi_sync(&self, index: usize) -> (bool, bool) {
        self.with(|s| {
            let i = &s.instances[index];
            (i.semi_sync_primary, i.semi_sync_replica)
        })
    }

    /// Turns instance `index`'s semi-sync sides on or off (as `SET GLOBAL` would).
    pub fn set_semi_sync(&self, index: usize, primary_side: bool, replica_side: bool) {
        self.with(|s| {
            let i = &mut s.instances[index];
            i.semi_sync_primary = primary_side;
            i.semi_sync_replica = replica_side;
        })
    }

    /// Makes instance `index` also replicate from `source` over the named link `name` (a
    /// MySQL channel, a MariaDB named connection): multi-source.
    pub fn add_channel(&self, index: usize, name: &str, source: usize) {
        self.with(|s| s.instances[index].channels.push((name.to_string(), source)))
    }

    pub fn is_read_only(&self, index: usize) -> bool {
        self.with(|s| s.instances[index].read_only)
    }

    /// Transactions instance `index` has applied.
    pub fn executed(&self, index: usize) -> u64 {
        self.with(|s| s.instances[index].executed)
    }

    /// Transactions instance `index` has received (its relay log's end).
    pub fn received(&self, index: usize) -> u64 {
        self.with(|s| s.instances[index].received)
    }

    /// Instance `index`'s executed GTID set, as its flavour shows it.
    pub fn gtid_executed(&self, index: usize) -> String {
        self.with(|s| {
            let i = &s.instances[index];
            i.gtid_set(i.executed)
        })
    }
}

fn lock(state: &Mutex<FleetState>) -> std::sync::MutexGuard<'_, FleetState> {
    // A panic elsewhere while holding the lock leaves plain data behind: still usable.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn health_of(state: &Mutex<FleetState>, index: usize) -> (Health, Duration) {
    let state = lock(state);
    let instance = &state.instances[index];
    (instance.health, instance.delay)
}

/// Accepts connections for one instance for as long as the fleet runs.
async fn serve(listener: TcpListener, state: Arc<Mutex<FleetState>>, index: usize) {
    let mut held = Vec::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: wait rather than spin.
            tokio::time::sleep(RECHECK).await;
            continue;
        };
        match health_of(&state, index).0 {
            // Closed at once: the client sees the connection fail, as with a dead server.
            Health::Dead => drop(stream),
            // Kept open, never answered.
            Health::Hung => held.push(stream),
            Health::Up => {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let _ = connection(stream, state, index).await;
                });
            }
        }
    }
}

/// Waits out a fault on an open connection: returns false when the connection must close.
async fn wait_until_up(state: &Mutex<FleetState>, index: usize) -> bool {
    loop {
        match health_of(state, index) {
            (Health::Up, delay) => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                return true;
            }
            (Health::Dead, _) => return false,
            // A frozen server answers nothing until it thaws.
            (Health::Hung, _) => tokio::time::sleep(RECHECK).await,
        }
    }
}

/// `DO SLEEP` on an open connection, the way a server does it: answered when the time is up;
/// a server that dies meanwhile closes the connection (false), one that freezes answers only
/// once it thaws. Waits on health changes rather than polling: thousands of primaries are
/// watched this way at once.
async fn sleep_on(state: &Mutex<FleetState>, index: usize, time: Duration) -> bool {
    let until = tokio::time::Instant::now() + time;
    let mut changes = lock(state).health_changes.0.subscribe();
    loop {
        match health_of(state, index).0 {
            Health::Dead => return false,
            Health::Up if tokio::time::Instant::now() >= until => return true,
            Health::Up => {
                if let Ok(Err(_)) = tokio::time::timeout_at(until, changes.changed()).await {
                    return true;
                }
            }
            Health::Hung => {
                if changes.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// One client connection: handshake, then commands until the client quits or a fault ends it.
async fn connection(
    stream: TcpStream,
    state: Arc<Mutex<FleetState>>,
    index: usize,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let version = lock(&state).instances[index].flavor.version();
    let mut out = Packets::new(0);
    out.handshake(version, index as u32 + 1);
    writer.write_all(&out.bytes).await?;
    // Any credentials are accepted.
    let (seq, _response) = protocol::read_packet(&mut reader).await?;
    let mut out = Packets::new(seq.wrapping_add(1));
    out.ok(0);
    writer.write_all(&out.bytes).await?;

    loop {
        let (_, payload) = protocol::read_packet(&mut reader).await?;
        if !wait_until_up(&state, index).await {
            return Ok(());
        }
        let mut out = Packets::new(1);
        match protocol::parse_command(&payload) {
            Command::Quit => return Ok(()),
            Command::Silent => continue,
            Command::Ok => out.ok(0),
            Command::Unsupported(code) => out.error(
                1235,
                &format!("command {code:#04x} (prepared statements and others) is not simulated"),
            ),
            Command::Query(sql) => {
                let mut replies = Vec::new();
                for statement in protocol::split_statements(&sql) {
                    let outcome = sql::answer(&mut lock(&state), index, statement);
                    let reply = match outcome {
                        Outcome::Reply(reply) => reply,
                        Outcome::Sleep { seconds } => {
                            if !sleep_on(&state, index, Duration::from_secs_f64(seconds)).await {
                                return Ok(());
                            }
                            Reply::Done
                        }
                        Outcome::Wait {
                            position,
                            timeout_seconds,
                            timed_out,
                        } => {
                            let deadline =
                                Instant::now() + Duration::from_secs_f64(timeout_seconds);
                            let answer = loop {
                                if lock(&state).instances[index].executed >= position {
                                    break "0";
                                }
                                if Instant::now() >= deadline {
                                    break timed_out;
                                }
                                tokio::time::sleep(RECHECK).await;
                            };
                            Reply::rows(&["wait"], vec![vec![Some(answer.to_string())]])
                        }
                    };
                    let failed = matches!(reply, Reply::Error { .. });
                    replies.push(reply);
                    if failed {
                        break;
                    }
                }
                if replies.is_empty() {
                    replies.push(Reply::error(1065, "Query was empty"));
                }
                out.replies(&replies);
            }
        }
        writer.write_all(&out.bytes).await?;
    }
}

/// For fuzzing (`fuzz/`, `arbor-fuzz`): reads `bytes` as what a client sends after the
/// handshake (packets, commands, SQL) and answers each on a primary of a small simulated
/// cluster with one replica, as a connection would, without a socket. Never panics on any input
/// (that is what fuzzing checks); what it answers is not returned.
#[doc(hidden)]
pub fn answer_client_bytes(bytes: &[u8]) {
    use std::task::{Context, Poll, Waker};
    let mut state = FleetState::default();
    state
        .instances
        .push(Instance::new(3306, 1, Flavor::MariaDb1011, None));
    state
        .instances
        .push(Instance::new(3307, 2, Flavor::MySql84, Some(0)));
    let mut reader = bytes;
    let mut context = Context::from_waker(Waker::noop());
    loop {
        // Reading from a byte slice never waits: the future completes on its first poll.
        let next = std::future::Future::poll(
            std::pin::pin!(protocol::read_packet(&mut reader)),
            &mut context,
        );
        let payload = match next {
            Poll::Ready(Ok((_, payload))) => payload,
            Poll::Ready(Err(_)) | Poll::Pending => return,
        };
        let mut out = Packets::new(1);
        match protocol::parse_command(&payload) {
            Command::Quit => return,
            Command::Silent | Command::Ok | Command::Unsupported(_) => {}
            Command::Query(sql) => {
                let mut replies = Vec::new();
                for (turn, statement) in protocol::split_statements(&sql).into_iter().enumerate() {
                    if let Outcome::Reply(reply) = sql::answer(&mut state, turn % 2, statement) {
                        replies.push(reply);
                    }
                }
                out.replies(&replies);
            }
        }
    }
}
