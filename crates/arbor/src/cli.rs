//! The command line: arguments and subcommands (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "arbor",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ARBOR_COMMIT"), ")"),
    about = "A highly available manager for MySQL and MariaDB replication topologies"
)]
pub(crate) struct Args {
    /// Configuration file (orchestrator's JSON keys). Without it, built-in defaults.
    #[arg(
        long,
        global = true,
        env = "ARBOR_CONFIG",
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub(crate) config: Option<PathBuf>,

    /// URL of the arbor service that client commands talk to; several (comma- or
    /// space-separated) to talk to whichever is the leader. Without it and `ARBOR_API`,
    /// orchestrator-client's `ORCHESTRATOR_API` (its `/api` suffix dropped) is used.
    #[arg(
        long,
        global = true,
        env = "ARBOR_API",
        default_value = "http://127.0.0.1:3000",
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub(crate) api: String,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,

    /// Colour the text output: auto (on a terminal, unless NO_COLOR is set), always, never.
    /// On a terminal, lists are aligned tables; piped, one plain line per item.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN",
        help_heading = "Global options"
    )]
    pub(crate) color: crate::table::ColorChoice,

    /// Run the command without a service, straight against the shared MySQL backend of
    /// --config (BackendDB "mysql") and the MySQL servers, honouring the services' locks.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) direct: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the service: discovery and polling, and the HTTP API.
    Serve,
    #[cfg(feature = "demo")]
    /// Start a demo: a simulated fleet of three clusters (MariaDB 10.11, MySQL 8.0, 8.4) and
    /// arbor watching and recovering them with embedded defaults; --mariadb for 4 real MariaDB
    /// servers instead (needs mariadbd).
    Demo {
        /// Real MariaDB servers instead of the simulated fleet.
        #[arg(long)]
        mariadb: bool,
    },
    #[cfg(feature = "demo")]
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
        /// Promote this replica of a dead primary (it first catches up from the most advanced).
        #[arg(long, value_name = "HOST:PORT")]
        candidate: Option<String>,
        /// Run no hooks (orchestrator's recover-lite).
        #[arg(long)]
        lite: bool,
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
        /// Who asks (shown with the downtime or lock).
        #[arg(long, default_value = "arbor-cli")]
        owner: String,
        /// Why (shown with the downtime or lock).
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
        /// Why, kept with the acknowledgement.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Acknowledge every recovery.
    AckAllRecoveries {
        /// Why, kept with the acknowledgement.
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
    #[command(visible_alias = "detach-replica")]
    DetachReplicaMasterHost {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Undo detach-replica-master-host and start replication.
    #[command(visible_alias = "reattach-replica")]
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
    /// Whether HOST:PORT could be moved below BELOW, and why not (arbor moves with GTID where
    /// the servers have it, so this is also orchestrator's can-replicate-from-gtid).
    #[command(visible_alias = "can-replicate-from-gtid")]
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
        /// Who asks (shown with the downtime or lock).
        #[arg(long, default_value = "arbor-cli")]
        owner: String,
        /// Why (shown with the downtime or lock).
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
    #[command(flatten)]
    Compat(crate::compat_commands::CompatCommand),
    /// Check a configuration file: print its warnings, or its errors and exit non-zero.
    CheckConfig,
    /// Certificates for users who have none.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// Raft recovery that works on a stopped node's data (RaftDataDir of --config).
    Raft {
        #[command(subcommand)]
        command: RaftCommand,
    },
    /// Print a shell completion script (e.g. `arbor completions bash > /etc/bash_completion.d/arbor`).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print arbor's man page (roff), e.g. `arbor man > arbor.1`; with --dir, write it and a
    /// page for every command (`arbor-relocate.1`, ...) into DIR instead.
    Man {
        /// Write arbor.1 and one arbor-COMMAND.1 per command into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

impl Command {
    /// Whether the command is a request to a node's API (which `--direct` serves in-process),
    /// not one that runs something itself.
    pub(crate) fn is_client_command(&self) -> bool {
        match self {
            Command::Serve
            | Command::CheckConfig
            | Command::Tls { .. }
            | Command::Raft { .. }
            | Command::Completions { .. }
            | Command::Man { .. } => false,
            #[cfg(feature = "demo")]
            Command::Demo { .. } | Command::Simfleet { .. } => false,
            _ => true,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum RaftCommand {
    /// After a lost majority: make this (stopped) node the only member of its group, keeping
    /// what its log holds. Entries only the lost members had are lost; the lost members must be
    /// wiped and re-added with raft-add-peer. Needs --yes.
    ForceSingleMember {
        /// Confirms that the other members are gone for good.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TlsCommand {
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

/// The command line as parsed and as documented (help, completions, man page): the derived
/// commands, with every positional argument that has no description of its own described by
/// what it names ([`ARGUMENTS`]), so one table says what `HOST:PORT` means everywhere.
pub(crate) fn command() -> clap::Command {
    let command = describe_arguments(<Args as clap::CommandFactory>::command());
    each_subcommand(command, own_help)
}

/// A command's help with its own arguments and options only: the global options are
/// explained once, in `arbor --help` (clap would repeat them in every command's help). Built
/// before clap copies the global options into the command, so its options are its own.
fn own_help(mut command: clap::Command) -> clap::Command {
    command = each_subcommand(command, own_help);
    let mut options = String::new();
    for arg in command.get_opts() {
        let Some(long) = arg.get_long() else { continue };
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .filter(|_| arg.get_action().takes_values())
            .map(|name| format!(" <{name}>"))
            .unwrap_or_default();
        let flag = match arg.get_short() {
            Some(short) => format!("-{short}, --{long}{value}"),
            None => format!("    --{long}{value}"),
        };
        let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            help.push_str(&format!(" [default: {}]", defaults.join(", ")));
        }
        options.push_str(&format!("  {flag}\n          {help}\n"));
    }
    options.push_str("  -h, --help\n          Print help\n");
    // Braces in help text would read as template tags.
    let options = options.replace('{', "(").replace('}', ")");
    let mut template = String::from("{about-with-newline}\n{usage-heading} {usage}\n");
    if command.get_positionals().next().is_some() {
        template.push_str("\nArguments:\n{positionals}\n");
    }
    if command.has_subcommands() {
        template.push_str("\nCommands:\n{subcommands}\n");
    }
    template.push_str(&format!(
        "\nOptions:\n{options}\nGlobal options (--api, --json, --color, --config, --direct): \
         see arbor --help.\n{{after-help}}"
    ));
    command.help_template(template)
}

/// What each kind of positional argument is, by its value name.
const ARGUMENTS: &[(&str, &str)] = &[
    (
        "HOST:PORT",
        "A server, as host:port (as arbor shows it: `arbor clusters`, `arbor topology`)",
    ),
    (
        "BELOW",
        "The server to replicate from afterwards, as host:port",
    ),
    (
        "CLUSTER",
        "A cluster: its name (its primary's host:port), its alias, or a former name",
    ),
    (
        "CLUSTER|HOST:PORT",
        "A cluster (name, alias or former name), or any server in it as host:port",
    ),
    (
        "RULE",
        "A promotion rule: must, prefer, neutral, prefer_not or must_not",
    ),
    ("SECONDS", "A number of seconds"),
    ("TAG", "A tag, NAME or NAME=VALUE"),
    ("NAME", "A tag's name"),
    (
        "ID",
        "A maintenance lock's id (as `begin-maintenance` printed it)",
    ),
    ("TEXT", "Text to search server names for"),
    ("QUERY", "A query id (the Id column of the processlist)"),
    (
        "NAME_OR_IP",
        "A host name or IP address for the certificate",
    ),
    ("DIR", "A directory"),
    ("FILE", "A file"),
    ("SHELL", "The shell: bash, zsh, fish, elvish or powershell"),
    ("URL", "An arbor node's URL (http://host:port)"),
];

/// `change` applied to each direct subcommand of `command`.
fn each_subcommand(
    mut command: clap::Command,
    change: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, change);
    }
    command
}

fn describe_arguments(mut command: clap::Command) -> clap::Command {
    command = each_subcommand(command, describe_arguments);
    // Every positional is touched, in order, even those described already: `mut_arg` moves
    // the argument it changes to the end, so changing only some would reorder them.
    let positionals: Vec<(clap::Id, Option<&'static str>)> = command
        .get_positionals()
        .map(|arg| {
            let help = arg
                .get_help()
                .is_none()
                .then(|| {
                    let name = arg.get_value_names()?.first()?.as_str().to_string();
                    ARGUMENTS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
                })
                .flatten();
            (arg.get_id().clone(), help)
        })
        .collect();
    for (id, help) in positionals {
        command = command.mut_arg(id, |arg| match help {
            Some(help) => arg.help(help),
            None => arg,
        });
    }
    command
}

#[cfg(test)]
mod tests {
    /// `--help` of every subcommand describes each of its arguments and options.
    #[test]
    fn every_argument_of_every_command_is_described() {
        fn check(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && !arg.is_hide_set() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let command = super::command();
        command.clone().debug_assert();
        let mut missing = Vec::new();
        check(&command, "arbor", &mut missing);
        assert!(
            missing.is_empty(),
            "arguments without a description: {missing:#?}"
        );
    }

    /// Describing the arguments keeps them in the order they are typed.
    #[test]
    fn describing_arguments_keeps_their_order() {
        fn order(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            let ids: Vec<String> = command
                .get_positionals()
                .map(|a| a.get_id().to_string())
                .collect();
            out.push(format!("{path}: {}", ids.join(" ")));
            for sub in command.get_subcommands() {
                order(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let (mut derived, mut described) = (Vec::new(), Vec::new());
        order(
            &<super::Args as clap::CommandFactory>::command(),
            "arbor",
            &mut derived,
        );
        order(&super::command(), "arbor", &mut described);
        assert_eq!(derived, described);
    }

    /// The global options are explained once, in `arbor --help`; a command's help lists its
    /// own options and points there.
    #[test]
    fn global_options_are_shown_once() {
        let mut command = super::command();
        let root = command.render_long_help().to_string();
        assert_eq!(root.matches("--api <URL>").count(), 1, "{root}");
        let downtime = command
            .find_subcommand_mut("begin-downtime")
            .unwrap()
            .render_help()
            .to_string();
        assert!(!downtime.contains("--api <URL>"), "{downtime}");
        assert!(downtime.contains("--duration <DURATION>"), "{downtime}");
        assert!(downtime.contains("Global options"), "{downtime}");
    }
}
