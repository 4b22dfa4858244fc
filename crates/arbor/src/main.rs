//! `arbor`: the one binary. `arbor serve` runs the service; every other subcommand is a client
//! of a running service's HTTP API.
//!
//! This crate is glue: it parses arguments, loads the configuration, and assembles the library
//! crates (`serve.rs`), or calls the API and prints answers (`commands.rs`).

mod cli;
mod commands;
mod compat_commands;
mod compat_more;
#[cfg(feature = "demo")]
mod demo;
mod serve;
mod table;
mod tls_init;

use std::path::PathBuf;
use std::process::ExitCode;

use cli::{Args, Command, RaftCommand, TlsCommand};

/// mimalloc rather than glibc's malloc: at 10,000 servers polled every second, perf showed
/// about a third of the service's CPU in glibc's allocator, much of it waiting on arena locks;
/// with mimalloc the node needs two thirds of the CPU (docs/benchmarks.md, scale).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// orchestrator-client's `ORCHESTRATOR_API` ("http://host:3000/api", several separated by
/// spaces), when neither `--api` nor `ARBOR_API` says where arbor is.
fn orchestrator_api() -> Option<String> {
    let given = std::env::args().any(|a| a == "--api" || a.starts_with("--api="));
    if given || std::env::var_os("ARBOR_API").is_some() {
        return None;
    }
    let urls = std::env::var("ORCHESTRATOR_API").ok()?;
    let urls: Vec<&str> = urls
        .split([' ', ','])
        .map(|url| url.trim().trim_end_matches('/'))
        .filter(|url| !url.is_empty())
        .map(|url| url.strip_suffix("/api").unwrap_or(url))
        .collect();
    (!urls.is_empty()).then(|| urls.join(","))
}

fn main() -> ExitCode {
    let mut args = <Args as clap::FromArgMatches>::from_arg_matches(&cli::command().get_matches())
        .unwrap_or_else(|e| e.exit());
    if let Some(api) = orchestrator_api() {
        args.api = api;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("arbor: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // One crypto provider for every TLS user in the process (API, client, Raft forwarding).
    arbor_http::tls::install_crypto_provider();
    let result = runtime.block_on(run(args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("arbor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let output = commands::Output {
        json: args.json,
        style: table::Style::detect(args.color),
    };
    let basic_auth = match (
        std::env::var("ARBOR_AUTH_USER"),
        std::env::var("ARBOR_AUTH_PASSWORD"),
    ) {
        (Ok(user), password) if !user.is_empty() => Some((user, password.unwrap_or_default())),
        _ => None,
    };
    let env_path = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let client_identity = env_path("ARBOR_TLS_CERT_FILE").zip(env_path("ARBOR_TLS_KEY_FILE"));
    let is_client_command = args.command.is_client_command();
    let (api_url, _direct_node) = if args.direct && is_client_command {
        let (url, node) = serve::direct(args.config.as_deref()).await?;
        (url, Some(node))
    } else {
        (args.api.clone(), None)
    };
    let target = commands::Target::new(
        &api_url,
        arbor_client::ClientOptions {
            basic_auth,
            ca_file: env_path("ARBOR_TLS_CA_FILE"),
            client_identity,
        },
    );
    let api = &target;
    match args.command {
        Command::Serve => serve::serve(args.config.as_deref()).await,
        #[cfg(feature = "demo")]
        Command::Demo { mariadb: true } => demo::demo(args.config.as_deref()).await,
        #[cfg(feature = "demo")]
        Command::Demo { mariadb: false } => demo::demo_simulated(args.config.as_deref()).await,
        Command::CheckConfig => serve::check_config(args.config.as_deref()),
        Command::Completions { shell } => {
            let mut command = cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "arbor", &mut script);
            print_all(&script)
        }
        Command::Man { dir: None } => {
            let command = cli::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            print_all(&page)
        }
        Command::Man { dir: Some(dir) } => {
            use anyhow::Context;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cli::command(), &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))
        }
        #[cfg(feature = "demo")]
        Command::Simfleet {
            topology,
            clusters,
            size,
            flavor,
            write_rate,
        } => {
            let mut topology = match (topology, clusters) {
                (Some(path), _) => arbor_simfleet::Topology::from_file(&path)?,
                (None, Some(clusters)) => {
                    arbor_simfleet::Topology::generate(clusters, size, &flavor)
                }
                (None, None) => anyhow::bail!("give --topology FILE or --clusters M"),
            };
            if let Some(rate) = write_rate {
                topology.write_rate = rate;
            }
            demo::simfleet(topology).await
        }
        Command::Tls {
            command: TlsCommand::Init { dir, hosts },
        } => {
            for file in tls_init::init(&dir, &hosts)? {
                println!("{file}");
            }
            Ok(())
        }
        Command::Raft {
            command: RaftCommand::ForceSingleMember { yes },
        } => serve::force_single_member(args.config.as_deref(), yes).await,
        Command::Discover { instance } => commands::discover(api, &instance, output).await,
        Command::Forget { instance } => commands::forget(api, &instance, output).await,
        Command::Instance { instance } => commands::instance(api, &instance, output).await,
        Command::Clusters => commands::clusters(api, output).await,
        Command::ReplicationAnalysis => commands::replication_analysis(api, output).await,
        Command::Recover {
            instance,
            candidate,
            lite,
            force,
        } => {
            let key = commands::instance_path(&instance)?;
            let route = if lite { "recover-lite" } else { "recover" };
            let candidate = match candidate {
                Some(candidate) => format!("/{}", commands::instance_path(&candidate)?),
                None => String::new(),
            };
            let path = format!("{route}/{key}{candidate}{}", force_query(force));
            commands::key_command(api, &path, output).await
        }
        Command::Compat(command) => compat_commands::run(api, command, output).await,
        Command::ForceMasterFailover { cluster, force } => {
            let path = format!(
                "force-master-failover/{}{}",
                commands::segment(&cluster),
                force_query(force)
            );
            commands::recovery_command(api, &path, output).await
        }
        Command::GracefulMasterTakeover {
            cluster,
            designated,
            auto,
        } => {
            let route = if auto {
                "graceful-master-takeover-auto"
            } else {
                "graceful-master-takeover"
            };
            let mut path = format!("{route}/{}", commands::segment(&cluster));
            if let Some(designated) = designated {
                path.push('/');
                path.push_str(&commands::instance_path(&designated)?);
            }
            commands::recovery_command(api, &path, output).await
        }
        Command::RegisterCandidate { instance, rule } => {
            let key = commands::instance_path(&instance)?;
            commands::key_command(
                api,
                &format!("register-candidate/{key}/{}", commands::segment(&rule)),
                output,
            )
            .await
        }
        Command::BeginDowntime {
            instance,
            owner,
            reason,
            duration,
        } => {
            let key = commands::instance_path(&instance)?;
            let path = format!(
                "begin-downtime/{key}/{}/{}/{}",
                commands::segment(&owner),
                commands::segment(&reason),
                commands::segment(&duration)
            );
            commands::key_command(api, &path, output).await
        }
        Command::EndDowntime { instance } => {
            let key = commands::instance_path(&instance)?;
            commands::key_command(api, &format!("end-downtime/{key}"), output).await
        }
        Command::DisableGlobalRecoveries => {
            commands::text_command(api, "disable-global-recoveries", output).await
        }
        Command::EnableGlobalRecoveries => {
            commands::text_command(api, "enable-global-recoveries", output).await
        }
        Command::CheckGlobalRecoveries => {
            commands::text_command(api, "check-global-recoveries", output).await
        }
        Command::AckClusterRecoveries { cluster, comment } => {
            let path = format!(
                "ack-recovery/cluster/{}?comment={}",
                commands::segment(&cluster),
                commands::segment(&comment)
            );
            commands::text_command(api, &path, output).await
        }
        Command::AckAllRecoveries { comment } => {
            commands::text_command(
                api,
                &format!("ack-all-recoveries?comment={}", commands::segment(&comment)),
                output,
            )
            .await
        }
        Command::AuditRecovery { cluster } => {
            commands::audit_recovery(api, cluster.as_deref(), output).await
        }
        Command::BlockedRecoveries { cluster } => {
            commands::blocked_recoveries(api, cluster.as_deref(), output).await
        }
        Command::AuditFailureDetection => commands::audit_failure_detection(api, output).await,
        Command::Relocate { instance, below } => {
            commands::instance_move(api, "relocate", &instance, Some(&below), output).await
        }
        Command::RelocateReplicas { instance, below } => {
            commands::instance_move(api, "relocate-replicas", &instance, Some(&below), output).await
        }
        Command::MoveUp { instance } => {
            commands::instance_move(api, "move-up", &instance, None, output).await
        }
        Command::MoveUpReplicas { instance } => {
            commands::instance_move(api, "move-up-replicas", &instance, None, output).await
        }
        Command::MoveBelow { instance, below } => {
            commands::instance_move(api, "move-below", &instance, Some(&below), output).await
        }
        Command::MoveGtid { instance, below } => {
            commands::instance_move(api, "move-gtid", &instance, Some(&below), output).await
        }
        Command::MoveReplicasGtid { instance, below } => {
            commands::instance_move(api, "move-replicas-gtid", &instance, Some(&below), output)
                .await
        }
        Command::RepointReplicas { instance } => {
            commands::instance_move(api, "repoint-replicas", &instance, None, output).await
        }
        Command::TakeMaster { instance } => {
            commands::instance_move(api, "take-master", &instance, None, output).await
        }
        Command::TakeSiblings { instance } => {
            commands::instance_move(api, "take-siblings", &instance, None, output).await
        }
        Command::MakeCoMaster { instance } => {
            commands::instance_move(api, "make-co-master", &instance, None, output).await
        }
        Command::StopReplica { instance } => {
            commands::instance_move(api, "stop-replica", &instance, None, output).await
        }
        Command::StartReplica { instance } => {
            commands::instance_move(api, "start-replica", &instance, None, output).await
        }
        Command::RestartReplica { instance } => {
            commands::instance_move(api, "restart-replica", &instance, None, output).await
        }
        Command::ResetReplica { instance } => {
            commands::instance_move(api, "reset-replica", &instance, None, output).await
        }
        Command::DetachReplicaMasterHost { instance } => {
            commands::instance_move(api, "detach-replica-master-host", &instance, None, output)
                .await
        }
        Command::ReattachReplicaMasterHost { instance } => {
            commands::instance_move(api, "reattach-replica-master-host", &instance, None, output)
                .await
        }
        Command::SetReadOnly { instance } => {
            commands::instance_move(api, "set-read-only", &instance, None, output).await
        }
        Command::SetWriteable { instance } => {
            commands::instance_move(api, "set-writeable", &instance, None, output).await
        }
        Command::SkipQuery { instance } => {
            commands::instance_move(api, "skip-query", &instance, None, output).await
        }
        Command::FlushBinaryLogs { instance } => {
            commands::instance_move(api, "flush-binary-logs", &instance, None, output).await
        }
        Command::WhichGtidErrant { instance } => {
            let key = instance
                .parse::<arbor_topology::InstanceKey>()
                .map_err(anyhow::Error::msg)?;
            let found = commands::client_for(api).await?.instance(&key).await?;
            output.print(&found.gtid_errant, |g| g.clone())
        }
        Command::LocateGtidErrant { instance } => {
            let files: Vec<String> = commands::client_for(api)
                .await?
                .get(&format!(
                    "locate-gtid-errant/{}",
                    commands::instance_path(&instance)?
                ))
                .await?;
            output.print(&files, |files| {
                files.iter().map(|f| format!("{f}\n")).collect()
            })
        }
        Command::GtidErrantResetMaster { instance } => {
            commands::instance_move(api, "gtid-errant-reset-master", &instance, None, output).await
        }
        Command::GtidErrantInjectEmpty { instance } => {
            commands::instance_move(api, "gtid-errant-inject-empty", &instance, None, output).await
        }
        Command::Repoint { instance, below } => {
            commands::instance_move(api, "repoint", &instance, below.as_deref(), output).await
        }
        Command::PurgeBinaryLogs { instance, file } => {
            let path = format!(
                "purge-binary-logs/{}/{}",
                commands::instance_path(&instance)?,
                commands::segment(&file)
            );
            commands::instance_command(api, &path, output).await
        }
        Command::DelayReplication { instance, seconds } => {
            let path = format!(
                "delay-replication/{}/{seconds}",
                commands::instance_path(&instance)?
            );
            let delay: u64 = commands::client_for(api).await?.get(&path).await?;
            output.print(&delay, |d| d.to_string())
        }
        Command::CanReplicateFrom { instance, below } => {
            commands::can_replicate_from(api, &instance, &below, output).await
        }
        Command::BeginMaintenance {
            instance,
            owner,
            reason,
        } => {
            let path = format!(
                "begin-maintenance/{}/{}/{}",
                commands::instance_path(&instance)?,
                commands::segment(&owner),
                commands::segment(&reason)
            );
            commands::key_command(api, &path, output).await
        }
        Command::EndMaintenance { instance } => {
            commands::key_command(
                api,
                &format!("end-maintenance/{}", commands::instance_path(&instance)?),
                output,
            )
            .await
        }
        Command::Tag { instance, tag } => {
            let path = format!(
                "tag/{}?tag={}",
                commands::instance_path(&instance)?,
                commands::segment(&tag)
            );
            commands::key_command(api, &path, output).await
        }
        Command::Untag { instance, name } => {
            let path = format!(
                "untag/{}?tag={}",
                commands::instance_path(&instance)?,
                commands::segment(&name)
            );
            commands::key_command(api, &path, output).await
        }
        Command::UntagAll { name } => {
            commands::keys_command(
                api,
                &format!("untag-all?tag={}", commands::segment(&name)),
                output,
            )
            .await
        }
        Command::Tags { instance } => {
            let tags: Vec<String> = commands::client_for(api)
                .await?
                .get(&format!("tags/{}", commands::instance_path(&instance)?))
                .await?;
            output.print(&tags, |tags| {
                if tags.is_empty() {
                    return "none\n".to_string();
                }
                tags.iter().map(|t| format!("{t}\n")).collect()
            })
        }
        Command::TagValue { instance, name } => {
            let path = format!(
                "tag-value/{}?tag={}",
                commands::instance_path(&instance)?,
                commands::segment(&name)
            );
            commands::text_command(api, &path, output).await
        }
        Command::Tagged { tag } => {
            commands::keys_command(
                api,
                &format!("tagged?tag={}", commands::segment(&tag)),
                output,
            )
            .await
        }
        Command::Topology { cluster } => commands::topology(api, &cluster, output).await,
    }
}

/// `?force=true` for a recovery asked to run within the block period.
fn force_query(force: bool) -> &'static str {
    if force {
        "?force=true"
    } else {
        ""
    }
}

/// Writes `bytes` to standard output; a reader that stops early (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
