"""A synthetic city of any size, written as a real OpenStreetMap PBF file plus a station list in GCJ-02.

Used by the tests (a few hundred street nodes, as a place of their own next to the real Yangpu sample) and
by the benchmarks (up to a million street nodes). The city is a lattice of streets about ``block_m`` apart:

* every 10th street is ``primary`` (two-way, named 主干路), every 5th is ``secondary`` and one-way, the
  direction alternating from one to the next; the rest are ``residential``; every 7th residential street
  is closed to heavy goods vehicles (``hgv=no``);
* streets are named ``经N路`` (north-south) and ``纬N路`` (east-west);
* optionally restaurants (``amenity=restaurant`` nodes) and residential buildings inside the blocks;
* stations stand 15–40 m off a random street corner (so they snap onto a street), with Chinese headers
  (站点名称, 类型, 地址, 经度, 纬度, 开放时间, 服务内容, 联系电话), coordinates converted to GCJ-02 as a union
  would publish them.

Coordinates: the city's south-west corner is ``origin`` (WGS84 degrees); OSM data is WGS84.

Command line::

    python scripts/synthetic_city.py OUT_DIR --nodes 100000 --stations 1200 [--name 合成市] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from geomap import coords  # noqa: E402

KINDS = ("户外劳动者服务站点", "户外劳动者服务站点", "户外劳动者服务站点", "爱心接力站", "司机之家", "爱心食堂")
SERVICES = ("饮水、歇脚、手机充电", "饮水、热饭、如厕、电瓶车充电", "休息、空调、药箱、WiFi", "货车停车、洗澡、住宿")
HOURS = ("24小时", "9:00-20:30", "8:30-11:00, 13:00-17:00", "周一至周五8:30-17:00")


@dataclass(frozen=True)
class City:
    """What :func:`write_city` wrote: the OSM file, the station list and the lattice's size."""

    osm_path: Path
    stations_path: Path
    nx: int
    ny: int
    n_nodes: int
    n_stations: int
    bbox_wgs84: tuple[float, float, float, float]


def lattice_size(nodes: int) -> tuple[int, int]:
    """Columns and rows of a near-square lattice with about ``nodes`` street corners."""
    side = max(2, round(math.sqrt(nodes)))
    return side, max(2, round(nodes / side))


def write_city(out_dir: str | Path, *, nodes: int = 400, stations: int = 20, name: str = "合成市",
               origin: tuple[float, float] = (116.30, 39.95), block_m: float = 100.0, restaurants: int = 0,
               buildings: bool = False, seed: int = 1) -> City:
    """Write ``<out_dir>/city.osm.pbf`` and ``<out_dir>/stations_gcj02.csv``; see the module docstring."""
    import osmium

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    nx_, ny_ = lattice_size(nodes)
    lon0, lat0 = origin
    dlat = block_m / 111_320.0
    dlon = block_m / (111_320.0 * math.cos(math.radians(lat0)))
    xs = lon0 + dlon * np.arange(nx_)
    ys = lat0 + dlat * np.arange(ny_)

    def node_id(i: int, j: int) -> int:
        return 1 + j * nx_ + i

    osm_path = out / "city.osm.pbf"
    if osm_path.exists():
        osm_path.unlink()
    writer = osmium.SimpleWriter(str(osm_path))
    try:
        for j in range(ny_):
            for i in range(nx_):
                writer.add_node(osmium.osm.mutable.Node(id=node_id(i, j), location=(float(xs[i]), float(ys[j])),
                                                        version=1))
        next_node = 1 + nx_ * ny_
        extra_nodes: list[tuple[int, float, float, dict[str, str]]] = []
        for k in range(restaurants):
            i, j = int(rng.integers(0, nx_ - 1)), int(rng.integers(0, ny_ - 1))
            extra_nodes.append((next_node, float(xs[i] + dlon * rng.uniform(0.2, 0.8)),
                                float(ys[j] + dlat * rng.uniform(0.2, 0.8)),
                                {"amenity": "restaurant", "name": f"{name}餐馆{k + 1}"}))
            next_node += 1
        rings: list[list[int]] = []
        if buildings:
            for j in range(ny_ - 1):
                for i in range(nx_ - 1):
                    corner = []
                    for fx, fy in ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)):
                        extra_nodes.append((next_node, float(xs[i] + dlon * fx), float(ys[j] + dlat * fy), {}))
                        corner.append(next_node)
                        next_node += 1
                    rings.append([*corner, corner[0]])
        for nid, x, y, tags in extra_nodes:
            writer.add_node(osmium.osm.mutable.Node(id=nid, location=(x, y), tags=tags, version=1))
        way = 1
        for line, count, other, label in ((ny_, nx_, "纬", "ew"), (nx_, ny_, "经", "ns")):
            for k in range(line):
                ids = ([node_id(i, k) for i in range(count)] if label == "ew"
                       else [node_id(k, j) for j in range(count)])
                tags = _street_tags(k, other)
                writer.add_way(osmium.osm.mutable.Way(id=way, nodes=ids, tags=tags, version=1))
                way += 1
        for ring in rings:
            writer.add_way(osmium.osm.mutable.Way(id=way, nodes=ring, tags={"building": "residential"}, version=1))
            way += 1
    finally:
        writer.close()

    st_path = out / "stations_gcj02.csv"
    pick = rng.choice(nx_ * ny_, size=min(stations, nx_ * ny_), replace=False)
    ci, cj = pick % nx_, pick // nx_
    off = rng.uniform(15.0, 40.0, size=len(pick))
    lon = xs[ci] + off * dlon / block_m
    lat = ys[cj] + off * dlat / block_m
    glon, glat = coords.from_wgs84(lon, lat, dst="gcj02")
    with open(st_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["站点名称", "类型", "地址", "经度", "纬度", "开放时间", "服务内容", "联系电话"])
        for n in range(len(pick)):
            kind = KINDS[n % len(KINDS)]
            w.writerow([f"{name}{kind}{n + 1}号", kind, f"{name}经{ci[n] + 1}路与纬{cj[n] + 1}路交叉口",
                        f"{glon[n]:.6f}", f"{glat[n]:.6f}", HOURS[n % len(HOURS)], SERVICES[n % len(SERVICES)],
                        f"010-{6000_0000 + n}"])
    bbox = (float(xs[0]), float(ys[0]), float(xs[-1]), float(ys[-1]))
    return City(osm_path=osm_path, stations_path=st_path, nx=nx_, ny=ny_, n_nodes=nx_ * ny_,
                n_stations=len(pick), bbox_wgs84=bbox)


def _street_tags(k: int, prefix: str) -> dict[str, str]:
    """Class, one-way and name of the ``k``-th street of one direction (see the module docstring)."""
    tags = {"name": f"{prefix}{k + 1}路"}
    if k % 10 == 0:
        tags["highway"] = "primary"
    elif k % 5 == 0:
        tags.update(highway="secondary", oneway="yes" if (k // 5) % 2 else "-1")
    else:
        tags["highway"] = "residential"
        if k % 7 == 0:
            tags["hgv"] = "no"
    return tags


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--nodes", type=int, default=10_000, help="about this many street corners")
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--name", default="合成市")
    p.add_argument("--restaurants", type=int, default=0)
    p.add_argument("--buildings", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--origin", default="116.30,39.95", help="south-west corner, WGS84 lon,lat")
    a = p.parse_args(argv)
    lon0, lat0 = (float(v) for v in a.origin.split(","))
    city = write_city(a.out_dir, nodes=a.nodes, stations=a.stations, name=a.name, origin=(lon0, lat0),
                      restaurants=a.restaurants, buildings=a.buildings, seed=a.seed)
    print(f"{city.osm_path}: {city.n_nodes:,} street corners ({city.nx} × {city.ny}); "
          f"{city.stations_path}: {city.n_stations:,} stations (GCJ-02)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
