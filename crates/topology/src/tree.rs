use std::collections::HashSet;
use std::fmt::Write;

use crate::{GtidKind, InstanceKey, InstanceRecord, InstanceStatus, Topology};

/// Renders a cluster as an indented ASCII tree, one line per instance, in the style of
/// orchestrator's `topology` command:
///
/// ```text
/// 127.0.0.1:23306     [0s,ok,10.11.6-MariaDB,rw,ROW,>>]
/// + 127.0.0.1:23307   [0s,ok,10.11.6-MariaDB,ro,ROW,>>,GTID]
///   + 127.0.0.1:23309 [0s,ok,10.11.6-MariaDB,ro,ROW,>>,GTID]
/// + 127.0.0.1:23308   [null,replication stopped,10.11.6-MariaDB,ro,ROW,>>,GTID]
/// ```
///
/// Each bracket holds: replication lag (`null` when the server reports none, `unknown` when
/// unreachable), status, version, `ro`/`rw`, binlog format, `>>` when the server logs what it
/// replicates (so it can serve as a source), and `GTID` when it replicates with GTID. A primary arbor has never read
/// is still drawn, as `unknown`, so its replicas hang where they belong.
pub fn render_tree(topology: &Topology, cluster_name: &str) -> String {
    render_tree_as(topology, cluster_name, &TreeStyle::default())
}

/// orchestrator's variants of the tree: `topology-tabulated` (the bracket's fields in aligned
/// columns separated by `|`) and `topology-tags` (each instance's tags after its line).
#[derive(Default)]
pub struct TreeStyle<'a> {
    pub tabulated: bool,
    /// Tags per instance, shown as `[name=value,...]` after the line (instances without tags
    /// show nothing).
    pub tags: Option<&'a std::collections::HashMap<InstanceKey, Vec<String>>>,
}

/// [`render_tree`] in a [`TreeStyle`].
pub fn render_tree_as(topology: &Topology, cluster_name: &str, style: &TreeStyle<'_>) -> String {
    let members = topology.cluster_members(cluster_name);
    let member_keys: HashSet<&InstanceKey> = members.iter().map(|r| r.key()).collect();

    let mut lines: Vec<Line> = Vec::new();
    let mut drawn: HashSet<InstanceKey> = HashSet::new();
    let root_key = cluster_name.parse::<InstanceKey>().ok();
    match root_key.as_ref().and_then(|key| topology.record(key)) {
        Some(root) if member_keys.contains(root.key()) => {
            draw(topology, root, 0, &mut lines, &mut drawn);
        }
        _ => {
            // The primary was never read: draw a placeholder and its known replicas under it.
            lines.push((
                0,
                cluster_name.to_string(),
                vec!["unknown".to_string(), "unknown".to_string()],
                String::new(),
            ));
            if let Some(root_key) = &root_key {
                for replica in topology.replicas_of(root_key) {
                    draw(topology, replica, 1, &mut lines, &mut drawn);
                }
            }
        }
    }
    // Members not reachable from the root by source links: former primaries kept in the
    // cluster that replaced them, below its primary; anything else at the top (a tree must
    // never hide an instance).
    for record in members {
        if !drawn.contains(record.key()) {
            let depth = usize::from(topology.kept(record.key()).is_some());
            draw(topology, record, depth, &mut lines, &mut drawn);
        }
    }

    let width = lines
        .iter()
        .map(|(depth, key, _, _)| indent_width(*depth) + key.len())
        .max()
        .unwrap_or(0);
    // Tabulated: each field's column as wide as its widest value.
    let mut columns: Vec<usize> = Vec::new();
    for (_, _, fields, _) in &lines {
        for (i, field) in fields.iter().enumerate() {
            if columns.len() <= i {
                columns.push(0);
            }
            columns[i] = columns[i].max(field.len());
        }
    }
    let mut out = String::new();
    for (depth, key, fields, suffix) in lines {
        let prefix = if depth == 0 {
            String::new()
        } else {
            format!("{}+ ", "  ".repeat(depth - 1))
        };
        let used = indent_width(depth) + key.len();
        let pad = " ".repeat(width - used);
        let details = if style.tabulated {
            let cells: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| format!("{f:<w$}", w = columns[i]))
                .collect();
            format!(" |{}{suffix}", cells.join("|"))
        } else {
            format!(" [{}]{suffix}", fields.join(","))
        };
        let tags = style
            .tags
            .and_then(|tags| key.parse::<InstanceKey>().ok().and_then(|k| tags.get(&k)))
            .filter(|t| !t.is_empty())
            .map(|t| format!(" [{}]", t.join(",")))
            .unwrap_or_default();
        let line = format!("{prefix}{key}{pad}{details}{tags}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// Depth, key, the bracket's fields, and what follows the bracket.
type Line = (usize, String, Vec<String>, String);

fn indent_width(depth: usize) -> usize {
    if depth == 0 {
        0
    } else {
        2 * depth
    }
}

fn draw(
    topology: &Topology,
    record: &InstanceRecord,
    depth: usize,
    lines: &mut Vec<Line>,
    drawn: &mut HashSet<InstanceKey>,
) {
    if !drawn.insert(record.key().clone()) {
        return; // co-primary rings loop back
    }
    let (fields, suffix) = details(topology, record);
    lines.push((depth, record.key().to_string(), fields, suffix));
    for replica in topology.replicas_of(record.key()) {
        draw(topology, replica, depth + 1, lines, drawn);
    }
}

fn details(topology: &Topology, record: &InstanceRecord) -> (Vec<String>, String) {
    let status = topology.status_of(record);
    let instance = &record.instance;
    let lag = match (status, &instance.replication) {
        (InstanceStatus::Unreachable | InstanceStatus::Unchecked, _) => "unknown".to_string(),
        (_, None) => "0s".to_string(),
        (_, Some(replication)) => match replication.seconds_behind_source {
            Some(lag) => format!("{lag}s"),
            None => "null".to_string(),
        },
    };
    let replaced = match topology.kept(record.key()) {
        Some(crate::Kept::FormerPrimary { replaced_by }) => {
            format!(" former primary, replaced by {replaced_by}")
        }
        Some(crate::Kept::Detached { from }) => format!(" detached from {from}"),
        None => String::new(),
    };
    if !record.has_been_seen() {
        return (vec![lag, status.label().to_string()], replaced);
    }
    let replaced = if topology.is_co_primary(record.key()) {
        format!("{replaced} co-primary")
    } else {
        replaced
    };
    // Multi-source: every named link, with its source.
    let named: Vec<String> = instance
        .replication
        .iter()
        .chain(&instance.other_links)
        .filter(|link| !link.connection_name.is_empty())
        .map(|link| format!("'{}' from {}", link.connection_name, link.source))
        .collect();
    let replaced = if named.is_empty() {
        replaced
    } else {
        format!("{replaced} multi-source: {}", named.join(", "))
    };
    let mut fields = vec![
        lag,
        status.label().to_string(),
        instance.version.clone(),
        if instance.read_only { "ro" } else { "rw" }.to_string(),
        instance.binlog_format.clone(),
    ];
    if instance.log_bin && instance.log_replica_updates {
        fields.push(">>".to_string());
    }
    // As orchestrator writes it: `GTID` on a replica that replicates with GTID positioning
    // (MySQL auto-position or MariaDB's), nothing on a primary.
    if instance
        .replication
        .as_ref()
        .is_some_and(|r| r.gtid_kind != GtidKind::None)
    {
        fields.push("GTID".to_string());
    }
    (fields, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::seen;
    use crate::{IoThreadState, TopologyOptions};

    #[test]
    fn both_members_of_a_co_primary_ring_are_marked() {
        let mut q = seen("q:1", Some("p:1"));
        q.instance.read_only = false;
        let mut p = seen("p:1", Some("q:1"));
        p.instance.read_only = false;
        let topology = Topology::new(
            vec![p, q, seen("r:1", Some("p:1"))],
            &TopologyOptions::default(),
        );
        let tree = render_tree(&topology, "p:1");
        let marked: Vec<&str> = tree
            .lines()
            .filter(|l| l.ends_with(" co-primary"))
            .collect();
        assert_eq!(marked.len(), 2, "{tree}");
        assert!(
            !tree
                .lines()
                .any(|l| l.contains("r:1") && l.contains("co-primary")),
            "{tree}"
        );
    }

    #[test]
    fn a_multi_source_replica_names_its_other_sources() {
        let mut m = seen("m:1", Some("p:1"));
        let mut other = m.instance.replication.clone().unwrap();
        other.source = "q:1".parse().unwrap();
        other.connection_name = "billing".into();
        m.instance.other_links = vec![other];
        let topology = Topology::new(
            vec![seen("p:1", None), m, seen("q:1", None)],
            &TopologyOptions::default(),
        );
        let tree = render_tree(&topology, "p:1");
        assert!(
            tree.contains(
                "+ m:1 [0s,ok,10.11.6-MariaDB-log,ro,ROW,>>,GTID] multi-source: 'billing' from q:1"
            ),
            "{tree}"
        );
    }

    #[test]
    fn draws_replicas_indented_under_their_source() {
        let mut r2 = seen("r2:1", Some("p:1"));
        let replication = r2.instance.replication.as_mut().unwrap();
        replication.io_thread = IoThreadState::Stopped;
        replication.sql_thread_running = false;
        replication.seconds_behind_source = None;
        let topology = Topology::new(
            vec![
                seen("p:1", None),
                seen("r1:1", Some("p:1")),
                r2,
                seen("r3:1", Some("r1:1")),
            ],
            &TopologyOptions::default(),
        );
        let tree = render_tree(&topology, "p:1");
        let expected = "\
p:1      [0s,ok,10.11.6-MariaDB-log,rw,ROW,>>]
+ r1:1   [0s,ok,10.11.6-MariaDB-log,ro,ROW,>>,GTID]
  + r3:1 [0s,ok,10.11.6-MariaDB-log,ro,ROW,>>,GTID]
+ r2:1   [null,replication stopped,10.11.6-MariaDB-log,ro,ROW,>>,GTID]
";
        assert_eq!(tree, expected);
    }

    #[test]
    fn the_tabulated_tree_aligns_fields_in_columns_and_tags_follow_their_line() {
        let mut r2 = seen("r2:1", Some("p:1"));
        let replication = r2.instance.replication.as_mut().unwrap();
        replication.sql_thread_running = false;
        replication.seconds_behind_source = None;
        let topology = Topology::new(
            vec![seen("p:1", None), seen("r1:1", Some("p:1")), r2],
            &TopologyOptions::default(),
        );
        let style = TreeStyle {
            tabulated: true,
            ..TreeStyle::default()
        };
        let expected = "\
p:1    |0s  |ok                 |10.11.6-MariaDB-log|rw|ROW|>>
+ r1:1 |0s  |ok                 |10.11.6-MariaDB-log|ro|ROW|>>|GTID
+ r2:1 |null|replication stopped|10.11.6-MariaDB-log|ro|ROW|>>|GTID
";
        assert_eq!(render_tree_as(&topology, "p:1", &style), expected);

        let tags = std::collections::HashMap::from([(
            "r1:1".parse().unwrap(),
            vec!["role=backup".to_string(), "dc=b".to_string()],
        )]);
        let style = TreeStyle {
            tags: Some(&tags),
            ..TreeStyle::default()
        };
        let tree = render_tree_as(&topology, "p:1", &style);
        let lines: Vec<&str> = tree.lines().collect();
        assert!(lines[0].ends_with(">>]"), "{tree}");
        assert!(lines[1].ends_with("GTID] [role=backup,dc=b]"), "{tree}");
    }

    #[test]
    fn a_lost_former_primary_is_drawn_in_the_cluster_that_replaced_it() {
        let mut old = seen("p:1", None);
        old.last_checked = Some(crate::Timestamp(99));
        let successions = [crate::Succession {
            former: "p:1".parse().unwrap(),
            successor: "r1:1".parse().unwrap(),
            at: crate::Timestamp(50),
        }];
        let topology = Topology::new(
            vec![old, seen("r1:1", None), seen("r2:1", Some("r1:1"))],
            &TopologyOptions {
                successions: &successions,
                ..TopologyOptions::default()
            },
        );
        assert_eq!(topology.cluster_names(), vec!["r1:1"]);
        let tree = render_tree(&topology, "r1:1");
        let expected = "\
r1:1   [0s,ok,10.11.6-MariaDB-log,rw,ROW,>>]
+ r2:1 [0s,ok,10.11.6-MariaDB-log,ro,ROW,>>,GTID]
+ p:1  [unknown,unreachable,10.11.6-MariaDB-log,rw,ROW,>>] former primary, replaced by r1:1
";
        assert_eq!(tree, expected);
    }

    #[test]
    fn an_unreachable_server_keeps_its_place_and_an_unread_primary_is_drawn() {
        let mut r1 = seen("r1:1", Some("p:1"));
        r1.last_checked = Some(crate::Timestamp(99));
        r1.last_error = "connection refused".into();
        let topology = Topology::new(
            vec![r1, seen("r3:1", Some("r1:1"))],
            &TopologyOptions::default(),
        );
        let tree = render_tree(&topology, "p:1");
        let expected = "\
p:1      [unknown,unknown]
+ r1:1   [unknown,unreachable,10.11.6-MariaDB-log,ro,ROW,>>,GTID]
  + r3:1 [0s,ok,10.11.6-MariaDB-log,ro,ROW,>>,GTID]
";
        assert_eq!(tree, expected);
    }
}
