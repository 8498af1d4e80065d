"""The data step (`make data`): make the sample workspace ``data/yangpu/`` from ../shared/data.

The third-party files (OpenStreetMap extract, census table, district outlines) are copied into the
workspace folder, which git ignores; the Anting station list (a list from another district, an import
sample) goes to ``data/stations/``. The workspace's ``geomap.toml`` is written by ``geomap init`` when it is
missing, and its registry is built from the committed sample list (``data/sample/``) when that list is
newer than the registry. When ../shared/data is missing this script says how to make a workspace for
one's own place instead.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CSV = ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv"
WORKSPACE = ROOT / "data" / "yangpu"
OSM = "osm/yangpu_wujiaochang.osm.pbf"
CENSUS = "population/yangpu_subdistricts_2020.csv"
COPIES = {  # shared/data sub-folder -> destination folder
    "osm": WORKSPACE / "osm",
    "population": WORKSPACE / "population",
    "boundaries": WORKSPACE / "boundaries",
    "stations": ROOT / "data" / "stations",
}

HOW_TO = """\
The sample data folder {shared} is not there.

geomap works on a workspace: one folder per place, with the place's OpenStreetMap extract. Make one for
your own place:
  * get an .osm.pbf of your area from any OSM extract service (e.g. a Geofabrik region file cut with
    `osmium extract -b W,S,E,N region.osm.pbf -o mycity.osm.pbf`, or an export of the area from
    openstreetmap.org / BBBike), then
        .venv/bin/geomap init mycity --name 北京市海淀区 --osm mycity.osm.pbf --publisher 海淀区总工会 --copy
        cd mycity && ../.venv/bin/geomap import 站点名单.xlsx --crs gcj02
  * or put the project's shared data beside the checkout (../shared/data) and run `make data` again.
"""


def copy_shared(shared: Path) -> None:
    """Copy ../shared/data/<subdir>/* to its destination, skipping files already up to date."""
    for sub, dst_dir in COPIES.items():
        src_dir = shared / sub
        if not src_dir.is_dir():
            continue
        dst_dir.mkdir(parents=True, exist_ok=True)
        for src in sorted(src_dir.iterdir()):
            dst = dst_dir / src.name
            if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
                continue
            shutil.copyfile(src, dst)
            print(f"copied {src} -> {dst.relative_to(ROOT)}")


def geomap(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "geomap.cli", *args], check=True)


def make_workspace() -> None:
    """``geomap init`` the sample workspace when it has no geomap.toml yet."""
    if (WORKSPACE / "geomap.toml").exists():
        return
    geomap("init", str(WORKSPACE), "--name", "杨浦区", "--area-label", "杨浦区五角场一带",
           "--publisher", "geomap 示例（非官方名单）", "--osm", str(WORKSPACE / OSM),
           "--population", str(WORKSPACE / CENSUS), "--lists-crs", "gcj02")


def build_registry() -> None:
    """(Re)build the sample registry from the committed sample CSV (GCJ-02) when the CSV is newer."""
    registry = WORKSPACE / "registry.gpkg"
    if registry.exists() and registry.stat().st_mtime >= SAMPLE_CSV.stat().st_mtime:
        return
    if registry.exists():
        registry.unlink()
    geomap("--workspace", str(WORKSPACE), "import", str(SAMPLE_CSV), "--crs", "gcj02", "--quiet")
    print(f"built sample registry {registry.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_absolute() else (ROOT / args.shared).resolve()
    if not shared.is_dir():
        print(HOW_TO.format(shared=shared), file=sys.stderr)
        return 2
    copy_shared(shared)
    make_workspace()
    build_registry()
    print(f"sample workspace: {WORKSPACE.relative_to(ROOT)} (geomap --workspace {WORKSPACE.relative_to(ROOT)} …)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
