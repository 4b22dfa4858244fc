use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account arbor's tests connect as: the manager grants of a real deployment, no SUPER.
pub const ADMIN_USER: &str = "arbor";
pub const ADMIN_PASSWORD: &str = "arbor-test-pass";
/// The replication account every server has (for pointing a former primary at a new one).
pub const REPL_USER: &str = "repl";
pub const REPL_PASSWORD: &str = "repl-test-pass";

/// Bumped when the my.cnf used to build the template changes, so a stale template is not reused.
const TEMPLATE_VERSION: u32 = 2;

/// Sandbox errors are plain strings with context: a sandbox failure is a test-environment
/// failure, and the message (with the server's error log tail) is what the reader needs.
type Result<T> = std::result::Result<T, String>;

struct Node {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    fn defaults_file(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }
}

/// N real `mariadbd` servers on 127.0.0.1 wired as a replication topology.
///
/// ```no_run
/// # use arbor_sandbox::MariaDbSandbox;
/// // P with replicas R1 and R2, and R3 replicating from R1.
/// let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
/// println!("{}", sandbox.key(3)); // 127.0.0.1:PORT of R3
/// ```
pub struct MariaDbSandbox {
    nodes: Vec<Node>,
    root: Option<tempfile::TempDir>,
    options: SandboxOptions,
}

/// What a sandbox adds to its servers' defaults, e.g. for TLS:
///
/// ```no_run
/// # use arbor_sandbox::{MariaDbSandbox, SandboxOptions};
/// let sandbox = MariaDbSandbox::start_with(
///     &[None, Some(0)],
///     SandboxOptions {
///         server_config: "ssl_ca=/certs/ca.pem\nssl_cert=/certs/db.pem\nssl_key=/certs/db.key\n\
///                         require_secure_transport=ON\n".into(),
///         change_master_options: ", MASTER_SSL=1".into(),
///     },
/// )
/// .unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Lines appended to every server's my.cnf (`[mariadbd]` section).
    pub server_config: String,
    /// Appended to the `CHANGE MASTER TO` that wires each replica (", MASTER_SSL=1").
    pub change_master_options: String,
}

impl SandboxOptions {
    /// Servers that accept TLS connections only (`require_secure_transport=ON`; the sandbox's
    /// own unix-socket client still works), with this CA, certificate and key, and replicas
    /// that replicate over TLS, verifying their source's certificate against the CA.
    pub fn tls_only(ca: &Path, cert: &Path, key: &Path) -> SandboxOptions {
        SandboxOptions {
            server_config: format!(
                "ssl_ca={}\nssl_cert={}\nssl_key={}\nrequire_secure_transport=ON",
                ca.display(),
                cert.display(),
                key.display(),
            ),
            change_master_options: format!(
                ", MASTER_SSL=1, MASTER_SSL_CA='{}', MASTER_SSL_VERIFY_SERVER_CERT=1",
                ca.display()
            ),
        }
    }
}

impl MariaDbSandbox {
    /// Starts one server per entry of `sources`; entry `i` is the index of server `i`'s source
    /// (`None` for a primary). Returns once every replica has both threads running.
    ///
    /// Call it from a thread that outlives the sandbox (a test's thread, a program's main
    /// thread): the kernel's parent-death signal fires when the *thread* that started a server
    /// exits, so a server started from a pooled thread (`spawn_blocking`) dies with that thread.
    pub fn start(sources: &[Option<usize>]) -> Result<MariaDbSandbox> {
        MariaDbSandbox::start_with(sources, SandboxOptions::default())
    }

    /// [`MariaDbSandbox::start`], with `options` added to every server.
    pub fn start_with(
        sources: &[Option<usize>],
        options: SandboxOptions,
    ) -> Result<MariaDbSandbox> {
        for (index, source) in sources.iter().enumerate() {
            if let Some(source) = source {
                if *source >= sources.len() || *source == index {
                    return Err(format!("server {index} has an invalid source {source}"));
                }
            }
        }
        let binaries = Binaries::find()?;
        let template = ensure_template(&binaries)?;
        let root = tempfile::Builder::new()
            .prefix("arbor-mdb-")
            .tempdir()
            .map_err(|e| format!("cannot create sandbox dir: {e}"))?;
        let mut sandbox = MariaDbSandbox {
            nodes: Vec::new(),
            root: Some(root),
            options,
        };
        let root_path = sandbox.root_path().to_path_buf();
        for index in 0..sources.len() {
            let dir = root_path.join(format!("n{}", index + 1));
            copy_dir(&template, &dir.join("data"))
                .map_err(|e| format!("cannot copy template datadir: {e}"))?;
            sandbox.nodes.push(Node {
                port: 0,
                dir,
                child: None,
            });
        }
        for index in 0..sources.len() {
            sandbox.launch_with_free_port(index, &binaries)?;
        }
        for index in 0..sources.len() {
            sandbox.wait_ready(index, Duration::from_secs(60))?;
        }
        for index in 0..sources.len() {
            sandbox.create_accounts(index)?;
        }
        for (index, source) in sources.iter().enumerate() {
            match source {
                None => sandbox.sql(index, "SET GLOBAL read_only = 0")?,
                Some(source) => sandbox.replicate_from(index, *source)?,
            };
        }
        for (index, source) in sources.iter().enumerate() {
            if source.is_some() {
                sandbox.wait_replicating(index, Duration::from_secs(60))?;
            }
        }
        Ok(sandbox)
    }

    fn root_path(&self) -> &Path {
        self.root
            .as_ref()
            .map(|r| r.path())
            .unwrap_or(Path::new("/"))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn port(&self, index: usize) -> u16 {
        self.nodes[index].port
    }

    /// The process id of server `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// `127.0.0.1:PORT` of server `index`.
    pub fn key(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.nodes[index].port)
    }

    /// Runs SQL as the local superuser over the unix socket; returns the tab-separated output.
    pub fn sql(&self, index: usize, sql: &str) -> Result<String> {
        self.run_client(index, sql, &["--batch", "--skip-column-names"])
    }

    /// A `mariadb` client command that runs `sql` on server `index` over TCP as `user`, for a
    /// test to spawn (a session that holds a lock, a connection that waits, an application's
    /// write): unlike [`Self::sql`], it goes through the network and the account's grants.
    pub fn tcp_client(
        &self,
        index: usize,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<Command> {
        let mut command = Command::new(Binaries::client()?);
        command
            .args(["--host=127.0.0.1", "--batch", "--skip-column-names"])
            .arg(format!("--port={}", self.nodes[index].port))
            .arg(format!("--user={user}"))
            .arg(format!("--password={password}"))
            .args(["-e", sql])
            .stdin(Stdio::null());
        Ok(command)
    }

    fn run_client(&self, index: usize, sql: &str, format: &[&str]) -> Result<String> {
        let node = &self.nodes[index];
        let output = Command::new(Binaries::client()?)
            .arg(format!("--socket={}", node.socket().display()))
            .arg(format!("--user={}", os_user()))
            .args(format)
            .args(["-e", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run mariadb client: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "SQL on server {index} ({}) failed: {sql}: {}",
                self.key(index),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `SHOW SLAVE STATUS` of server `index` as (column, value) pairs; empty when not a replica.
    pub fn replica_status(&self, index: usize) -> Result<Vec<(String, String)>> {
        // Vertical output keeps the column names that batch mode would drop.
        let text = self.run_client(index, "SHOW SLAVE STATUS\\G", &[])?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect())
    }

    /// One column of server `index`'s `SHOW SLAVE STATUS`; empty when it is not a replica.
    pub fn replica_status_value(&self, index: usize, column: &str) -> Result<String> {
        Ok(self
            .replica_status(index)?
            .into_iter()
            .find(|(k, _)| k == column)
            .map(|(_, v)| v)
            .unwrap_or_default())
    }

    /// Kills server `index` with SIGKILL, as a crash would, and waits until it is gone.
    pub fn kill(&mut self, index: usize) -> Result<()> {
        if let Some(mut child) = self.nodes[index].child.take() {
            child
                .kill()
                .map_err(|e| format!("cannot kill server {index}: {e}"))?;
            child
                .wait()
                .map_err(|e| format!("cannot reap server {index}: {e}"))?;
        }
        Ok(())
    }

    /// Starts a killed server again, on its port and with its data, as it comes back after a
    /// crash: replication as it was configured, `read_only` from its settings (on).
    pub fn restart(&mut self, index: usize) -> Result<()> {
        if self.is_running(index) {
            return Err(format!("server {index} is running"));
        }
        let binaries = Binaries::find()?;
        let node = &mut self.nodes[index];
        node.child = Some(spawn_server(&binaries, &node.defaults_file(), &node.dir)?);
        self.wait_ready(index, Duration::from_secs(60))
    }

    /// Starts a killed server again, on its port and with its data, as a replica of `source`
    /// (GTID `current_pos`, so that a former primary's own transactions count as applied):
    /// how an operator brings a failed primary back after a failover.
    pub fn restart_as_replica(&mut self, index: usize, source: usize) -> Result<()> {
        if self.is_running(index) {
            return Err(format!("server {index} is running"));
        }
        let binaries = Binaries::find()?;
        let node = &mut self.nodes[index];
        node.child = Some(spawn_server(&binaries, &node.defaults_file(), &node.dir)?);
        self.wait_ready(index, Duration::from_secs(60))?;
        self.sql(
            index,
            &format!(
                "STOP SLAVE; RESET SLAVE ALL; \
                 CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                 MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', \
                 MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=1{}; \
                 SET GLOBAL read_only = 1; START SLAVE;",
                self.nodes[source].port, self.options.change_master_options
            ),
        )?;
        self.wait_replicating(index, Duration::from_secs(60))
    }

    /// Freezes server `index` (SIGSTOP): it keeps its connections and its port, and answers
    /// nothing, as a hung server does.
    pub fn pause(&self, index: usize) -> Result<()> {
        self.signal(index, libc::SIGSTOP)
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self, index: usize) -> Result<()> {
        self.signal(index, libc::SIGCONT)
    }

    fn signal(&self, index: usize, signal: libc::c_int) -> Result<()> {
        let pid = self
            .pid(index)
            .ok_or_else(|| format!("server {index} is not running"))?;
        // SAFETY: kill() on a pid this sandbox spawned and still owns (not yet reaped).
        if unsafe { libc::kill(pid as libc::pid_t, signal) } != 0 {
            return Err(format!(
                "cannot signal server {index}: {}",
                io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Whether server `index`'s process is running.
    pub fn is_running(&mut self, index: usize) -> bool {
        match self.nodes[index].child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn launch_with_free_port(&mut self, index: usize, binaries: &Binaries) -> Result<()> {
        let mut last_error = String::new();
        for _attempt in 0..8 {
            let port = free_port()?;
            self.nodes[index].port = port;
            write_defaults_file(&self.nodes[index], index + 1, &self.options.server_config)
                .map_err(|e| format!("cannot write my.cnf: {e}"))?;
            let node = &mut self.nodes[index];
            let child = spawn_server(binaries, &node.defaults_file(), &node.dir)?;
            node.child = Some(child);
            // A port taken between our check and the server's bind shows as an early exit.
            std::thread::sleep(Duration::from_millis(150));
            match node.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(None)) => return Ok(()),
                _ => {
                    node.child = None;
                    last_error = lines_that_matter(&last_start_log(&node.dir));
                }
            }
        }
        Err(format!(
            "server {index} did not start after 8 attempts: {last_error}"
        ))
    }

    fn wait_ready(&mut self, index: usize, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.sql(index, "SELECT 1").is_ok() {
                return Ok(());
            }
            if !self.is_running(index) {
                return Err(format!(
                    "server {index} exited during start-up: {}",
                    lines_that_matter(&last_start_log(&self.nodes[index].dir))
                ));
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "server {index} not ready after {timeout:?}: {}",
                    lines_that_matter(&last_start_log(&self.nodes[index].dir))
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn create_accounts(&self, index: usize) -> Result<()> {
        // sql_log_bin=0: accounts are per server, and must not create GTIDs that replicas
        // would then see as errant or try to apply twice.
        self.sql(
            index,
            &format!(
                "SET sql_log_bin = 0; \
                 CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}'; \
                 GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%'; \
                 CREATE USER '{ADMIN_USER}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'; \
                 GRANT PROCESS, RELOAD, REPLICATION SLAVE, REPLICATION SLAVE ADMIN, \
                   REPLICATION MASTER ADMIN, REPLICA MONITOR, BINLOG MONITOR, BINLOG ADMIN, \
                   READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO '{ADMIN_USER}'@'%'; \
                 GRANT SELECT ON mysql.* TO '{ADMIN_USER}'@'%'; \
                 SET sql_log_bin = 1;"
            ),
        )
        .map(|_| ())
    }

    fn replicate_from(&self, index: usize, source: usize) -> Result<String> {
        self.sql(
            index,
            &format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                 MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', \
                 MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1{}; \
                 SET GLOBAL read_only = 1; START SLAVE;",
                self.nodes[source].port, self.options.change_master_options
            ),
        )
    }

    fn wait_replicating(&self, index: usize, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let status = self.replica_status(index)?;
            let value = |name: &str| {
                status
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            if value("Slave_IO_Running") == "Yes" && value("Slave_SQL_Running") == "Yes" {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "server {index} not replicating after {timeout:?}: IO={} SQL={} {} {}",
                    value("Slave_IO_Running"),
                    value("Slave_SQL_Running"),
                    value("Last_IO_Error"),
                    value("Last_SQL_Error")
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MariaDbSandbox {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(root) = self.root.take() {
            if std::thread::panicking() {
                // A test failed: keep every server's data and error log for the post-mortem,
                // and say where (the tail of each log too, for CI output).
                let path = root.keep();
                eprintln!("sandbox kept for inspection: {}", path.display());
                for (index, node) in self.nodes.iter().enumerate() {
                    eprintln!(
                        "--- server {index} (port {}) error log tail:\n{}",
                        node.port,
                        error_log_tail(&node.dir)
                    );
                }
            } else {
                let _ = root.close();
            }
        }
    }
}

struct Binaries {
    server: PathBuf,
    install_db: PathBuf,
}

impl Binaries {
    fn find() -> Result<Binaries> {
        Ok(Binaries {
            server: find_binary("mariadbd")?,
            install_db: find_binary("mariadb-install-db")?,
        })
    }

    fn client() -> Result<PathBuf> {
        find_binary("mariadb")
    }
}

/// The OS user the servers run as. `mariadbd` refuses to run as root unless told `user=root`,
/// and `mariadb-install-db` gives this user a unix-socket account, which the sandbox's own
/// client connections use.
fn os_user() -> &'static str {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "root".to_string())
    })
}

fn find_binary(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "{name} not found: the real-MariaDB tests need Debian's mariadb-server \
                 (scripts/test.sh installs it)"
            )
        })
}

/// A port for a server: see [`crate::reserve_port`].
fn free_port() -> Result<u16> {
    crate::reserve_port()
}

fn write_defaults_file(node: &Node, server_id: usize, extra: &str) -> io::Result<()> {
    // Each server's temporary files in its own directory, not a /tmp shared by every server
    // the tests run at once.
    fs::create_dir_all(node.dir.join("tmp"))?;
    let dir = node.dir.display();
    let port = node.port;
    let text = format!(
        "[mariadbd]\n\
         user={user}\n\
         datadir={dir}/data\n\
         socket={dir}/mysqld.sock\n\
         pid-file={dir}/mysqld.pid\n\
         log_error={dir}/error.log\n\
         tmpdir={dir}/tmp\n\
         port={port}\n\
         bind-address=127.0.0.1\n\
         server_id={server_id}\n\
         report_host=127.0.0.1\n\
         report_port={port}\n\
         {}{extra}\n",
        COMMON_SETTINGS,
        user = os_user(),
    );
    fs::write(node.defaults_file(), text)
}

/// Replication settings of a realistic topology, plus the smallest memory footprint MariaDB
/// 10.11 accepts; durability traded for speed, which is safe for SIGKILL (the OS keeps the
/// written pages) and tests never cut power.
const COMMON_SETTINGS: &str = "\
log_bin=mysql-bin
log_slave_updates=ON
binlog_format=ROW
gtid_strict_mode=ON
read_only=ON
slave_net_timeout=4
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=8M
innodb_log_file_size=4M
innodb_log_buffer_size=2M
innodb_read_io_threads=1
innodb_write_io_threads=2
innodb_purge_threads=1
key_buffer_size=1M
aria_pagecache_buffer_size=1M
query_cache_size=0
max_connections=60
table_open_cache=200
table_definition_cache=400
thread_cache_size=4
host_cache_size=0
innodb_flush_log_at_trx_commit=2
sync_binlog=0
innodb_doublewrite=0
";

fn spawn_server(binaries: &Binaries, defaults_file: &Path, dir: &Path) -> Result<Child> {
    let mut command = Command::new(&binaries.server);
    command
        .arg(format!("--defaults-file={}", defaults_file.display()))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent. PR_SET_PDEATHSIG
    // makes the kernel kill the server when the test process dies, even by SIGKILL, so no test
    // run leaves a mariadbd behind.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binaries.server.display()))
}

/// Runs `mariadb-install-db` once per machine (per template version) and reuses the result: a
/// fresh datadir has no per-server identity (server_id is in my.cnf, binlogs and GTID state are
/// created at first start), so copies of it are independent servers.
fn ensure_template(binaries: &Binaries) -> Result<PathBuf> {
    let base = std::env::temp_dir();
    // Per user: the template holds a unix-socket account for the user who made it.
    let template = base.join(format!(
        "arbor-mariadb-template-v{TEMPLATE_VERSION}-{}",
        os_user()
    ));
    if template.join("mysql").is_dir() {
        return Ok(template);
    }
    let staging = base.join(format!(
        "arbor-mariadb-template-v{TEMPLATE_VERSION}-{}.tmp{}",
        os_user(),
        std::process::id()
    ));
    // A bootstrap can fail for a passing reason (a full or busy /tmp): one retry, then the
    // lines of its output that say why.
    let mut failure = String::new();
    for _attempt in 0..2 {
        match bootstrap(binaries, &staging) {
            Ok(()) => {
                failure.clear();
                break;
            }
            Err(why) => failure = why,
        }
    }
    if !failure.is_empty() {
        return Err(format!("mariadb-install-db failed twice: {failure}"));
    }
    // Another test process may have won the race; either template is fine.
    if fs::rename(&staging, &template).is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    if template.join("mysql").is_dir() {
        Ok(template)
    } else {
        Err(format!("template datadir {template:?} is incomplete"))
    }
}

/// One `mariadb-install-db` run into `staging`, with its own temporary dir (not the /tmp every
/// test shares); on failure the staging dir is removed and the lines that matter returned.
fn bootstrap(binaries: &Binaries, staging: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(staging);
    let tmp = PathBuf::from(format!("{}-tmpdir", staging.display()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(staging).map_err(|e| format!("cannot create {staging:?}: {e}"))?;
    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {tmp:?}: {e}"))?;
    let cnf = PathBuf::from(format!("{}.cnf", staging.display()));
    fs::write(
        &cnf,
        format!("[mariadbd]\n{COMMON_SETTINGS}tmpdir={}\n", tmp.display()),
    )
    .map_err(|e| format!("cannot write {cnf:?}: {e}"))?;
    let output = Command::new(&binaries.install_db)
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg(format!("--datadir={}", staging.display()))
        .arg(format!("--user={}", os_user()))
        .args([
            "--force",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run mariadb-install-db: {e}"));
    let _ = fs::remove_file(&cnf);
    let _ = fs::remove_dir_all(&tmp);
    let output = output?;
    if output.status.success() {
        return Ok(());
    }
    let _ = fs::remove_dir_all(staging);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(lines_that_matter(&text))
}

/// Of a server's or bootstrap's output, the error lines (MariaDB's `[ERROR]`, `ERROR`,
/// `error:`), at most 12; the last 8 lines when none is marked.
fn lines_that_matter(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let marked: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            l.contains("[ERROR]") || lower.contains("error:") || l.starts_with("ERROR")
        })
        .take(12)
        .collect();
    if marked.is_empty() {
        lines[lines.len().saturating_sub(8)..].join("\n")
    } else {
        marked.join("\n")
    }
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The error log of the server's last start, whole (at most 60 lines): why a start failed is
/// usually well above the last lines ("Aborting").
fn last_start_log(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|line| line.contains("Starting MariaDB"))
        .unwrap_or(0);
    let end = lines.len().min(start + 60);
    lines[start..end].join("\n")
}

fn error_log_tail(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_start_is_told_by_its_error_lines() {
        let log = "2026-12-01 10:00:00 0 [Note] Starting MariaDB 10.11.6 source revision\n\
                   2026-12-01 10:00:00 0 [Note] InnoDB: Using transaction sequence ports\n\
                   2026-12-01 10:00:00 0 [ERROR] InnoDB: Generic error 28 (No space left on device)\n\
                   2026-12-01 10:00:00 0 [Note] InnoDB: Starting shutdown...\n\
                   2026-12-01 10:00:00 0 [ERROR] Plugin 'InnoDB' init function returned error.\n\
                   2026-12-01 10:00:00 0 [ERROR] Aborting\n";
        let told = lines_that_matter(log);
        assert_eq!(told.lines().count(), 3, "{told}");
        assert!(told.contains("No space left on device"), "{told}");
        assert!(!told.contains("[Note]"), "{told}");
        // Nothing marked: the last lines, so the reader still sees something.
        let unmarked = (1..=20).map(|i| format!("line {i}\n")).collect::<String>();
        assert_eq!(lines_that_matter(&unmarked).lines().count(), 8);
        assert!(lines_that_matter(&unmarked).ends_with("line 20"));
    }

    /// The sandbox is what every real-server test stands on, so it is tested too: the wiring it
    /// promises is checked with the server's own words, and a drop leaves no process behind.
    #[test]
    fn starts_a_chain_that_replicates_and_cleans_up() {
        let mut sandbox = MariaDbSandbox::start(&[None, Some(0), Some(1)]).unwrap();
        let master_port = sandbox.replica_status_value(2, "Master_Port").unwrap();
        assert_eq!(master_port, sandbox.port(1).to_string());
        sandbox
            .sql(0, "CREATE DATABASE t; CREATE TABLE t.x (id INT PRIMARY KEY); INSERT INTO t.x VALUES (7)")
            .unwrap();
        let mut seen = String::new();
        for _ in 0..100 {
            seen = sandbox.sql(2, "SELECT id FROM t.x").unwrap_or_default();
            if seen.trim() == "7" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            seen.trim(),
            "7",
            "write on the primary reached the end of the chain"
        );
        assert_eq!(sandbox.sql(1, "SELECT @@read_only").unwrap().trim(), "1");
        assert_eq!(sandbox.sql(0, "SELECT @@read_only").unwrap().trim(), "0");

        sandbox.kill(1).unwrap();
        assert!(!sandbox.is_running(1));
        let dir = sandbox.root_path().to_path_buf();
        let pids: Vec<u32> = sandbox
            .nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.id()))
            .collect();
        drop(sandbox);
        assert!(!dir.exists(), "sandbox dir removed");
        for pid in pids {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            assert!(
                status.is_empty() || status.contains("State:\tZ"),
                "mariadbd {pid} still running"
            );
        }
    }
}
