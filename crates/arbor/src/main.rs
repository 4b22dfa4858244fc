//! `arbor`: the one binary. `arbor serve` runs the service; every other subcommand is a client
//! of a running service's HTTP API.
//!
//! This crate is glue: it parses arguments, loads the configuration, and assembles the library
//! crates (`serve.rs`), or calls the API and prints answers (`commands.rs`).

mod commands;
mod serve;
mod tls_init;

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

    /// Run the command without a service, straight against the shared MySQL backend of
    /// --config (BackendDB "mysql") and the MySQL servers, honouring the services' locks.
    #[arg(long, global = true)]
    direct: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: discovery and polling, and the HTTP API.
    Serve,
    /// Start a demo: a simulated fleet of three clusters (MariaDB 10.11, MySQL 8.0, 8.4) and
    /// arbor watching and recovering them with embedded defaults; --mariadb for 4 real MariaDB
    /// servers instead (needs mariadbd).
    Demo {
        /// Real MariaDB servers instead of the simulated fleet.
        #[arg(long)]
        mariadb: bool,
    },
    /// Run a simulated fleet (no arbor): from a JSON topology file, or M generated clusters
    /// of K instances. Prints `INDEX PORT SOURCE FLAVOUR` per instance, then `ready`; then
    /// reads commands on standard input (kill PORT, hang PORT, revive PORT, slow PORT MS,
    /// break PORT, lag PORT SECONDS, write-rate N, quit) until it closes.
    Simfleet {
        /// A topology file (see the arbor-simfleet crate's docs for its form).
        #[arg(long, conflicts_with = "clusters")]
        topology: Option<PathBuf>,
        /// Generate this many clusters...
        #[arg(long, required_unless_present = "topology")]
        clusters: Option<usize>,
        /// ...of this many instances each: a primary and its replicas.
        #[arg(long, default_value_t = 3)]
        size: usize,
        /// Flavours, taken in turn: mariadb-10.11, mysql-8.0, mysql-8.4.
        #[arg(long, value_delimiter = ',', default_value = "mariadb-10.11")]
        flavor: Vec<arbor_simfleet::Flavor>,
        /// Transactions per second each primary commits.
        #[arg(long)]
        write_rate: Option<f64>,
    },
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
    /// Recover the failure of HOST:PORT now (ignores filters and downtime).
    Recover {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        /// Run even within the block period of an unacknowledged recovery of the cluster.
        #[arg(long)]
        force: bool,
    },
    /// Fail a cluster's primary over even if it is alive.
    ForceMasterFailover {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
        /// Run even within the block period of an unacknowledged recovery of the cluster.
        #[arg(long)]
        force: bool,
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
    /// Recoveries anti-flapping refuses now (of one cluster, if given), and why.
    BlockedRecoveries {
        #[arg(value_name = "CLUSTER")]
        cluster: Option<String>,
    },
    /// Failure detections, most recent first.
    AuditFailureDetection,
    /// Move HOST:PORT below BELOW, any instance it can replicate from.
    Relocate {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Move every replica of HOST:PORT below BELOW.
    RelocateReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Make HOST:PORT a sibling of its source.
    MoveUp {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Make every replica of HOST:PORT its sibling.
    MoveUpReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Move HOST:PORT below its sibling BELOW.
    MoveBelow {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Move HOST:PORT below BELOW with GTID.
    MoveGtid {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Move every replica of HOST:PORT below BELOW with GTID.
    MoveReplicasGtid {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Re-point every replica of HOST:PORT at it.
    RepointReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Swap HOST:PORT with its source (which must itself be a replica).
    TakeMaster {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Move the siblings of HOST:PORT below it.
    TakeSiblings {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Make the primary of HOST:PORT also replicate from it.
    MakeCoMaster {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Stop replication on HOST:PORT.
    StopReplica {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Start replication on HOST:PORT.
    StartReplica {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Stop and start replication on HOST:PORT.
    RestartReplica {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Stop replication on HOST:PORT and forget its source.
    ResetReplica {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Rewrite the source host of HOST:PORT to //host, keeping its position.
    DetachReplicaMasterHost {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Undo detach-replica-master-host and start replication.
    ReattachReplicaMasterHost {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Set read_only on HOST:PORT.
    SetReadOnly {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Unset read_only on HOST:PORT.
    SetWriteable {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Skip the event replication on HOST:PORT stopped at.
    SkipQuery {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Rotate the binary log of HOST:PORT.
    FlushBinaryLogs {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Point HOST:PORT at BELOW (default: its current source), checking only that BELOW answers.
    Repoint {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: Option<String>,
    },
    /// Purge the binary logs of HOST:PORT before FILE (refused while a replica reads them).
    PurgeBinaryLogs {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Make HOST:PORT apply replicated events only SECONDS after they were written.
    DelayReplication {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "SECONDS")]
        seconds: u64,
    },
    /// Whether HOST:PORT could be moved below BELOW, and why not.
    CanReplicateFrom {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// The errant GTIDs of HOST:PORT (transactions its source does not have).
    WhichGtidErrant {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// The binary logs of HOST:PORT that hold its errant transactions.
    LocateGtidErrant {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Forget the errant transactions of HOST:PORT (resets its binary logs; no replicas).
    GtidErrantResetMaster {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Inject the errant GTIDs of HOST:PORT on its primary as empty transactions (MySQL).
    GtidErrantInjectEmpty {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Lock HOST:PORT: moves and recoveries leave it alone for an hour or until ended.
    BeginMaintenance {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(long, default_value = "arbor-cli")]
        owner: String,
        #[arg(long, default_value = "maintenance")]
        reason: String,
    },
    /// Release the maintenance lock of HOST:PORT.
    EndMaintenance {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Tag HOST:PORT with NAME or NAME=VALUE.
    Tag {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "TAG")]
        tag: String,
    },
    /// Remove tag NAME from HOST:PORT.
    Untag {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Remove tag NAME from every instance.
    UntagAll {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// The tags of HOST:PORT.
    Tags {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// The value of tag NAME on HOST:PORT.
    TagValue {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Instances tagged NAME (or NAME=VALUE).
    Tagged {
        #[arg(value_name = "TAG")]
        tag: String,
    },
    /// Check a configuration file: print its warnings, or its errors and exit non-zero.
    CheckConfig,
    /// Certificates for users who have none.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Create a CA in DIR (ca.pem, ca.key; kept when present) and a certificate and key per
    /// --host (HOST.pem, HOST.key), valid as server and client: for UseSSL, UseMutualTLS and
    /// the clients (ARBOR_TLS_CA_FILE, ARBOR_TLS_CERT_FILE, ARBOR_TLS_KEY_FILE).
    Init {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
        /// A host name or IP address the certificate is for; repeat for several nodes.
        #[arg(long = "host", value_name = "NAME_OR_IP", required = true)]
        hosts: Vec<String>,
    },
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
    let is_client_command = !matches!(
        args.command,
        Command::Serve
            | Command::Demo { .. }
            | Command::CheckConfig
            | Command::Tls { .. }
            | Command::Simfleet { .. }
    );
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
        Command::Demo { mariadb: true } => serve::demo(args.config.as_deref()).await,
        Command::Demo { mariadb: false } => serve::demo_simulated(args.config.as_deref()).await,
        Command::CheckConfig => serve::check_config(args.config.as_deref()),
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
            serve::simfleet(topology).await
        }
        Command::Tls {
            command: TlsCommand::Init { dir, hosts },
        } => {
            for file in tls_init::init(&dir, &hosts)? {
                println!("{file}");
            }
            Ok(())
        }
        Command::Discover { instance } => commands::discover(api, &instance, output).await,
        Command::Forget { instance } => commands::forget(api, &instance, output).await,
        Command::Instance { instance } => commands::instance(api, &instance, output).await,
        Command::Clusters => commands::clusters(api, output).await,
        Command::ReplicationAnalysis => commands::replication_analysis(api, output).await,
        Command::Recover { instance, force } => {
            let key = commands::instance_path(&instance)?;
            let path = format!("recover/{key}{}", force_query(force));
            commands::key_command(api, &path, output).await
        }
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
