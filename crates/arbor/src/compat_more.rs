//! The rest of orchestrator-client's commands under their own names (the first ones are in
//! `compat_commands.rs`): takeover and API helpers, discovery and tabulated views, KV and pool
//! submission, the Raft queries, Pseudo-GTID matching, and the commands arbor answers with
//! "not built" and why.

use arbor_api::InstanceJson;
use clap::Subcommand;

use crate::commands::{instance_keys, instance_path, lines, segment, Output, Target};

#[derive(Subcommand)]
pub(crate) enum MoreCommand {
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

/// Runs one of the commands above.
pub(crate) async fn run(
    api: &Target,
    command: MoreCommand,
    output: Output,
    client: &arbor_client::Client,
) -> anyhow::Result<()> {
    use MoreCommand::*;
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
    }
}

/// A command whose feature arbor does not build: the service's 501 says why and what to use
/// instead, and that is what the command prints (as an error).
async fn not_built(client: &arbor_client::Client, path: &str) -> anyhow::Result<()> {
    let answer: serde_json::Value = client.get(path).await?;
    anyhow::bail!("unexpected answer from {path}: {answer}")
}
