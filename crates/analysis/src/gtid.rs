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

/// What a MariaDB server's GTID variables say it has: per (domain, server id), the highest
/// sequence number. `gtid_binlog_state` lists every pair its binary log holds; the `_pos`
/// variables only the last GTID of each domain.
#[derive(Debug, Default)]
struct MariaDbHistory {
    per_server: BTreeMap<(u32, u64), u64>,
    per_domain: BTreeMap<u32, u64>,
}

impl MariaDbHistory {
    fn add(&mut self, text: &str) {
        for gtid in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if let Some((domain, server, seq)) = parse_mariadb_gtid(gtid) {
                let entry = self.per_server.entry((domain, server)).or_insert(0);
                *entry = (*entry).max(seq);
                let entry = self.per_domain.entry(domain).or_insert(0);
                *entry = (*entry).max(seq);
            }
        }
    }

    fn of(instance: &Instance) -> MariaDbHistory {
        let mut history = MariaDbHistory::default();
        for text in [
            &instance.gtid_binlog_state,
            &instance.gtid_binlog_pos,
            &instance.gtid_executed,
            &instance.gtid_slave_pos,
        ] {
            history.add(text);
        }
        history
    }

    fn is_empty(&self) -> bool {
        self.per_domain.is_empty()
    }

    /// Whether this history holds `domain-server-seq`. Without the server in its binary log
    /// state (an older reading, or a source without `gtid_binlog_state`), the domain's position
    /// decides: errant transactions are never guessed from missing information.
    fn holds(&self, domain: u32, server: u64, seq: u64, has_binlog_state: bool) -> bool {
        match self.per_server.get(&(domain, server)) {
            Some(last) => *last >= seq,
            None if has_binlog_state => false,
            None => self
                .per_domain
                .get(&domain)
                .is_some_and(|last| *last >= seq),
        }
    }
}

/// `domain-server-seq`.
fn parse_mariadb_gtid(gtid: &str) -> Option<(u32, u64, u64)> {
    let mut parts = gtid.split('-');
    let domain = parts.next()?.parse().ok()?;
    let server = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((domain, server, seq))
}

/// The errant transactions of `replica`: what it executed that the history of `source` (its
/// primary, or for a candidate in a failover the failed primary's last reading) never had.
/// `None` when there are none, or when it cannot be told (no reading of the source).
///
/// Only transactions the replica wrote itself count (MySQL: its own `server_uuid`; MariaDB: its
/// own `server_id`): transactions from elsewhere may merely have arrived between the two
/// readings. A former primary's own old writes are not errant when its source holds them, which
/// it does once it replicated them (MariaDB: its `gtid_binlog_state` lists the former primary's
/// server id up to that sequence number; MySQL: its `gtid_executed` contains them).
pub fn errant_gtid(replica: &Instance, source: Option<&Instance>) -> Option<String> {
    // A source arbor never read (no version) says nothing; one that was read and holds no
    // transaction at all is a history too, an empty one.
    let source = source.filter(|s| !s.version.is_empty())?;
    match replica.flavor {
        Flavor::MariaDb => {
            let history = MariaDbHistory::of(source);
            let has_binlog_state =
                history.is_empty() || !source.gtid_binlog_state.trim().is_empty();
            let own = replica.server_id;
            let mine = if replica.gtid_binlog_state.trim().is_empty() {
                &replica.gtid_binlog_pos
            } else {
                &replica.gtid_binlog_state
            };
            let errant: Vec<&str> = mine
                .split(',')
                .map(str::trim)
                .filter(|gtid| {
                    parse_mariadb_gtid(gtid).is_some_and(|(domain, server, seq)| {
                        server == own && !history.holds(domain, server, seq, has_binlog_state)
                    })
                })
                .collect();
            (!errant.is_empty()).then(|| errant.join(","))
        }
        Flavor::MySql | Flavor::Percona => {
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
        instance.version = "8.0.36".into();
        instance.flavor = Flavor::MySql;
        instance.server_uuid = uuid.into();
        instance.gtid_executed = executed.into();
        instance
    }

    fn mariadb(server_id: u64, binlog_pos: &str, current_pos: &str) -> Instance {
        let mut instance = Instance::unseen(InstanceKey::new("h", 1));
        instance.version = "10.11.6-MariaDB".into();
        instance.flavor = Flavor::MariaDb;
        instance.server_id = server_id;
        instance.gtid_binlog_pos = binlog_pos.into();
        instance.gtid_binlog_state = binlog_pos.into();
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
        assert_eq!(
            errant_gtid(&mariadb(2, "0-2-41", ""), None),
            None,
            "no source reading"
        );
    }

    #[test]
    fn a_former_primarys_own_writes_held_by_its_new_source_are_not_errant() {
        // P (server 1) wrote 0-1-1..3, then a takeover made R1 (server 2) the primary, which
        // logged P's writes as it replicated them; nothing was written since. P's binary log
        // still ends with its own 0-1-3, and R1's binary log state holds it.
        let mut former = mariadb(1, "0-1-3", "0-1-3");
        former.gtid_binlog_state = "0-1-3".into();
        let mut new_primary = mariadb(2, "0-1-3", "0-1-3");
        new_primary.gtid_binlog_state = "0-1-3".into();
        assert_eq!(errant_gtid(&former, Some(&new_primary)), None);

        // Writes on R1 since then hide 0-1-3 from the _pos variables, not from the state.
        new_primary.gtid_binlog_pos = "0-2-9".into();
        new_primary.gtid_executed = "0-2-9".into();
        new_primary.gtid_binlog_state = "0-1-3,0-2-9".into();
        assert_eq!(errant_gtid(&former, Some(&new_primary)), None);

        // A local write on the former primary after its demotion is errant, and so is one
        // that a later write of its own hides from gtid_binlog_pos.
        former.gtid_binlog_pos = "0-1-10".into();
        former.gtid_binlog_state = "0-1-10".into();
        assert_eq!(
            errant_gtid(&former, Some(&new_primary)),
            Some("0-1-10".into())
        );
        let mut replica = mariadb(3, "0-2-9", "0-2-9");
        replica.gtid_binlog_state = "0-3-5,0-2-9".into();
        assert_eq!(
            errant_gtid(&replica, Some(&new_primary)),
            Some("0-3-5".into())
        );

        // A source read without gtid_binlog_state: the domain position decides, leniently.
        let mut old_reading = mariadb(2, "0-2-9", "0-2-9");
        old_reading.gtid_binlog_state.clear();
        let mut former = mariadb(1, "0-1-3", "0-1-3");
        former.gtid_binlog_state = "0-1-3".into();
        assert_eq!(errant_gtid(&former, Some(&old_reading)), None);
    }
}
