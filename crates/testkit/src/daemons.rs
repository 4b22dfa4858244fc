//! Real key-value servers from Debian, on free loopback ports, each in its own temporary
//! directory: `zookeeper` (run as `ZooKeeperServerMain`, standalone) and `etcd` (one member).
//! They can be stopped and started again on the same port and data (a store that is down
//! during a failover). On drop they are killed; when a test fails their directory (data and
//! log) is kept and the log's tail printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::reserve_port;

/// A server process this test started, by PID.
pub struct Daemon {
    name: &'static str,
    command: Vec<String>,
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    /// Whether the server serves on its port yet (listening is not always enough).
    ready: fn(u16) -> bool,
    /// The port clients use.
    pub port: u16,
}

impl Daemon {
    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir().to_path_buf();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .map_err(|e| format!("cannot open {}'s log: {e}", self.name))?;
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} ({e}); scripts/test.sh installs it from Debian",
                    self.command[0]
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(self.ready)(self.port) {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{} exited ({status}) before listening:\n{}",
                        self.name,
                        self.log_tail()
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on {} within 60 s:\n{}",
                    self.name,
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the directory lives as long as the daemon")
            .path()
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); its data stays for [`start`](Self::start).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn start(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        let tail = self.log_tail();
        if let Some(dir) = self.dir.take() {
            if std::thread::panicking() {
                let path: PathBuf = dir.keep();
                eprintln!(
                    "{} kept for inspection: {}\n--- log tail:\n{tail}",
                    self.name,
                    path.display()
                );
            }
        }
    }
}

impl Daemon {
    fn new(
        name: &'static str,
        port: u16,
        ready: fn(u16) -> bool,
        command: impl FnOnce(&Path) -> Vec<String>,
    ) -> Result<Daemon, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("arbor-{name}-"))
            .tempdir()
            .map_err(|e| format!("cannot make {name}'s directory: {e}"))?;
        let command = command(dir.path());
        let mut daemon = Daemon {
            name,
            command,
            dir: Some(dir),
            child: None,
            ready,
            port,
        };
        daemon.spawn()?;
        Ok(daemon)
    }
}

fn listens(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// ZooKeeper listens before it serves (it closes sessions until its database is loaded): its
/// `srvr` command names its version only once it serves.
fn zookeeper_serves(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    stream.write_all(b"srvr").is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains("Zookeeper version")
}

/// etcd listens before it has elected itself leader: `/health` says when it serves.
fn etcd_serves(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains("\"health\":\"true\"")
}

/// A standalone ZooKeeper (Debian's `zookeeper` package, run with its own Java classpath).
pub fn start_zookeeper() -> Result<Daemon, String> {
    let port = reserve_port()?;
    Daemon::new("zookeeper", port, zookeeper_serves, |dir| {
        vec![
            "java".into(),
            "-Xmx128m".into(),
            "-Dzookeeper.admin.enableServer=false".into(),
            "-Dzookeeper.root.logger=INFO,CONSOLE".into(),
            "-Dzookeeper.4lw.commands.whitelist=srvr".into(),
            "-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties".into(),
            "-cp".into(),
            "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar".into(),
            "org.apache.zookeeper.server.ZooKeeperServerMain".into(),
            port.to_string(),
            dir.join("data").display().to_string(),
        ]
    })
}

/// A one-member etcd (Debian's `etcd-server`), clients on `http://127.0.0.1:port`.
pub fn start_etcd() -> Result<Daemon, String> {
    start_etcd_with(None)
}

/// A one-member etcd whose clients must use https and present a certificate `tls`'s CA
/// signed (`https://127.0.0.1:port`).
pub fn start_etcd_tls(tls: &crate::CertificateFiles) -> Result<Daemon, String> {
    start_etcd_with(Some(tls))
}

fn start_etcd_with(tls: Option<&crate::CertificateFiles>) -> Result<Daemon, String> {
    let port = reserve_port()?;
    let peer = reserve_port()?;
    let ready = if tls.is_some() { listens } else { etcd_serves };
    Daemon::new("etcd", port, ready, |dir| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{port}");
        let peer = format!("http://127.0.0.1:{peer}");
        let mut command: Vec<String> = vec![
            "etcd".into(),
            "--name=arbor-test".into(),
            format!("--data-dir={}", dir.join("data").display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=arbor-test={peer}"),
        ];
        if let Some(files) = tls {
            command.extend([
                format!("--cert-file={}", files.cert.display()),
                format!("--key-file={}", files.key.display()),
                format!("--trusted-ca-file={}", files.ca.display()),
                "--client-cert-auth".to_string(),
            ]);
        }
        command
    })
}
