#!/usr/bin/env python3
"""Turns one JSON result line of loadgen or sqlite_floor into a Markdown table row."""
import json
import sys

kind, *labels, line = sys.argv[1:]
r = json.loads(line)
lat = r["latency_us"]
if kind == "loadgen":
    failed = r["non2xx"] + sum(r["errors"].values())
    cells = labels + [f"{r['rps']:,.0f}", f"{lat['p50'] / 1000:.2f}", f"{lat['p99'] / 1000:.2f}",
                      str(failed)]
else:
    cells = labels + [f"{r['per_s']:,.0f}", f"{lat['p50'] / 1000:.2f}", f"{lat['p99'] / 1000:.2f}"]
print("| " + " | ".join(cells) + " |")
