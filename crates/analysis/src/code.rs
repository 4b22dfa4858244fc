use std::fmt;

use serde::{Deserialize, Serialize};

/// orchestrator's analysis codes, with the same names (they are API and alerting vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AnalysisCode {
    DeadMaster,
    DeadMasterAndSomeReplicas,
    DeadMasterAndReplicas,
    DeadMasterWithoutReplicas,
    UnreachableMaster,
    UnreachableMasterWithLaggingReplicas,
    MasterSingleReplicaNotReplicating,
    MasterSingleReplicaDead,
    AllMasterReplicasNotReplicating,
    AllMasterReplicasNotReplicatingOrDead,
    NoWriteableMasterStructureWarning,
    DeadCoMaster,
    DeadCoMasterAndSomeReplicas,
    UnreachableCoMaster,
    AllCoMasterReplicasNotReplicating,
    DeadIntermediateMaster,
    DeadIntermediateMasterWithSingleReplica,
    DeadIntermediateMasterWithSingleReplicaFailingToConnect,
    DeadIntermediateMasterAndSomeReplicas,
    DeadIntermediateMasterAndReplicas,
    UnreachableIntermediateMaster,
    UnreachableIntermediateMasterWithLaggingReplicas,
    AllIntermediateMasterReplicasFailingToConnectOrDead,
    AllIntermediateMasterReplicasNotReplicating,
    FirstTierReplicaFailingToConnectToMaster,
}

impl AnalysisCode {
    pub const ALL: &'static [AnalysisCode] = &[
        AnalysisCode::DeadMaster,
        AnalysisCode::DeadMasterAndSomeReplicas,
        AnalysisCode::DeadMasterAndReplicas,
        AnalysisCode::DeadMasterWithoutReplicas,
        AnalysisCode::UnreachableMaster,
        AnalysisCode::UnreachableMasterWithLaggingReplicas,
        AnalysisCode::MasterSingleReplicaNotReplicating,
        AnalysisCode::MasterSingleReplicaDead,
        AnalysisCode::AllMasterReplicasNotReplicating,
        AnalysisCode::AllMasterReplicasNotReplicatingOrDead,
        AnalysisCode::NoWriteableMasterStructureWarning,
        AnalysisCode::DeadCoMaster,
        AnalysisCode::DeadCoMasterAndSomeReplicas,
        AnalysisCode::UnreachableCoMaster,
        AnalysisCode::AllCoMasterReplicasNotReplicating,
        AnalysisCode::DeadIntermediateMaster,
        AnalysisCode::DeadIntermediateMasterWithSingleReplica,
        AnalysisCode::DeadIntermediateMasterWithSingleReplicaFailingToConnect,
        AnalysisCode::DeadIntermediateMasterAndSomeReplicas,
        AnalysisCode::DeadIntermediateMasterAndReplicas,
        AnalysisCode::UnreachableIntermediateMaster,
        AnalysisCode::UnreachableIntermediateMasterWithLaggingReplicas,
        AnalysisCode::AllIntermediateMasterReplicasFailingToConnectOrDead,
        AnalysisCode::AllIntermediateMasterReplicasNotReplicating,
        AnalysisCode::FirstTierReplicaFailingToConnectToMaster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AnalysisCode::DeadMaster => "DeadMaster",
            AnalysisCode::DeadMasterAndSomeReplicas => "DeadMasterAndSomeReplicas",
            AnalysisCode::DeadMasterAndReplicas => "DeadMasterAndReplicas",
            AnalysisCode::DeadMasterWithoutReplicas => "DeadMasterWithoutReplicas",
            AnalysisCode::UnreachableMaster => "UnreachableMaster",
            AnalysisCode::UnreachableMasterWithLaggingReplicas => {
                "UnreachableMasterWithLaggingReplicas"
            }
            AnalysisCode::MasterSingleReplicaNotReplicating => "MasterSingleReplicaNotReplicating",
            AnalysisCode::MasterSingleReplicaDead => "MasterSingleReplicaDead",
            AnalysisCode::AllMasterReplicasNotReplicating => "AllMasterReplicasNotReplicating",
            AnalysisCode::AllMasterReplicasNotReplicatingOrDead => {
                "AllMasterReplicasNotReplicatingOrDead"
            }
            AnalysisCode::NoWriteableMasterStructureWarning => "NoWriteableMasterStructureWarning",
            AnalysisCode::DeadCoMaster => "DeadCoMaster",
            AnalysisCode::DeadCoMasterAndSomeReplicas => "DeadCoMasterAndSomeReplicas",
            AnalysisCode::UnreachableCoMaster => "UnreachableCoMaster",
            AnalysisCode::AllCoMasterReplicasNotReplicating => "AllCoMasterReplicasNotReplicating",
            AnalysisCode::DeadIntermediateMaster => "DeadIntermediateMaster",
            AnalysisCode::DeadIntermediateMasterWithSingleReplica => {
                "DeadIntermediateMasterWithSingleReplica"
            }
            AnalysisCode::DeadIntermediateMasterWithSingleReplicaFailingToConnect => {
                "DeadIntermediateMasterWithSingleReplicaFailingToConnect"
            }
            AnalysisCode::DeadIntermediateMasterAndSomeReplicas => {
                "DeadIntermediateMasterAndSomeReplicas"
            }
            AnalysisCode::DeadIntermediateMasterAndReplicas => "DeadIntermediateMasterAndReplicas",
            AnalysisCode::UnreachableIntermediateMaster => "UnreachableIntermediateMaster",
            AnalysisCode::UnreachableIntermediateMasterWithLaggingReplicas => {
                "UnreachableIntermediateMasterWithLaggingReplicas"
            }
            AnalysisCode::AllIntermediateMasterReplicasFailingToConnectOrDead => {
                "AllIntermediateMasterReplicasFailingToConnectOrDead"
            }
            AnalysisCode::AllIntermediateMasterReplicasNotReplicating => {
                "AllIntermediateMasterReplicasNotReplicating"
            }
            AnalysisCode::FirstTierReplicaFailingToConnectToMaster => {
                "FirstTierReplicaFailingToConnectToMaster"
            }
        }
    }

    /// What an operator reads next to the code.
    pub fn description(self) -> &'static str {
        match self {
            AnalysisCode::DeadMaster => "Primary cannot be reached by arbor and none of its replicas is replicating",
            AnalysisCode::DeadMasterAndSomeReplicas => "Primary cannot be reached by arbor; some of its replicas are unreachable and none of the others is replicating",
            AnalysisCode::DeadMasterAndReplicas => "Primary cannot be reached by arbor and none of its replicas can be reached either",
            AnalysisCode::DeadMasterWithoutReplicas => "Primary cannot be reached by arbor and has no replicas",
            AnalysisCode::UnreachableMaster => "Primary cannot be reached by arbor but some of its replicas are replicating from it",
            AnalysisCode::UnreachableMasterWithLaggingReplicas => "Primary cannot be reached by arbor and all of its replicas are lagging",
            AnalysisCode::MasterSingleReplicaNotReplicating => "Primary is reachable but its single replica is not replicating",
            AnalysisCode::MasterSingleReplicaDead => "Primary is reachable but its single replica cannot be reached",
            AnalysisCode::AllMasterReplicasNotReplicating => "Primary is reachable but none of its replicas is replicating",
            AnalysisCode::AllMasterReplicasNotReplicatingOrDead => "Primary is reachable but none of its replicas is replicating, and some cannot be reached",
            AnalysisCode::NoWriteableMasterStructureWarning => "Primary is read-only",
            AnalysisCode::DeadCoMaster => "Co-primary cannot be reached by arbor and none of its replicas is replicating",
            AnalysisCode::DeadCoMasterAndSomeReplicas => "Co-primary cannot be reached by arbor; some of its replicas are unreachable and none of the others is replicating",
            AnalysisCode::UnreachableCoMaster => "Co-primary cannot be reached by arbor but some of its replicas are replicating from it",
            AnalysisCode::AllCoMasterReplicasNotReplicating => "Co-primary is reachable but none of its replicas is replicating",
            AnalysisCode::DeadIntermediateMaster => "Intermediate primary cannot be reached by arbor and none of its replicas is replicating",
            AnalysisCode::DeadIntermediateMasterWithSingleReplica => "Intermediate primary cannot be reached by arbor and its single replica is not replicating",
            AnalysisCode::DeadIntermediateMasterWithSingleReplicaFailingToConnect => "Intermediate primary cannot be reached by arbor and its single replica is failing to connect to it",
            AnalysisCode::DeadIntermediateMasterAndSomeReplicas => "Intermediate primary cannot be reached by arbor; some of its replicas are unreachable and none of the others is replicating",
            AnalysisCode::DeadIntermediateMasterAndReplicas => "Intermediate primary cannot be reached by arbor and none of its replicas can be reached either",
            AnalysisCode::UnreachableIntermediateMaster => "Intermediate primary cannot be reached by arbor but some of its replicas are replicating from it",
            AnalysisCode::UnreachableIntermediateMasterWithLaggingReplicas => "Intermediate primary cannot be reached by arbor and all of its replicas are lagging",
            AnalysisCode::AllIntermediateMasterReplicasFailingToConnectOrDead => "Intermediate primary is reachable but all of its replicas are failing to connect to it or cannot be reached",
            AnalysisCode::AllIntermediateMasterReplicasNotReplicating => "Intermediate primary is reachable but none of its replicas is replicating",
            AnalysisCode::FirstTierReplicaFailingToConnectToMaster => "Replica of the primary is failing to connect to it",
        }
    }

    /// Whether this analysis calls for a recovery (orchestrator's "actionable" codes).
    pub fn is_actionable(self) -> bool {
        matches!(
            self,
            AnalysisCode::DeadMaster
                | AnalysisCode::DeadMasterAndSomeReplicas
                | AnalysisCode::DeadCoMaster
                | AnalysisCode::DeadCoMasterAndSomeReplicas
                | AnalysisCode::DeadIntermediateMaster
                | AnalysisCode::DeadIntermediateMasterWithSingleReplica
                | AnalysisCode::DeadIntermediateMasterWithSingleReplicaFailingToConnect
                | AnalysisCode::DeadIntermediateMasterAndSomeReplicas
                | AnalysisCode::AllIntermediateMasterReplicasFailingToConnectOrDead
                | AnalysisCode::NoWriteableMasterStructureWarning
        )
    }
}

impl fmt::Display for AnalysisCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// orchestrator's structure warnings: not failures, but shapes that limit what recovery can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StructureWarning {
    /// A replica has transactions its primary does not.
    ErrantGTIDStructureWarning,
    /// No replica logs what it replicates, so none can be promoted.
    NoLoggingReplicasStructureWarning,
    /// Replicas use different GTID modes.
    DifferentGTIDModesStructureWarning,
    StatementAndMixedLoggingReplicasStructureWarning,
    StatementAndRowLoggingReplicasStructureWarning,
    MixedAndRowLoggingReplicasStructureWarning,
    MultipleMajorVersionsLoggingReplicasStructureWarning,
    /// Replicas position by file and offset only: a dead primary cannot be recovered.
    NoFailoverSupportStructureWarning,
}

impl StructureWarning {
    pub fn name(self) -> &'static str {
        match self {
            StructureWarning::ErrantGTIDStructureWarning => "ErrantGTIDStructureWarning",
            StructureWarning::NoLoggingReplicasStructureWarning => {
                "NoLoggingReplicasStructureWarning"
            }
            StructureWarning::DifferentGTIDModesStructureWarning => {
                "DifferentGTIDModesStructureWarning"
            }
            StructureWarning::StatementAndMixedLoggingReplicasStructureWarning => {
                "StatementAndMixedLoggingReplicasStructureWarning"
            }
            StructureWarning::StatementAndRowLoggingReplicasStructureWarning => {
                "StatementAndRowLoggingReplicasStructureWarning"
            }
            StructureWarning::MixedAndRowLoggingReplicasStructureWarning => {
                "MixedAndRowLoggingReplicasStructureWarning"
            }
            StructureWarning::MultipleMajorVersionsLoggingReplicasStructureWarning => {
                "MultipleMajorVersionsLoggingReplicasStructureWarning"
            }
            StructureWarning::NoFailoverSupportStructureWarning => {
                "NoFailoverSupportStructureWarning"
            }
        }
    }
}

impl fmt::Display for StructureWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
