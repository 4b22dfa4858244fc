//! Talks to MySQL and MariaDB servers.
//!
//! [`Prober`] reads, in one probe, everything the topology model needs from one server:
//! identity (server id, uuid, hostname), version and flavour, `read_only`, binary logging, the
//! binary log position, GTID state, the link to its source, and the replicas it knows. The SQL
//! differs between servers, so each connection picks a [`Dialect`] from the server's flavour
//! and version (MariaDB 10.x; MySQL 5.7, 8.0 before and after the 8.0.22 renames, 8.4+ where the
//! old statements are gone), and status rows are read by column name, accepting both the
//! `Master_*`/`Slave_*` and the `Source_*`/`Replica_*` spellings.
//!
//! Every probe is bounded: connecting by `MySQLConnectTimeoutSeconds`, the queries together by
//! `MySQLDiscoveryReadTimeoutSeconds`. A server that accepts a connection and never answers
//! costs one probe at most those timeouts; a connection that timed out is dropped, never
//! reused, since its protocol state is unknown.
//!
//! [`Operator`] changes servers (stop/start replication, repoint, promote), with statement
//! text built per dialect in [`ops`].
//!
//! Parsing lives in [`status`], as pure functions over column maps, so it is tested without a
//! server. This crate does not decide anything about what it reads.

mod dialect;
pub mod ops;
mod probe;
pub mod status;
mod tls;

pub use dialect::Dialect;
pub use ops::{Link, Liveness, Operator, OperatorSettings, ReplicationSsl, Session};
pub use probe::{LocationRule, LocationRules, ProbeError, ProbeErrorKind, ProbeSettings, Prober};
pub use tls::{Tls, TlsMode, TlsSettings};
