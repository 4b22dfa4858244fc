//! orchestrator-client's commands that arbor's CLI offers natively under the same names
//! (`which-*`, `all-instances`, `search`, `downtimed`, the replication switches, ...), printing
//! what orchestrator-client prints: keys as `host:port`, one per line, and `none` for an empty
//! answer.

use arbor_api::{ClusterInfo, InstanceJson};
use clap::Subcommand;

use crate::commands::{client_for, instance_path, segment, Output, Target};

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
    /// Planned switchover that also starts replication on the old primary (the same as
    /// `graceful-master-takeover --auto`).
    GracefulMasterTakeoverAuto {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
        #[arg(value_name = "HOST:PORT")]
        designated: Option<String>,
    },
    /// Call any API route (GET /api/PATH, e.g. `clusters-info`) and print its JSON.
    Api {
        #[arg(
            value_name = "PATH",
            help = "The route after /api/, with its query string"
        )]
        path: String,
    },
    /// The URL of the arbor node commands talk to (the leader, when --api names several).
    WhichApi,
    /// Start discovering HOST:PORT and return at once.
    AsyncDiscover {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Forget every instance of a cluster.
    ForgetCluster {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
    },
    /// The cluster as a table: one line per instance, columns separated by `|`.
    TopologyTabulated {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// The cluster as a tree, with each instance's tags.
    TopologyTags {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// HOST:PORT as arbor knows it (`none` if it does not).
    WhichInstance {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// The online-schema-change replicas of a cluster that are replicating now.
    WhichClusterOscRunningReplicas {
        #[arg(value_name = "CLUSTER|HOST:PORT")]
        cluster: String,
    },
    /// The data centre where most primaries are.
    DominantDc,
    /// Publish the primary of every cluster, or of one, to the key-value stores.
    SubmitMastersToKvStores {
        #[arg(value_name = "CLUSTER")]
        cluster: Option<String>,
    },
    /// Move HOST:PORT below BELOW (orchestrator's move-equivalent; arbor relocates with GTID
    /// or coordinates as the servers allow).
    MoveEquivalent {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Declare the members of pool POOL (replacing the previous list).
    SubmitPoolInstances {
        #[arg(value_name = "POOL", help = "The pool's name")]
        pool: String,
        #[arg(
            value_name = "INSTANCES",
            help = "The members, host:port separated by commas"
        )]
        instances: String,
    },
    /// The healthy members of a cluster's pools (or of POOL), as orchestrator's heuristic.
    WhichHeuristicClusterPoolInstances {
        #[arg(value_name = "CLUSTER")]
        cluster: String,
        #[arg(value_name = "POOL", help = "The pool's name")]
        pool: Option<String>,
    },
    /// The Raft leader's address.
    RaftLeader,
    /// Whether the Raft group is healthy.
    RaftHealth,
    /// The host name of the Raft leader.
    RaftLeaderHostname,
    /// Hand the Raft leadership to the member whose address contains HINT.
    RaftElectLeader {
        #[arg(
            value_name = "HINT",
            help = "A part of the member's address or host name"
        )]
        hint: String,
    },
    /// Not built (Pseudo-GTID): says why and what to use instead (relocate, with GTID).
    Match {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "BELOW")]
        below: String,
    },
    /// Not built (Pseudo-GTID): says why and what to use instead (move-up, with GTID).
    MatchUp {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Not built (Pseudo-GTID): says why and what to use instead (move-up-replicas).
    MatchUpReplicas {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Not built (Pseudo-GTID): says why and what to use instead.
    LastPseudoGtid {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
    /// Not built: says why (arbor keeps no topology snapshots; the audit keeps what changed).
    SnapshotTopologies,
    /// Not built: says why (arbor does not resolve or unresolve host names).
    RegisterHostnameUnresolve {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
        #[arg(value_name = "NAME", help = "The host name to register")]
        name: String,
    },
    /// Not built: says why (arbor does not resolve or unresolve host names).
    DeregisterHostnameUnresolve {
        #[arg(value_name = "HOST:PORT")]
        instance: String,
    },
}

/// `host:port` lines, or `none`.
fn lines(keys: impl IntoIterator<Item = String>) -> String {
    let keys: Vec<String> = keys.into_iter().collect();
    if keys.is_empty() {
        "none\n".to_string()
    } else {
        keys.iter().map(|k| format!("{k}\n")).collect()
    }
}

fn instance_keys(list: &[InstanceJson]) -> String {
    lines(list.iter().map(|i| i.key.to_key().to_string()))
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
        other => run_more(api, other, output, &client).await,
    }
}

/// The commands added for orchestrator-client's remaining ones (see [`CompatCommand`]).
async fn run_more(
    api: &Target,
    command: CompatCommand,
    output: Output,
    client: &arbor_client::Client,
) -> anyhow::Result<()> {
    use CompatCommand::*;
    let instances = |path: String| async move { client.get::<Vec<InstanceJson>>(&path).await };
    match command {
        GracefulMasterTakeoverAuto {
            cluster,
            designated,
        } => {
            let mut path = format!("graceful-master-takeover-auto/{}", segment(&cluster));
            if let Some(designated) = designated {
                path.push('/');
                path.push_str(&instance_path(&designated)?);
            }
            crate::commands::recovery_command(api, &path, output).await
        }
        Api { path } => {
            let value: serde_json::Value = client
                .get_raw(path.trim_start_matches('/').trim_start_matches("api/"))
                .await?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
        WhichApi => {
            let base = format!("{}/api", client.base_url());
            output.print(&base, |b| b.clone())
        }
        AsyncDiscover { instance } => {
            let path = format!("async-discover/{}", instance_path(&instance)?);
            let _: serde_json::Value = client.get(&path).await?;
            output.print(&instance, |i| i.clone())
        }
        ForgetCluster { cluster } => {
            let message = client
                .verdict(&format!("forget-cluster/{}", segment(&cluster)))
                .await?;
            output.print(&message, |m| m.clone())
        }
        TopologyTabulated { cluster } => {
            crate::commands::text_command(
                api,
                &format!("topology-tabulated/{}", segment(&cluster)),
                output,
            )
            .await
        }
        TopologyTags { cluster } => {
            crate::commands::text_command(
                api,
                &format!("topology-tags/{}", segment(&cluster)),
                output,
            )
            .await
        }
        WhichInstance { instance } => {
            let key = crate::commands::parse_instance(&instance)?;
            let found = client
                .get::<InstanceJson>(&format!("instance/{}", instance_path(&instance)?))
                .await;
            match found {
                Ok(found) => output.print(&found, |f| f.key.to_key().to_string()),
                Err(arbor_client::ClientError::Api { status: 404, .. }) => {
                    output.print(&serde_json::Value::Null, |_| "none".to_string())
                }
                Err(error) => Err(anyhow::Error::from(error).context(format!("cannot read {key}"))),
            }
        }
        WhichClusterOscRunningReplicas { cluster } => {
            let mut list = instances(format!("cluster-osc-replicas/{}", segment(&cluster))).await?;
            list.retain(|r| r.replication_sql_thread_runing && r.replication_io_thread_runing);
            output.print(&list, |l| instance_keys(l))
        }
        DominantDc => {
            let primaries = instances("masters".into()).await?;
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for primary in &primaries {
                *counts.entry(primary.data_center.as_str()).or_default() += 1;
            }
            let dominant = counts
                .iter()
                .max_by_key(|(dc, n)| (**n, std::cmp::Reverse(**dc)))
                .map(|(dc, _)| dc.to_string())
                .unwrap_or_default();
            output.print(&dominant, |d| {
                if d.is_empty() {
                    "none".into()
                } else {
                    d.clone()
                }
            })
        }
        SubmitMastersToKvStores { cluster } => {
            let path = match cluster {
                Some(cluster) => format!("submit-masters-to-kv-stores/{}", segment(&cluster)),
                None => "submit-masters-to-kv-stores".to_string(),
            };
            let pairs: Vec<serde_json::Value> = client.get(&path).await?;
            output.print(&pairs, |pairs| {
                lines(pairs.iter().map(|p| {
                    format!(
                        "{}={}",
                        p["Key"].as_str().unwrap_or_default(),
                        p["Value"].as_str().unwrap_or_default()
                    )
                }))
            })
        }
        MoveEquivalent { instance, below } => {
            crate::commands::instance_move(api, "move-equivalent", &instance, Some(&below), output)
                .await
        }
        SubmitPoolInstances { pool, instances } => {
            let message = client
                .verdict(&format!(
                    "submit-pool-instances/{}?instances={}",
                    segment(&pool),
                    segment(&instances)
                ))
                .await?;
            output.print(&message, |m| m.clone())
        }
        WhichHeuristicClusterPoolInstances { cluster, pool } => {
            let mut path = format!("heuristic-cluster-pool-instances/{}", segment(&cluster));
            if let Some(pool) = pool {
                path.push('/');
                path.push_str(&segment(&pool));
            }
            let list = instances(path).await?;
            output.print(&list, |l| instance_keys(l))
        }
        RaftLeader => {
            let leader: String = client.get("raft-leader").await?;
            output.print(&leader, |l| l.clone())
        }
        RaftHealth => {
            let health: String = client.get("raft-health").await?;
            output.print(&health, |h| h.clone())
        }
        RaftLeaderHostname => {
            let state: String = client.get("raft-state").await?;
            let status: serde_json::Value = client.get("status").await?;
            let hostname = status["Hostname"].as_str().unwrap_or_default().to_string();
            if state != "Leader" {
                anyhow::bail!("{} is not the Raft leader ({state})", client.base_url());
            }
            output.print(&hostname, |h| h.clone())
        }
        RaftElectLeader { hint } => {
            let message = client
                .verdict(&format!("raft-yield-hint/{}", segment(&hint)))
                .await?;
            output.print(&message, |m| m.clone())
        }
        Match { instance, below } => {
            not_built(
                client,
                &format!(
                    "match/{}/{}",
                    instance_path(&instance)?,
                    instance_path(&below)?
                ),
            )
            .await
        }
        MatchUp { instance } => {
            not_built(client, &format!("match-up/{}", instance_path(&instance)?)).await
        }
        MatchUpReplicas { instance } => {
            not_built(
                client,
                &format!("match-up-replicas/{}", instance_path(&instance)?),
            )
            .await
        }
        LastPseudoGtid { instance } => {
            not_built(
                client,
                &format!("last-pseudo-gtid/{}", instance_path(&instance)?),
            )
            .await
        }
        SnapshotTopologies => not_built(client, "snapshot-topologies").await,
        RegisterHostnameUnresolve { instance, name } => {
            let path = format!(
                "register-hostname-unresolve/{}/{}",
                instance_path(&instance)?,
                segment(&name)
            );
            not_built(client, &path).await
        }
        DeregisterHostnameUnresolve { instance } => {
            let path = format!(
                "deregister-hostname-unresolve/{}",
                instance_path(&instance)?
            );
            not_built(client, &path).await
        }
        other => unreachable!("handled by run: {}", std::any::type_name_of_val(&other)),
    }
}

/// A command whose feature arbor does not build: the service's 501 says why and what to use
/// instead, and that is what the command prints (as an error).
async fn not_built(client: &arbor_client::Client, path: &str) -> anyhow::Result<()> {
    let answer: serde_json::Value = client.get(path).await?;
    anyhow::bail!("unexpected answer from {path}: {answer}")
}

async fn operate(api: &Target, route: &str, instance: &str, output: Output) -> anyhow::Result<()> {
    let path = format!("{route}/{}", instance_path(instance)?);
    crate::commands::instance_command(api, &path, output).await
}
