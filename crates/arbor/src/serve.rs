//! `arbor serve` and `--direct`: load the configuration, build the node (`arbor-node`), serve
//! it. The demos (feature `demo`) are in `demo.rs`.

use std::path::Path;

use anyhow::Context;
use arbor_config::{Config, ConfigWarning};
use arbor_node::{Node, Role};

pub async fn serve(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    run_node(config, &warnings, None).await
}

/// `arbor --direct`: the API of a node assembled in this process, on a loopback port, with
/// the shared backend as its store and no background work (no polling, no automated
/// recovery): client commands then run against the backend and the MySQL servers without a
/// service, honouring the locks the services take. Returns the API's URL; the node lives as
/// long as the returned guard.
pub async fn direct(config_path: Option<&Path>) -> anyhow::Result<(String, DirectNode)> {
    let (config, warnings) = load_config(config_path)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let node = Node::build(&config, Role::Direct).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open a loopback port for --direct")?;
    let url = format!(
        "http://{}{}",
        listener.local_addr()?,
        arbor_http::normalize_url_prefix(&config.url_prefix)
    );
    let router = node.router();
    let server = tokio::spawn(async move {
        arbor_http::serve::serve(listener, router, None, std::future::pending()).await;
    });
    Ok((
        url,
        DirectNode {
            _node: node,
            server,
        },
    ))
}

/// The in-process node of `--direct`, stopped when dropped.
pub struct DirectNode {
    _node: Node,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for DirectNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Assembles and runs one node until a shutdown signal; `extra` routes (the demo's) are served
/// beside the API.
pub(crate) async fn run_node(
    config: Config,
    warnings: &[ConfigWarning],
    extra: Option<axum::Router>,
) -> anyhow::Result<()> {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let node = Node::build(&config, Role::Service).await?;
    let router = match extra {
        Some(extra) => node.router().merge(extra),
        None => node.router(),
    };
    node.serve(router, shutdown_signal()).await?;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}

/// `arbor check-config`: the same loading as `serve`, without serving.
pub fn check_config(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (config, warnings) = load_config(config_path)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    config.backend().map_err(anyhow::Error::msg)?;
    let inert = warnings
        .iter()
        .filter(|w| w.0.contains(" is accepted, not implemented: "))
        .count();
    if inert == 0 {
        println!(
            "configuration ok: {} key(s) known to arbor, {} warning(s)",
            Config::KEYS.len(),
            warnings.len()
        );
    } else {
        // Not "ok": some keys the file sets do nothing.
        println!(
            "configuration loads, but {inert} key(s) it sets are accepted and not implemented \
             (listed above); {} warning(s) in all",
            warnings.len()
        );
    }
    Ok(())
}

/// `arbor raft force-single-member`: see [`arbor_raft::force_single_member`].
pub async fn force_single_member(config_path: Option<&Path>, yes: bool) -> anyhow::Result<()> {
    let (config, _) = load_config(config_path)?;
    if !config.raft_enabled {
        anyhow::bail!(
            "RaftEnabled is false in this configuration: there is no Raft group to recover"
        );
    }
    let settings = arbor_node::settings::raft_settings(&config)?;
    // The node must be stopped: its Raft port is free.
    if std::net::TcpListener::bind(&settings.bind).is_err() {
        anyhow::bail!(
            "RaftBind {} is in use: stop this node's `arbor serve` first",
            settings.bind
        );
    }
    eprintln!(
        "WARNING: this makes {} the only member of its Raft group.\n\
         - Use it only when a majority of the members is lost for good.\n\
         - Writes only the lost members had (never committed here) are lost.\n\
         - Do not restart the old members as they are: wipe their RaftDataDir and add them \
         back with raft-add-peer.",
        settings.advertise
    );
    if !yes {
        anyhow::bail!("nothing changed: run again with --yes to go ahead");
    }
    let forced = arbor_raft::force_single_member(&settings.data_dir, &settings.advertise).await?;
    println!(
        "{} is now the only member (configuration at log index {}, term {}); it was [{}]. \
         Start it: it will elect itself and serve.",
        settings.advertise,
        forced.index,
        forced.term,
        forced.previous_members.join(", ")
    );
    Ok(())
}

pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<(Config, Vec<ConfigWarning>)> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => Ok((Config::default(), Vec::new())),
    }
}

pub(crate) fn init_logging(debug: bool) {
    // openraft reports every unanswered heartbeat to a down member at ERROR; arbor logs the
    // Raft events that matter (leadership gained and lost) itself.
    let default = if debug {
        "debug,openraft=info"
    } else {
        "info,openraft=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal; logs collected by a supervisor stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
