//! Fleet descriptions: a JSON file of clusters, or M generated clusters of K instances.
//!
//! ```json
//! { "write_rate": 20,
//!   "clusters": [
//!     { "flavor": "mariadb-10.11",
//!       "instances": [ {}, {"source": 0}, {"source": 1, "lag_seconds": 5} ] } ] }
//! ```
//! An instance's `source` is the index of another instance of the same cluster; none makes it
//! a primary.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Flavor;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Transactions per second every writable primary commits (0: positions stay fixed).
    #[serde(default)]
    pub write_rate: f64,
    pub clusters: Vec<ClusterSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default = "default_flavor")]
    pub flavor: Flavor,
    pub instances: Vec<InstanceSpec>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// Index, within the cluster, of the instance this one replicates from.
    #[serde(default)]
    pub source: Option<usize>,
    /// How far its SQL thread trails while writes flow.
    #[serde(default)]
    pub lag_seconds: f64,
}

fn default_flavor() -> Flavor {
    Flavor::MariaDb1011
}

/// Why a topology cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("topology file {path}: {message}")]
    Read { path: String, message: String },
    #[error("cluster {cluster}, instance {instance}: {message}")]
    Instance {
        cluster: usize,
        instance: usize,
        message: String,
    },
}

impl Topology {
    /// `clusters` clusters, each a primary with `size - 1` replicas, flavours taken in turn
    /// from `flavors`.
    pub fn generate(clusters: usize, size: usize, flavors: &[Flavor]) -> Topology {
        let flavors = if flavors.is_empty() {
            &[Flavor::MariaDb1011][..]
        } else {
            flavors
        };
        let instances: Vec<InstanceSpec> = (0..size.max(1))
            .map(|i| InstanceSpec {
                source: (i > 0).then_some(0),
                lag_seconds: 0.0,
            })
            .collect();
        Topology {
            write_rate: 0.0,
            clusters: (0..clusters)
                .map(|c| ClusterSpec {
                    flavor: flavors[c % flavors.len()],
                    instances: instances.clone(),
                })
                .collect(),
        }
    }

    pub fn from_file(path: &std::path::Path) -> Result<Topology, TopologyError> {
        let read = |message: String| TopologyError::Read {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        let topology: Topology = serde_json::from_str(&text).map_err(|e| read(e.to_string()))?;
        topology.check()?;
        Ok(topology)
    }

    /// Every source names another instance of its cluster, and no cluster is a cycle.
    pub fn check(&self) -> Result<(), TopologyError> {
        for (c, cluster) in self.clusters.iter().enumerate() {
            let n = cluster.instances.len();
            for (i, instance) in cluster.instances.iter().enumerate() {
                let fail = |message: String| TopologyError::Instance {
                    cluster: c,
                    instance: i,
                    message,
                };
                if let Some(source) = instance.source {
                    if source >= n {
                        return Err(fail(format!(
                            "source {source} is not an instance of this cluster of {n}"
                        )));
                    }
                }
                let mut at = i;
                for _ in 0..=n {
                    match cluster.instances[at].source {
                        Some(next) if next == i => {
                            return Err(fail("replicates from itself, directly or not".into()))
                        }
                        Some(next) => at = next,
                        None => break,
                    }
                }
                if instance.lag_seconds < 0.0 {
                    return Err(fail("lag_seconds must not be negative".into()));
                }
            }
        }
        Ok(())
    }

    /// All instances in fleet order (flavour, source as a fleet-wide index, lag in seconds).
    pub fn instances(&self) -> Vec<(Flavor, Option<usize>, f64)> {
        let mut out = Vec::new();
        for cluster in &self.clusters {
            let base = out.len();
            for instance in &cluster.instances {
                out.push((
                    cluster.flavor,
                    instance.source.map(|s| base + s),
                    instance.lag_seconds,
                ));
            }
        }
        out
    }
}

impl FromStr for Flavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Flavor, String> {
        match s.to_ascii_lowercase().as_str() {
            "mariadb-10.11" | "mariadb" => Ok(Flavor::MariaDb1011),
            "mysql-8.0" | "mysql" => Ok(Flavor::MySql80),
            "mysql-8.4" => Ok(Flavor::MySql84),
            other => Err(format!(
                "unknown flavour {other:?}: use mariadb-10.11, mysql-8.0 or mysql-8.4"
            )),
        }
    }
}

impl Serialize for Flavor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            Flavor::MariaDb1011 => "mariadb-10.11",
            Flavor::MySql80 => "mysql-8.0",
            Flavor::MySql84 => "mysql-8.4",
        })
    }
}

impl<'de> Deserialize<'de> for Flavor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Flavor, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_fleet_round_trips_through_json() {
        let topology = Topology::generate(3, 4, &[Flavor::MariaDb1011, Flavor::MySql84]);
        let json = serde_json::to_string(&topology).unwrap();
        let back: Topology = serde_json::from_str(&json).unwrap();
        assert_eq!(back, topology);
        let flat = topology.instances();
        assert_eq!(flat.len(), 12);
        assert_eq!(flat[5], (Flavor::MySql84, Some(4), 0.0));
    }

    #[test]
    fn bad_topologies_are_refused_with_the_place_named() {
        let cycle: Topology = serde_json::from_str(
            r#"{"clusters": [{"instances": [{"source": 1}, {"source": 0}]}]}"#,
        )
        .unwrap();
        let error = cycle.check().unwrap_err().to_string();
        assert!(error.contains("cluster 0, instance 0"), "{error}");
        let outside: Topology =
            serde_json::from_str(r#"{"clusters": [{"instances": [{}, {"source": 7}]}]}"#).unwrap();
        assert!(outside
            .check()
            .unwrap_err()
            .to_string()
            .contains("source 7"));
        let unknown = serde_json::from_str::<Topology>(r#"{"clusters": [], "colour": 1}"#);
        assert!(unknown.unwrap_err().to_string().contains("colour"));
        let flavour = serde_json::from_str::<Topology>(
            r#"{"clusters": [{"flavor": "postgres", "instances": []}]}"#,
        );
        assert!(flavour.unwrap_err().to_string().contains("unknown flavour"));
    }
}
