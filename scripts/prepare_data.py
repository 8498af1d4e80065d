"""The data step (`make data`): copy the sample data from ../shared/data into the ignored part of data/,
then build the sample station registry.

The third-party files (OpenStreetMap extract, Anting station list, census table, boundaries) are never
committed; when ../shared/data is missing this script says how to get an extract for one's own city.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBDIRS = ("osm", "stations", "population", "boundaries")
SAMPLE_CSV = ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv"

HOW_TO = """\
The sample data folder {shared} is not there.

geomap needs an OpenStreetMap extract of your city. Either:
  * put the project's shared data beside the checkout (../shared/data), or
  * download an extract for your own city, e.g. with geomap itself (needs internet):
        .venv/bin/geomap network build --place "杨浦区, 上海市" --modes walk,ebike
    or a bounding box (west,south,east,north in WGS84 degrees):
        .venv/bin/geomap network build --bbox 121.477,31.278,121.528,31.332
  * or save an .osm.pbf from any OSM extract service (e.g. a Geofabrik region file cut with
    `osmium extract -b W,S,E,N`) as data/osm/<name>.osm.pbf.
Your own station list imports with:
        .venv/bin/geomap import FILE.csv --crs gcj02
"""


def copy_shared(shared: Path) -> None:
    """Copy ../shared/data/<subdir>/* into data/<subdir>/, skipping files already up to date."""
    for sub in SUBDIRS:
        src_dir = shared / sub
        if not src_dir.is_dir():
            continue
        dst_dir = ROOT / "data" / sub
        dst_dir.mkdir(parents=True, exist_ok=True)
        for src in sorted(src_dir.iterdir()):
            dst = dst_dir / src.name
            if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
                continue
            shutil.copyfile(src, dst)
            print(f"copied {src} -> {dst.relative_to(ROOT)}")


def build_registry(registry: Path) -> None:
    """(Re)build the sample registry from the committed sample CSV (GCJ-02) when the CSV is newer."""
    if not SAMPLE_CSV.exists():
        return
    if registry.exists() and registry.stat().st_mtime >= SAMPLE_CSV.stat().st_mtime:
        return
    if registry.exists():
        registry.unlink()
    cmd = [sys.executable, "-m", "geomap.cli", "--registry", str(registry), "import", str(SAMPLE_CSV),
           "--crs", "gcj02", "--quiet"]
    subprocess.run(cmd, check=True)
    print(f"built sample registry {registry}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--registry", type=Path, default=ROOT / "data" / "registry.gpkg")
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_absolute() else (ROOT / args.shared).resolve()
    if not shared.is_dir():
        print(HOW_TO.format(shared=shared), file=sys.stderr)
        return 2
    copy_shared(shared)
    registry = args.registry if args.registry.is_absolute() else ROOT / args.registry
    build_registry(registry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
