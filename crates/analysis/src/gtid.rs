//! Errant GTID detection: transactions a replica executed that did not come from its source.

use std::collections::BTreeMap;
use std::fmt;

use arbor_topology::{Flavor, Instance};

/// A MySQL GTID set (`uuid:1-5:7,uuid2:1-3`), as sorted, merged intervals per source UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtidSet {
    intervals: BTreeMap<String, Vec<(u64, u64)>>,
}

impl MysqlGtidSet {
    /// Parses leniently: whitespace and newlines are ignored, malformed parts are skipped (a
    /// reading is never rejected over its GTID text).
    pub fn parse(text: &str) -> MysqlGtidSet {
        let mut set = MysqlGtidSet::default();
        for part in text.split(',') {
            let part: String = part.chars().filter(|c| !c.is_whitespace()).collect();
            let mut pieces = part.split(':');
            let Some(uuid) = pieces.next().filter(|u| !u.is_empty()) else {
                continue;
            };
            for range in pieces {
                let (start, end) = match range.split_once('-') {
                    Some((a, b)) => (a.parse().ok(), b.parse().ok()),
                    None => (range.parse().ok(), range.parse().ok()),
                };
                if let (Some(start), Some(end)) = (start, end) {
                    if start <= end {
                        set.add(&uuid.to_ascii_lowercase(), start, end);
                    }
                }
            }
        }
        set
    }

    fn add(&mut self, uuid: &str, start: u64, end: u64) {
        let ranges = self.intervals.entry(uuid.to_string()).or_default();
        ranges.push((start, end));
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *ranges = merged;
    }

    /// The number of transactions per source UUID.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.intervals
            .iter()
            .map(|(uuid, ranges)| (uuid.clone(), ranges.iter().map(|(s, e)| e - s + 1).sum()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.intervals.values().all(Vec::is_empty)
    }

    /// The lowest transaction of the first UUID, as `uuid:n`.
    pub fn first(&self) -> Option<String> {
        self.intervals
            .iter()
            .find_map(|(uuid, ranges)| ranges.first().map(|(start, _)| format!("{uuid}:{start}")))
    }

    /// Only the transactions of one source UUID.
    pub fn only(&self, uuid: &str) -> MysqlGtidSet {
        let uuid = uuid.to_ascii_lowercase();
        MysqlGtidSet {
            intervals: self
                .intervals
                .iter()
                .filter(|(u, _)| **u == uuid)
                .map(|(u, r)| (u.clone(), r.clone()))
                .collect(),
        }
    }

    /// The transactions in `self` and not in `other`.
    pub fn subtract(&self, other: &MysqlGtidSet) -> MysqlGtidSet {
        let mut result = MysqlGtidSet::default();
        for (uuid, ranges) in &self.intervals {
            let removed = other.intervals.get(uuid).cloned().unwrap_or_default();
            for &(start, end) in ranges {
                let mut pieces = vec![(start, end)];
                for &(rs, re) in &removed {
                    pieces = pieces
                        .into_iter()
                        .flat_map(|(s, e)| {
                            let mut left = Vec::new();
                            if rs > s {
                                left.push((s, e.min(rs - 1)));
                            }
                            if re < e {
                                left.push((s.max(re + 1), e));
                            }
                            left.into_iter().filter(|(a, b)| a <= b)
                        })
                        .collect();
                }
                for (s, e) in pieces {
                    result.add(uuid, s, e);
                }
            }
        }
        result
    }
}

impl fmt::Display for MysqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .intervals
            .iter()
            .filter(|(_, ranges)| !ranges.is_empty())
            .map(|(uuid, ranges)| {
                let ranges: Vec<String> = ranges
                    .iter()
                    .map(|(s, e)| {
                        if s == e {
                            s.to_string()
                        } else {
                            format!("{s}-{e}")
                        }
                    })
                    .collect();
                format!("{uuid}:{}", ranges.join(":"))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// The errant transactions of `replica`, given a valid reading of its `source`; `None` when
/// there are none or when it cannot be told.
///
/// Only transactions the replica wrote itself count (MySQL: its own `server_uuid`; MariaDB: its
/// own `server_id` in `gtid_binlog_pos`). Comparing whole sets would flag transactions that
/// merely arrived between the two readings.
pub fn errant_gtid(replica: &Instance, source: Option<&Instance>) -> Option<String> {
    match replica.flavor {
        Flavor::MariaDb => {
            let own = replica.server_id.to_string();
            let errant: Vec<&str> = replica
                .gtid_binlog_pos
                .split(',')
                .map(str::trim)
                .filter(|gtid| {
                    let parts: Vec<&str> = gtid.split('-').collect();
                    parts.len() == 3 && parts[1] == own
                })
                .filter(|gtid| {
                    // A former primary's own writes that its source already has are not errant.
                    source.is_none_or(|s| !s.gtid_executed.split(',').any(|g| g.trim() == *gtid))
                })
                .collect();
            (!errant.is_empty()).then(|| errant.join(","))
        }
        Flavor::MySql | Flavor::Percona => {
            let source = source?;
            if replica.server_uuid.is_empty() {
                return None;
            }
            let own = MysqlGtidSet::parse(&replica.gtid_executed).only(&replica.server_uuid);
            let errant = own.subtract(&MysqlGtidSet::parse(&source.gtid_executed));
            (!errant.is_empty()).then(|| errant.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_topology::InstanceKey;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "8b2d7e10-0000-11e1-9e33-c80aa9429562";

    #[test]
    fn gtid_sets_parse_merge_subtract_and_print() {
        let set = MysqlGtidSet::parse(&format!("{A}:1-5:7, {A}:6,\n{B}:3"));
        assert_eq!(set.to_string(), format!("{A}:1-7,{B}:3"));
        let minus = set.subtract(&MysqlGtidSet::parse(&format!("{A}:2-3")));
        assert_eq!(minus.to_string(), format!("{A}:1:4-7,{B}:3"));
        assert!(set.subtract(&set).is_empty());
        assert_eq!(set.only(B).to_string(), format!("{B}:3"));
        assert!(MysqlGtidSet::parse("").is_empty());
        assert!(MysqlGtidSet::parse("garbage").is_empty());
    }

    fn mysql(uuid: &str, executed: &str) -> Instance {
        let mut instance = Instance::unseen(InstanceKey::new("h", 1));
        instance.flavor = Flavor::MySql;
        instance.server_uuid = uuid.into();
        instance.gtid_executed = executed.into();
        instance
    }

    fn mariadb(server_id: u64, binlog_pos: &str, current_pos: &str) -> Instance {
        let mut instance = Instance::unseen(InstanceKey::new("h", 1));
        instance.flavor = Flavor::MariaDb;
        instance.server_id = server_id;
        instance.gtid_binlog_pos = binlog_pos.into();
        instance.gtid_executed = current_pos.into();
        instance
    }

    #[test]
    fn errant_transactions_are_the_replicas_own_writes_its_source_lacks() {
        let source = mysql(A, &format!("{A}:1-100"));
        // Lagging behind is not errant; writing locally is.
        assert_eq!(
            errant_gtid(&mysql(B, &format!("{A}:1-90")), Some(&source)),
            None
        );
        assert_eq!(
            errant_gtid(&mysql(B, &format!("{A}:1-90,{B}:1-2")), Some(&source)),
            Some(format!("{B}:1-2"))
        );
        // Without a source reading nothing can be said.
        assert_eq!(errant_gtid(&mysql(B, &format!("{B}:1")), None), None);

        let primary = mariadb(1, "0-1-42", "0-1-42");
        assert_eq!(
            errant_gtid(&mariadb(2, "0-1-40", "0-1-40"), Some(&primary)),
            None
        );
        assert_eq!(
            errant_gtid(&mariadb(2, "0-2-41,9-2-1", "0-2-41,9-2-1"), Some(&primary)),
            Some("0-2-41,9-2-1".into())
        );
        // A demoted primary whose last write the new primary already has.
        let new_primary = mariadb(3, "0-3-50", "0-3-50,5-2-7");
        assert_eq!(
            errant_gtid(&mariadb(2, "5-2-7", "5-2-7"), Some(&new_primary)),
            None
        );
    }
}
