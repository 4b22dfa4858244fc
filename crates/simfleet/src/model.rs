//! The simulated servers' state: who replicates from whom, thread states, faults, and the
//! replication position each has received and applied under the simulated write load.
//!
//! A position is a count of transactions. Every instance also carries the history of who wrote
//! them (server id and first transaction number of each primary's run), copied down the
//! replication chain, so that GTIDs can be shown in each flavour's form: MariaDB's
//! `0-WRITER-SEQ` with sequence numbers continuing across primaries, MySQL's `UUID:1-N` per
//! writer.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Flavor;

/// How an instance behaves now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    /// Connections are refused (the process is gone).
    Dead,
    /// Connections are accepted and never answered (a frozen server).
    Hung,
}

/// Where each simulated server starts: enough transactions that GTIDs are not empty.
pub(crate) const INITIAL_TRANSACTIONS: u64 = 100;

#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) port: u16,
    pub(crate) server_id: u32,
    pub(crate) flavor: Flavor,
    pub(crate) source: Option<usize>,
    pub(crate) health: Health,
    /// Added before every reply (a slow server).
    pub(crate) delay: Duration,
    pub(crate) read_only: bool,
    pub(crate) io_running: bool,
    pub(crate) sql_running: bool,
    /// A broken replication stream: the SQL thread stopped on this error.
    pub(crate) sql_error: Option<(u32, String)>,
    /// How far the SQL thread trails what it received while writes flow (seconds).
    pub(crate) lag_seconds: f64,
    /// Transactions applied (its own executed set) and received (relay log).
    pub(crate) executed: u64,
    pub(crate) received: u64,
    /// (writer's server id, number of its run's first transaction), oldest first.
    pub(crate) history: Vec<(u32, u64)>,
    /// Fractional writes not yet committed (the write load is a rate).
    pending_writes: f64,
    /// The two sides of semi-synchronous replication (`rpl_semi_sync_*_enabled`).
    pub(crate) semi_sync_primary: bool,
    pub(crate) semi_sync_replica: bool,
    /// Named replication links besides `source` (multi-source: MySQL channels, MariaDB
    /// named connections), by name, to the instance each replicates from.
    pub(crate) channels: Vec<(String, usize)>,
}

impl Instance {
    pub(crate) fn new(port: u16, server_id: u32, flavor: Flavor, source: Option<usize>) -> Self {
        Instance {
            port,
            server_id,
            flavor,
            source,
            health: Health::Up,
            delay: Duration::ZERO,
            read_only: source.is_some(),
            io_running: source.is_some(),
            sql_running: source.is_some(),
            sql_error: None,
            lag_seconds: 0.0,
            executed: INITIAL_TRANSACTIONS,
            received: INITIAL_TRANSACTIONS,
            history: Vec::new(),
            pending_writes: 0.0,
            semi_sync_primary: false,
            semi_sync_replica: false,
            channels: Vec::new(),
        }
    }

    /// The writer of transaction `n`.
    fn writer_of(&self, n: u64) -> u32 {
        self.history
            .iter()
            .rev()
            .find(|(_, from)| *from <= n)
            .map(|(writer, _)| *writer)
            .unwrap_or(self.server_id)
    }

    /// MariaDB's `gtid_binlog_state` after the first `n` transactions: the last GTID each
    /// writer logged (every writer's transactions are replicated, so every server logs them).
    pub(crate) fn gtid_binlog_state(&self, n: u64) -> String {
        if n == 0 {
            return String::new();
        }
        if self.history.is_empty() {
            return format!("0-{}-{n}", self.server_id);
        }
        let mut last: BTreeMap<u32, u64> = BTreeMap::new();
        for (i, (writer, from)) in self.history.iter().enumerate() {
            let to = self
                .history
                .get(i + 1)
                .map(|(_, next)| next - 1)
                .unwrap_or(u64::MAX)
                .min(n);
            if to >= *from {
                let entry = last.entry(*writer).or_default();
                *entry = (*entry).max(to);
            }
        }
        last.iter()
            .map(|(writer, seq)| format!("0-{writer}-{seq}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The GTID form of the first `n` transactions, in this instance's flavour.
    pub(crate) fn gtid_set(&self, n: u64) -> String {
        if n == 0 {
            return String::new();
        }
        if self.flavor.is_mariadb() {
            return format!("0-{}-{n}", self.writer_of(n));
        }
        let mut per_writer: BTreeMap<u32, u64> = BTreeMap::new();
        for (i, (writer, from)) in self.history.iter().enumerate() {
            let to = self
                .history
                .get(i + 1)
                .map(|(_, next)| next - 1)
                .unwrap_or(u64::MAX)
                .min(n);
            if to >= *from {
                *per_writer.entry(*writer).or_default() += to - from + 1;
            }
        }
        per_writer
            .iter()
            .map(|(writer, count)| format!("{}:1-{count}", uuid(*writer)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Binary log offset after `n` transactions (one file, 250 bytes a transaction).
    pub(crate) fn log_position(n: u64) -> u64 {
        4 + n * 250
    }
}

/// The position (transaction count) a GTID set in either flavour names: MariaDB's sequence
/// number, or the sum of MySQL's per-writer counts.
pub(crate) fn position_of(gtid_set: &str) -> u64 {
    gtid_set
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            if part.contains(':') {
                part.rsplit(':')
                    .next()
                    .and_then(|range| range.rsplit('-').next())
                    .and_then(|n| n.parse::<u64>().ok())
            } else {
                part.rsplit('-').next().and_then(|n| n.parse::<u64>().ok())
            }
        })
        .fold(0, |acc, n| {
            if gtid_set.contains(':') {
                acc + n
            } else {
                acc.max(n)
            }
        })
}

pub(crate) fn uuid(server_id: u32) -> String {
    format!("00000000-0000-0000-0000-{server_id:012}")
}

#[derive(Debug, Default)]
pub(crate) struct FleetState {
    pub(crate) instances: Vec<Instance>,
    /// Transactions per second each writable primary commits.
    pub(crate) write_rate: f64,
    pub(crate) health_changes: HealthChanges,
}

/// Told whenever an instance's health changes: connections held open (a watcher's `DO
/// SLEEP`) wait on it instead of polling, which at thousands of primaries would cost the
/// fleet more than answering probes.
#[derive(Debug)]
pub(crate) struct HealthChanges(pub(crate) tokio::sync::watch::Sender<()>);

impl Default for HealthChanges {
    fn default() -> Self {
        HealthChanges(tokio::sync::watch::channel(()).0)
    }
}

impl FleetState {
    pub(crate) fn root_of(&self, mut index: usize) -> usize {
        let mut steps = 0;
        while let Some(source) = self.instances[index].source {
            index = source;
            steps += 1;
            if steps > self.instances.len() {
                break;
            }
        }
        index
    }

    /// Whether `index`'s IO thread is connected to a live source.
    pub(crate) fn connected(&self, index: usize) -> bool {
        let me = &self.instances[index];
        me.io_running
            && me
                .source
                .is_some_and(|s| self.instances[s].health == Health::Up)
    }

    /// Seconds the SQL thread trails what it received (None when not replicating).
    pub(crate) fn seconds_behind(&self, index: usize) -> Option<u64> {
        let me = &self.instances[index];
        if !self.connected(index) || !me.sql_running {
            return None;
        }
        if self.write_rate <= 0.0 {
            return Some(0);
        }
        Some(((me.received - me.executed) as f64 / self.write_rate).round() as u64)
    }

    /// Advances the simulation by `dt`: primaries commit, replicas receive and apply.
    pub(crate) fn tick(&mut self, dt: Duration) {
        let dt = dt.as_secs_f64();
        let rate = self.write_rate;
        for index in 0..self.instances.len() {
            let connected = self.connected(index);
            let source = self.instances[index].source;
            if let Some(s) = source {
                // Copied only when it changed: a clone per replica per tick would be most of
                // the fleet's work at thousands of instances.
                if connected
                    && self.instances[s].executed > self.instances[index].received
                    && self.instances[s].history != self.instances[index].history
                {
                    let history = self.instances[s].history.clone();
                    self.instances[index].history = history;
                }
            }
            let upstream = source.map(|s| self.instances[s].executed);
            let me = &mut self.instances[index];
            if me.health != Health::Up {
                continue;
            }
            match upstream {
                None => {
                    if me.read_only || rate <= 0.0 {
                        continue;
                    }
                    me.pending_writes += rate * dt;
                    let commits = me.pending_writes.floor() as u64;
                    if commits == 0 {
                        continue;
                    }
                    me.pending_writes -= commits as f64;
                    if me.history.last().map(|(writer, _)| *writer) != Some(me.server_id) {
                        me.history.push((me.server_id, me.executed + 1));
                    }
                    me.executed += commits;
                    me.received = me.executed;
                }
                Some(source_executed) => {
                    let mut flowing = false;
                    if connected && source_executed > me.received {
                        me.received = source_executed;
                        flowing = true;
                    }
                    if !me.sql_running || me.sql_error.is_some() {
                        continue;
                    }
                    let target = if flowing {
                        me.received
                            .saturating_sub((me.lag_seconds * rate).round() as u64)
                    } else {
                        me.received
                    };
                    if target <= me.executed {
                        continue;
                    }
                    if me.lag_seconds <= 0.0 {
                        me.executed = target;
                    } else {
                        // Catching up runs at twice the write rate (at least 100/s).
                        let step = ((2.0 * rate).max(100.0) * dt).ceil() as u64;
                        me.executed = (me.executed + step).min(target);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(flavor: Flavor) -> FleetState {
        let mut state = FleetState {
            write_rate: 100.0,
            ..FleetState::default()
        };
        state.instances.push(Instance::new(1, 1, flavor, None));
        state.instances.push(Instance::new(2, 2, flavor, Some(0)));
        state.instances.push(Instance::new(3, 3, flavor, Some(0)));
        for instance in &mut state.instances {
            instance.history = vec![(1, 1)];
        }
        state
    }

    #[test]
    fn writes_advance_the_primary_and_flow_to_its_replicas() {
        let mut state = cluster(Flavor::MariaDb1011);
        state.instances[2].lag_seconds = 1.0;
        for _ in 0..20 {
            state.tick(Duration::from_millis(100));
        }
        assert_eq!(state.instances[0].executed, 300);
        assert_eq!(state.instances[1].executed, 300);
        assert_eq!(state.instances[2].received, 300);
        assert_eq!(state.instances[2].executed, 200);
        assert_eq!(state.seconds_behind(2), Some(1));
        assert_eq!(state.instances[1].gtid_set(300), "0-1-300");

        // The primary dies: the lagging replica applies what it already received.
        state.instances[0].health = Health::Dead;
        for _ in 0..20 {
            state.tick(Duration::from_millis(100));
        }
        assert_eq!(state.instances[2].executed, 300);
        assert_eq!(state.seconds_behind(2), None);
    }

    #[test]
    fn gtids_name_each_writer_in_each_flavour() {
        let mut state = cluster(Flavor::MySql80);
        state.tick(Duration::from_secs(1));
        // Instance 1 takes over as primary of instance 2.
        state.instances[1].source = None;
        state.instances[1].read_only = false;
        state.instances[2].source = Some(1);
        state.tick(Duration::from_millis(500));
        let replica = &state.instances[2];
        assert_eq!(replica.executed, 250);
        assert_eq!(
            replica.gtid_set(250),
            format!("{}:1-200,{}:1-50", uuid(1), uuid(2))
        );
        assert_eq!(position_of(&replica.gtid_set(250)), 250);
        assert_eq!(position_of("0-2-250"), 250);
        let mut mariadb = replica.clone();
        mariadb.flavor = Flavor::MariaDb1011;
        assert_eq!(mariadb.gtid_set(250), "0-2-250");
        assert_eq!(mariadb.gtid_set(120), "0-1-120");
    }
}
