//! Failure analysis, in pure code: a snapshot of the known instances in, a list of analyses
//! out. No IO, no clock (the caller passes `now`), so every rule is tested with tables.
//!
//! Codes and conditions follow orchestrator's (`DeadMaster`, `UnreachableMaster`, ...), so
//! operators and their alerting keep their vocabulary. The rule that matters most is
//! orchestrator's holistic one: a primary is dead only when arbor cannot reach it *and* the
//! replicas arbor can reach confirm that they cannot replicate from it either. A primary that
//! arbor cannot reach while its replicas still replicate is `UnreachableMaster`: a network
//! problem between arbor and the primary, not a reason to fail over.
//!
//! Structure warnings (errant GTIDs, replicas that cannot be promoted, mixed binlog formats)
//! are reported beside the codes. See `DESIGN.md` for the conditions and why.

mod code;
mod gtid;
mod position;
mod route;
mod rules;
mod semi_sync;

pub use code::{AnalysisCode, StructureWarning};
pub use gtid::{errant_gtid, MysqlGtidSet};
pub use position::Position;
pub use route::{primary_verdict, replica_verdict, writable_primaries, RouteLimits, RouteVerdict};
pub use rules::{analyze, Analysis, AnalysisSettings};
pub use semi_sync::{acknowledging, semi_sync_acknowledgers, Acknowledgers};

#[cfg(test)]
mod tests;
