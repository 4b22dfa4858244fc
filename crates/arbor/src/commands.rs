//! Client subcommands: call the API, print the answer as text or JSON.

use anyhow::Context;
use arbor_api::InstanceJson;
use arbor_client::{Client, ClientOptions};
use arbor_topology::InstanceKey;
use serde::Serialize;

use crate::table::{Cell, Paint, Style, Table};

#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
    /// Tables on a terminal, and colour.
    pub style: Style,
}

impl Output {
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            let text = text(value);
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
        Ok(())
    }
}

pub(crate) fn parse_instance(text: &str) -> anyhow::Result<InstanceKey> {
    text.parse::<InstanceKey>()
        .with_context(|| format!("{text:?} is not HOST:PORT"))
}

/// Which arbor nodes to talk to, and how.
pub struct Target {
    /// `--api`: one or more URLs, separated by commas or spaces (as `ARBOR_API`).
    pub urls: Vec<String>,
    pub options: ClientOptions,
}

impl Target {
    pub fn new(api: &str, options: ClientOptions) -> Target {
        Target {
            urls: api
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect(),
            options,
        }
    }
}

pub async fn client_for(target: &Target) -> anyhow::Result<Client> {
    client(target).await
}

async fn client(target: &Target) -> anyhow::Result<Client> {
    Ok(Client::connect(&target.urls, target.options.clone()).await?)
}

pub async fn discover(api: &Target, instance: &str, output: Output) -> anyhow::Result<()> {
    let key = parse_instance(instance)?;
    let found = client(api).await?.discover(&key).await?;
    output.print(&found, |i| i.key.to_key().to_string())
}

pub async fn forget(api: &Target, instance: &str, output: Output) -> anyhow::Result<()> {
    let key = parse_instance(instance)?;
    let forgotten = client(api).await?.forget(&key).await?;
    output.print(&forgotten, |k| k.to_key().to_string())
}

pub async fn instance(api: &Target, instance: &str, output: Output) -> anyhow::Result<()> {
    let key = parse_instance(instance)?;
    let found = client(api).await?.instance(&key).await?;
    output.print(&found, describe_instance)
}

pub async fn clusters(api: &Target, output: Output) -> anyhow::Result<()> {
    let clusters = client(api).await?.clusters_info().await?;
    output.print(&clusters, |clusters| {
        if clusters.is_empty() {
            return "none\n".to_string();
        }
        if !output.style.terminal {
            // Names only, one per line, as orchestrator-client prints them: scripts loop
            // over this.
            return clusters
                .iter()
                .map(|c| format!("{}\n", c.cluster_name))
                .collect();
        }
        let mut table = Table::new(&[
            "ALIAS",
            "PRIMARY",
            "VERSION",
            "INSTANCES",
            "UNREACHABLE",
            "LARGEST LAG",
            "AUTOMATED RECOVERY",
        ]);
        for c in clusters {
            let lag = if c.count_unknown_lag_replicas > 0 {
                Cell::painted("unknown", Paint::Warn)
            } else {
                format!("{}s", c.heuristic_lag).into()
            };
            let unreachable = match c.count_unreachable_instances {
                0 => Cell::from("0"),
                n => Cell::painted(n.to_string(), Paint::Bad),
            };
            let automated = match (
                c.has_automated_master_recovery,
                c.has_automated_intermediate_master_recovery,
            ) {
                (true, true) => Cell::painted("on", Paint::Good),
                (true, false) => "primary only".into(),
                (false, true) => "intermediate only".into(),
                (false, false) => "off".into(),
            };
            table.row(vec![
                c.cluster_alias.clone().into(),
                c.cluster_name.clone().into(),
                if c.primary_version.is_empty() {
                    "unknown".into()
                } else {
                    format!("{} {}", c.primary_flavor, c.primary_version).into()
                },
                c.count_instances.to_string().into(),
                unreachable,
                lag,
                automated,
            ]);
        }
        table.render(&output.style)
    })
}

pub async fn replication_analysis(api: &Target, output: Output) -> anyhow::Result<()> {
    let analyses = client(api).await?.replication_analysis().await?;
    let style = output.style;
    output.print(&analyses, |analyses| {
        if analyses.is_empty() {
            return "none\n".to_string();
        }
        let code = |a: &arbor_api::ReplicationAnalysisJson| {
            let paint = if a.is_actionable_recovery {
                Paint::Bad
            } else {
                Paint::Warn
            };
            Cell::painted(a.analysis.clone(), paint)
        };
        if style.terminal {
            let mut table = Table::new(&[
                "INSTANCE",
                "CLUSTER",
                "ANALYSIS",
                "STRUCTURE",
                "NOT RECOVERED BECAUSE",
            ]);
            for a in analyses {
                table.row(vec![
                    a.analyzed_instance_key.to_key().to_string().into(),
                    a.cluster_details.cluster_alias.clone().into(),
                    code(a),
                    a.structure_analysis.join(", ").into(),
                    a.not_recovered_because.clone().unwrap_or_default().into(),
                ]);
            }
            return table.render(&style);
        }
        // One line per analysis, as orchestrator-client prints them.
        analyses
            .iter()
            .map(|a| {
                let mut line = format!(
                    "{} (cluster {}): {}",
                    a.analyzed_instance_key.to_key(),
                    a.cluster_details.cluster_name,
                    style.paint(&a.analysis, code(a).paint()),
                );
                if !a.structure_analysis.is_empty() {
                    line.push_str(&format!(" [{}]", a.structure_analysis.join(", ")));
                }
                if let Some(why) = &a.not_recovered_because {
                    line.push_str(&format!("\n    not recovered: {why}"));
                }
                line.push('\n');
                line
            })
            .collect()
    })
}

pub async fn topology(api: &Target, cluster: &str, output: Output) -> anyhow::Result<()> {
    let client = client(api).await?;
    if output.json {
        let members = client.cluster_instances(cluster).await?;
        output.print(&members, |_| String::new())
    } else {
        let tree = client.topology(cluster).await?;
        output.print(&tree, |tree| tree.clone())
    }
}

fn describe_instance(instance: &InstanceJson) -> String {
    let mut lines = vec![
        format!("instance:     {}", instance.key.to_key()),
        format!("status:       {}", instance.arbor_status),
        format!("cluster:      {}", instance.cluster_name),
        format!(
            "version:      {} ({})",
            instance.version, instance.flavor_name
        ),
        format!("server id:    {}", instance.server_id),
        format!("read only:    {}", instance.read_only),
        format!(
            "binlog:       {} {}{}",
            if instance.log_bin_enabled {
                "on"
            } else {
                "off"
            },
            instance.binlog_format,
            if instance.log_replication_updates_enabled {
                ", logs replica updates"
            } else {
                ""
            }
        ),
    ];
    if !instance.master_key.is_empty() {
        lines.push(format!("source:       {}", instance.master_key.to_key()));
        lines.push(format!(
            "replication:  io {} sql {}, lag {}",
            if instance.replication_io_thread_runing {
                "running"
            } else {
                "not running"
            },
            if instance.replication_sql_thread_runing {
                "running"
            } else {
                "not running"
            },
            instance
                .seconds_behind_master
                .value()
                .map(|lag| format!("{lag}s"))
                .unwrap_or_else(|| "unknown".into())
        ));
        for error in [&instance.last_io_error, &instance.last_sql_error] {
            if !error.is_empty() {
                lines.push(format!("error:        {error}"));
            }
        }
    }
    if !instance.replicas.is_empty() {
        let replicas: Vec<String> = instance
            .replicas
            .iter()
            .map(|r| r.to_key().to_string())
            .collect();
        lines.push(format!("replicas:     {}", replicas.join(", ")));
    }
    if !instance.executed_gtid_set.is_empty() {
        lines.push(format!("gtid:         {}", instance.executed_gtid_set));
    }
    lines.push(format!("last seen:    {}", instance.last_seen_timestamp));
    if !instance.arbor_last_check_error.is_empty() {
        lines.push(format!("last check:   {}", instance.arbor_last_check_error));
    }
    lines.join("\n")
}

/// Percent-encodes one path segment or query value.
pub fn segment(text: &str) -> String {
    arbor_client::encode(text)
}

/// `HOST:PORT` as the `HOST/PORT` path of orchestrator's routes.
pub fn instance_path(text: &str) -> anyhow::Result<String> {
    let key = parse_instance(text)?;
    Ok(format!("{}/{}", segment(&key.hostname), key.port))
}

/// A route whose `Details` is an instance key: prints `host:port`.
pub async fn key_command(api: &Target, path: &str, output: Output) -> anyhow::Result<()> {
    let key: arbor_api::InstanceKeyJson = client(api).await?.get(path).await?;
    output.print(&key, |k| k.to_key().to_string())
}

/// A route whose `Details` is text: prints it.
pub async fn text_command(api: &Target, path: &str, output: Output) -> anyhow::Result<()> {
    let text: String = client(api).await?.get(path).await?;
    output.print(&text, |t| t.clone())
}

/// A route answering a recovery: prints its successor.
pub async fn recovery_command(api: &Target, path: &str, output: Output) -> anyhow::Result<()> {
    let recovery: arbor_api::TopologyRecoveryJson = client(api).await?.get(path).await?;
    output.print(&recovery, |r| {
        r.successor_key
            .as_ref()
            .map(|k| k.to_key().to_string())
            .unwrap_or_default()
    })
}

pub async fn blocked_recoveries(
    api: &Target,
    cluster: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let path = match cluster {
        Some(cluster) => format!("blocked-recoveries/cluster/{}", segment(cluster)),
        None => "blocked-recoveries".to_string(),
    };
    let blocked: Vec<arbor_api::BlockedRecoveryJson> = client(api).await?.get(&path).await?;
    output.print(&blocked, |blocked| {
        if blocked.is_empty() {
            return "no recovery is blocked\n".to_string();
        }
        blocked
            .iter()
            .map(|b| {
                format!(
                    "{} {} {} blocked by recovery {} at {}: {}\n",
                    b.cluster_name,
                    b.failed_instance_key.to_key(),
                    b.analysis,
                    b.blocking_recovery_id,
                    b.last_blocked_timestamp,
                    b.reason
                )
            })
            .collect()
    })
}

pub async fn audit_recovery(
    api: &Target,
    cluster: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let path = match cluster {
        Some(cluster) => format!("audit-recovery/{}", segment(cluster)),
        None => "audit-recovery".to_string(),
    };
    let recoveries: Vec<arbor_api::TopologyRecoveryJson> = client(api).await?.get(&path).await?;
    let style = output.style;
    output.print(&recoveries, |recoveries| {
        if recoveries.is_empty() {
            return "none\n".to_string();
        }
        let mut table = Table::new(&[
            "ID",
            "STARTED (UTC)",
            "TYPE",
            "FAILED",
            "ANALYSIS",
            "SUCCESSOR",
            "OUTCOME",
            "NOTES",
        ]);
        let mut text = String::new();
        for r in recoveries {
            let failed = format!(
                "{}:{}",
                r.analysis_entry["AnalyzedInstanceKey"]["Hostname"]
                    .as_str()
                    .unwrap_or(""),
                r.analysis_entry["AnalyzedInstanceKey"]["Port"]
            );
            let outcome = if r.is_active {
                "running"
            } else if r.is_successful {
                "successful"
            } else {
                "failed"
            };
            let successor = r
                .successor_key
                .as_ref()
                .map(|k| k.to_key().to_string())
                .unwrap_or_else(|| "-".into());
            let mut notes = Vec::new();
            if r.acknowledged {
                notes.push("acknowledged".to_string());
            }
            if !r.lost_replicas.is_empty() {
                notes.push(format!(
                    "lost {}",
                    r.lost_replicas
                        .iter()
                        .map(|k| k.to_key().to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            let analysis = r.analysis_entry["Analysis"].as_str().unwrap_or("");
            if style.terminal {
                table.row_with_details(
                    vec![
                        r.id.to_string().into(),
                        r.recovery_start_timestamp.clone().into(),
                        r.kind.clone().into(),
                        failed.into(),
                        analysis.into(),
                        successor.into(),
                        Cell::painted(outcome, Paint::of_outcome(outcome)),
                        notes.join(", ").into(),
                    ],
                    r.steps
                        .iter()
                        .map(|s| format!("{:>6} ms  {}", s.millis_since_start, s.message))
                        .collect(),
                );
                continue;
            }
            text.push_str(&format!(
                "{} {} {} {failed} {analysis} -> {successor} {}{}\n",
                r.id,
                r.recovery_start_timestamp,
                r.kind,
                style.paint(outcome, Paint::of_outcome(outcome)),
                notes.iter().map(|n| format!(", {n}")).collect::<String>(),
            ));
            for step in &r.steps {
                text.push_str(&format!("    {} {}\n", step.at, step.message));
            }
        }
        if style.terminal {
            table.render(&style)
        } else {
            text
        }
    })
}

pub async fn audit_failure_detection(api: &Target, output: Output) -> anyhow::Result<()> {
    let detections: Vec<arbor_api::FailureDetectionJson> =
        client(api).await?.get("audit-failure-detection").await?;
    output.print(&detections, |detections| {
        if detections.is_empty() {
            return "none\n".to_string();
        }
        detections
            .iter()
            .map(|d| {
                let entry = &d.recovery.analysis_entry;
                let key = &entry["AnalyzedInstanceKey"];
                format!(
                    "{} {} {}:{} {}\n",
                    d.recovery.id,
                    d.detection_timestamp,
                    key["Hostname"].as_str().unwrap_or(""),
                    key["Port"],
                    entry["Analysis"].as_str().unwrap_or("")
                )
            })
            .collect()
    })
}

/// `key<source` as orchestrator-client prints an instance after a move.
fn moved(instance: &InstanceJson) -> String {
    if instance.master_key.is_empty() {
        instance.key.to_key().to_string()
    } else {
        format!("{}<{}", instance.key.to_key(), instance.master_key.to_key())
    }
}

/// A route whose `Details` is an instance (moves and in-place operations).
pub async fn instance_command(api: &Target, path: &str, output: Output) -> anyhow::Result<()> {
    let instance: InstanceJson = client(api).await?.get(path).await?;
    output.print(&instance, moved)
}

/// A move: `ROUTE/HOST/PORT[/BELOW_HOST/BELOW_PORT]`, answering one instance or a list.
pub async fn instance_move(
    api: &Target,
    route: &str,
    instance: &str,
    below: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let mut path = format!("{route}/{}", instance_path(instance)?);
    if let Some(below) = below {
        path.push('/');
        path.push_str(&instance_path(below)?);
    }
    let answer: serde_json::Value = client(api).await?.get(&path).await?;
    if answer.is_array() {
        let instances: Vec<InstanceJson> = serde_json::from_value(answer)?;
        output.print(&instances, |list| {
            if list.is_empty() {
                return "none\n".to_string();
            }
            list.iter().map(|i| format!("{}\n", moved(i))).collect()
        })
    } else {
        let instance: InstanceJson = serde_json::from_value(answer)?;
        output.print(&instance, moved)
    }
}

/// A route whose `Details` (or body) is a list of keys.
pub async fn keys_command(api: &Target, path: &str, output: Output) -> anyhow::Result<()> {
    let keys: Vec<arbor_api::InstanceKeyJson> = client(api).await?.get(path).await?;
    output.print(&keys, |keys| {
        if keys.is_empty() {
            return "none\n".to_string();
        }
        keys.iter().map(|k| format!("{}\n", k.to_key())).collect()
    })
}

/// Prints `true`, or `false: why`; exits non-zero on false, so scripts can test it.
pub async fn can_replicate_from(
    api: &Target,
    instance: &str,
    below: &str,
    output: Output,
) -> anyhow::Result<()> {
    let path = format!(
        "can-replicate-from/{}/{}",
        instance_path(instance)?,
        instance_path(below)?
    );
    let verdict = client(api).await?.verdict(&path).await?;
    output.print(&verdict, |v| v.clone())?;
    if verdict != "true" {
        anyhow::bail!("{instance} cannot replicate from {below}");
    }
    Ok(())
}

/// `host:port` lines, or `none`.
pub(crate) fn lines(keys: impl IntoIterator<Item = String>) -> String {
    let keys: Vec<String> = keys.into_iter().collect();
    if keys.is_empty() {
        "none\n".to_string()
    } else {
        keys.iter().map(|k| format!("{k}\n")).collect()
    }
}

pub(crate) fn instance_keys(list: &[InstanceJson]) -> String {
    lines(list.iter().map(|i| i.key.to_key().to_string()))
}
