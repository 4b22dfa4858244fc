//! orchestrator-client's commands that arbor's CLI offers natively under the same names
//! (`which-*`, `all-instances`, `search`, `downtimed`, the replication switches, ...), printing
//! what orchestrator-client prints: keys as `host:port`, one per line, and `none` for an empty
//! answer.

use arbor_api::{ClusterInfo, InstanceJson};
use clap::Subcommand;

use crate::commands::{client_for, instance_keys, instance_path, lines, segment, Output, Target};

#[derive(Subcommand)]
pub(crate) enum CompatCommand {
    /// The source of HOST:PORT.
    WhichMaster {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// The direct replicas of HOST:PORT.
    WhichReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Replicas of HOST:PORT with a stopped thread and an error.
    WhichBrokenReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// The name of the cluster of an instance or alias.
    WhichCluster {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// The alias of a cluster.
    WhichClusterAlias {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// The writable primary of a cluster.
    WhichClusterMaster {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// Every member of a cluster.
    WhichClusterInstances {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// Replicas to watch when throttling an online schema change.
    WhichClusterOscReplicas {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// Every known instance.
    AllInstances,
    /// The primary of every cluster.
    AllClustersMasters,
    /// Clusters as `name,alias`.
    ClustersAlias,
    /// Instances whose key, host, version or cluster contains TEXT.
    Search {
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// Downtimed instances, of every cluster or one.
    Downtimed {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: Option<String>,
    },
    /// Prints HOST:PORT when both its replication threads run, else `none`.
    IsReplicating {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Prints HOST:PORT when both its replication threads are stopped, else `none`.
    IsReplicationStopped {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Stop the I/O thread, let the SQL thread apply what was received, then stop.
    StopReplicaNice {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Replicate with GTID positioning.
    EnableGtid {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Replicate by binary log file and position.
    DisableGtid {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Semi-synchronous replication, primary side, on.
    EnableSemiSyncMaster {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Semi-synchronous replication, primary side, off.
    DisableSemiSyncMaster {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Semi-synchronous replication, replica side, on.
    EnableSemiSyncReplica {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Semi-synchronous replication, replica side, off.
    DisableSemiSyncReplica {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// KILL QUERY of connection ID on HOST:PORT.
    KillQuery {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "ID")]
        process: u64,
    },
    /// The most advanced replica of HOST:PORT takes its siblings.
    RegroupReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// The statements that restart HOST:PORT's replication around QUERY (printed, not run).
    RestartReplicaStatements {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "QUERY")]
        query: String,
    },
    /// Fail a cluster's primary over to HOST:PORT (one of its replicas) even if it is alive.
    ForceMasterTakeover {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
        #[arg(value_name = "HOST:PORT")]
        designated: String,
    },
    #[command(flatten)]
    More(crate::compat_more::MoreCommand),
}

pub(crate) async fn run(
    api: &Target,
    command: CompatCommand,
    output: Output,
) -> anyhow::Result<()> {
    use CompatCommand::*;
    let client = client_for(api).await?;
    let instances = |path: String| {
        let client = &client;
        async move { client.get::<Vec<InstanceJson>>(&path).await }
    };
    match command {
        WhichMaster { instance } => {
            let found: InstanceJson = client
                .get(&format!("instance/{}", instance_path(&instance)?))
                .await?;
            output.print(&found.master_key, |k| {
                if k.is_empty() {
                    "none".into()
                } else {
                    k.to_key().to_string()
                }
            })
        }
        WhichReplicas { instance } => {
            let list =
                instances(format!("instance-replicas/{}", instance_path(&instance)?)).await?;
            output.print(&list, |l| instance_keys(l))
        }
        WhichBrokenReplicas { instance } => {
            let mut list =
                instances(format!("instance-replicas/{}", instance_path(&instance)?)).await?;
            list.retain(|r| {
                (!r.replication_sql_thread_runing || !r.replication_io_thread_runing)
                    && (!r.last_sql_error.is_empty() || !r.last_io_error.is_empty())
            });
            output.print(&list, |l| instance_keys(l))
        }
        WhichCluster { cluster } => {
            let info: ClusterInfo = client
                .get(&format!("cluster-info/{}", segment(&cluster)))
                .await?;
            output.print(&info, |i| i.cluster_name.clone())
        }
        WhichClusterAlias { cluster } => {
            let info: ClusterInfo = client
                .get(&format!("cluster-info/{}", segment(&cluster)))
                .await?;
            output.print(&info, |i| i.cluster_alias.clone())
        }
        WhichClusterMaster { cluster } => {
            let primary: InstanceJson =
                client.get(&format!("master/{}", segment(&cluster))).await?;
            output.print(&primary, |p| p.key.to_key().to_string())
        }
        WhichClusterInstances { cluster } => {
            let list = instances(format!("cluster/{}", segment(&cluster))).await?;
            output.print(&list, |l| instance_keys(l))
        }
        WhichClusterOscReplicas { cluster } => {
            let list = instances(format!("cluster-osc-replicas/{}", segment(&cluster))).await?;
            output.print(&list, |l| instance_keys(l))
        }
        AllInstances => {
            let list = instances("all-instances".into()).await?;
            output.print(&list, |l| instance_keys(l))
        }
        AllClustersMasters => {
            let list = instances("masters".into()).await?;
            output.print(&list, |l| instance_keys(l))
        }
        ClustersAlias => {
            let clusters: Vec<ClusterInfo> = client.get("clusters-info").await?;
            output.print(&clusters, |c| {
                lines(
                    c.iter()
                        .map(|c| format!("{},{}", c.cluster_name, c.cluster_alias)),
                )
            })
        }
        Search { text } => {
            let list = instances(format!("search?s={}", segment(&text))).await?;
            output.print(&list, |l| instance_keys(l))
        }
        Downtimed { cluster } => {
            let path = match cluster {
                Some(cluster) => format!("downtimed/{}", segment(&cluster)),
                None => "downtimed".into(),
            };
            let list = instances(path).await?;
            output.print(&list, |l| instance_keys(l))
        }
        IsReplicating { instance } => {
            let found: InstanceJson = client
                .get(&format!("instance/{}", instance_path(&instance)?))
                .await?;
            let yes =
                found.replication_sql_thread_state == 1 && found.replication_io_thread_state == 1;
            output.print(&yes, |_| lines(yes.then(|| found.key.to_key().to_string())))
        }
        IsReplicationStopped { instance } => {
            let found: InstanceJson = client
                .get(&format!("instance/{}", instance_path(&instance)?))
                .await?;
            let yes =
                found.replication_sql_thread_state == 0 && found.replication_io_thread_state == 0;
            output.print(&yes, |_| lines(yes.then(|| found.key.to_key().to_string())))
        }
        StopReplicaNice { instance } => operate(api, "stop-replica-nice", &instance, output).await,
        EnableGtid { instance } => operate(api, "enable-gtid", &instance, output).await,
        DisableGtid { instance } => operate(api, "disable-gtid", &instance, output).await,
        EnableSemiSyncMaster { instance } => {
            operate(api, "enable-semi-sync-master", &instance, output).await
        }
        DisableSemiSyncMaster { instance } => {
            operate(api, "disable-semi-sync-master", &instance, output).await
        }
        EnableSemiSyncReplica { instance } => {
            operate(api, "enable-semi-sync-replica", &instance, output).await
        }
        DisableSemiSyncReplica { instance } => {
            operate(api, "disable-semi-sync-replica", &instance, output).await
        }
        KillQuery { instance, process } => {
            let path = format!("kill-query/{}/{process}", instance_path(&instance)?);
            crate::commands::instance_command(api, &path, output).await
        }
        RegroupReplicas { instance } => {
            let path = format!("regroup-replicas/{}", instance_path(&instance)?);
            crate::commands::key_command(api, &path, output).await
        }
        RestartReplicaStatements { instance, query } => {
            let statements: Vec<String> = client
                .get(&format!(
                    "restart-replica-statements/{}?q={}",
                    instance_path(&instance)?,
                    segment(&query)
                ))
                .await?;
            output.print(&statements, |s| lines(s.iter().cloned()))
        }
        ForceMasterTakeover {
            cluster,
            designated,
        } => {
            let path = format!(
                "force-master-takeover/{}/{}",
                segment(&cluster),
                instance_path(&designated)?
            );
            crate::commands::recovery_command(api, &path, output).await
        }
        More(command) => crate::compat_more::run(api, command, output, &client).await,
    }
}

async fn operate(api: &Target, route: &str, instance: &str, output: Output) -> anyhow::Result<()> {
    let path = format!("{route}/{}", instance_path(instance)?);
    crate::commands::instance_command(api, &path, output).await
}
