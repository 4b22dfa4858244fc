//! `arbor demo` (real MariaDB or a simulated fleet) and `arbor simfleet`: built with the
//! `demo` feature (on by default), which brings the test kits' MariaDB sandbox and simulated
//! fleet into the binary. A production build can leave them out:
//! `cargo build --release -p arbor --no-default-features`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arbor_config::Config;
use arbor_sandbox::{MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER};

use crate::serve::{init_logging, load_config, run_node};

/// `arbor demo`: a real MariaDB topology on loopback (P with replicas R1 and R2, R3 under R1),
/// and a node watching it with embedded defaults. Ctrl-C stops both.
pub async fn demo(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (mut config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    eprintln!("arbor demo: starting 4 MariaDB servers on 127.0.0.1 ...");
    // Started on this (the main) thread, which lives as long as the demo: see
    // `MariaDbSandbox::start` on why the thread matters.
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)])
        .map_err(anyhow::Error::msg)
        .context("cannot start the demo topology (scripts/demo.sh installs MariaDB first)")?;
    let (_data, api, api_flag) = demo_config(
        &mut config,
        config_path.is_none(),
        (ADMIN_USER, ADMIN_PASSWORD),
        vec![sandbox.key(0)],
    )?;
    eprintln!(
        "\narbor demo: primary P {p}, replicas R1 {r1} and R2 {r2}, R3 {r3} under R1\n\
         \n  API       {api}/api/clusters-info\n\
         \n  try       arbor {api_flag}topology {p}\n\
         \x20           arbor {api_flag}instance {r3}\n\
         \x20           kill -9 {r1_pid}    (R1: watch it turn unreachable and R3 broken)\n\
         \n  Ctrl-C stops arbor and removes the demo servers.\n",
        p = sandbox.key(0),
        r1 = sandbox.key(1),
        r2 = sandbox.key(2),
        r3 = sandbox.key(3),
        r1_pid = sandbox.pid(1).unwrap_or(0),
    );
    let result = run_node(config, &warnings, None).await;
    drop(sandbox);
    result
}

/// `arbor demo`: three simulated clusters (MariaDB 10.11, MySQL 8.0, MySQL 8.4, each a primary
/// with two replicas and one replica below the first), arbor watching and recovering them with
/// embedded defaults, and `/demo/{kill,hang,revive}/PORT` on the API to inject faults. Needs no
/// database installed.
pub async fn demo_simulated(config_path: Option<&Path>) -> anyhow::Result<()> {
    use arbor_simfleet::{Flavor, Fleet};
    let (mut config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    let shape = [None, Some(0), Some(0), Some(1)];
    let mut fleets = Vec::new();
    for flavor in [Flavor::MariaDb1011, Flavor::MySql80, Flavor::MySql84] {
        fleets.push(
            Fleet::start(&shape, flavor)
                .await
                .context("cannot start the simulated fleet")?,
        );
    }
    let (_data, api, api_flag) = demo_config(
        &mut config,
        config_path.is_none(),
        ("arbor", "demo"),
        fleets.iter().map(|f| f.key(0)).collect(),
    )?;
    if config.recover_master_cluster_filters.is_empty() {
        config.recover_master_cluster_filters = vec!["*".into()];
        config.recover_intermediate_master_cluster_filters = vec!["*".into()];
    }
    let mut text = String::from(
        "\narbor demo: three simulated clusters on 127.0.0.1, recovered automatically\n",
    );
    for (fleet, name) in fleets
        .iter()
        .zip(["MariaDB 10.11", "MySQL 8.0", "MySQL 8.4"])
    {
        text.push_str(&format!(
            "\n  {name:<13} primary P {}, replicas {} and {}, {} under the first\n",
            fleet.key(0),
            fleet.key(1),
            fleet.key(2),
            fleet.key(3)
        ));
    }
    let first = &fleets[0];
    text.push_str(&format!(
        "\n  web UI    {api}/\n\n  try       arbor {api_flag}topology {p}\n{pad}curl -X POST {api}/demo/kill/{port}     (kill P: watch arbor fail it over)\n{pad}arbor {api_flag}audit-recovery\n{pad}curl -X POST {api}/demo/revive/{port}   (P back, now a lone server)\n\n  Ctrl-C stops arbor and the simulated fleet.\n",
        pad = " ".repeat(12),
        p = first.key(0),
        port = first.port(0),
    ));
    eprintln!("{text}");
    let fleets = Arc::new(fleets);
    let control = demo_control(Arc::clone(&fleets));
    let result = run_node(config, &warnings, Some(control)).await;
    drop(fleets);
    result
}

/// What both demos set: the servers' account and seeds, a throwaway SQLite store (the returned
/// dir, which must live as long as the demo), fast polls, and 127.0.0.1:3000 without a config
/// file. Returns the dir, the API's URL and the `--api` flag the printed commands need.
fn demo_config(
    config: &mut Config,
    default_address: bool,
    (user, password): (&str, &str),
    seeds: Vec<String>,
) -> anyhow::Result<(tempfile::TempDir, String, String)> {
    let data = tempfile::tempdir().context("cannot create a data dir for the demo")?;
    config.mysql_topology_user = user.to_string();
    config.mysql_topology_password = password.to_string();
    config.discovery_seeds = seeds;
    config.backend_db = "sqlite".to_string();
    config.sqlite3_data_file = data.path().join("arbor.sqlite3").display().to_string();
    config.instance_poll_seconds = config.instance_poll_seconds.min(2);
    if default_address {
        config.listen_address = "127.0.0.1:3000".to_string();
    }
    let api = format!("http://{}", config.listen_socket_addr()).replace("0.0.0.0", "127.0.0.1");
    let api_flag = if api == "http://127.0.0.1:3000" {
        String::new()
    } else {
        format!("--api {api} ")
    };
    Ok((data, api, api_flag))
}

/// `/demo/{kill,hang,revive}/PORT`: faults on a simulated instance, by its port.
fn demo_control(fleets: Arc<Vec<arbor_simfleet::Fleet>>) -> axum::Router {
    use arbor_simfleet::Health;
    use axum::extract::Path as UrlPath;
    use axum::http::StatusCode;
    let handler = move |UrlPath((action, port)): UrlPath<(String, u16)>| {
        let fleets = Arc::clone(&fleets);
        async move {
            let health = match action.as_str() {
                "kill" => Health::Dead,
                "hang" => Health::Hung,
                "revive" => Health::Up,
                _ => {
                    return (
                        StatusCode::NOT_FOUND,
                        "expected /demo/kill|hang|revive/PORT".to_string(),
                    )
                }
            };
            for fleet in fleets.iter() {
                if let Some(index) = (0..fleet.len()).find(|&i| fleet.port(i) == port) {
                    fleet.set_health(index, health);
                    return (StatusCode::OK, format!("{action}: 127.0.0.1:{port}\n"));
                }
            }
            (
                StatusCode::NOT_FOUND,
                format!("no simulated instance on port {port}\n"),
            )
        }
    };
    axum::Router::new().route("/demo/{action}/{port}", axum::routing::post(handler))
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
