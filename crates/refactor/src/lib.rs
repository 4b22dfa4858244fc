//! Safe topology refactoring: moving replicas around and changing servers in place.
//!
//! - [`checks`]: whether a replica can replicate from a source (reachability, loops, flavour,
//!   binary logging, versions, binlog formats, GTID), in pure code with the reason when not.
//! - [`Refactorer`]: `relocate`, `move-up`, `move-below`, `repoint`, `take-master`,
//!   `take-siblings`, `make-co-master`, the `-replicas` variants, and in-place operations
//!   (stop/start/reset replication, read-only, skip a query, delay, detach, purge logs).
//!   Every operation checks first, takes the maintenance locks of what it changes (so two
//!   concurrent operations on one instance end with one refused, naming the lock's holder),
//!   acts, re-reads what it changed, and releases the locks.
//!
//! A replica keeps its way of positioning ([`checks::route`]): one on GTID (MariaDB GTID,
//! MySQL auto-positioning) moves anywhere its transactions are; one on file and position
//! moves one level up or below a sibling by matching coordinates (`START SLAVE UNTIL` the
//! helper's point, then the helper's own coordinates), with the helper locked and restarted
//! whatever happens. Farther, MariaDB switches it to GTID and MySQL without GTID refuses with
//! the steps to take instead.

pub mod checks;
mod moves;

pub use moves::{RefactorError, RefactorSettings, Refactorer, ReplicaOperation};
