#!/usr/bin/env python3
"""The layers test: every #include "x/..." in src/<module> names a module that <module> may use.

The allowed graph is the block "module graph" of docs/architecture.md (CMakeLists.txt builds one
library per module from the same block). A module may include its own headers and those of the
modules on its line; its tests (*_test.cc, testing_*.h) may also include what `tests:` adds.
Prints every violation as FILE:LINE and exits 1 when there is one.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_graph():
    text = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    m = re.search(r"<!-- module graph:.*?-->\s*```\n(.*?)```", text, re.S)
    if not m:
        sys.exit("docs/architecture.md has no module graph block")
    graph = {}
    for line in m.group(1).splitlines():
        if not line.strip():
            continue
        name, _, rest = line.partition(":")
        deps, _, tests = rest.partition("| tests:")
        graph[name.strip()] = (set(deps.split()), set(tests.split()))
    return graph


def module_of(rel, graph):
    """The module a path under src/ belongs to: the longest module name that prefixes it."""
    best = None
    for name in graph:
        if rel == name or rel.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return best


def main():
    graph = read_graph()
    for name, (deps, tests) in graph.items():
        for d in deps | tests:
            if d not in graph:
                sys.exit(f"module graph: {name} uses unknown module {d}")
    src = os.path.join(ROOT, "src")
    problems = []
    files = 0
    for dirpath, _, names in os.walk(src):
        for n in sorted(names):
            if not (n.endswith(".h") or n.endswith(".cc")):
                continue
            path = os.path.join(dirpath, n)
            rel = os.path.relpath(path, src)
            own = module_of(rel, graph)
            if own is None:
                problems.append(f"src/{rel}: in no module of the graph")
                continue
            files += 1
            deps, tests = graph[own]
            is_test = n.endswith("_test.cc") or n.startswith("testing_")
            allowed = deps | (tests if is_test else set())
            for lineno, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                target = module_of(m.group(1), graph)
                if target is None or target == own or target in allowed:
                    continue
                # A module's own sub-engine (storage includes storage/sqlite) is not allowed
                # either: the engine depends on the interface, not the reverse.
                problems.append(
                    f"src/{rel}:{lineno}: {own} includes {m.group(1)} of module {target}, "
                    f"which it may not use (docs/architecture.md, module graph)")
    for p in problems:
        print(p)
    print(f"layers: {files} files, {len(graph)} modules, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
