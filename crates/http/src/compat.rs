//! orchestrator's other URL forms for routes arbor has, rewritten to arbor's form before
//! routing, in one table: a trailing slash (`clusters/`, which orchestrator-client sends when an
//! optional argument is empty), a value in the path where arbor takes it in the query
//! (`search/TEXT`, `tag/H/P/NAME/VALUE`), a cluster named by alias or by one of its instances
//! (`cluster/alias/A`, `cluster/instance/H/P`, `graceful-master-takeover/H/P`). The rewritten
//! request is then routed, authorized and audited as the route it names.

use axum::extract::Request;
use axum::http::Uri;

/// (orchestrator's form, arbor's form). `{name}` takes one path segment; in arbor's form
/// `{h}:{p}` names a cluster by an instance, and a `?` starts a query whose values are encoded.
const FORMS: &[(&str, &str)] = &[
    ("search/{s}", "search?s={s}"),
    ("cluster/alias/{a}", "cluster/{a}"),
    ("cluster/instance/{h}/{p}", "cluster/{h}:{p}"),
    ("cluster-info/alias/{a}", "cluster-info/{a}"),
    (
        "tag/{h}/{p}/{name}/{value}",
        "tag/{h}/{p}?tag={name}={value}",
    ),
    ("tag-value/{h}/{p}/{name}", "tag-value/{h}/{p}?tag={name}"),
    ("untag/{h}/{p}/{name}", "untag/{h}/{p}?tag={name}"),
    ("untag-all/{name}/{value}", "untag-all?tag={name}={value}"),
    (
        "graceful-master-takeover/{h}/{p}",
        "graceful-master-takeover/{h}:{p}",
    ),
    (
        "graceful-master-takeover/{h}/{p}/{dh}/{dp}",
        "graceful-master-takeover/{h}:{p}/{dh}/{dp}",
    ),
    (
        "graceful-master-takeover-auto/{h}/{p}",
        "graceful-master-takeover-auto/{h}:{p}",
    ),
    (
        "graceful-master-takeover-auto/{h}/{p}/{dh}/{dp}",
        "graceful-master-takeover-auto/{h}:{p}/{dh}/{dp}",
    ),
    (
        "force-master-failover/{h}/{p}",
        "force-master-failover/{h}:{p}",
    ),
    (
        "force-master-takeover/{h}/{p}/{dh}/{dp}",
        "force-master-takeover/{h}:{p}/{dh}/{dp}",
    ),
    // orchestrator moves by equivalent binlog coordinates; arbor's relocate picks GTID or
    // coordinates itself.
    (
        "move-equivalent/{h}/{p}/{dh}/{dp}",
        "relocate/{h}/{p}/{dh}/{dp}",
    ),
    ("ack-recovery/cluster/alias/{a}", "ack-recovery/cluster/{a}"),
];

/// Rewrites `request`'s URI to arbor's form when it is in one of orchestrator's other forms.
pub fn rewrite<B>(request: &mut Request<B>) {
    let uri = request.uri().clone();
    let Some(at) = uri.path().find("/api/") else {
        return;
    };
    let (prefix, rest) = uri.path().split_at(at + "/api/".len());
    let rest = rest.trim_end_matches('/');
    let query = uri.query();
    let Some(target) = rewritten(rest) else {
        if uri.path().len() > 1 && uri.path().ends_with('/') {
            set_uri(request, &format!("{prefix}{rest}"), query);
        }
        return;
    };
    let (path, added_query) = target.split_once('?').unwrap_or((&target, ""));
    let query = match (query, added_query) {
        (Some(query), "") => Some(query.to_string()),
        (Some(query), added) => Some(format!("{added}&{query}")),
        (None, "") => None,
        (None, added) => Some(added.to_string()),
    };
    set_uri(request, &format!("{prefix}{path}"), query.as_deref());
}

/// `rest` (after `/api/`) in arbor's form, if one of [`FORMS`] matches it.
fn rewritten(rest: &str) -> Option<String> {
    let segments: Vec<&str> = rest.split('/').collect();
    'forms: for (from, to) in FORMS {
        let pattern: Vec<&str> = from.split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut values = Vec::new();
        for (want, got) in pattern.iter().zip(&segments) {
            match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) if !got.is_empty() => values.push((name, *got)),
                Some(_) => continue 'forms,
                None if want == got => {}
                None => continue 'forms,
            }
        }
        // A host/port form only when the port is a number: `graceful-master-takeover/HINT/X`
        // is not one.
        if values.iter().any(|(name, value)| {
            matches!(*name, "p" | "dp") && !value.bytes().all(|b| b.is_ascii_digit())
        }) {
            continue;
        }
        let (path, query) = to.split_once('?').unwrap_or((to, ""));
        let fill = |template: &str, in_query: bool| {
            let mut out = template.to_string();
            for (name, value) in &values {
                let value = if in_query {
                    query_encode(&percent_decode(value))
                } else {
                    value.to_string()
                };
                out = out.replace(&format!("{{{name}}}"), &value);
            }
            out
        };
        let mut target = fill(path, false);
        if !query.is_empty() {
            target.push('?');
            target.push_str(&fill(query, true));
        }
        return Some(target);
    }
    None
}

fn set_uri<B>(request: &mut Request<B>, path: &str, query: Option<&str>) {
    let path_and_query = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(value) = path_and_query.parse() {
        parts.path_and_query = Some(value);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query value so that it decodes back to `text` (`=` is kept: a tag is
/// `name=value`, split at its first `=`).
fn query_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'=' | b':' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The answer to a path no route takes: 501 with why and what to use instead for the
/// orchestrator routes arbor does not build, else 404 "unknown path".
pub(crate) async fn unknown_path(uri: axum::http::Uri) -> crate::ApiError {
    let path = uri.path();
    let route = path
        .split_once("/api/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    match NOT_BUILT
        .iter()
        .find(|(name, _)| match name.strip_suffix('*') {
            Some(prefix) => route.starts_with(prefix),
            None => route == *name,
        }) {
        Some((_, why)) => crate::ApiError::NotImplemented(format!("{route}: {why}")),
        None => crate::ApiError::NotFound(format!("unknown path {path}")),
    }
}

/// orchestrator routes arbor deliberately does not build, with why and what to use instead:
/// answered 501 with that message, never "unknown path".
const NOT_BUILT: &[(&str, &str)] = &[
    ("match", PSEUDO_GTID),
    ("match-below", PSEUDO_GTID),
    ("match-up", PSEUDO_GTID),
    ("match-replicas", PSEUDO_GTID),
    ("match-slaves", PSEUDO_GTID),
    ("match-up-replicas", PSEUDO_GTID),
    ("match-up-slaves", PSEUDO_GTID),
    ("multi-match-replicas", PSEUDO_GTID),
    ("multi-match-slaves", PSEUDO_GTID),
    ("regroup-replicas-pgtid", PSEUDO_GTID),
    ("regroup-slaves-pgtid", PSEUDO_GTID),
    ("last-pseudo-gtid", PSEUDO_GTID),
    ("regroup-replicas-bls", BINLOG_SERVERS),
    ("regroup-slaves-bls", BINLOG_SERVERS),
    ("agent*", AGENTS),
    ("seeds", AGENTS),
    (
        "master-equivalent",
        "binlog coordinate equivalence is not kept: arbor moves replicas with \
      GTID, whose positions are the same on every server; use relocate or move-below-gtid",
    ),
    (
        "snapshot-topologies",
        "arbor keeps no topology history table: recoveries, successions and \
      the audit (audit-recovery, audit) record how topologies changed",
    ),
    (
        "raft-follower-health-report",
        "internal to orchestrator's own Raft: arbor's members report \
      through Raft itself (raft-status, raft-members)",
    ),
    ("register-hostname-unresolve", UNRESOLVE),
    ("deregister-hostname-unresolve", UNRESOLVE),
    (
        "reload-cluster-alias",
        "retired in orchestrator: arbor reads aliases at every poll \
      (DetectClusterAliasQuery, ClusterNameToAlias); set one with set-cluster-alias",
    ),
    ("discovery-metrics-*", METRICS),
    ("discovery-queue-metrics-*", METRICS),
    ("backend-query-metrics-*", METRICS),
    ("write-buffer-metrics-*", METRICS),
    (
        "instance-buffered-write-metrics-*",
        "removed from orchestrator (now write-buffer-metrics); \
      arbor serves its measurements for Prometheus at /metrics",
    ),
    (
        "long-queries",
        "removed from orchestrator: arbor does not sample the servers' process lists",
    ),
];

const UNRESOLVE: &str = "arbor does not resolve host names (HostnameResolveMethod), so there is \
     nothing to unresolve: servers are named as they report themselves and as configured";
const METRICS: &str = "arbor serves these measurements for Prometheus at /metrics \
     (arbor_probe_duration_seconds, arbor_probe_errors, arbor_discovery_queue_depth, \
     arbor_poll_overruns) instead of keeping raw samples";

const PSEUDO_GTID: &str = "Pseudo-GTID is not supported: arbor moves and recovers replicas with \
     GTID (MariaDB GTID, or MySQL gtid_mode=ON); use the -gtid routes (move-below-gtid, \
     move-replicas-gtid) or relocate";
const BINLOG_SERVERS: &str =
    "binlog servers are not supported: arbor regroups and recovers replicas with GTID";
const AGENTS: &str = "orchestrator-agent (seeding, LVM snapshots) is not supported: \
     provision replicas with your backup tooling, then discover them";

#[cfg(test)]
mod tests {
    use super::*;

    fn uri_after(uri: &str) -> String {
        let mut request = Request::builder().uri(uri).body(()).unwrap();
        rewrite(&mut request);
        request.uri().to_string()
    }

    #[test]
    fn orchestrators_forms_become_arbors() {
        assert_eq!(uri_after("/api/clusters/"), "/api/clusters");
        assert_eq!(uri_after("/api/search/db%20one"), "/api/search?s=db%20one");
        assert_eq!(
            uri_after("/api/cluster/alias/orders"),
            "/api/cluster/orders"
        );
        assert_eq!(
            uri_after("/api/cluster/instance/db1/3306"),
            "/api/cluster/db1:3306"
        );
        assert_eq!(
            uri_after("/api/tag/db1/3306/role/a+b"),
            "/api/tag/db1/3306?tag=role=a%2Bb"
        );
        assert_eq!(
            uri_after("/arbor/api/untag-all/role/x?x=1"),
            "/arbor/api/untag-all?tag=role=x&x=1"
        );
        assert_eq!(
            uri_after("/api/graceful-master-takeover/db1/3306/db2/3306"),
            "/api/graceful-master-takeover/db1:3306/db2/3306"
        );
        // Not a host/port form: arbor's own hint/designated form stays.
        assert_eq!(
            uri_after("/api/graceful-master-takeover/orders/db2/3306"),
            "/api/graceful-master-takeover/orders/db2/3306"
        );
        assert_eq!(uri_after("/api/cluster/orders"), "/api/cluster/orders");
        assert_eq!(uri_after("/web/clusters/"), "/web/clusters/");
    }
}
