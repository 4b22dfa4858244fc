// arbor's web UI: a few pages over the JSON API, redrawn every few seconds.
// Plain JavaScript with no build step, so the binary embeds it as it is.
"use strict";

const REFRESH_MS = 5000;
// URLPrefix, when arbor is served under a path (the server fills the page's meta tag).
const PREFIX = (document.querySelector('meta[name="arbor-prefix"]') || {}).content || "";
const app = document.getElementById("app");

function el(tag, attrs, ...children) {
  const svgTags = ["svg", "g", "rect", "text", "path", "a"];
  const inSvg = attrs && attrs.svg;
  const node = inSvg && svgTags.includes(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "svg") continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

async function api(path) {
  const response = await fetch(PREFIX + "/api/" + path, { credentials: "same-origin" });
  const body = await response.json().catch(() => null);
  if (!response.ok || (body && body.Code === "ERROR")) {
    throw new Error((body && body.Message) || ("HTTP " + response.status));
  }
  return body;
}

const keyOf = (k) => k.Hostname + ":" + k.Port;
const statusClass = (s) => "status-" + String(s || "unknown").replace(/ /g, "-");
const lagOf = (i) => {
  if (!i.IsLastCheckValid) return "unknown";
  if (!i.MasterKey || !i.MasterKey.Hostname) return "0s";
  return i.SecondsBehindMaster.Valid ? i.SecondsBehindMaster.Int64 + "s" : "null";
};
const badge = (status) => el("span", { class: "badge " + statusClass(status), text: status });
const link = (href, text) => el("a", { href, text });
const pathOf = (key) => key.replace(/:(\d+)$/, "/$1");

// Actions change servers: each is shown, with the request it sends, and runs only on
// confirmation. Its outcome, success or error, is shown, never swallowed.
let busy = false;
function action(description, path) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = description;
  document.getElementById("confirm-request").textContent = "POST " + PREFIX + "/api/" + path;
  busy = true;
  dialog.onclose = async () => {
    if (dialog.returnValue !== "run") {
      busy = false;
      return;
    }
    const result = document.getElementById("action-result");
    result.className = "";
    result.textContent = "Running: " + description + "…";
    try {
      const response = await fetch(PREFIX + "/api/" + path, {
        method: "POST",
        credentials: "same-origin",
        // A header a cross-site form cannot send: arbor refuses changes from other sites.
        headers: { "X-Arbor-Request": "ui" },
      });
      const body = await response.json().catch(() => null);
      if (!response.ok || (body && body.Code === "ERROR")) {
        throw new Error((body && body.Message) || ("HTTP " + response.status));
      }
      result.className = "ok";
      result.textContent = "Done: " + ((body && body.Message) || description);
    } catch (error) {
      result.className = "failed";
      result.textContent = "Failed: " + description + ": " + error.message;
    }
    busy = false;
    render();
  };
  dialog.returnValue = "";
  dialog.showModal();
}

async function clustersPage() {
  const [clusters, problemsOrNull] = await Promise.all([api("clusters-info"), api("problems")]);
  // orchestrator's shape: null when nothing has a problem.
  const problems = problemsOrNull || [];
  const problemCount = {};
  for (const p of problems) problemCount[p.ClusterName] = (problemCount[p.ClusterName] || 0) + 1;
  const rows = clusters.map((c) => {
    const unreachable = c.ArborCountUnreachableInstances;
    const troubled = problemCount[c.ClusterName] || 0;
    const health = unreachable > 0 ? "unreachable" : troubled > 0 ? "broken" : "ok";
    const healthText = health === "ok" ? "healthy"
      : `${troubled} with problems` + (unreachable ? `, ${unreachable} unreachable` : "");
    return el("tr", { "data-cluster": c.ClusterName },
      el("td", {}, link(PREFIX + "/web/cluster/" + encodeURIComponent(c.ClusterName), c.ClusterAlias)),
      el("td", { text: c.ClusterName }),
      el("td", { text: String(c.CountInstances) }),
      el("td", {}, el("span", { class: "badge " + statusClass(health), text: healthText })));
  });
  return [
    el("h1", { text: "Clusters" }),
    clusters.length === 0
      ? el("p", { class: "muted", text: "No cluster known yet: discover a server (arbor discover HOST:PORT)." })
      : el("table", {},
          el("tr", {}, ...["Cluster", "Primary", "Instances", "Health"].map((h) => el("th", { text: h }))),
          ...rows),
  ];
}

// Lays a forest out top-down: leaves take consecutive columns, parents sit over the middle of
// their children. Enough for replication trees, which are shallow and wide.
function layout(roots) {
  let column = 0;
  const place = (node, depth, seen) => {
    node.depth = depth;
    const children = node.children.filter((c) => !seen.has(c.key));
    children.forEach((c) => seen.add(c.key));
    node.shown = children;
    if (children.length === 0) node.column = column++;
    else {
      children.forEach((c) => place(c, depth + 1, seen));
      node.column = (children[0].column + children[children.length - 1].column) / 2;
    }
  };
  const seen = new Set(roots.map((r) => r.key));
  roots.forEach((r) => place(r, 0, seen));
  return column;
}

function buildForest(instances) {
  const nodes = new Map();
  for (const i of instances) {
    nodes.set(keyOf(i.Key), { key: keyOf(i.Key), instance: i, children: [] });
  }
  const roots = [];
  for (const node of [...nodes.values()]) {
    const source = node.instance.MasterKey && node.instance.MasterKey.Hostname
      ? keyOf(node.instance.MasterKey) : null;
    if (source && !nodes.has(source)) {
      // A source arbor never read: drawn as unknown so its replicas hang where they belong.
      nodes.set(source, { key: source, instance: null, children: [] });
      roots.push(nodes.get(source));
    }
    if (source) nodes.get(source).children.push(node);
    else roots.push(node);
  }
  // Co-primary rings have no root: start from the writable member.
  if (roots.length === 0 && nodes.size > 0) {
    const writable = [...nodes.values()].find((n) => n.instance && !n.instance.ReadOnly);
    roots.push(writable || nodes.values().next().value);
  }
  for (const n of nodes.values()) n.children.sort((a, b) => a.key.localeCompare(b.key));
  return roots;
}

// The version, then what the replication of a box is like beyond its status: co-primary,
// semi-sync sides, a MASTER_DELAY, multi-source links.
function traitsOf(i) {
  const traits = [i.Version || ""];
  if (i.IsCoMaster) traits.push("co-primary");
  if (i.SemiSyncMasterEnabled) traits.push(i.SemiSyncMasterStatus ? "semi-sync primary" : "semi-sync primary (async now)");
  if (i.SemiSyncReplicaEnabled) traits.push("semi-sync replica");
  if (i.SQLDelay > 0) traits.push("delayed " + i.SQLDelay + "s");
  const links = i.ArborSourceConnections || [];
  if (links.length) traits.push("multi-source: " + links.map((l) => l.ConnectionName || "default").join(", "));
  return traits.filter((t) => t).join(" · ");
}

function drawTree(instances) {
  const roots = buildForest(instances);
  const columns = Math.max(layout(roots), 1);
  const W = 250, H = 70, GAP_X = 20, GAP_Y = 46, PAD = 16;
  let maxDepth = 0;
  const all = [];
  const walk = (n) => { all.push(n); maxDepth = Math.max(maxDepth, n.depth); n.shown.forEach(walk); };
  roots.forEach(walk);
  const width = PAD * 2 + columns * (W + GAP_X);
  const height = PAD * 2 + (maxDepth + 1) * (H + GAP_Y);
  const svg = el("svg", { svg: true, class: "tree", width, height, viewBox: `0 0 ${width} ${height}` });
  const pos = (n) => [PAD + n.column * (W + GAP_X), PAD + n.depth * (H + GAP_Y)];
  for (const n of all) {
    const [x, y] = pos(n);
    for (const c of n.shown) {
      const [cx, cy] = pos(c);
      const d = `M${x + W / 2},${y + H} C${x + W / 2},${y + H + GAP_Y / 2} ${cx + W / 2},${cy - GAP_Y / 2} ${cx + W / 2},${cy}`;
      svg.append(el("path", { svg: true, class: "edge", d }));
    }
  }
  for (const n of all) {
    const [x, y] = pos(n);
    const i = n.instance;
    const status = i ? i.ArborStatus : "unknown";
    const classes = ["node", statusClass(status)];
    if (i && i.IsDowntimed) classes.push("downtimed");
    const label = i
      ? [status, "lag " + lagOf(i), i.ReadOnly ? "ro" : "rw"]
          .concat(i.IsDowntimed ? ["downtimed"] : [])
          .concat(i.ArborMaintenanceOwner ? ["maintenance"] : [])
          .join(" · ")
      : "never read";
    const group = el("g", { svg: true, class: classes.join(" "), "data-key": n.key, "data-status": status,
      transform: `translate(${x},${y})` },
      el("rect", { svg: true, width: W, height: H }),
      el("rect", { svg: true, class: "band", width: 6, height: H }),
      el("text", { svg: true, class: "key", x: 14, y: 20, text: n.key }),
      el("text", { svg: true, class: "label", x: 14, y: 39, text: label }),
      el("text", { svg: true, class: "traits", x: 14, y: 57, text: i ? traitsOf(i) : "" }));
    if (i && i.ArborMaintenanceOwner) group.classList.add("maintenance");
    svg.append(group);
  }
  enableDragToRelocate(svg);
  return svg;
}

// Dragging an instance onto another proposes to relocate it below that one; a click opens the
// instance's page.
function enableDragToRelocate(svg) {
  let dragged = null;
  const nodeAt = (event) => {
    const hit = document.elementFromPoint(event.clientX, event.clientY);
    return hit && hit.closest ? hit.closest("g.node") : null;
  };
  svg.addEventListener("pointerdown", (event) => {
    const node = event.target.closest("g.node");
    if (!node) return;
    dragged = node;
    busy = true;
    node.classList.add("dragging");
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => {
    if (!dragged) return;
    svg.querySelectorAll("g.node.drop-target").forEach((n) => n.classList.remove("drop-target"));
    const over = nodeAt(event);
    if (over && over !== dragged) over.classList.add("drop-target");
  });
  window.addEventListener("pointerup", (event) => {
    if (!dragged) return;
    const source = dragged.dataset.key;
    const target = nodeAt(event);
    dragged.classList.remove("dragging");
    svg.querySelectorAll("g.node.drop-target").forEach((n) => n.classList.remove("drop-target"));
    dragged = null;
    busy = false;
    if (!target || !target.dataset.key) return;
    if (target.dataset.key === source) {
      location.href = PREFIX + "/web/instance/" + pathOf(source);
      return;
    }
    action("Relocate " + source + " below " + target.dataset.key,
      "relocate/" + pathOf(source) + "/" + pathOf(target.dataset.key));
  });
}

async function clusterPage(name) {
  const [instances, info] = await Promise.all([
    api("cluster/" + encodeURIComponent(name)),
    api("cluster-info/" + encodeURIComponent(name)),
  ]);
  const legend = el("p", { class: "legend" },
    ...["ok", "lagging", "replication stopped", "broken", "unreachable"].map((s) => el("span", {}, badge(s))));
  return [
    el("h1", { text: `Cluster ${info.ClusterAlias}` + (info.ClusterAlias !== info.ClusterName ? ` (${info.ClusterName})` : "") }),
    el("p", { class: "muted", text: `${info.CountInstances} instances, largest lag ${info.HeuristicLag}s` }),
    legend,
    el("p", { class: "hint", text: "Drag an instance onto another to relocate it below that one; click it for its page and actions." }),
    drawTree(instances),
  ];
}

async function instancePage(host, port) {
  const i = await api(`instance/${encodeURIComponent(host)}/${port}`);
  const row = (name, value) => el("tr", {}, el("th", { text: name }), el("td", {}, value));
  const text = (v) => document.createTextNode(v == null ? "" : String(v));
  const source = i.MasterKey && i.MasterKey.Hostname ? keyOf(i.MasterKey) : "";
  const key = keyOf(i.Key);
  const path = pathOf(key);
  const buttons = [];
  const button = (label, description, route) => {
    const b = el("button", { type: "button", "data-action": route.split("/")[0], text: label });
    b.addEventListener("click", () => action(description, route));
    buttons.push(b);
  };
  if (i.IsDowntimed) button("End downtime", "End the downtime of " + key, "end-downtime/" + path);
  else button("Downtime 1h", "Downtime " + key + " for an hour (no automated recovery)", "begin-downtime/" + path + "/webui/downtime/1h");
  if (i.ArborMaintenanceOwner) button("End maintenance", "Release the maintenance lock of " + key, "end-maintenance/" + path);
  else button("Begin maintenance", "Lock " + key + " for maintenance", "begin-maintenance/" + path + "/webui/maintenance");
  if (source) {
    if (i.ReplicationIOThreadRuning || i.ReplicationSQLThreadRuning) button("Stop replication", "Stop replication on " + key, "stop-replica/" + path);
    else button("Start replication", "Start replication on " + key, "start-replica/" + path);
    if (i.ReplicationDepth === 1) {
      button("Promote (graceful takeover)", "Make " + key + " the primary of " + i.ClusterName + "; the old primary replicates from it",
        "graceful-master-takeover-auto/" + encodeURIComponent(i.ClusterName) + "/" + path);
    }
  }
  if (i.ReadOnly) button("Set writeable", "Unset read_only on " + key, "set-writeable/" + path);
  else button("Set read-only", "Set read_only on " + key, "set-read-only/" + path);
  if (!i.IsLastCheckValid || i.Problems.length) button("Recover", "Recover the failure of " + key, "recover/" + path);
  return [
    el("h1", { text: keyOf(i.Key) }),
    el("div", { class: "actions" }, ...buttons),
    el("table", { id: "instance" },
      row("Status", badge(i.ArborStatus)),
      row("Cluster", link(PREFIX + "/web/cluster/" + encodeURIComponent(i.ClusterName), i.ClusterName)),
      row("Version", text(`${i.Version} (${i.FlavorName})`)),
      row("Server ID", text(i.ServerID)),
      row("Read only", text(i.ReadOnly)),
      row("Binary log", text(`${i.LogBinEnabled ? "on" : "off"} ${i.Binlog_format}` + (i.LogReplicationUpdatesEnabled ? ", logs replica updates" : ""))),
      row("Own position", text(i.SelfBinlogCoordinates.LogFile ? `${i.SelfBinlogCoordinates.LogFile}:${i.SelfBinlogCoordinates.LogPos}` : "")),
      row("Source", source ? link(PREFIX + "/web/instance/" + source.replace(/:(\d+)$/, "/$1"), source) : text("none (primary)")),
      row("IO thread", text(source ? (i.ReplicationIOThreadRuning ? "running" : "not running") : "")),
      row("SQL thread", text(source ? (i.ReplicationSQLThreadRuning ? "running" : "not running") : "")),
      row("Lag", text(lagOf(i))),
      row("Using GTID", text(i.UsingMariaDBGTID ? "MariaDB GTID" : i.UsingOracleGTID ? "GTID auto-position" : "no")),
      row("GTID executed", text(i.ExecutedGtidSet)),
      row("Exec position", text(i.ExecBinlogCoordinates.LogFile ? `${i.ExecBinlogCoordinates.LogFile}:${i.ExecBinlogCoordinates.LogPos}` : "")),
      row("Last IO error", text(i.LastIOError)),
      row("Last SQL error", text(i.LastSQLError)),
      row("Replicas", text(i.Replicas.map(keyOf).join(", "))),
      row("Problems", text(i.Problems.join(", "))),
      row("Last seen", text(i.LastSeenTimestamp)),
      row("Last check error", text(i.ArborLastCheckError)),
      row("Maintenance", text(i.ArborMaintenanceOwner ? "locked by " + i.ArborMaintenanceOwner : "")),
      row("Downtime", text(i.IsDowntimed ? i.DowntimeOwner + ": " + i.DowntimeReason + " until " + i.DowntimeEndTimestamp : ""))),
  ];
}

async function problemsPage() {
  const [analysis, problemsOrNull] = await Promise.all([api("replication-analysis"), api("problems")]);
  const problems = problemsOrNull || [];
  const analyses = analysis.Details;
  return [
    el("h1", { text: "Analyses" }),
    analyses.length === 0
      ? el("p", { class: "muted", text: "No failure analysed." })
      : el("table", { id: "analyses" },
          el("tr", {}, ...["Instance", "Cluster", "Analysis", "Description", "Structure", "Action"].map((h) => el("th", { text: h }))),
          ...analyses.map((a) => el("tr", { "data-analysis": a.Analysis, "data-key": keyOf(a.AnalyzedInstanceKey) },
            el("td", {}, link(PREFIX + "/web/instance/" + a.AnalyzedInstanceKey.Hostname + "/" + a.AnalyzedInstanceKey.Port, keyOf(a.AnalyzedInstanceKey))),
            el("td", {}, link(PREFIX + "/web/cluster/" + encodeURIComponent(a.ClusterDetails.ClusterName), a.ClusterDetails.ClusterAlias)),
            el("td", {}, el("span", { class: "badge " + (a.IsActionableRecovery ? "status-broken" : "status-lagging"), text: a.Analysis })),
            el("td", { text: a.Description }),
            el("td", { text: (a.StructureAnalysis || []).join(", ") }),
            el("td", { text: a.IsActionableRecovery ? "recovery" : "" })))),
    el("h1", { text: "Instances with problems" }),
    problems.length === 0
      ? el("p", { class: "muted", text: "No problems." })
      : el("table", { id: "problems" },
          el("tr", {}, ...["Instance", "Cluster", "Status", "Problems", "Error"].map((h) => el("th", { text: h }))),
          ...problems.map((i) => el("tr", { "data-key": keyOf(i.Key) },
            el("td", {}, link(PREFIX + "/web/instance/" + i.Key.Hostname + "/" + i.Key.Port, keyOf(i.Key))),
            el("td", { text: i.ClusterName }),
            el("td", {}, badge(i.ArborStatus)),
            el("td", { text: i.Problems.join(", ") }),
            el("td", { text: i.ArborLastCheckError || i.LastIOError || i.LastSQLError }))))
  ];
}

// What automated recovery will do: the global switch, and which clusters the filters
// (RecoverMasterClusterFilters) let arbor recover without an operator.
function automatedRecoveryText(globalState, clusters) {
  if (globalState !== "enabled") {
    return "Automated recoveries are disabled globally: no cluster is recovered without an operator.";
  }
  const matched = clusters.filter((c) => c.HasAutomatedMasterRecovery).length;
  if (matched === 0) {
    return "Automated recoveries are enabled globally, but no cluster matches RecoverMasterClusterFilters: no primary is recovered without an operator.";
  }
  return "Automated recoveries are enabled for " + matched + " of " + clusters.length +
    " cluster" + (clusters.length === 1 ? "" : "s") + " (RecoverMasterClusterFilters).";
}

async function recoveriesPage() {
  const [recoveries, global, clusters] = await Promise.all([
    api("audit-recovery"), api("check-global-recoveries"), api("clusters-info")]);
  const list = recoveries;
  const rows = [];
  for (const r of list) {
    const failed = r.AnalysisEntry.AnalyzedInstanceKey;
    const outcome = r.IsActive ? "running" : r.IsSuccessful ? "successful" : "failed";
    rows.push(el("tr", { "data-recovery": String(r.Id), "data-outcome": outcome },
      el("td", { text: String(r.Id) }),
      el("td", { text: r.RecoveryStartTimestamp }),
      el("td", { text: r.AnalysisEntry.ClusterDetails.ClusterName }),
      el("td", {}, link(PREFIX + "/web/instance/" + failed.Hostname + "/" + failed.Port, keyOf(failed))),
      el("td", { text: r.AnalysisEntry.Analysis }),
      el("td", { text: r.SuccessorKey ? keyOf(r.SuccessorKey) : "" }),
      el("td", {}, el("span", { class: "badge " + (outcome === "successful" ? "status-ok" : outcome === "running" ? "status-lagging" : "status-broken"), text: outcome })),
      el("td", { text: r.LostReplicas.map(keyOf).join(", ") }),
      el("td", { text: r.Acknowledged ? "by " + r.AcknowledgedBy : "no" })));
    rows.push(el("tr", { class: "steps" }, el("td", { colspan: "9" },
      el("details", {}, el("summary", { text: r.ArborSteps.length + " steps" + (r.AllErrors.length ? ", " + r.AllErrors.length + " errors" : "") }),
        el("pre", { text: r.ArborSteps.map((s) => s.AuditAt + "  " + s.Message).concat(r.AllErrors.map((e) => "error: " + e)).join("\n") })))));
  }
  return [
    el("h1", { text: "Recoveries" }),
    el("p", { class: "muted", id: "automated-recovery", text: automatedRecoveryText(global.Details, clusters) }),
    list.length === 0
      ? el("p", { class: "muted", text: "No recovery yet." })
      : el("table", { id: "recoveries" },
          el("tr", {}, ...["#", "Started", "Cluster", "Failed", "Analysis", "Successor", "Outcome", "Lost", "Acknowledged"].map((h) => el("th", { text: h }))),
          ...rows),
  ];
}

// The arbor nodes themselves: who leads, who is healthy, how far each has applied the log.
async function haPage() {
  const response = await fetch(PREFIX + "/api/raft-members", { credentials: "same-origin" });
  if (response.status === 404) {
    const status = await api("status");
    const nodes = status.Details.AvailableNodes;
    if (!nodes) {
      return [el("h1", { text: "High availability" }),
        el("p", { class: "muted", id: "single-node", text: "This arbor runs as a single node (neither Raft nor a shared backend): it is its own leader." })];
    }
    const leader = nodes.find((n) => n.ArborIsLeader);
    return [
      el("h1", { text: "High availability" }),
      el("p", { id: "ha-summary", text: "Shared backend. " + (leader
        ? "Leader: " + leader.Hostname + " (" + leader.ArborAPI + "). "
        : "No node holds the lease. ") + nodes.filter((n) => n.ArborActive).length + " of " + nodes.length + " nodes active." }),
      el("table", { id: "members" },
        el("tr", {}, ...["Node", "Role", "Active", "First seen", "Last seen", "API"].map((h) => el("th", { text: h }))),
        ...nodes.map((n) => el("tr", { "data-node": n.Hostname, "data-role": n.ArborIsLeader ? "Leader" : "Follower" },
          // AvailableNodes name each node by its unique name, which /api/status calls Token.
          el("td", { text: n.Hostname + (n.Hostname === status.Details.Token ? " (this node)" : "") }),
          el("td", {}, el("span", { class: "badge status-ok", text: n.ArborIsLeader ? "Leader" : "Follower" })),
          el("td", {}, el("span", { class: "badge " + (n.ArborActive ? "status-ok" : "status-broken"), text: n.ArborActive ? "active" : "gone" })),
          el("td", { text: n.FirstSeenActive }),
          el("td", { text: n.LastSeenActive }),
          el("td", {}, link(n.ArborAPI + PREFIX + "/web/ha", n.ArborAPI))))),
    ];
  }
  const body = await response.json().catch(() => null);
  if (!response.ok || !body) throw new Error((body && body.Message) || ("HTTP " + response.status));
  const members = body.Members;
  const leader = members.map((m) => m.status).find((s) => s && s.state === "Leader" && s.is_acting_leader);
  const rows = members.map((m) => {
    const s = m.status;
    const role = s ? s.state : "unreachable";
    const healthy = s && s.leader_id != null;
    return el("tr", { "data-member": m.addr, "data-role": role },
      el("td", { text: m.addr + (m.id === body.Self ? " (this node)" : "") }),
      el("td", {}, el("span", { class: "badge " + (role === "Leader" || role === "Follower" ? "status-ok" : s ? "status-lagging" : "status-broken"), text: role })),
      el("td", { text: s ? (s.is_acting_leader ? "yes" : "no") : "" }),
      el("td", { text: s ? String(s.term) : "" }),
      el("td", { text: s && s.leader ? s.leader : "none" }),
      el("td", { text: s ? String(s.last_log_index ?? "") + " / " + String(s.last_applied_index ?? "") : "" }),
      el("td", {}, el("span", { class: "badge " + (healthy ? "status-ok" : "status-broken"), text: healthy ? "healthy" : "unhealthy" })),
      el("td", { text: m.reachable ? "answered in " + m.round_trip_ms.toFixed(1) + " ms" : (m.error || "no answer") }),
      el("td", {}, m.api ? link(m.api + PREFIX + "/web/ha", m.api) : null));
  });
  return [
    el("h1", { text: "High availability" }),
    el("p", { id: "ha-summary", text: leader
      ? "Leader: " + leader.advertise + ", term " + leader.term + ". " + members.filter((m) => m.reachable).length + " of " + members.length + " members answer."
      : "No acting leader: the group is electing one, or too few members are up." }),
    el("table", { id: "members" },
      el("tr", {}, ...["Member", "Role", "Acting", "Term", "Leader it follows", "Log / applied", "Health", "Last contact", "API"].map((h) => el("th", { text: h }))),
      ...rows),
  ];
}

function route() {
  const path = location.pathname.startsWith(PREFIX) ? location.pathname.slice(PREFIX.length) : location.pathname;
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "web" && parts[1] === "cluster" && parts[2]) return () => clusterPage(parts[2]);
  if (parts[0] === "web" && parts[1] === "instance" && parts[3]) return () => instancePage(parts[2], parts[3]);
  if (parts[0] === "web" && parts[1] === "problems") return problemsPage;
  if (parts[0] === "web" && parts[1] === "audit-recovery") return recoveriesPage;
  if (parts[0] === "web" && parts[1] === "ha") return haPage;
  return clustersPage;
}

async function render() {
  try {
    const content = await route()();
    app.replaceChildren(...content);
    document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (error) {
    app.replaceChildren(el("p", { class: "error", text: "Cannot load: " + error.message }));
  }
}

render();
// No refresh under a drag or an open confirmation: redrawing would pull the node away.
setInterval(() => { if (!busy) render(); }, REFRESH_MS);
