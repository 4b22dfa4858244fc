//! `RecoverMasterClusterFilters` and `RecoverIntermediateMasterClusterFilters`: which clusters
//! arbor may recover on its own. Empty means none (orchestrator's default: automated failover
//! is opt-in).

/// Whether `cluster` (with `alias`) matches one of `filters`, each of which is `*` (every
/// cluster), `alias=NAME`, `alias~=REGEX`, or a regex on the cluster name.
pub fn cluster_matches(filters: &[String], cluster: &str, alias: &str) -> bool {
    filters.iter().any(|filter| {
        let filter = filter.trim();
        if filter == "*" {
            true
        } else if let Some(exact) = filter.strip_prefix("alias=") {
            alias == exact
        } else if let Some(pattern) = filter.strip_prefix("alias~=") {
            regex::Regex::new(pattern).is_ok_and(|re| re.is_match(alias))
        } else {
            cluster == filter || regex::Regex::new(filter).is_ok_and(|re| re.is_match(cluster))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_match_as_orchestrator_documents() {
        let cluster = "db1.example:3306";
        let cases = [
            (vec![], false),
            (vec!["*"], true),
            (vec!["alias=orders"], true),
            (vec!["alias=payments"], false),
            (vec!["alias~=^ord"], true),
            (vec!["alias~=^pay"], false),
            (vec!["db1"], true),
            (vec!["^db2"], false),
            (vec!["db1.example:3306"], true),
            (vec!["^db2", "alias=orders"], true),
        ];
        for (items, expected) in cases {
            assert_eq!(
                cluster_matches(&filters(&items), cluster, "orders"),
                expected,
                "{items:?}"
            );
        }
    }
}
