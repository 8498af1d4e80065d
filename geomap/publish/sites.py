"""Proposed sites for publishing: the site proposals of ``geomap plan --out`` read back, and their before / after.

:func:`read_sites` reads any WGS84 GeoJSON of points (the plan's output, or a planner's own list): ``rank`` (else
the file's order), ``name``, ``source``, ``subdistrict``, ``serves`` are used when present. :func:`before_after`
measures, with the planning library (:func:`geomap.planning.coverage.coverage`), how much of each demand layer of
the place is within ``minutes`` by ``mode`` of the existing stations, and again after each proposed site is added
in rank order; what each site newly covers is the difference. The figures are computed here, not copied from the
file, so they hold whatever the file's version; a layer the place has no data for is listed as absent with the
reason, never as 0 % or 100 %.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from geomap.network.graph import StreetGraph
    from geomap.planning.demand import DemandLayer

__all__ = ["SiteFigures", "SitesError", "before_after", "is_sites_file", "read_sites"]

UNIT_ZH = {"people": "人", "places": "个"}


class SitesError(ValueError):
    """A proposed-sites file that cannot be read (message in Chinese, with what to do)."""


@dataclass
class SiteFigures:
    """Proposed sites and what they change.

    ``sites``: one row per site in rank order (``rank``, ``name``, ``source``, ``subdistrict``, ``serves``,
    ``lon`` / ``lat`` WGS84 degrees, ``on_network``). ``layers``: per demand layer ``name``, ``label``
    (Chinese), ``unit`` (Chinese), ``total``, ``before`` and ``after`` (covered weight) and per site ``new``
    (weight newly covered by that site, in rank order). ``absent``: layers without data (Chinese label → why)."""

    sites: pd.DataFrame
    minutes: float
    mode: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _load(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise SitesError(f"找不到选址文件 {p}（应为 `geomap plan --out` 写出的 GeoJSON）")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SitesError(f"无法读取选址文件 {p}：{exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise SitesError(f"选址文件 {p} 不是 GeoJSON FeatureCollection")
    return doc


def is_sites_file(path: str | Path) -> bool:
    """True when ``path`` is a GeoJSON of point features (proposed sites), not a gap grid of polygons."""
    try:
        doc = _load(path)
    except SitesError:
        return False
    feats = doc.get("features") or []
    return bool(feats) and all((f.get("geometry") or {}).get("type") == "Point" for f in feats)


def read_sites(path: str | Path) -> pd.DataFrame:
    """The proposed sites of a WGS84 GeoJSON of points, in rank order: ``rank``, ``name``, ``source``,
    ``subdistrict``, ``serves``, ``lon``, ``lat`` (missing texts empty; a site without a name is called
    拟建站点 N)."""
    doc = _load(path)
    rows = []
    for i, f in enumerate(doc.get("features") or []):
        g = f.get("geometry") or {}
        if g.get("type") != "Point":
            raise SitesError(f"选址文件 {path} 的第 {i + 1} 个要素不是点（{g.get('type')}）：选址结果应是点；"
                             "空白网格请用 --gaps")
        lon, lat = (float(v) for v in g["coordinates"][:2])
        if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
            raise SitesError(f"选址文件 {path} 的第 {i + 1} 个点坐标无效")
        p = f.get("properties") or {}
        rank = p.get("rank")
        rows.append({"rank": int(rank) if isinstance(rank, int | float) and math.isfinite(rank) else i + 1,
                     "name": str(p.get("name") or "").strip(), "source": str(p.get("source") or "").strip(),
                     "subdistrict": str(p.get("subdistrict") or "").strip(),
                     "serves": str(p.get("serves") or "").strip(), "lon": lon, "lat": lat})
    df = pd.DataFrame(rows, columns=["rank", "name", "source", "subdistrict", "serves", "lon", "lat"])
    df = df.sort_values("rank", kind="stable").reset_index(drop=True)
    df["name"] = [n or f"拟建站点 {r}" for n, r in zip(df["name"], df["rank"], strict=True)]
    return df


def before_after(graph: StreetGraph, *, station_lon: Any, station_lat: Any, sites: pd.DataFrame,
                 demand: list[DemandLayer], minutes: float, mode: str, absent: dict[str, str] | None = None
                 ) -> SiteFigures:
    """Coverage of each ``demand`` layer within ``minutes`` along ``graph`` (the ``mode``'s street graph) by the
    existing stations (WGS84 degrees), then with the ``sites`` added one by one in rank order."""
    from geomap.planning.coverage import Stations, coverage
    from geomap.settings import get_settings

    st_lon = np.asarray(station_lon, dtype=np.float64)
    st_lat = np.asarray(station_lat, dtype=np.float64)
    s_lon = sites["lon"].to_numpy(dtype=np.float64)
    s_lat = sites["lat"].to_numpy(dtype=np.float64)
    covered: list[dict[str, float]] = []
    notes: list[str] = []
    for k in range(len(sites) + 1):
        lon = np.concatenate([st_lon, s_lon[:k]])
        lat = np.concatenate([st_lat, s_lat[:k]])
        ids = np.array([f"s{i}" for i in range(len(lon))], dtype=object)
        res = coverage(graph, Stations(lon=lon, lat=lat, ids=ids), minutes=minutes, demand=demand, with_area=False)
        covered.append({lay.name: float(lay.weight[res.demand_time_s[lay.name] <= minutes * 60].sum())
                        for lay in demand})
        if k == len(sites):
            notes += res.notes
    from geomap.network.routing import snap_points

    snap = snap_points(graph, s_lon, s_lat, max_snap_m=get_settings().max_snap_m, errors="ignore")
    out = sites.copy()
    out["on_network"] = np.asarray(snap.ok, dtype=bool)
    if (~out["on_network"]).any():
        notes.append(f"{int((~out['on_network']).sum())} 个拟建站点离道路太远，不计覆盖")
    layers = []
    for lay in demand:
        series = [c[lay.name] for c in covered]
        layers.append({"name": lay.name, "label": lay.label_zh, "unit": UNIT_ZH.get(lay.unit, ""),
                       "total": lay.total, "before": series[0], "after": series[-1],
                       "new": [b - a for a, b in pairwise(series)]})
    return SiteFigures(sites=out, minutes=float(minutes), mode=mode, layers=layers, absent=dict(absent or {}),
                       notes=notes)
