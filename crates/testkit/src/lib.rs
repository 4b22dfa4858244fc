//! arbor's test kit (a dev-dependency only).
//!
//! - [`MariaDbSandbox`] (from `arbor-sandbox`): real `mariadbd` processes on free loopback
//!   ports wired as a given replication topology, cleaned up even when a test fails.
//! - [`HungServer`]: a TCP listener that accepts connections and never answers, the shape of a
//!   frozen server that costs a client its whole timeout.
//! - [`write_certificates`]: a CA and a certificate for 127.0.0.1, for TLS tests.
//! - [`start_zookeeper`], [`start_etcd`]: real key-value servers from Debian on free ports;
//!   [`ConsulStandIn`]: a stand-in for Consul's KV HTTP API (not Consul: none can be installed).
//! - [`write_load_sandbox`]: the primary, replicas, table and writer account the benchmarks
//!   that write through a failover start from.
//! - [`wait_for`]: poll a condition until a generous deadline instead of sleeping a fixed time.

mod certs;
mod consul;
mod daemons;
mod hung;
mod orchestrator_client;
mod rng;
mod write_load;

pub use arbor_sandbox::{
    reserve_port, MariaDbSandbox, SandboxOptions, ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD,
    REPL_USER,
};
pub use certs::{write_certificates, CertificateFiles};
pub use consul::ConsulStandIn;
pub use daemons::{start_etcd, start_etcd_tls, start_zookeeper, Daemon};
pub use hung::HungServer;
pub use orchestrator_client::ORCHESTRATOR_CLIENT_COMMANDS;
pub use rng::Rng;
pub use write_load::{write_load_sandbox, WRITER_PASSWORD, WRITER_USER, WRITE_TABLE};

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
