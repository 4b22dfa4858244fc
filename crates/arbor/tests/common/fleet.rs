//! An `arbor simfleet` child process: a simulated fleet in a process of its own, driven by
//! commands on its standard input (`kill PORT`, ...).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// An `arbor simfleet` child process and its instances' ports.
pub struct FleetProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: std::io::Lines<BufReader<ChildStdout>>,
    /// (port, is a primary) per instance.
    pub ports: Vec<(u16, bool)>,
}

impl FleetProcess {
    pub fn start(clusters: usize) -> FleetProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arbor"))
            .args([
                "simfleet",
                "--clusters",
                &clusters.to_string(),
                "--size",
                "4",
            ])
            .args(["--flavor", "mysql-8.0,mariadb-10.11", "--write-rate", "10"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("arbor simfleet starts");
        let stdin = child.stdin.take().unwrap();
        let mut ports = Vec::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in stdout.by_ref() {
            let line = line.expect("fleet listing");
            if line == "ready" {
                break;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            ports.push((fields[1].parse().unwrap(), fields[2] == "-"));
        }
        assert_eq!(
            ports.len(),
            clusters * 4,
            "the fleet started every instance"
        );
        FleetProcess {
            child,
            stdin,
            stdout,
            ports,
        }
    }

    /// Every primary's address as a JSON string list's items (`"127.0.0.1:PORT", ...`), for
    /// `DiscoverySeeds`.
    /// The fleet process's id (to measure what the fleet itself costs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn primary_seeds(&self) -> String {
        self.ports
            .iter()
            .filter(|(_, primary)| *primary)
            .map(|(port, _)| format!("\"127.0.0.1:{port}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        let answer = self.stdout.next().and_then(|l| l.ok()).unwrap_or_default();
        assert_eq!(answer, "ok", "the fleet took {line:?}");
    }
}

impl Drop for FleetProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
