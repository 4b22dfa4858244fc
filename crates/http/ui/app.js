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
  return i.SecondsBehindMaster.Valid ? i.SecondsBehindMaster.Int64 + "s" : "unknown";
};
const badge = (status) => el("span", { class: "badge " + statusClass(status), text: status });
const link = (href, text) => el("a", { href, text });
const pathOf = (key) => key.replace(/:(\d+)$/, "/$1");

// The outcome of the last action, success or error, shown above the page until the next one.
function showResult(className, text) {
  const result = document.getElementById("action-result");
  result.className = className;
  result.textContent = text;
}

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
    showResult("", "Running: " + description + "…");
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
      showResult("ok", "Done: " + ((body && body.Message) || description));
    } catch (error) {
      showResult("failed", "Failed: " + description + ": " + error.message);
    }
    busy = false;
    render();
  };
  dialog.returnValue = "";
  dialog.showModal();
}

// What the search box holds, kept across the page's refreshes.
let clusterFilter = "";

// How large a cluster's lag is: unknown while any replica's lag cannot be known.
function clusterLag(c) {
  if (c.ArborCountUnknownLagReplicas > 0) return "unknown (" + c.ArborCountUnknownLagReplicas + " replica" + (c.ArborCountUnknownLagReplicas === 1 ? "" : "s") + ")";
  return c.HeuristicLag + "s";
}

function discoverForm() {
  const input = el("input", { id: "discover-key", type: "text", placeholder: "host:port", "aria-label": "Server to discover" });
  const form = el("form", { id: "discover", class: "inline" },
    el("label", { for: "discover-key", text: "Discover a server " }), input,
    el("button", { type: "submit", text: "Discover" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!/^[^\s/:]+:\d+$/.test(key)) {
      showResult("failed", "Discover: give the server as host:port");
      return;
    }
    action("Discover " + key + " and everything that replicates with it", "discover/" + pathOf(key));
  });
  return form;
}

async function clustersPage() {
  const [clusters, problemsOrNull, global] = await Promise.all([
    api("clusters-info"), api("problems"), api("check-global-recoveries")]);
  // orchestrator's shape: null when nothing has a problem.
  const problems = problemsOrNull || [];
  const problemCount = {};
  for (const p of problems) problemCount[p.ClusterName] = (problemCount[p.ClusterName] || 0) + 1;
  const globallyOn = global.Details === "enabled";
  const rows = clusters.map((c) => {
    const unreachable = c.ArborCountUnreachableInstances;
    const troubled = problemCount[c.ClusterName] || 0;
    const health = unreachable > 0 ? "unreachable" : troubled > 0 ? "broken" : "ok";
    const healthText = health === "ok" ? "healthy"
      : (unreachable ? unreachable + " unreachable" : troubled + " with problems");
    const automated = !globallyOn ? "off (disabled globally)"
      : c.HasAutomatedMasterRecovery ? (c.HasAutomatedIntermediateMasterRecovery ? "on" : "primary only")
      : c.HasAutomatedIntermediateMasterRecovery ? "intermediate only" : "off (filters)";
    const row = el("tr", { "data-cluster": c.ClusterName },
      el("td", {}, link(PREFIX + "/web/cluster/" + encodeURIComponent(c.ClusterName), c.ClusterAlias)),
      el("td", {}, link(PREFIX + "/web/instance/" + pathOf(c.ClusterName), c.ClusterName)),
      el("td", { text: c.ArborPrimaryVersion ? c.ArborPrimaryFlavor + " " + c.ArborPrimaryVersion : "unknown" }),
      el("td", { class: "number", text: String(c.CountInstances) }),
      el("td", { class: "number", text: clusterLag(c) }),
      el("td", { class: "number", text: String(troubled) }),
      el("td", {}, el("span", { class: "badge " + (automated === "on" ? "status-ok" : "status-unknown"), "data-automated": automated, text: automated })),
      el("td", {}, el("span", { class: "badge " + statusClass(health), text: healthText })));
    row.hidden = clusterFilter !== "" && row.textContent.toLowerCase().indexOf(clusterFilter) < 0;
    return row;
  });
  const search = el("input", { id: "cluster-search", type: "search", placeholder: "alias, server, version", "aria-label": "Search clusters", value: clusterFilter });
  search.addEventListener("input", () => {
    clusterFilter = search.value.trim().toLowerCase();
    for (const row of rows) row.hidden = clusterFilter !== "" && row.textContent.toLowerCase().indexOf(clusterFilter) < 0;
  });
  return [
    el("h1", { text: "Clusters" }),
    el("div", { class: "toolbar" }, el("label", {}, "Search ", search), discoverForm()),
    clusters.length === 0
      ? el("p", { class: "muted", text: "No cluster known yet: discover a server above, or with arbor discover HOST:PORT." })
      : el("table", { id: "clusters" },
          el("tr", {}, ...["Cluster", "Primary", "Version", "Instances", "Largest lag", "Problems", "Automated recovery", "Health"].map((h) => el("th", { text: h }))),
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

// The small marks on a box, each with what it means (the legend lists them all).
const MARKS = [
  ["gtid", "G", "replicates with GTID", (i) => i.UsingMariaDBGTID || i.UsingOracleGTID],
  ["downtimed", "D", "downtimed: no automated recovery", (i) => i.IsDowntimed],
  ["maintenance", "M", "under a maintenance lock", (i) => !!i.ArborMaintenanceOwner],
  ["errant", "E", "has errant GTID transactions", (i) => !!i.GtidErrant],
  ["delayed", "Δ", "delayed replica (MASTER_DELAY)", (i) => i.SQLDelay > 0],
  ["semi-sync", "S", "semi-synchronous (primary or replica side)", (i) => i.SemiSyncMasterEnabled || i.SemiSyncReplicaEnabled],
  ["co-primary", "C", "co-primary (master-master ring)", (i) => i.IsCoMaster],
];

// "as of 12s ago" for a reading that is not current.
function staleness(i) {
  if (i.IsLastCheckValid) return null;
  const seen = i.SecondsSinceLastSeen;
  return seen && seen.Valid ? "as of " + seen.Int64 + "s ago" : "never read";
}

function drawTree(instances) {
  const roots = buildForest(instances);
  const columns = Math.max(layout(roots), 1);
  const W = 250, H = 84, GAP_X = 20, GAP_Y = 46, PAD = 16;
  let maxDepth = 0;
  const all = [];
  const walk = (n) => { all.push(n); maxDepth = Math.max(maxDepth, n.depth); n.shown.forEach(walk); };
  roots.forEach(walk);
  const width = PAD * 2 + columns * (W + GAP_X);
  const height = PAD * 2 + (maxDepth + 1) * (H + GAP_Y);
  const svg = el("svg", { svg: true, class: "tree", width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "replication tree" });
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
    if (i && i.ArborMaintenanceOwner) classes.push("maintenance");
    const label = i
      ? [status, "lag " + lagOf(i), i.ReadOnly ? "ro" : "rw"].concat(staleness(i) ? [staleness(i)] : []).join(" · ")
      : "never read";
    const source = i && i.MasterKey && i.MasterKey.Hostname ? keyOf(i.MasterKey) : "";
    const group = el("g", { svg: true, class: classes.join(" "), "data-key": n.key, "data-status": status,
      "data-source": source, tabindex: "0", role: "link", "aria-label": n.key + ", " + label,
      transform: `translate(${x},${y})` },
      el("rect", { svg: true, width: W, height: H }),
      el("rect", { svg: true, class: "band", width: 6, height: H }),
      el("text", { svg: true, class: "key", x: 14, y: 20, text: n.key }),
      el("text", { svg: true, class: "label", x: 14, y: 39, text: label }),
      el("text", { svg: true, class: "traits", x: 14, y: 57, text: i ? traitsOf(i) : "" }));
    let markX = 14;
    for (const [name, glyph, meaning, has] of MARKS) {
      if (!i || !has(i)) continue;
      const mark = el("g", { svg: true, class: "mark mark-" + name, "data-mark": name, transform: `translate(${markX},64)` },
        el("rect", { svg: true, width: 16, height: 14 }),
        el("text", { svg: true, x: 8, y: 11, text: glyph }));
      const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = meaning;
      mark.append(title);
      group.append(mark);
      markX += 20;
    }
    if (i && n.shown.length > 0) {
      // The handle that drags all of this server's replicas at once (relocate-replicas).
      const handle = el("g", { svg: true, class: "replicas-handle", "data-replicas-of": n.key,
        transform: `translate(${W - 58},${H - 20})` },
        el("rect", { svg: true, width: 52, height: 16 }),
        el("text", { svg: true, x: 26, y: 12, text: n.shown.length + " ⇣" }));
      const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = "drag to move all " + n.shown.length + " replicas of " + n.key;
      handle.append(title);
      group.append(handle);
    }
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter") location.href = PREFIX + "/web/instance/" + pathOf(n.key);
    });
    svg.append(group);
  }
  enableDragAndDrop(svg);
  return svg;
}

// What dropping `dragged` (or, from its handle, all its replicas) on `target` does, as
// orchestrator's UI did: onto its source's source, move up; onto a sibling, move below it;
// anywhere else, relocate below the target (arbor picks GTID or coordinates). Null: nothing.
function dropAction(svg, dragged, target, replicas) {
  if (!target || target === dragged) return null;
  const nodeOf = (key) => svg.querySelector(`g.node[data-key="${CSS.escape(key)}"]`);
  if (replicas) {
    return ["Relocate every replica of " + dragged + " below " + target,
      "relocate-replicas/" + pathOf(dragged) + "/" + pathOf(target)];
  }
  const source = nodeOf(dragged).dataset.source;
  const grandSource = source && nodeOf(source) ? nodeOf(source).dataset.source : "";
  if (grandSource && target === grandSource) {
    return ["Move " + dragged + " up, to replicate from " + target, "move-up/" + pathOf(dragged)];
  }
  if (source && nodeOf(target) && nodeOf(target).dataset.source === source) {
    return ["Move " + dragged + " below its sibling " + target, "move-below/" + pathOf(dragged) + "/" + pathOf(target)];
  }
  return ["Relocate " + dragged + " below " + target, "relocate/" + pathOf(dragged) + "/" + pathOf(target)];
}

// Dragging an instance onto another proposes a move (see dropAction), shown on the target
// while dragging and confirmed in a dialog showing the request; a click opens its page.
function enableDragAndDrop(svg) {
  let dragged = null;
  let replicas = false;
  const nodeAt = (event) => {
    const hit = document.elementFromPoint(event.clientX, event.clientY);
    return hit && hit.closest ? hit.closest("g.node") : null;
  };
  const hint = document.getElementById("drop-hint");
  svg.addEventListener("pointerdown", (event) => {
    const node = event.target.closest("g.node");
    if (!node) return;
    dragged = node;
    replicas = !!event.target.closest(".replicas-handle");
    busy = true;
    node.classList.add("dragging");
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => {
    if (!dragged) return;
    svg.querySelectorAll("g.node.drop-target").forEach((n) => n.classList.remove("drop-target"));
    const over = nodeAt(event);
    const proposal = over ? dropAction(svg, dragged.dataset.key, over.dataset.key, replicas) : null;
    if (proposal) over.classList.add("drop-target");
    if (hint) hint.textContent = proposal ? proposal[0] : "";
  });
  window.addEventListener("pointerup", (event) => {
    if (!dragged) return;
    const source = dragged.dataset.key;
    const target = nodeAt(event);
    dragged.classList.remove("dragging");
    svg.querySelectorAll("g.node.drop-target").forEach((n) => n.classList.remove("drop-target"));
    if (hint) hint.textContent = "";
    dragged = null;
    busy = false;
    if (!target || !target.dataset.key) return;
    if (target.dataset.key === source) {
      location.href = PREFIX + "/web/instance/" + pathOf(source);
      return;
    }
    const proposal = dropAction(svg, source, target.dataset.key, replicas);
    if (proposal) action(proposal[0], proposal[1]);
  });
}

async function clusterPage(name) {
  const [instances, info] = await Promise.all([
    api("cluster/" + encodeURIComponent(name)),
    api("cluster-info/" + encodeURIComponent(name)),
  ]);
  const legend = el("div", { class: "legend", id: "legend" },
    ...["ok", "lagging", "replication stopped", "broken", "unreachable", "unknown"].map((s) => el("span", {}, badge(s))),
    el("span", {}, el("span", { class: "badge status-downtimed", text: "downtimed" })),
    el("span", {}, el("span", { class: "badge status-maintenance", text: "maintenance" })),
    ...MARKS.map(([name, glyph, meaning]) => el("span", { class: "legend-mark", "data-mark": name },
      el("span", { class: "mark-glyph mark-" + name, text: glyph }), " " + meaning)));
  return [
    el("h1", { text: `Cluster ${info.ClusterAlias}` + (info.ClusterAlias !== info.ClusterName ? ` (${info.ClusterName})` : "") }),
    el("p", { class: "muted", text: `${info.CountInstances} instances, largest lag ${clusterLag(info)}` +
      (info.ArborPrimaryVersion ? `, ${info.ArborPrimaryFlavor} ${info.ArborPrimaryVersion}` : "") }),
    legend,
    el("p", { class: "hint", text: "Drag a server onto another: onto its source's source to move it up, onto a sibling to move it below, elsewhere to relocate it; drag the ⇣ handle to move all of a server's replicas. A dialog shows the request first. Click a server (or Tab to it and press Enter) for its page and actions." }),
    el("p", { id: "drop-hint", class: "drop-hint", "aria-live": "polite" }),
    drawTree(instances),
  ];
}

// arbor's timestamps are UTC ("YYYY-MM-DD hh:mm:ss", as orchestrator writes them): say so.
const utc = (t) => (t ? t + " UTC" : "");

async function instancePage(host, port) {
  const i = await api(`instance/${encodeURIComponent(host)}/${port}`);
  const row = (name, value) => el("tr", {}, el("th", { text: name }), el("td", {}, value));
  const text = (v) => document.createTextNode(v == null ? "" : String(v));
  const instanceLink = (k) => link(PREFIX + "/web/instance/" + pathOf(k), k);
  const links = (keys) => {
    const span = el("span", {});
    keys.forEach((k, n) => { if (n) span.append(", "); span.append(instanceLink(k)); });
    return span;
  };
  const source = i.MasterKey && i.MasterKey.Hostname ? keyOf(i.MasterKey) : "";
  const key = keyOf(i.Key);
  const path = pathOf(key);
  const reachable = i.IsLastCheckValid;
  const buttons = [];
  const button = (label, description, route) => {
    const b = el("button", { type: "button", "data-action": route.split("/")[0], text: label });
    b.addEventListener("click", () => action(description, route));
    buttons.push(b);
  };
  // Only what can work on the server as it is now: a server arbor cannot reach can be
  // downtimed, recovered or forgotten, not reconfigured or promoted.
  if (i.IsDowntimed) button("End downtime", "End the downtime of " + key, "end-downtime/" + path);
  else button("Downtime 1h", "Downtime " + key + " for an hour (no automated recovery)", "begin-downtime/" + path + "/webui/downtime/1h");
  if (i.ArborMaintenanceOwner) button("End maintenance", "Release the maintenance lock of " + key, "end-maintenance/" + path);
  else if (reachable) button("Begin maintenance", "Lock " + key + " for maintenance", "begin-maintenance/" + path + "/webui/maintenance");
  if (reachable && source) {
    if (i.ReplicationIOThreadRuning || i.ReplicationSQLThreadRuning) button("Stop replication", "Stop replication on " + key, "stop-replica/" + path);
    else button("Start replication", "Start replication on " + key, "start-replica/" + path);
    if (i.ReplicationDepth === 1 && i.ReplicationIOThreadRuning && i.ReplicationSQLThreadRuning) {
      button("Promote (graceful takeover)", "Make " + key + " the primary of " + i.ClusterName + "; the old primary replicates from it",
        "graceful-master-takeover-auto/" + encodeURIComponent(i.ClusterName) + "/" + path);
    }
  }
  if (reachable) {
    if (i.ReadOnly) button("Set writeable", "Unset read_only on " + key, "set-writeable/" + path);
    else button("Set read-only", "Set read_only on " + key, "set-read-only/" + path);
  }
  if (!reachable || i.Problems.length) button("Recover", "Recover the failure of " + key, "recover/" + path);
  button("Forget", "Forget " + key + " (a live server comes back when a neighbour is read)", "forget/" + path);
  // One error line per distinct message: the check error often repeats the replication error.
  const errors = [...new Set([i.ArborLastCheckError, i.LastIOError, i.LastSQLError].filter((e) => e))];
  return [
    el("h1", { text: key }),
    el("div", { class: "actions" }, ...buttons),
    el("table", { id: "instance" },
      row("Status", el("span", {}, badge(i.ArborStatus), text(staleness(i) ? " " + staleness(i) : ""))),
      row("Cluster", link(PREFIX + "/web/cluster/" + encodeURIComponent(i.ClusterName), i.ClusterAlias || i.ClusterName)),
      row("Version", text(i.Version ? `${i.Version} (${i.FlavorName})` : "unknown")),
      row("Server ID", text(i.ServerID)),
      row("Read only", text(i.ReadOnly ? "yes" : "no")),
      row("Binary log", text(`${i.LogBinEnabled ? "on" : "off"} ${i.Binlog_format}` + (i.LogReplicationUpdatesEnabled ? ", logs replica updates" : ""))),
      row("Own position", text(i.SelfBinlogCoordinates.LogFile ? `${i.SelfBinlogCoordinates.LogFile}:${i.SelfBinlogCoordinates.LogPos}` : "")),
      row("Source", source ? instanceLink(source) : text("none (primary)")),
      row("IO thread", text(source ? (i.ReplicationIOThreadRuning ? "running" : "not running") : "")),
      row("SQL thread", text(source ? (i.ReplicationSQLThreadRuning ? "running" : "not running") : "")),
      row("Lag", text(lagOf(i))),
      row("Delay", text(i.SQLDelay > 0 ? i.SQLDelay + "s (MASTER_DELAY)" : "")),
      row("Using GTID", text(i.UsingMariaDBGTID ? "MariaDB GTID" : i.UsingOracleGTID ? "GTID auto-position" : "no")),
      row("GTID executed", text(i.ExecutedGtidSet)),
      row("Errant GTID", text(i.GtidErrant)),
      row("Exec position", text(i.ExecBinlogCoordinates.LogFile ? `${i.ExecBinlogCoordinates.LogFile}:${i.ExecBinlogCoordinates.LogPos}` : "")),
      row("Replication traits", text(traitsOf(Object.assign({}, i, { Version: "" })))),
      row("Errors", el("div", {}, ...errors.map((e) => el("div", { class: "error-line", text: e })))),
      row("Replicas", links(i.Replicas.map(keyOf))),
      row("Problems", text(i.Problems.join(", "))),
      row("Last seen", text(utc(i.LastSeenTimestamp))),
      row("Maintenance", text(i.ArborMaintenanceOwner ? "locked by " + i.ArborMaintenanceOwner : "")),
      row("Downtime", text(i.IsDowntimed ? i.DowntimeOwner + ": " + i.DowntimeReason + " until " + utc(i.DowntimeEndTimestamp) : ""))),
  ];
}

async function problemsPage() {
  const [analysis, problemsOrNull] = await Promise.all([api("replication-analysis"), api("problems")]);
  const problems = problemsOrNull || [];
  const analyses = analysis.Details || [];
  const actions = (a) => {
    const key = keyOf(a.AnalyzedInstanceKey);
    const cell = el("td", { class: "row-actions" });
    const add = (label, description, route) => {
      const b = el("button", { type: "button", "data-action": route.split("/")[0], text: label });
      b.addEventListener("click", () => action(description, route));
      cell.append(b);
    };
    if (a.IsActionableRecovery) add("Recover", "Recover " + a.Analysis + " of " + key, "recover/" + pathOf(key));
    add("Acknowledge", "Acknowledge the recoveries of " + key + " (lifts the block period)", "ack-recovery/instance/" + pathOf(key) + "?comment=webui");
    return cell;
  };
  return [
    el("h1", { text: "Analyses" }),
    analyses.length === 0
      ? el("p", { class: "muted", text: "No failure analysed." })
      : el("table", { id: "analyses" },
          el("tr", {}, ...["Instance", "Cluster", "Analysis", "Description", "Structure warnings", "Not recovered because", "Actions"].map((h) => el("th", { text: h }))),
          ...analyses.map((a) => el("tr", { "data-analysis": a.Analysis, "data-key": keyOf(a.AnalyzedInstanceKey) },
            el("td", {}, link(PREFIX + "/web/instance/" + pathOf(keyOf(a.AnalyzedInstanceKey)), keyOf(a.AnalyzedInstanceKey))),
            el("td", {}, link(PREFIX + "/web/cluster/" + encodeURIComponent(a.ClusterDetails.ClusterName), a.ClusterDetails.ClusterAlias)),
            el("td", {}, el("span", { class: "badge " + (a.IsActionableRecovery ? "status-broken" : "status-lagging"), text: a.Analysis })),
            el("td", { text: a.Description }),
            el("td", { class: "structure", text: (a.StructureAnalysis || []).join(", ") }),
            el("td", { class: "why-not", text: a.ArborNotRecoveredBecause || "" }),
            actions(a)))),
    el("h1", { text: "Instances with problems" }),
    problems.length === 0
      ? el("p", { class: "muted", text: "No problems." })
      : el("table", { id: "problems" },
          el("tr", {}, ...["Instance", "Cluster", "Status", "Problems", "Error"].map((h) => el("th", { text: h }))),
          ...problems.map((i) => el("tr", { "data-key": keyOf(i.Key) },
            el("td", {}, link(PREFIX + "/web/instance/" + pathOf(keyOf(i.Key)), keyOf(i.Key))),
            el("td", {}, link(PREFIX + "/web/cluster/" + encodeURIComponent(i.ClusterName), i.ClusterAlias || i.ClusterName)),
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
    const acknowledged = r.Acknowledged
      ? el("td", { text: "by " + r.AcknowledgedBy + (r.AcknowledgedComment ? ": " + r.AcknowledgedComment : "") })
      : el("td", {}, (() => {
          const b = el("button", { type: "button", "data-action": "ack-recovery", text: "Acknowledge" });
          b.addEventListener("click", () => action("Acknowledge recovery " + r.Id + " (lifts the block period)", "ack-recovery/" + r.Id + "?comment=webui"));
          return b;
        })());
    rows.push(el("tr", { "data-recovery": String(r.Id), "data-outcome": outcome },
      el("td", { text: String(r.Id) }),
      el("td", { text: utc(r.RecoveryStartTimestamp) }),
      el("td", { text: r.AnalysisEntry.ClusterDetails.ClusterName }),
      el("td", {}, link(PREFIX + "/web/instance/" + failed.Hostname + "/" + failed.Port, keyOf(failed))),
      el("td", { text: r.AnalysisEntry.Analysis }),
      el("td", { text: r.SuccessorKey ? keyOf(r.SuccessorKey) : "" }),
      el("td", {}, el("span", { class: "badge " + (outcome === "successful" ? "status-ok" : outcome === "running" ? "status-lagging" : "status-broken"), text: outcome })),
      el("td", { text: r.LostReplicas.map(keyOf).join(", ") }),
      acknowledged));
    const steps = r.ArborSteps.map((s) => el("tr", {},
      el("td", { class: "number", text: "+" + (s.ArborMillisSinceStart || 0) + " ms" }),
      el("td", { class: "step", text: s.Message })));
    const errors = r.AllErrors.map((e) => el("tr", { class: "error" }, el("td", { text: "error" }), el("td", { class: "step", text: e })));
    rows.push(el("tr", { class: "steps" }, el("td", { colspan: "9" },
      el("details", {}, el("summary", { text: r.ArborSteps.length + " steps" + (r.AllErrors.length ? ", " + r.AllErrors.length + " errors" : "") }),
        el("table", { class: "step-list" }, ...steps, ...errors)))));
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
  const status = await api("status");
  if (!("RaftAdvertise" in status.Details)) {
    const nodes = status.Details.AvailableNodes;
    if (!nodes) {
      return [el("h1", { text: "High availability" }),
        el("p", { id: "single-node", text: "This arbor runs as a single node (neither Raft nor a shared backend): it is its own leader, and nothing takes over if it stops." }),
        el("p", { class: "muted", text: "To make arbor highly available, run 3 or 5 nodes as a Raft group (RaftEnabled, RaftDataDir, RaftBind, RaftNodes in each node's configuration), or several nodes sharing one MySQL backend (BackendDB \"mysql\" and the MySQLOrchestrator* keys). The guide, docs/high-availability.md in arbor's source, walks through both; the API reference is at " },
          link(PREFIX + "/api/docs", PREFIX + "/api/docs"), ".")];
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
  const response = await fetch(PREFIX + "/api/raft-members", { credentials: "same-origin" });
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
    // A drag or a confirmation that began while this loaded keeps the page it began on:
    // replacing it would pull the node from under the pointer. The next refresh catches up.
    if (busy) return;
    app.replaceChildren(...content);
    document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (busy) return;
    app.replaceChildren(el("p", { class: "error", text: "Cannot load: " + error.message }));
  }
}

render();
// No refresh under a drag or an open confirmation: redrawing would pull the node away.
// Nor while a field has the keyboard: redrawing would take away what is being typed.
const typing = () => document.activeElement && ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName);
setInterval(() => { if (!busy && !typing()) render(); }, REFRESH_MS);
