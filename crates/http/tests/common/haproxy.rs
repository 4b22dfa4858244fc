//! A real `haproxy` (Debian's) in front of sandboxed MariaDB servers, configured as
//! `docs/traffic.md` shows: each server a backend server named `host:port`, checked with
//! `GET /api/check/primary/%[srv_name]` on arbor every 100 ms.

use std::process::{Child, Command, Stdio};

/// A running `haproxy` (killed and reaped on drop) and the port its frontend listens on.
pub struct Haproxy {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Haproxy {
    /// The configuration of `docs/traffic.md`, checking every 100 ms.
    pub fn start(servers: &[u16], arbor_port: u16) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "global\n    log stderr format short local0 info\n\
             defaults\n    mode tcp\n    log global\n    timeout connect 1s\n\
             \x20   timeout client 30s\n    timeout server 30s\n    timeout check 1s\n\
             listen mysql-primary\n    bind 127.0.0.1:{port}\n    option httpchk\n\
             \x20   http-check send meth GET uri-lf /api/check/primary/%[srv_name]\n\
             \x20   http-check expect status 200\n\
             \x20   default-server check addr 127.0.0.1 port {arbor_port} inter 100 fall 1 rise 1 \
             on-marked-down shutdown-sessions\n"
        );
        for server in servers {
            config.push_str(&format!(
                "    server 127.0.0.1:{server} 127.0.0.1:{server}\n"
            ));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy is installed (scripts/test.sh installs it)");
        Haproxy { child, port, dir }
    }

    /// The end of HAProxy's log, for a failure's message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// What arbor's primary check answers for each server now, and HAProxy's log, for a failure's
/// message.
pub async fn diagnose(base: &str, ports: &[u16], proxy: &Haproxy) -> String {
    let client = super::http();
    let mut out = String::new();
    for port in ports {
        let url = format!("{base}/api/check/primary/127.0.0.1:{port}");
        let answer = match client.get(url).send().await {
            Ok(response) => format!(
                "{} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            Err(error) => error.to_string(),
        };
        out.push_str(&format!("check {port}: {answer}\n"));
    }
    format!("{out}haproxy log:\n{}", proxy.log_tail())
}
