//! Keys arbor accepts (an orchestrator config file loads unchanged) but does not act on, each
//! with what it would do and what to use instead. `check-config` and start-up name every one a
//! file sets: a key that changes nothing is never a silent "ok". Implementing a key removes its
//! line here; a test checks that every line names a known key.

/// (key, why nothing happens, and what to use instead).
pub const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("ListenSocket", "arbor listens on TCP only: use ListenAddress"),
    ("EnableSyslog", "arbor logs to standard error: let the service manager (journald) forward it"),
    ("MySQLTopologyCredentialsConfigFile", "not read: give MySQLTopologyUser and MySQLTopologyPassword (with ${VAR} for secrets)"),
    ("MySQLOrchestratorCredentialsConfigFile", "not read: give MySQLOrchestratorUser and MySQLOrchestratorPassword (with ${VAR} for secrets)"),
    ("MySQLOrchestratorReadTimeoutSeconds", "the MySQL backend's statements are not timed out separately"),
    ("SkipOrchestratorDatabaseUpdate", "arbor always brings its own schema up to date, in versioned migrations"),
    ("PanicIfDifferentDatabaseDeploy", "arbor always refuses a schema newer than itself, and migrates an older one"),
    ("BufferInstanceWrites", "arbor always writes readings in batches (one writer, one transaction per batch)"),
    ("InstanceFlushIntervalMilliseconds", "arbor always writes readings in batches, as soon as the previous batch is written"),
    ("DiscoverByShowSlaveHosts", "arbor always reads both SHOW SLAVE HOSTS and the replicas' dump threads"),
    ("HostnameResolveMethod", "arbor uses host names as configured and as servers report them, without resolving"),
    ("MySQLHostnameResolveMethod", "arbor uses host names as configured and as servers report them, without resolving"),
    ("UnseenInstanceForgetHours", "instances are not forgotten automatically: use forget"),
    ("SkipMaxScaleCheck", "MaxScale binlog servers are not supported"),
    ("ReasonableMaintenanceReplicationLagSeconds", "moves and takeovers do not check a lag limit; graceful takeover waits up to PromotionCatchUpTimeoutSeconds"),
    ("DetectClusterDomainQuery", "cluster domains are not read"),
    ("DetectInstanceAliasQuery", "instance aliases are not read"),
    ("DetectPromotionRuleQuery", "promotion rules come from register-candidate only"),
    ("DetectSemiSyncEnforcedQuery", "semi-synchronous replication is not managed yet"),
    ("MaxConcurrentReplicaOperations", "replicas are repointed all at once"),
    ("PostTakeMasterProcesses", "take-master runs no hooks"),
    ("CoMasterRecoveryMustPromoteOtherCoMaster", "co-primary recovery promotes like a dead primary's"),
    ("RecoverLockedSemiSyncMaster", "semi-synchronous replication is not managed yet"),
    ("EnforceExactSemiSyncReplicas", "semi-synchronous replication is not managed yet"),
    ("ReasonableLockedSemiSyncMasterSeconds", "semi-synchronous replication is not managed yet"),
    ("AutoPseudoGTID", "Pseudo-GTID is not supported: arbor moves and recovers with GTID (MariaDB GTID, or MySQL gtid_mode=ON)"),
    ("PseudoGTIDPattern", "Pseudo-GTID is not supported: arbor moves and recovers with GTID"),
    ("DetectPseudoGTIDQuery", "Pseudo-GTID is not supported: arbor moves and recovers with GTID"),
    ("PowerAuthGroups", "groups are not read: list users in PowerAuthUsers"),
    ("SSLValidOUs", "client certificates' OUs are not checked: any certificate the SSLCAFile signs is accepted"),
    ("SSLSkipVerify", "clients' certificates are always verified when UseMutualTLS is on"),
    ("StatusEndpoint", "the status page is at /api/status"),
    ("StatusOUVerify", "client certificates' OUs are not checked"),
    ("ConsulAddress", "publishing primaries to Consul is not implemented yet"),
    ("ConsulScheme", "publishing primaries to Consul is not implemented yet"),
    ("ConsulAclToken", "publishing primaries to Consul is not implemented yet"),
    ("ConsulKVStoreProvider", "publishing primaries to Consul is not implemented yet"),
    ("ConsulCrossDataCenterDistribution", "publishing primaries to Consul is not implemented yet"),
    ("ZkAddress", "publishing primaries to ZooKeeper is not implemented yet"),
    ("KVClusterMasterPrefix", "publishing primaries to a key-value store is not implemented yet"),
    ("AuditToSyslog", "the audit goes to the store and to AuditLogFile"),
    ("AuditToBackendDB", "recoveries and detections are always in the store; other operations go to AuditLogFile"),
    ("AuditPurgeDays", "the audit is not purged"),
    ("GraphiteAddr", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
    ("GraphitePath", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
    ("GraphitePollSeconds", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
];

/// Why `key` does nothing, when it does nothing.
pub fn not_implemented(key: &str) -> Option<&'static str> {
    NOT_IMPLEMENTED
        .iter()
        .find(|(known, _)| *known == key)
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn every_inert_key_is_a_known_key_listed_once() {
        for (index, (key, why)) in NOT_IMPLEMENTED.iter().enumerate() {
            assert!(
                Config::KEYS.contains(key),
                "{key} is not a key arbor accepts"
            );
            assert!(!why.is_empty(), "{key} says why");
            assert!(
                !NOT_IMPLEMENTED[..index].iter().any(|(k, _)| k == key),
                "{key} listed twice"
            );
        }
    }
}
