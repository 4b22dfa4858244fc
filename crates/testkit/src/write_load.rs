//! The starting point of the benchmarks that write through a failover (`failover` in
//! arbor-recovery, `write_outage` in arbor-http): one primary and three replicas, a table to
//! write ids into, and a data account that may write it (arbor's manager account has no data
//! privileges, so the writer cannot borrow it).

use arbor_sandbox::MariaDbSandbox;

/// The data account of [`write_load_sandbox`].
pub const WRITER_USER: &str = "bench";
pub const WRITER_PASSWORD: &str = "bench-pass";
/// The table the writer fills, one row per acknowledged id.
pub const WRITE_TABLE: &str = "bench.w";

/// A primary (index 0) and three replicas of it, with [`WRITE_TABLE`] created and
/// [`WRITER_USER`] allowed to `SELECT` and `INSERT` it.
pub fn write_load_sandbox() -> Result<MariaDbSandbox, String> {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(0)])?;
    sandbox.sql(
        0,
        &format!(
            "CREATE DATABASE bench; CREATE TABLE {WRITE_TABLE} (id BIGINT PRIMARY KEY); \
             CREATE USER '{WRITER_USER}'@'%' IDENTIFIED BY '{WRITER_PASSWORD}'; \
             GRANT SELECT, INSERT ON bench.* TO '{WRITER_USER}'@'%'"
        ),
    )?;
    Ok(sandbox)
}
