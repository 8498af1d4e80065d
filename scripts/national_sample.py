"""A national sample: a country of synthetic cities, with the real Yangpu sample as one of them, written as a
regions workspace (docs/regions.md) that anyone can run on one machine.

Each city is :func:`scripts.synthetic_city.write_city` (a lattice of streets as a real OSM PBF, stations in
GCJ-02, restaurants as demand) at its own place in China, its outline the lattice's rectangle widened by
half a block (WGS84 GeoJSON); the cities lie 1° of longitude or latitude apart, so no two share streets.
With ``--yangpu DIR`` (the sample workspace, ``data/yangpu``) the Yangpu region is added first: its OSM
extract, the district outline (GCJ-02) and census are named where they are (and 虹口区 from the same
extract, whose west edge lies in Hongkou), and its 46 stations are copied
into the one registry with their ids. All stations go into one registry (``registry.gpkg``).

Command line::

    python scripts/national_sample.py OUT_DIR --cities 30 --nodes 100000 --stations 200 [--yangpu data/yangpu]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from geomap.regions.workspace import RegionsWorkspace, write_regions_workspace  # noqa: E402
from scripts.synthetic_city import write_city  # noqa: E402

ORIGIN = (100.5, 24.5)
"""South-west corner of the first city (WGS84); the others follow on a grid 1° apart (inside China)."""
COLUMNS = 8


def city_origin(n: int) -> tuple[float, float]:
    """The south-west corner (WGS84 lon, lat) of the ``n``-th synthetic city."""
    return ORIGIN[0] + 2.0 * (n % COLUMNS), ORIGIN[1] + 2.0 * (n // COLUMNS)


def outline(bbox: tuple[float, float, float, float], *, block_m: float = 100.0) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of one rectangle: ``bbox`` (WGS84) widened by half a block."""
    x0, y0, x1, y1 = bbox
    dlat = block_m / 2 / 111_320.0
    dlon = dlat / math.cos(math.radians((y0 + y1) / 2))
    ring = [[x0 - dlon, y0 - dlat], [x1 + dlon, y0 - dlat], [x1 + dlon, y1 + dlat], [x0 - dlon, y1 + dlat],
            [x0 - dlon, y0 - dlat]]
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}


def write_nation(out_dir: str | Path, *, cities: int = 30, nodes: int = 100_000, stations: int = 200,
                 restaurants: int | None = None, yangpu: str | Path | None = None, buffer_m: float | None = None,
                 name: str = "全国示例", seed: int = 1, settings: dict[str, Any] | None = None) -> RegionsWorkspace:
    """Write the regions workspace in ``out_dir`` (its cities under ``cities/``) and return it opened, its
    registry filled. ``restaurants``: per city (default one per 50 street corners)."""
    from geomap.workspace import open_workspace

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    regions: list[dict[str, Any]] = []
    sample = None
    if yangpu is not None:
        sample = open_workspace(yangpu)
        boundary = sample.root / "boundaries" / "yangpu_district_gcj02.geojson"
        regions.append({"key": "yangpu", "name": sample.name, "osm_path": sample.osm_path, "boundary_path": boundary,
                        "boundary_crs": "gcj02", "area_label": sample.area_label,
                        "population_path": sample.settings.population_path})
        hongkou = sample.root / "boundaries" / "hongkou_district_gcj02.geojson"
        if hongkou.exists():  # the extract's west edge is in Hongkou: a second region from the same file
            regions.append({"key": "hongkou", "name": "虹口区", "osm_path": sample.osm_path, "boundary_path": hongkou,
                            "boundary_crs": "gcj02"})
    lists = []
    for n in range(cities):
        key = f"city{n + 1:03d}"
        city_name = f"示例{n + 1}市"
        folder = out / "cities" / key
        city = write_city(folder, nodes=nodes, stations=stations, name=city_name, origin=city_origin(n),
                          restaurants=nodes // 50 if restaurants is None else restaurants, seed=seed + n)
        (folder / "outline.geojson").write_text(json.dumps(outline(city.bbox_wgs84)), encoding="utf-8")
        regions.append({"key": key, "name": city_name, "osm_path": city.osm_path,
                        "boundary_path": folder / "outline.geojson"})
        lists.append(city.stations_path)
    rws = write_regions_workspace(out, name=name, publisher="geomap 示例（合成数据，非官方名单）", regions=regions,
                                  buffer_m=buffer_m, settings=settings)
    if rws.registry_path.exists():
        rws.registry_path.unlink()
    if sample is not None:
        rws.registry.upsert(sample.registry.frame(), action="import", source="data/yangpu registry")
    for path in lists:
        rws.registry.import_file(path, crs="gcj02")
    return rws


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--cities", type=int, default=30, help="how many synthetic cities")
    p.add_argument("--nodes", type=int, default=100_000, help="street corners per city")
    p.add_argument("--stations", type=int, default=200, help="stations per city")
    p.add_argument("--restaurants", type=int, default=None, help="restaurants per city (default nodes / 50)")
    p.add_argument("--yangpu", type=Path, default=None, help="the sample workspace (data/yangpu) to add as a region")
    p.add_argument("--buffer-m", type=float, default=None, help="buffer in metres (default: docs/regions.md)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    rws = write_nation(a.out_dir, cities=a.cities, nodes=a.nodes, stations=a.stations, restaurants=a.restaurants,
                       yangpu=a.yangpu, buffer_m=a.buffer_m, seed=a.seed)
    print(f"{rws.root}: {len(rws.specs)} regions, {len(rws.registry):,} stations; "
          f"next: geomap -w {a.out_dir} coverage --workers 2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
