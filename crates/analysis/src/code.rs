use std::fmt;

use serde::{Deserialize, Serialize};

/// The table of analysis codes: one line per code with whether it calls for a recovery and
/// what an operator reads next to it. The macro derives the enum, `ALL`, `name`,
/// `description` and `is_actionable`, so a code is declared exactly once.
macro_rules! analysis_codes {
    ($( $code:ident => $actionable:expr, $description:expr; )*) => {
        /// orchestrator's analysis codes, with the same names (they are API and alerting
        /// vocabulary), and arbor's own where orchestrator had none.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum AnalysisCode {
            $( $code, )*
        }

        impl AnalysisCode {
            pub const ALL: &'static [AnalysisCode] = &[$( AnalysisCode::$code, )*];

            pub fn name(self) -> &'static str {
                match self {
                    $( AnalysisCode::$code => stringify!($code), )*
                }
            }

            /// What an operator reads next to the code.
            pub fn description(self) -> &'static str {
                match self {
                    $( AnalysisCode::$code => $description, )*
                }
            }

            /// Whether this analysis calls for a recovery (orchestrator's "actionable" codes).
            pub fn is_actionable(self) -> bool {
                match self {
                    $( AnalysisCode::$code => $actionable, )*
                }
            }
        }
    };
}

analysis_codes! {
    DeadMaster => true, "Primary cannot be reached by arbor and none of its replicas is replicating";
    DeadMasterAndSomeReplicas => true, "Primary cannot be reached by arbor; some of its replicas are unreachable and none of the others is replicating";
    DeadMasterAndReplicas => false, "Primary cannot be reached by arbor and none of its replicas can be reached either";
    DeadMasterWithoutReplicas => false, "Primary cannot be reached by arbor and has no replicas";
    UnreachableMaster => false, "Primary cannot be reached by arbor but some of its replicas are replicating from it";
    UnreachableMasterWithLaggingReplicas => false, "Primary cannot be reached by arbor and all of its replicas are lagging";
    MasterSingleReplicaNotReplicating => false, "Primary is reachable but its single replica is not replicating";
    MasterSingleReplicaDead => false, "Primary is reachable but its single replica cannot be reached";
    AllMasterReplicasNotReplicating => false, "Primary is reachable but none of its replicas is replicating";
    AllMasterReplicasNotReplicatingOrDead => false, "Primary is reachable but none of its replicas is replicating, and some cannot be reached";
    NoWriteableMasterStructureWarning => true, "Primary is read-only";
    DeadCoMaster => true, "Co-primary cannot be reached by arbor and none of its replicas is replicating";
    DeadCoMasterAndSomeReplicas => true, "Co-primary cannot be reached by arbor; some of its replicas are unreachable and none of the others is replicating";
    UnreachableCoMaster => false, "Co-primary cannot be reached by arbor but some of its replicas are replicating from it";
    AllCoMasterReplicasNotReplicating => false, "Co-primary is reachable but none of its replicas is replicating";
    DeadIntermediateMaster => true, "Intermediate primary cannot be reached by arbor and none of its replicas is replicating";
    DeadIntermediateMasterWithSingleReplica => true, "Intermediate primary cannot be reached by arbor and its single replica is not replicating";
    DeadIntermediateMasterWithSingleReplicaFailingToConnect => true, "Intermediate primary cannot be reached by arbor and its single replica is failing to connect to it";
    DeadIntermediateMasterAndSomeReplicas => true, "Intermediate primary cannot be reached by arbor; some of its replicas are unreachable and none of the others is replicating";
    DeadIntermediateMasterAndReplicas => false, "Intermediate primary cannot be reached by arbor and none of its replicas can be reached either";
    UnreachableIntermediateMaster => false, "Intermediate primary cannot be reached by arbor but some of its replicas are replicating from it";
    UnreachableIntermediateMasterWithLaggingReplicas => false, "Intermediate primary cannot be reached by arbor and all of its replicas are lagging";
    AllIntermediateMasterReplicasFailingToConnectOrDead => true, "Intermediate primary is reachable but all of its replicas are failing to connect to it or cannot be reached";
    AllIntermediateMasterReplicasNotReplicating => false, "Intermediate primary is reachable but none of its replicas is replicating";
    FirstTierReplicaFailingToConnectToMaster => false, "Replica of the primary is failing to connect to it";
    LockedSemiSyncMasterHypothesis => false, "Primary waits for more semi-synchronous replicas than are connected; no commit is waiting yet";
    LockedSemiSyncMaster => false, "Primary waits for more semi-synchronous replicas than are connected, and commits are blocked waiting for acknowledgements";
    MasterWithTooManySemiSyncReplicas => true, "Primary has more semi-synchronous replicas connected than it waits for (EnforceExactSemiSyncReplicas)";
    MasterWithIncorrectSemiSyncReplicas => true, "Primary has as many semi-synchronous replicas as it waits for, but not the ones the semi-sync priorities (DetectSemiSyncEnforcedQuery) and promotion rules choose (EnforceExactSemiSyncReplicas)";
    FormerMasterWithErrantTransactions => false, "A former primary is back after its failover with transactions its successor never had (listed in GtidErrant): fenced read-only and downtimed for an operator";
    FormerMasterNotRejoined => false, "A former primary is back after its failover, holding nothing its successor lacks: fenced read-only (RejoinFormerPrimary would make it a replica)";
}

impl fmt::Display for AnalysisCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The table of structure warnings, as [`analysis_codes!`] is for codes: one line per warning
/// with what an operator reads next to it.
macro_rules! structure_warnings {
    ($( $warning:ident => $description:expr; )*) => {
        /// orchestrator's structure warnings: not failures, but shapes that limit what recovery
        /// can do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum StructureWarning {
            $( $warning, )*
        }

        impl StructureWarning {
            pub const ALL: &'static [StructureWarning] = &[$( StructureWarning::$warning, )*];

            pub fn name(self) -> &'static str {
                match self {
                    $( StructureWarning::$warning => stringify!($warning), )*
                }
            }

            /// What an operator reads next to the warning.
            pub fn description(self) -> &'static str {
                match self {
                    $( StructureWarning::$warning => $description, )*
                }
            }
        }
    };
}

structure_warnings! {
    ErrantGTIDStructureWarning => "A replica has transactions its primary does not (errant GTIDs): promoting it would serve them, and other replicas may not follow it";
    NoLoggingReplicasStructureWarning => "No replica logs what it replicates (log_slave_updates off), so none can become a primary its siblings replicate from";
    DifferentGTIDModesStructureWarning => "Replicas use different GTID modes: some cannot follow others after a failover";
    StatementAndMixedLoggingReplicasStructureWarning => "Replicas log in statement and mixed formats: a replica can only follow one that logs in a format it can apply";
    StatementAndRowLoggingReplicasStructureWarning => "Replicas log in statement and row formats: a replica can only follow one that logs in a format it can apply";
    MixedAndRowLoggingReplicasStructureWarning => "Replicas log in mixed and row formats: a replica can only follow one that logs in a format it can apply";
    MultipleMajorVersionsLoggingReplicasStructureWarning => "Logging replicas run different major versions: an older replica cannot follow a newer one";
    NoFailoverSupportStructureWarning => "Replicas position by file and offset only (no GTID): a dead primary cannot be recovered";
    NotEnoughValidSemiSyncReplicasStructureWarning => "Fewer reachable replicas have semi-sync on than the primary waits for: commits will block";
}

impl fmt::Display for StructureWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
