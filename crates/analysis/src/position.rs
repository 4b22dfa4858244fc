//! How far a replica got, comparable between replicas of one source: used to choose the
//! replica to promote (recovery) and the one to regroup siblings under (refactoring).

use std::collections::BTreeMap;

use arbor_topology::{Flavor, InstanceRecord};

use crate::MysqlGtidSet;

/// How far a replica got: per GTID domain (MariaDB) or per source UUID (MySQL), the number of
/// transactions it received. Comparable when replicas share their source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub per_stream: BTreeMap<String, u64>,
}

impl Position {
    pub fn of(record: &InstanceRecord) -> Position {
        let instance = &record.instance;
        let received = instance
            .replication
            .as_ref()
            .map(|r| r.gtid_io_pos.as_str())
            .filter(|p| !p.is_empty());
        let mut per_stream = BTreeMap::new();
        match instance.flavor {
            Flavor::MariaDb => {
                // Received (Gtid_IO_Pos) and applied (gtid_slave_pos): the furthest of each.
                for text in [
                    received.unwrap_or(""),
                    instance.gtid_slave_pos.as_str(),
                    instance.gtid_executed.as_str(),
                ] {
                    for gtid in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                        let parts: Vec<&str> = gtid.split('-').collect();
                        if let (3, Ok(seq)) =
                            (parts.len(), parts.get(2).unwrap_or(&"").parse::<u64>())
                        {
                            let entry = per_stream.entry(parts[0].to_string()).or_insert(0);
                            *entry = (*entry).max(seq);
                        }
                    }
                }
            }
            Flavor::MySql | Flavor::Percona => {
                let executed = MysqlGtidSet::parse(&instance.gtid_executed);
                let retrieved = MysqlGtidSet::parse(received.unwrap_or(""));
                for (uuid, count) in executed.counts().into_iter().chain(retrieved.counts()) {
                    let entry = per_stream.entry(uuid).or_insert(0);
                    *entry = (*entry).max(count);
                }
            }
        }
        Position { per_stream }
    }

    /// Whether this position has everything `other` has.
    pub fn covers(&self, other: &Position) -> bool {
        other
            .per_stream
            .iter()
            .all(|(stream, n)| self.per_stream.get(stream).is_some_and(|mine| mine >= n))
    }

    /// Transactions received over all streams.
    pub fn total(&self) -> u64 {
        self.per_stream.values().sum()
    }
}
