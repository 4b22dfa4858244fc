//! External processes run at points of a recovery (orchestrator's `*Processes` keys), with
//! orchestrator's `{placeholders}` and `ORC_*` environment variables, so existing scripts work.
//!
//! Hooks run one after another through `ProcessesShellCommand` (`bash -c`). A hook ending in
//! `&` runs in the background and is not waited for. Every hook has a time limit
//! (`ProcessesTimeoutSeconds`); one that overruns is killed and counts as failed. What a hook
//! printed goes into the recovery's audit.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// What hooks are told about the failure and the recovery.
#[derive(Debug, Clone, Default)]
pub struct HookContext {
    pub failure_type: String,
    pub instance_type: String,
    pub is_master: bool,
    pub is_co_master: bool,
    pub failure_description: String,
    pub command: String,
    pub failed_host: String,
    pub failed_port: u16,
    pub failure_cluster: String,
    pub failure_cluster_alias: String,
    pub count_replicas: usize,
    pub replica_hosts: String,
    pub is_downtimed: bool,
    pub auto_master_recovery: bool,
    pub auto_intermediate_master_recovery: bool,
    pub orchestrator_host: String,
    pub recovery_uid: String,
    pub is_successful: bool,
    pub successor_host: String,
    pub successor_port: u16,
    pub successor_alias: String,
    pub lost_replicas: String,
    pub count_lost_replicas: usize,
}

impl HookContext {
    /// (placeholder name, environment variable, value), orchestrator's names; the `slave`
    /// spellings are kept for old scripts.
    fn values(&self) -> Vec<(&'static [&'static str], &'static str, String)> {
        let flag = |b: bool| b.to_string();
        vec![
            (
                &["failureType"],
                "ORC_FAILURE_TYPE",
                self.failure_type.clone(),
            ),
            (
                &["instanceType"],
                "ORC_INSTANCE_TYPE",
                self.instance_type.clone(),
            ),
            (&["isMaster"], "ORC_IS_MASTER", flag(self.is_master)),
            (&["isCoMaster"], "ORC_IS_CO_MASTER", flag(self.is_co_master)),
            (
                &["failureDescription"],
                "ORC_FAILURE_DESCRIPTION",
                self.failure_description.clone(),
            ),
            (&["command"], "ORC_COMMAND", self.command.clone()),
            (&["failedHost"], "ORC_FAILED_HOST", self.failed_host.clone()),
            (
                &["failedPort"],
                "ORC_FAILED_PORT",
                self.failed_port.to_string(),
            ),
            (
                &["failureCluster"],
                "ORC_FAILURE_CLUSTER",
                self.failure_cluster.clone(),
            ),
            (
                &["failureClusterAlias"],
                "ORC_FAILURE_CLUSTER_ALIAS",
                self.failure_cluster_alias.clone(),
            ),
            (
                &["failureClusterDomain"],
                "ORC_FAILURE_CLUSTER_DOMAIN",
                String::new(),
            ),
            (
                &["countReplicas", "countSlaves"],
                "ORC_COUNT_REPLICAS",
                self.count_replicas.to_string(),
            ),
            (
                &["replicaHosts", "slaveHosts"],
                "ORC_REPLICA_HOSTS",
                self.replica_hosts.clone(),
            ),
            (
                &["isDowntimed"],
                "ORC_IS_DOWNTIMED",
                flag(self.is_downtimed),
            ),
            (
                &["autoMasterRecovery"],
                "ORC_AUTO_MASTER_RECOVERY",
                flag(self.auto_master_recovery),
            ),
            (
                &["autoIntermediateMasterRecovery"],
                "ORC_AUTO_INTERMEDIATE_MASTER_RECOVERY",
                flag(self.auto_intermediate_master_recovery),
            ),
            (
                &["orchestratorHost"],
                "ORC_ORCHESTRATOR_HOST",
                self.orchestrator_host.clone(),
            ),
            (
                &["recoveryUID"],
                "ORC_RECOVERY_UID",
                self.recovery_uid.clone(),
            ),
            (
                &["isSuccessful"],
                "ORC_IS_SUCCESSFUL",
                flag(self.is_successful),
            ),
            (
                &["successorHost"],
                "ORC_SUCCESSOR_HOST",
                self.successor_host.clone(),
            ),
            (
                &["successorPort"],
                "ORC_SUCCESSOR_PORT",
                if self.successor_port == 0 {
                    String::new()
                } else {
                    self.successor_port.to_string()
                },
            ),
            (
                &["successorAlias"],
                "ORC_SUCCESSOR_ALIAS",
                self.successor_alias.clone(),
            ),
            (
                &["successorBinlogCoordinates"],
                "ORC_SUCCESSOR_BINLOG_COORDINATES",
                String::new(),
            ),
            (
                &["lostReplicas", "lostSlaves"],
                "ORC_LOST_REPLICAS",
                self.lost_replicas.clone(),
            ),
            (
                &["countLostReplicas", "countLostSlaves"],
                "ORC_COUNT_LOST_REPLICAS",
                self.count_lost_replicas.to_string(),
            ),
        ]
    }

    /// `command` with every `{placeholder}` replaced.
    pub fn expand(&self, command: &str) -> String {
        let mut text = command.to_string();
        for (names, _, value) in self.values() {
            for name in names {
                text = text.replace(&format!("{{{name}}}"), &value);
            }
        }
        text
    }
}

/// How one hook went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResult {
    pub command: String,
    pub success: bool,
    /// Standard output and error, trimmed and cut to a few KiB.
    pub output: String,
    pub background: bool,
}

impl HookResult {
    pub fn summary(&self) -> String {
        let outcome = if self.background {
            "started in the background".to_string()
        } else if self.success {
            "succeeded".to_string()
        } else {
            "failed".to_string()
        };
        if self.output.is_empty() {
            format!("hook {outcome}: {}", self.command)
        } else {
            format!("hook {outcome}: {}: {}", self.command, self.output)
        }
    }
}

const OUTPUT_LIMIT: usize = 4096;

/// Runs `commands` in order. With `stop_on_failure` (the `Pre*` hooks), the first failure
/// stops the rest.
pub async fn run_hooks(
    commands: &[String],
    shell: &str,
    context: &HookContext,
    timeout: Duration,
    stop_on_failure: bool,
) -> Vec<HookResult> {
    let mut results = Vec::new();
    for command in commands.iter().filter(|c| !c.trim().is_empty()) {
        let result = run_one(command, shell, context, timeout).await;
        let failed = !result.success;
        results.push(result);
        if failed && stop_on_failure {
            break;
        }
    }
    results
}

async fn run_one(
    command: &str,
    shell: &str,
    context: &HookContext,
    timeout: Duration,
) -> HookResult {
    let expanded = context.expand(command.trim());
    let (script, background) = match expanded.strip_suffix('&') {
        Some(script) => (script.trim().to_string(), true),
        None => (expanded.clone(), false),
    };
    let mut process = tokio::process::Command::new(shell);
    process
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .kill_on_drop(!background);
    for (_, variable, value) in context.values() {
        process.env(variable, value);
    }
    if background {
        process.stdout(Stdio::null()).stderr(Stdio::null());
        let success = process.spawn().is_ok();
        return HookResult {
            command: expanded,
            success,
            output: String::new(),
            background: true,
        };
    }
    process.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(error) => {
            return HookResult {
                command: expanded,
                success: false,
                output: format!("cannot start {shell}: {error}"),
                background: false,
            }
        }
    };
    let started = Instant::now();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        // Both pipes at once: a hook that fills one while arbor waits on the other would hang.
        let read_out = async {
            let mut out = Vec::new();
            if let Some(stdout) = stdout.as_mut() {
                let _ = stdout.read_to_end(&mut out).await;
            }
            out
        };
        let read_err = async {
            let mut err = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.read_to_end(&mut err).await;
            }
            err
        };
        let (out, err) = tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((status, out, err)) => {
            let mut output = String::from_utf8_lossy(&out).trim().to_string();
            let err = String::from_utf8_lossy(&err).trim().to_string();
            if !err.is_empty() {
                if !output.is_empty() {
                    output.push('\n');
                }
                output.push_str(&err);
            }
            if output.len() > OUTPUT_LIMIT {
                output.truncate(output.floor_char_boundary(OUTPUT_LIMIT));
                output.push_str(" …");
            }
            HookResult {
                command: expanded,
                success: status.is_ok_and(|s| s.success()),
                output,
                background: false,
            }
        }
        Err(_) => HookResult {
            command: expanded,
            success: false,
            output: format!(
                "killed after {:?} (ProcessesTimeoutSeconds)",
                started.elapsed()
            ),
            background: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> HookContext {
        HookContext {
            failure_type: "DeadMaster".into(),
            failed_host: "db1".into(),
            failed_port: 3306,
            failure_cluster: "db1:3306".into(),
            successor_host: "db2".into(),
            successor_port: 3307,
            count_replicas: 2,
            is_successful: true,
            ..HookContext::default()
        }
    }

    #[test]
    fn placeholders_expand_with_orchestrators_names() {
        assert_eq!(
            context().expand("echo {failureType} on {failedHost}:{failedPort} -> {successorHost}:{successorPort} ({countSlaves})"),
            "echo DeadMaster on db1:3306 -> db2:3307 (2)"
        );
    }

    #[tokio::test]
    async fn hooks_see_the_environment_and_report_output_and_failures() {
        let commands = vec![
            "echo \"$ORC_FAILURE_TYPE $ORC_FAILED_HOST $ORC_IS_SUCCESSFUL {successorPort}\""
                .to_string(),
            "echo oops >&2; exit 3".to_string(),
            "echo never".to_string(),
        ];
        let results = run_hooks(&commands, "bash", &context(), Duration::from_secs(10), true).await;
        assert_eq!(results.len(), 2, "stopped at the first failure");
        assert!(results[0].success);
        assert_eq!(results[0].output, "DeadMaster db1 true 3307");
        assert!(!results[1].success);
        assert_eq!(results[1].output, "oops");
        let all = run_hooks(
            &commands,
            "bash",
            &context(),
            Duration::from_secs(10),
            false,
        )
        .await;
        assert_eq!(all.len(), 3, "post hooks all run");
    }

    #[tokio::test]
    async fn a_hook_that_overruns_is_killed() {
        let started = Instant::now();
        let results = run_hooks(
            &["sleep 30".to_string()],
            "bash",
            &context(),
            Duration::from_millis(300),
            true,
        )
        .await;
        assert!(!results[0].success);
        assert!(
            results[0].output.contains("killed"),
            "{}",
            results[0].output
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let background = run_hooks(
            &["sleep 30 &".to_string()],
            "bash",
            &context(),
            Duration::from_millis(300),
            true,
        )
        .await;
        assert!(background[0].success && background[0].background);
    }
}
