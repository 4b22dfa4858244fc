//! The pure model of MySQL and MariaDB replication topologies.
//!
//! This crate is the bottom of arbor's crate graph: it knows what an instance, a replication
//! link, a GTID position and a cluster are, and how to derive clusters and trees from a set of
//! observed instances. It does no IO and has no async code, so everything here is tested with
//! plain tables of inputs and outputs.
//!
//! Main types:
//! - [`InstanceKey`]: `host:port`, the identity of a server.
//! - [`Instance`]: what one probe of a server read (version, read_only, binlog, GTID, replication).
//! - [`InstanceRecord`]: an instance plus when arbor last tried, finished and succeeded probing it,
//!   which is what lets later analysis tell a dead server from a stale reading.
//! - [`Topology`]: a snapshot of every known record, with clusters derived from replication
//!   links (cluster name = the primary's `host:port`) and rendered as trees.
//!
//! What this crate does not do: talk to servers (`arbor-mysql`), persist anything
//! (`arbor-store`), or decide on failures (`arbor-analysis`, a later crate).

mod instance;
mod key;
mod kv;
mod rules;
mod time;
mod topology;
mod tree;

pub use instance::{
    BinlogCoordinates, Flavor, GtidKind, Instance, InstanceRecord, InstanceStatus, IoThreadState,
    ReplicaStatus, SemiSync, ServerVersion,
};
pub use key::{InstanceKey, ParseKeyError};
pub use kv::{cluster_kv_pairs, primary_kv_pairs, KvPair};
pub use rules::{Downtime, PromotionRule};
pub use time::Timestamp;
pub use topology::{ClusterSummary, Kept, ResolveHintError, Succession, Topology, TopologyOptions};
pub use tree::{render_tree, render_tree_as, TreeStyle};
