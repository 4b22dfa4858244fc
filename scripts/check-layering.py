#!/usr/bin/env python3
"""Checks the architecture the crate graph and the modules promise (docs/architecture.md):

1. No import cycle between the files of a crate (`crate::a` uses `crate::b` and back). The crate
   root (lib.rs) is left out: it declares the modules and re-exports their types.
2. The crates that must stay small depend only on what they may (arbor-api: topology and serde;
   arbor-raft: store and topology among arbor's crates; arbor-client: no store).

Exits non-zero, naming the cycle or the dependency, when either breaks.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# arbor crates each of these may depend on (others' arbor-* dependencies are not limited).
ALLOWED = {
    "arbor-api": {"arbor-topology"},
    "arbor-raft": {"arbor-store", "arbor-topology"},
    "arbor-client": {"arbor-api", "arbor-topology"},
    "arbor-topology": set(),
    "arbor-analysis": {"arbor-topology"},
    "arbor-config": {"arbor-topology"},
    "arbor-kv": {"arbor-api", "arbor-topology"},
}


def modules(src):
    found = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, src)[:-3].replace("/", "::")
                if module.endswith("::mod"):
                    module = module[: -len("::mod")]
                if module in ("lib", "main"):
                    module = "crate"
                found[module] = path
    return found


def uses(text, known, me):
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
    out = set()
    for m in re.finditer(r"\b(crate|super)::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?", text):
        if m.group(1) == "super":
            parent = "::".join(me.split("::")[:-1])
            candidate = f"{parent}::{m.group(2)}" if parent else m.group(2)
        else:
            candidate = m.group(2)
            if m.group(3) and f"{m.group(2)}::{m.group(3)}" in known:
                candidate = f"{m.group(2)}::{m.group(3)}"
        if candidate in known and candidate not in (me, "crate"):
            out.add(candidate)
    # Grouped imports: `use crate::{a, b::c};` uses a and b.
    for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
        for part in m.group(1).split(","):
            name = part.strip().split("::")[0].strip()
            if name in known and name not in (me, "crate"):
                out.add(name)
    return out


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def main():
    problems = []
    crates_dir = os.path.join(ROOT, "crates")
    for crate in sorted(os.listdir(crates_dir)):
        src = os.path.join(crates_dir, crate, "src")
        if not os.path.isdir(src):
            continue
        known = modules(src)
        graph = {m: uses(open(p).read(), known, m) for m, p in known.items()}
        for component in cycles(graph):
            problems.append(f"crates/{crate}: the files {', '.join(component)} import each other")
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    for package in metadata["packages"]:
        allowed = ALLOWED.get(package["name"])
        if allowed is None:
            continue
        for dependency in package["dependencies"]:
            name = dependency["name"]
            if dependency.get("kind") is None and name.startswith("arbor-") and name not in allowed:
                problems.append(f"{package['name']} depends on {name}, which it must not")
    for problem in problems:
        print(problem)
    print(f"layering: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
