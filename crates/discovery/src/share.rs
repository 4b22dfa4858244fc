//! Work shared across the members of an HA group: each instance is polled by one live member.
//!
//! Rendezvous (highest random weight) hashing: every member scores every (member, instance)
//! pair with the same hash, and the live member with the highest score polls the instance.
//! Members agree without talking as long as they agree on who is live; when a member leaves,
//! only its instances move (each to its next-highest member), and when one joins it takes
//! about 1/n of everyone's. Confirmations, explicit discoveries and a leader's failure checks
//! still probe whatever they need, whoever owns it.

use std::sync::{Arc, RwLock};

use arbor_topology::InstanceKey;

/// Which instances this member polls. Cheap to clone; shared with whoever tracks liveness.
#[derive(Clone)]
pub struct Share {
    inner: Arc<RwLock<ShareState>>,
}

struct ShareState {
    me: String,
    /// Live members, this one included, sorted.
    live: Vec<String>,
}

impl Share {
    /// A share for member `me`, alone until told otherwise (it polls everything).
    pub fn new(me: impl Into<String>) -> Share {
        let me = me.into();
        Share {
            inner: Arc::new(RwLock::new(ShareState {
                live: vec![me.clone()],
                me,
            })),
        }
    }

    /// The members live now (this one is always counted).
    pub fn set_live(&self, members: impl IntoIterator<Item = String>) {
        let mut state = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<String> = members.into_iter().collect();
        live.push(state.me.clone());
        live.sort();
        live.dedup();
        if live != state.live {
            tracing::info!(members = ?live, "probing shared among the live members");
            state.live = live;
        }
    }

    pub fn live(&self) -> Vec<String> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .clone()
    }

    /// Whether this member polls `key`.
    pub fn owns(&self, key: &InstanceKey) -> bool {
        let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
        owner(&state.live, key) == Some(state.me.as_str())
    }
}

/// The member among `live` that polls `key`.
pub fn owner<'a>(live: &'a [String], key: &InstanceKey) -> Option<&'a str> {
    live.iter()
        .max_by_key(|member| (weight(member, key), member.as_str()))
        .map(String::as_str)
}

/// The score of `member` for `key`: FNV-1a over both, then a 64-bit finalizer so that close
/// inputs spread.
fn weight(member: &str, key: &InstanceKey) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = key.to_string();
    for byte in member.bytes().chain([0xff]).chain(key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<InstanceKey> {
        (0..n)
            .map(|i| format!("db{i}.example:3306").parse().unwrap())
            .collect()
    }

    fn members(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn every_instance_has_exactly_one_owner_and_shares_are_even() {
        let live = members(&["a:10008", "b:10008", "c:10008"]);
        let shares: Vec<Share> = live
            .iter()
            .map(|me| {
                let share = Share::new(me.clone());
                share.set_live(live.clone());
                share
            })
            .collect();
        let mut counts = [0usize; 3];
        for key in keys(3_000) {
            let owners: Vec<usize> = (0..3).filter(|&i| shares[i].owns(&key)).collect();
            assert_eq!(owners.len(), 1, "{key}: {owners:?}");
            counts[owners[0]] += 1;
        }
        for count in counts {
            assert!((850..1150).contains(&count), "uneven: {counts:?}");
        }
    }

    #[test]
    fn a_leaving_member_moves_only_its_own_instances() {
        let three = members(&["a:10008", "b:10008", "c:10008"]);
        let two = members(&["a:10008", "b:10008"]);
        for key in keys(2_000) {
            let before = owner(&three, &key).unwrap();
            let after = owner(&two, &key).unwrap();
            if before != "c:10008" {
                assert_eq!(before, after, "{key} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn a_member_alone_owns_everything() {
        let share = Share::new("a:10008");
        assert!(keys(100).iter().all(|k| share.owns(k)));
        share.set_live(members(&["b:10008"]));
        assert_eq!(share.live(), members(&["a:10008", "b:10008"]));
        share.set_live(Vec::new());
        assert!(keys(100).iter().all(|k| share.owns(k)));
    }
}
