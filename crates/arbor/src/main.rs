//! `arbor`: the one binary. `arbor serve` runs the service; every other subcommand is a client
//! of a running service's HTTP API.
//!
//! This crate is glue: it parses arguments, loads the configuration, and assembles the library
//! crates (`serve.rs`), or calls the API and prints answers (`commands.rs`).

mod commands;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "arbor",
    version,
    about = "A highly available manager for MySQL and MariaDB replication topologies"
)]
struct Args {
    /// Configuration file (orchestrator's JSON keys). Without it, built-in defaults.
    #[arg(long, global = true, env = "ARBOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// URL of the arbor service that client commands talk to; several (comma- or
    /// space-separated) to talk to whichever is the leader.
    #[arg(
        long,
        global = true,
        env = "ARBOR_API",
        default_value = "http://127.0.0.1:3000",
        value_name = "URL"
    )]
    api: String,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: discovery and polling, and the HTTP API.
    Serve,
    /// Start a demo: 4 real MariaDB servers on 127.0.0.1 (needs mariadbd) and arbor watching
    /// them with embedded defaults.
    Demo,
    /// Read HOST:PORT now and watch it, and the topology it belongs to, from now on.
    Discover {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Stop watching HOST:PORT and remove what arbor knows of it.
    Forget {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Show what arbor knows of HOST:PORT.
    Instance {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// List known clusters (their names; --json for details).
    Clusters,
    /// Print a cluster as a tree; name it by cluster name, alias, or any member's HOST:PORT.
    Topology {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// Current failure analyses of every cluster (DeadMaster, UnreachableMaster, ...).
    ReplicationAnalysis,
    /// Recover the failure of HOST:PORT now (ignores filters, downtime and the block period).
    Recover {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Fail a cluster's primary over even if it is alive.
    ForceMasterFailover {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
    },
    /// Planned switchover: promote HOST:PORT (or the best replica) and demote the primary.
    GracefulMasterTakeover {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
        #[arg(value_name = "HOST:PORT")]
        designated: Option<String>,
        /// Also start replication on the old primary.
        #[arg(long)]
        auto: bool,
    },
    /// Set a promotion rule: must, prefer, neutral, prefer_not or must_not.
    RegisterCandidate {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "RULE")]
        rule: String,
    },
    /// Mark HOST:PORT as expected down: no automated recovery of it meanwhile.
    BeginDowntime {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(long, default_value = "arbor-cli")]
        owner: String,
        #[arg(long, default_value = "maintenance")]
        reason: String,
        /// How long: 30m, 2h, 1d...
        #[arg(long, default_value = "10m")]
        duration: String,
    },
    /// End HOST:PORT's downtime.
    EndDowntime {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Stop automated recoveries everywhere.
    DisableGlobalRecoveries,
    /// Allow automated recoveries again.
    EnableGlobalRecoveries,
    /// Whether automated recoveries are enabled.
    CheckGlobalRecoveries,
    /// Acknowledge a cluster's recoveries, so another may run within the block period.
    AckClusterRecoveries {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Acknowledge every recovery.
    AckAllRecoveries {
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Recoveries, most recent first (of one cluster, if given).
    AuditRecovery {
        #[arg(value_name = "CLUSTER")]
        cluster: Option<String>,
    },
    /// Failure detections, most recent first.
    AuditFailureDetection,
    /// Check a configuration file: print its warnings, or its errors and exit non-zero.
    CheckConfig,
}

fn main() -> ExitCode {
    let args = Args::parse();
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
    let output = commands::Output { json: args.json };
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
    let target = commands::Target::new(
        &args.api,
        arbor_client::ClientOptions {
            basic_auth,
            ca_file: env_path("ARBOR_TLS_CA_FILE"),
            client_identity,
        },
    );
    let api = &target;
    match args.command {
        Command::Serve => serve::serve(args.config.as_deref()).await,
        Command::Demo => serve::demo(args.config.as_deref()).await,
        Command::CheckConfig => serve::check_config(args.config.as_deref()),
        Command::Discover { instance } => commands::discover(api, &instance, output).await,
        Command::Forget { instance } => commands::forget(api, &instance, output).await,
        Command::Instance { instance } => commands::instance(api, &instance, output).await,
        Command::Clusters => commands::clusters(api, output).await,
        Command::ReplicationAnalysis => commands::replication_analysis(api, output).await,
        Command::Recover { instance } => {
            let key = commands::instance_path(&instance)?;
            commands::key_command(api, &format!("recover/{key}"), output).await
        }
        Command::ForceMasterFailover { cluster } => {
            commands::recovery_command(
                api,
                &format!("force-master-failover/{}", commands::segment(&cluster)),
                output,
            )
            .await
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
        Command::AuditFailureDetection => commands::audit_failure_detection(api, output).await,
        Command::Topology { cluster } => commands::topology(api, &cluster, output).await,
    }
}
