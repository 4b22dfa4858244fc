//! The key-value pairs that tell applications where each cluster's primary is, in
//! orchestrator's layout: `PREFIX/ALIAS` = `host:port`, with `/hostname`, `/port`, and `/ipv4` or
//! `/ipv6` beside it (arbor does not resolve host names, so those two appear only when the host
//! is an address literal).

use crate::{InstanceKey, Topology};

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPair {
    pub key: String,
    pub value: String,
}

/// The pairs of every cluster (or the one named `only`) whose primary has been read.
pub fn primary_kv_pairs(topology: &Topology, prefix: &str, only: Option<&str>) -> Vec<KvPair> {
    let mut pairs = Vec::new();
    for name in topology.cluster_names() {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        let Some(primary) = topology.cluster_root(&name) else {
            continue;
        };
        let alias = topology.alias_of(&name).unwrap_or(&name);
        pairs.extend(cluster_kv_pairs(prefix, alias, primary.key()));
    }
    pairs
}

/// The pairs saying that `primary` is the primary of the cluster known as `alias`.
pub fn cluster_kv_pairs(prefix: &str, alias: &str, primary: &InstanceKey) -> Vec<KvPair> {
    let base = format!("{}/{alias}", prefix.trim_end_matches('/'));
    let pair = |suffix: &str, value: String| KvPair {
        key: format!("{base}{suffix}"),
        value,
    };
    let mut pairs = vec![
        pair("", primary.to_string()),
        pair("/hostname", primary.hostname.clone()),
        pair("/port", primary.port.to_string()),
    ];
    match primary.hostname.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(address)) => pairs.push(pair("/ipv4", address.to_string())),
        Ok(std::net::IpAddr::V6(address)) => pairs.push(pair("/ipv6", address.to_string())),
        Err(_) => {}
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::seen;
    use crate::TopologyOptions;

    #[test]
    fn each_primary_is_published_under_its_alias() {
        let topology = Topology::new(
            vec![
                seen("10.0.0.1:3306", None),
                seen("10.0.0.2:3306", Some("10.0.0.1:3306")),
                seen("db9.example:3307", None),
            ],
            &TopologyOptions::default(),
        );
        let pairs = primary_kv_pairs(&topology, "mysql/master/", Some("10.0.0.1:3306"));
        let text: Vec<String> = pairs
            .iter()
            .map(|p| format!("{}={}", p.key, p.value))
            .collect();
        assert_eq!(
            text,
            [
                "mysql/master/10.0.0.1:3306=10.0.0.1:3306",
                "mysql/master/10.0.0.1:3306/hostname=10.0.0.1",
                "mysql/master/10.0.0.1:3306/port=3306",
                "mysql/master/10.0.0.1:3306/ipv4=10.0.0.1",
            ]
        );
        // Every cluster; a host name gets no address keys.
        let all = primary_kv_pairs(&topology, "mysql/master", None);
        assert_eq!(all.len(), 4 + 3);
        assert!(all
            .iter()
            .any(|p| p.key == "mysql/master/db9.example:3307/port" && p.value == "3307"));
    }
}
