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
    ("MaxConcurrentReplicaOperations", "replicas are repointed all at once"),
    ("PostTakeMasterProcesses", "take-master runs no hooks"),
    ("ReasonableLockedSemiSyncMasterSeconds", "arbor calls a semi-sync primary locked when commits wait for acknowledgements now, not after a time"),
    ("AutoPseudoGTID", "Pseudo-GTID is not supported: arbor moves and recovers with GTID (MariaDB GTID, or MySQL gtid_mode=ON)"),
    ("PseudoGTIDPattern", "Pseudo-GTID is not supported: arbor moves and recovers with GTID"),
    ("DetectPseudoGTIDQuery", "Pseudo-GTID is not supported: arbor moves and recovers with GTID"),
    ("PowerAuthGroups", "groups are not read: list users in PowerAuthUsers"),
    ("SSLValidOUs", "client certificates' OUs are not checked: any certificate the SSLCAFile signs is accepted"),
    ("SSLSkipVerify", "clients' certificates are always verified when UseMutualTLS is on"),
    ("StatusEndpoint", "the status page is at /api/status"),
    ("StatusOUVerify", "client certificates' OUs are not checked"),
    ("AuditToSyslog", "the audit goes to the store and to AuditLogFile"),
    ("AuditToBackendDB", "recoveries and detections are always in the store; other operations go to AuditLogFile"),
    ("AuditPurgeDays", "the audit is not purged"),
    ("GraphiteAddr", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
    ("GraphitePath", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
    ("GraphitePollSeconds", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
];

const AGENTS: &str = "orchestrator-agent is not supported: provision replicas with your backup tooling, then discover them";
const PSEUDO_GTID: &str = "Pseudo-GTID is not supported: arbor moves and recovers with GTID";
const RESOLVE: &str =
    "arbor uses host names as configured and as servers report them, without resolving";
const AZURE: &str = "Azure sign-in is not supported: use AuthenticationMethod proxy behind your identity-aware proxy";
const OAUTH: &str =
    "OAuth is not supported (orchestrator's was a stub): use AuthenticationMethod proxy";
const TOKENS: &str = "access tokens are not issued: use AuthenticationMethod basic, multi or proxy";
const DISCOVERY_STATS: &str =
    "arbor keeps no raw discovery samples: its measurements are at /metrics for Prometheus";

/// orchestrator keys arbor has no field for, because nothing in arbor would read them: any
/// value is accepted and reported with why and what to use instead (never "unknown").
pub const ORCHESTRATOR_ONLY: &[(&str, &str)] = &[
    ("AccessTokenExpiryMinutes", TOKENS),
    ("AccessTokenUseExpirySeconds", TOKENS),
    ("AgentPollMinutes", AGENTS),
    ("AgentSSLCAFile", AGENTS),
    ("AgentSSLCertFile", AGENTS),
    ("AgentSSLPrivateKeyFile", AGENTS),
    ("AgentSSLSkipVerify", AGENTS),
    ("AgentSSLValidOUs", AGENTS),
    ("AgentsServerPort", AGENTS),
    ("AgentsUseMutualTLS", AGENTS),
    ("AgentsUseSSL", AGENTS),
    ("ServeAgentsHttp", AGENTS),
    ("UnseenAgentForgetHours", AGENTS),
    ("StaleSeedFailMinutes", AGENTS),
    ("SeedAcceptableBytesDiff", AGENTS),
    ("SeedWaitSecondsBeforeSend", AGENTS),
    ("AzureAdminRole", AZURE),
    ("AzureApplicationID", AZURE),
    ("AzureApplicationName", AZURE),
    ("AzureClientID", AZURE),
    ("AzureGraphUserScope", AZURE),
    ("AzureRedirectURL", AZURE),
    ("AzureTenantID", AZURE),
    ("OAuthClientId", OAUTH),
    ("OAuthClientSecret", OAUTH),
    ("OAuthScopes", OAUTH),
    ("SessionSecretKey", "arbor keeps no web sessions: every request is authenticated"),
    ("BinlogEventsChunkSize", PSEUDO_GTID),
    ("SkipBinlogEventsContaining", PSEUDO_GTID),
    ("PseudoGTIDMonotonicHint", PSEUDO_GTID),
    ("PseudoGTIDPatternIsFixedSubstring", PSEUDO_GTID),
    ("SkipBinlogServerUnresolveCheck", "binlog servers are not supported"),
    ("ExpiryHostnameResolvesMinutes", RESOLVE),
    ("RejectHostnameResolvePattern", RESOLVE),
    ("DiscoveryCollectionRetentionSeconds", DISCOVERY_STATS),
    ("DiscoveryQueueMaxStatisticsSize", DISCOVERY_STATS),
    ("InstanceBulkOperationsWaitTimeoutSeconds", "operations on many replicas wait on each up to MySQLTopologyReadTimeoutSeconds"),
    ("GraphiteConvertHostnameDotsToUnderscores", "metrics are served for Prometheus at /metrics, not sent to Graphite"),
    ("SupportFuzzyPoolHostnames", "pool members are matched exactly by host:port"),
    ("MySQLConnectionLifetimeSeconds", "arbor keeps one connection per server and reconnects when it fails"),
    ("MySQLOrchestratorRejectReadOnly", "arbor's MySQL backend fails over with its lease: a read-only backend fails writes, which are retried"),
    ("OSCIgnoreHostnameFilters", "cluster-osc-replicas lists replicas without filters"),
    ("ProblemIgnoreHostnameFilters", "every problem is shown; downtime an instance to mute it"),
    ("ReduceReplicationAnalysisCount", "replication-analysis lists only instances with a problem, as orchestrator with this key on"),
    ("RemoveTextFromHostnameDisplay", "the web UI shows host names whole"),
    ("SnapshotTopologiesIntervalHours", "arbor keeps no topology history table (see snapshot-topologies)"),
    ("VerifyReplicationFilters", "moves do not compare replication filters"),
    ("WebMessage", "the web UI shows no operator message"),
];

/// Keys orchestrator itself no longer reads (its `deprecatedConfigurationVariables`): accepted
/// and reported as ignored, as orchestrator does.
const DEPRECATED_IN_ORCHESTRATOR: &[&str] = &[
    "DatabaselessMode__experimental",
    "BufferBinlogEvents",
    "BinlogFileHistoryDays",
    "MaintenanceOwner",
    "ReadLongRunningQueries",
    "DiscoveryPollSeconds",
    "ActiveNodeExpireSeconds",
    "AuditPurgeDays",
    "SlaveStartPostWaitMilliseconds",
    "MySQLTopologyMaxPoolConnections",
    "MaintenancePurgeDays",
    "MaintenanceExpireMinutes",
    "HttpTimeoutSeconds",
    "AgentAutoDiscover",
    "PseudoGTIDCoordinatesHistoryHeuristicMinutes",
    "PseudoGTIDPreferIndependentMultiMatch",
    "MaxOutdatedKeysToShow",
];

/// Keys orchestrator itself no longer reads.
pub fn deprecated_in_orchestrator() -> &'static [&'static str] {
    DEPRECATED_IN_ORCHESTRATOR
}

/// Why an orchestrator key arbor has no field for does nothing, when it is one.
pub fn orchestrator_only(key: &str) -> Option<&'static str> {
    ORCHESTRATOR_ONLY
        .iter()
        .find(|(known, _)| *known == key)
        .map(|(_, why)| *why)
        .or_else(|| {
            DEPRECATED_IN_ORCHESTRATOR
                .contains(&key)
                .then_some("deprecated in orchestrator, which ignores it too")
        })
}

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
