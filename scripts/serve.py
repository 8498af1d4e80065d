"""`make serve` until the HTTP service exists: the best main job there is on the sample data.

Loads the sample registry, then answers a rider's nearest-station questions on the command line (a
demo query first, then an interactive prompt when a terminal is attached). The FastAPI service replaces
this script in a later issue.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geomap.cli import main as geomap_main

DEMO = [  # 五角场 (GCJ-02, as a phone in AMap / WeChat reports it)
    ["nearest", "--lon", "121.5145", "--lat", "31.3005", "--crs", "gcj02", "--k", "3"],
    ["nearest", "--lon", "121.5145", "--lat", "31.3005", "--crs", "gcj02", "--k", "1", "--amenity",
     "电瓶车充电", "--open-at", "now"],
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--registry", type=Path, required=True)
    args = p.parse_args(argv)
    reg = ["--registry", str(args.registry)]
    geomap_main([*reg, "stations", "list"])
    for q in DEMO:
        print("\n$ geomap " + " ".join(q))
        geomap_main([*reg, *q])
    if not sys.stdin.isatty():
        return 0
    print("\n输入坐标查询最近站点（GCJ-02，例如 121.5145 31.3005 [设施]），空行退出：")
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            break
        if len(parts) < 2:
            print("请输入：经度 纬度 [设施]")
            continue
        q = ["nearest", "--lon", parts[0], "--lat", parts[1], "--crs", "gcj02", "--k", "3"]
        if len(parts) > 2:
            q += ["--amenity", parts[2]]
        geomap_main([*reg, *q])
    return 0


if __name__ == "__main__":
    sys.exit(main())
