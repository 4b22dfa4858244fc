//! `arbor demo` (real MariaDB or a simulated fleet) and `arbor simfleet`: built with the
//! `demo` feature (on by default), which brings the test kits' MariaDB sandbox and simulated
//! fleet into the binary. A production build can leave them out:
//! `cargo build --release -p arbor --no-default-features`.
//!
//! Both demos keep the same promise: automated recovery on, replication credentials set (so a
//! graceful takeover works from the CLI and the UI), and `/demo/{kill,hang,revive}/PORT` on the
//! API to inject faults, with the exact commands printed at start.

use std::path::Path;
use std::sync::{mpsc, Arc};

use anyhow::Context;
use arbor_config::Config;
use arbor_sandbox::{MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD, REPL_USER};

use crate::serve::{init_logging, load_config, run_node};

/// The shape of every demo cluster: P with replicas R1 and R2, and R3 under R1.
const SHAPE: [Option<usize>; 4] = [None, Some(0), Some(0), Some(1)];

/// A fault the demo's API injects into one of its servers.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL (real) or a dead simulated server.
    Kill,
    /// SIGSTOP (real) or a simulated server that accepts connections and answers nothing.
    Hang,
    /// Thawed, or started again after a kill (it comes back read-only, replicating as it was
    /// configured: after a failover, a lone server arbor does not reattach by itself).
    Revive,
}

/// Injects a fault into the server on a port: what it did, or why not.
type Injector = Arc<dyn Fn(Fault, u16) -> Result<String, String> + Send + Sync>;

/// `arbor demo --mariadb`: four real MariaDB servers on loopback and a node watching and
/// recovering them with embedded defaults. Ctrl-C stops both.
pub async fn demo(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (mut config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    eprintln!("arbor demo: starting 4 MariaDB servers on 127.0.0.1 ...");
    let keeper = SandboxKeeper::start(&SHAPE)
        .context("cannot start the demo topology (scripts/demo.sh installs MariaDB first)")?;
    let servers = &keeper.servers;
    let guide = demo_config(
        &mut config,
        config_path.is_none(),
        (ADMIN_USER, ADMIN_PASSWORD),
        (REPL_USER, REPL_PASSWORD),
        vec![servers[0].0.clone()],
    )?;
    let pids = servers
        .iter()
        .zip(["P", "R1", "R2", "R3"])
        .map(|((_, pid), name)| format!("{name} {pid}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = String::from(
        "\narbor demo: four MariaDB servers on 127.0.0.1, recovered automatically\n\n",
    );
    text.push_str(&cluster_line(
        "MariaDB",
        &servers.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
    ));
    text.push_str(&format!("  {:<13} {pids}\n", "server pids"));
    text.push_str(&guide.commands(&servers[0].0, port_of(&servers[0].0)));
    text.push_str("\n  Ctrl-C stops arbor and removes the demo servers.\n");
    eprintln!("{text}");
    let injector: Injector = {
        let requests = keeper.requests.clone();
        Arc::new(move |fault, port| {
            let (reply, answer) = mpsc::channel();
            requests
                .send(Request::Fault(fault, port, reply))
                .map_err(|_| "the demo servers are stopping".to_string())?;
            answer
                .recv()
                .map_err(|_| "the demo servers are stopping".to_string())?
        })
    };
    let result = run_node(config, &warnings, Some(fault_routes(injector))).await;
    keeper.stop();
    drop(guide);
    result
}

/// `arbor demo`: three simulated clusters (MariaDB 10.11, MySQL 8.0, MySQL 8.4, each a primary
/// with two replicas and one replica below the first), arbor watching and recovering them with
/// embedded defaults. Needs no database installed.
pub async fn demo_simulated(config_path: Option<&Path>) -> anyhow::Result<()> {
    use arbor_simfleet::{Flavor, Fleet, Health};
    let (mut config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    let mut fleets = Vec::new();
    for flavor in [Flavor::MariaDb1011, Flavor::MySql80, Flavor::MySql84] {
        fleets.push(
            Fleet::start(&SHAPE, flavor)
                .await
                .context("cannot start the simulated fleet")?,
        );
    }
    let guide = demo_config(
        &mut config,
        config_path.is_none(),
        ("arbor", "demo"),
        ("repl", "demo"),
        fleets.iter().map(|f| f.key(0)).collect(),
    )?;
    let mut text = String::from(
        "\narbor demo: three simulated clusters on 127.0.0.1, recovered automatically\n\n",
    );
    for (fleet, name) in fleets
        .iter()
        .zip(["MariaDB 10.11", "MySQL 8.0", "MySQL 8.4"])
    {
        let keys: Vec<String> = (0..fleet.len()).map(|i| fleet.key(i)).collect();
        text.push_str(&cluster_line(name, &keys));
    }
    text.push_str(&guide.commands(&fleets[0].key(0), fleets[0].port(0)));
    text.push_str("\n  Ctrl-C stops arbor and the simulated fleet.\n");
    eprintln!("{text}");
    let fleets = Arc::new(fleets);
    let injector: Injector = {
        let fleets = Arc::clone(&fleets);
        Arc::new(move |fault, port| {
            let health = match fault {
                Fault::Kill => Health::Dead,
                Fault::Hang => Health::Hung,
                Fault::Revive => Health::Up,
            };
            for fleet in fleets.iter() {
                if let Some(index) = (0..fleet.len()).find(|&i| fleet.port(i) == port) {
                    fleet.set_health(index, health);
                    let done = match fault {
                        Fault::Kill => "killed",
                        Fault::Hang => "hung",
                        Fault::Revive => "revived",
                    };
                    return Ok(format!("{done} 127.0.0.1:{port} (simulated)"));
                }
            }
            Err(format!("no simulated instance on port {port}"))
        })
    };
    let result = run_node(config, &warnings, Some(fault_routes(injector))).await;
    drop(fleets);
    drop(guide);
    result
}

/// One line per demo cluster: its flavour and servers.
fn cluster_line(name: &str, keys: &[String]) -> String {
    format!(
        "  {name:<13} primary P {}, replicas R1 {} and R2 {}, R3 {} under R1\n",
        keys[0], keys[1], keys[2], keys[3]
    )
}

fn port_of(key: &str) -> u16 {
    key.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// What a running demo tells its user: where the UI is and how to call the binary.
struct Guide {
    /// The throwaway SQLite store's dir: lives as long as the demo.
    _data: tempfile::TempDir,
    api: String,
    /// How to run this very binary from a shell, `--api` included when needed.
    arbor: String,
}

impl Guide {
    /// The commands to try on the cluster of `primary`, whose port is `port`.
    fn commands(&self, primary: &str, port: u16) -> String {
        let Guide { api, arbor, .. } = self;
        let pad = " ".repeat(12);
        format!(
            "\n  web UI    {api}/\n\
             \n  try       {arbor} topology {primary}\n\
             {pad}curl -X POST {api}/demo/kill/{port}     (kill P: watch arbor fail it over)\n\
             {pad}{arbor} audit-recovery\n\
             {pad}curl -X POST {api}/demo/revive/{port}   (P back, now a lone read-only server)\n\
             {pad}curl -X POST {api}/demo/hang/{port}     (or hang P instead: it answers nothing)\n\
             {pad}{arbor} graceful-master-takeover --auto {primary}   (a planned switchover)\n"
        )
    }
}

/// What both demos set: the servers' accounts and seeds, a throwaway SQLite store, fast polls,
/// automated recovery of every cluster (unless the config file filters), and 127.0.0.1:3000
/// without a config file.
fn demo_config(
    config: &mut Config,
    default_address: bool,
    (user, password): (&str, &str),
    (repl_user, repl_password): (&str, &str),
    seeds: Vec<String>,
) -> anyhow::Result<Guide> {
    let data = tempfile::tempdir().context("cannot create a data dir for the demo")?;
    config.mysql_topology_user = user.to_string();
    config.mysql_topology_password = password.to_string();
    if config.mysql_replica_user.is_empty() {
        config.mysql_replica_user = repl_user.to_string();
        config.mysql_replica_password = repl_password.to_string();
    }
    config.discovery_seeds = seeds;
    config.backend_db = "sqlite".to_string();
    config.sqlite3_data_file = data.path().join("arbor.sqlite3").display().to_string();
    config.instance_poll_seconds = config.instance_poll_seconds.min(2);
    if config.recover_master_cluster_filters.is_empty() {
        config.recover_master_cluster_filters = vec!["*".into()];
    }
    if config
        .recover_intermediate_master_cluster_filters
        .is_empty()
    {
        config.recover_intermediate_master_cluster_filters = vec!["*".into()];
    }
    if default_address {
        config.listen_address = "127.0.0.1:3000".to_string();
    }
    let api = format!("http://{}", config.listen_socket_addr()).replace("0.0.0.0", "127.0.0.1");
    let mut arbor = binary_invocation();
    if api != "http://127.0.0.1:3000" {
        arbor.push_str(&format!(" --api {api}"));
    }
    Ok(Guide {
        _data: data,
        api,
        arbor,
    })
}

/// `arbor` when this binary is the one PATH finds under that name, else its full path (a
/// `cargo run` build in target/ is not on PATH).
fn binary_invocation() -> String {
    let Ok(me) = std::env::current_exe() else {
        return "arbor".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join("arbor");
            candidate.canonicalize().ok() == me.canonicalize().ok()
        })
    });
    if on_path {
        "arbor".to_string()
    } else {
        me.display().to_string()
    }
}

/// `POST /demo/{kill,hang,revive}/PORT`: a fault on a demo server, by its port.
fn fault_routes(injector: Injector) -> axum::Router {
    use axum::extract::Path as UrlPath;
    use axum::http::StatusCode;
    let handler = move |UrlPath((action, port)): UrlPath<(String, u16)>| {
        let injector = Arc::clone(&injector);
        async move {
            let fault = match action.as_str() {
                "kill" => Fault::Kill,
                "hang" => Fault::Hang,
                "revive" => Fault::Revive,
                _ => {
                    return (
                        StatusCode::NOT_FOUND,
                        "expected /demo/kill|hang|revive/PORT\n".to_string(),
                    )
                }
            };
            // The real servers' faults wait for a restart: off the async workers.
            match tokio::task::spawn_blocking(move || injector(fault, port)).await {
                Ok(Ok(done)) => (StatusCode::OK, format!("{done}\n")),
                Ok(Err(why)) => (StatusCode::NOT_FOUND, format!("{why}\n")),
                Err(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the demo is stopping\n".to_string(),
                ),
            }
        }
    };
    axum::Router::new().route("/demo/{action}/{port}", axum::routing::post(handler))
}

/// What the thread that owns the real demo servers is asked to do.
enum Request {
    Fault(Fault, u16, mpsc::Sender<Result<String, String>>),
    Stop,
}

/// The real demo servers, owned by one thread for their whole life: the kernel's
/// parent-death signal fires when the thread that started a server exits (see
/// [`MariaDbSandbox::start`]), so starts and restarts happen on that thread.
struct SandboxKeeper {
    /// Each server's `host:port` and pid, P first.
    servers: Vec<(String, u32)>,
    requests: mpsc::Sender<Request>,
    thread: std::thread::JoinHandle<()>,
}

impl SandboxKeeper {
    fn start(shape: &[Option<usize>]) -> anyhow::Result<SandboxKeeper> {
        let shape = shape.to_vec();
        let (requests, inbox) = mpsc::channel();
        let (started, ready) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("demo-servers".into())
            .spawn(move || {
                let mut sandbox = match MariaDbSandbox::start(&shape) {
                    Ok(sandbox) => sandbox,
                    Err(why) => {
                        let _ = started.send(Err(why));
                        return;
                    }
                };
                let servers = (0..sandbox.len())
                    .map(|i| (sandbox.key(i), sandbox.pid(i).unwrap_or(0)))
                    .collect();
                let _ = started.send(Ok(servers));
                while let Ok(Request::Fault(fault, port, reply)) = inbox.recv() {
                    let _ = reply.send(inject(&mut sandbox, fault, port));
                }
            })
            .context("cannot start the demo servers' thread")?;
        let servers = ready
            .recv()
            .context("the demo servers' thread ended")?
            .map_err(anyhow::Error::msg)?;
        Ok(SandboxKeeper {
            servers,
            requests,
            thread,
        })
    }

    /// Stops and removes the servers, and waits until they are gone.
    fn stop(self) {
        let _ = self.requests.send(Request::Stop);
        let _ = self.thread.join();
    }
}

fn inject(sandbox: &mut MariaDbSandbox, fault: Fault, port: u16) -> Result<String, String> {
    let index = (0..sandbox.len())
        .find(|&i| sandbox.port(i) == port)
        .ok_or_else(|| format!("no demo server on port {port}"))?;
    let key = sandbox.key(index);
    match fault {
        Fault::Kill => sandbox
            .kill(index)
            .map(|_| format!("killed (SIGKILL) {key}")),
        Fault::Hang => sandbox
            .pause(index)
            .map(|_| format!("hung (SIGSTOP) {key}")),
        Fault::Revive if sandbox.is_running(index) => sandbox
            .resume(index)
            .map(|_| format!("thawed (SIGCONT) {key}")),
        Fault::Revive => sandbox
            .restart(index)
            .map(|_| format!("restarted {key} (read-only)")),
    }
}

/// `arbor simfleet`: a simulated fleet driven by commands on standard input.
pub async fn simfleet(topology: arbor_simfleet::Topology) -> anyhow::Result<()> {
    use arbor_simfleet::control;
    use tokio::io::AsyncBufReadExt;

    let fleet = arbor_simfleet::Fleet::from_topology(&topology)
        .await
        .context("cannot start the simulated fleet")?;
    use std::io::Write;

    // Whoever drives the fleet may stop reading its answers: the fleet goes on regardless.
    let say = |text: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    };
    say(&format!("{}ready", control::listing(&fleet, &topology)));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match control::command(&fleet, &line) {
            Ok(true) => say("ok"),
            Ok(false) => break,
            Err(message) => say(&format!(
                "error: {message} (commands: {})",
                control::COMMANDS
            )),
        }
    }
    Ok(())
}
