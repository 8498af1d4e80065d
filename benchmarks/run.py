"""Run every benchmark (`make bench`) and write benchmarks/RESULTS.md."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCHES = ["benchmarks.bench_straight", "benchmarks.bench_network", "benchmarks.bench_coverage", "benchmarks.bench_api",
           "benchmarks.bench_map", "benchmarks.bench_scale", "benchmarks.bench_upload",
           "benchmarks.bench_regions"]

if __name__ == "__main__":
    only = sys.argv[1:]
    for name in BENCHES:
        if only and not any(o in name for o in only):
            continue
        if not (ROOT / (name.replace(".", "/") + ".py")).exists():
            print(f"skip {name}: not present")
            continue
        print(f"== {name}")
        print(importlib.import_module(name).main())
