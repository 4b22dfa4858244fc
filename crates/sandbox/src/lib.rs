//! Real `mariadbd` servers on free loopback ports, each in its own temp dir, wired as a given
//! replication topology (a primary with replicas, chains).
//!
//! Used by arbor's tests (through `arbor-testkit`) and by `arbor demo`. Every process is killed
//! and every dir removed when a [`MariaDbSandbox`] drops, also when a test panics; a
//! parent-death signal kills the servers even if the owning process is killed.
//!
//! The sandbox talks to its servers with the `mariadb` command-line client over each server's
//! unix socket as the OS user that started them. That keeps it independent of arbor's own MySQL
//! client: the code under test never checks itself. It only runs Debian's MariaDB binaries;
//! it does not install them.

mod ports;
mod sandbox;

pub use ports::reserve_port;
pub use sandbox::{
    MariaDbSandbox, SandboxOptions, ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD, REPL_USER,
};
