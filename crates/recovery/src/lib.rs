//! Failure recovery: from a confirmed failure to a new primary that every replica follows.
//!
//! - [`candidate`]: which replica to promote, in pure code (GTID position, promotion rules,
//!   data centre, version; errant GTIDs and `must_not` excluded), tested with tables.
//! - [`RecoveryEngine`]: the automated loop (every `tick`, or at once when woken): re-reads a
//!   suspected server and its replicas until the failure is confirmed, records the detection,
//!   and recovers where the filters (`RecoverMasterClusterFilters`, ...), downtime, the global
//!   switch and anti-flapping allow; and the manual `recover`, `force-master-failover` and
//!   `graceful-master-takeover`.
//! - [`hooks`]: orchestrator's `*Processes` with its placeholders and `ORC_*` variables.
//!
//! Every recovery is registered in the store before it touches a server (anti-flapping is
//! decided there, atomically) and writes each step to its audit as it goes. Only the leader
//! recovers ([`Leadership`]). See `DESIGN.md` for the order of operations and why.

mod actions;
mod aftercare;
mod audit;
pub mod audit_log;
pub mod candidate;
mod detect;
mod engine;
mod entry;
mod failover;
pub mod filters;
pub mod hooks;
pub mod lease;
mod requests;
mod run;
mod semi_sync;
mod settings;
mod snapshot;
mod takeover;
mod watch;

pub use engine::{
    BlockedRecovery, Leadership, PeerJudges, PeerVotes, PrimaryAnnouncer, RecoveryEngine,
    RecoveryError, SingleNode, Snapshot,
};
pub use entry::analysis_json;
pub use settings::{AliasLookup, Hooks, RecoverySettings, LOST_IN_RECOVERY};
