//! arbor's test kit (a dev-dependency only).
//!
//! - [`MariaDbSandbox`]: real `mariadbd` processes on free loopback ports, each in its own temp
//!   dir, wired as a given replication topology (a primary with replicas, chains). Every process
//!   is killed and every dir removed when the sandbox drops, also when a test panics; a
//!   parent-death signal kills the servers even if the test process itself is killed.
//! - [`HungServer`]: a TCP listener that accepts connections and never answers, the shape of a
//!   frozen server that costs a client its whole timeout.
//! - [`wait_for`]: poll a condition until a generous deadline instead of sleeping a fixed time.
//!
//! The sandbox talks to its servers with the `mariadb` command-line client over each server's
//! unix socket, as the OS root user. That keeps the kit independent of the code under test
//! (arbor's own MySQL client must not be what checks itself).

mod hung;
mod sandbox;

pub use hung::HungServer;
pub use sandbox::{MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER};

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it returns `Some`, or until `deadline` passes.
pub async fn wait_for<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if start.elapsed() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
