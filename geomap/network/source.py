"""Which street network the CLI (and later the service) routes on, and loading its per-mode graphs.

``geomap network build`` remembers its source in ``<cache_dir>/active_network.json``: an OSM file path,
or the WGS84 polygon of a download (place name or bounding box). Without that record, the first
``*.osm.pbf`` (then ``*.osm``) under ``data/osm/`` is used, which is what ``make data`` puts there.
Graphs come from the on-disk cache of :mod:`geomap.network.graph` after the first build, and are kept in memory
per process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geomap.network.graph import StreetGraph, build_network, network_from_polygon
from geomap.settings import get_settings

_LOADED: dict[tuple[str, str], StreetGraph] = {}


class NoNetworkError(ValueError):
    """No street network is available for routing."""


def _record_path() -> Path:
    return Path(get_settings().cache_dir) / "active_network.json"


def remember_source(*, osm_path: str | Path | None = None, polygon_wkt: str | None = None,
                    label: str = "") -> None:
    """Record the source that later network queries route on."""
    rec: dict[str, Any] = {"label": label}
    if osm_path is not None:
        rec["osm_path"] = str(Path(osm_path).resolve())
    if polygon_wkt is not None:
        rec["polygon_wkt"] = polygon_wkt
    path = _record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, ensure_ascii=False, indent=1), encoding="utf-8")


def active_source() -> dict[str, Any] | None:
    """The remembered source, else the sample extract under data/osm, else None."""
    path = _record_path()
    if path.exists():
        rec = json.loads(path.read_text(encoding="utf-8"))
        if "polygon_wkt" in rec or Path(rec.get("osm_path", "")).exists():
            return rec
    osm_dir = Path(get_settings().data_dir) / "osm"
    for pattern in ("*.osm.pbf", "*.osm"):
        found = sorted(osm_dir.glob(pattern))
        if found:
            return {"osm_path": str(found[0]), "label": found[0].name}
    return None


def load_graph(mode: str, *, osm_path: str | Path | None = None, progress: bool = False) -> StreetGraph:
    """The street graph of ``mode`` for ``osm_path`` or the active source (built once, then cached)."""
    rec = {"osm_path": str(osm_path)} if osm_path is not None else active_source()
    if rec is None:
        raise NoNetworkError(
            "没有可用的路网 / no street network: run `make data` (sample extract), or "
            "`geomap network build --osm FILE.osm.pbf` (or --place / --bbox with internet access).")
    key = (json.dumps(rec, sort_keys=True), mode)
    if key not in _LOADED:
        if "osm_path" in rec:
            graphs = build_network(rec["osm_path"], modes=[mode], progress=progress)
        else:
            import shapely
            graphs = network_from_polygon(shapely.from_wkt(rec["polygon_wkt"]), modes=[mode], progress=progress)
        _LOADED[key] = graphs[mode]
    return _LOADED[key]
