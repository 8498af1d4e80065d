"""Coverage and gaps of one region of a regions workspace, each thing counted in exactly one region.

A region's planning study is the place's own (:meth:`geomap.workspace.Workspace.study` on the clipped
extract, the outline as study area), with three changes so that summing regions double counts nothing:

* its 街道 are cut to the outline, and the part of the outline no 街道 covers becomes one more row,
  ``<地区>（其他）`` (the whole outline when the extract has no 街道), so every point inside is in a row;
* each demand layer keeps only the points the region counts (:meth:`RegionsWorkspace.owner`: the first
  region whose outline covers them, the line included; restaurants are taken again from the extract, as the
  place's layer drops points on the outline itself);
* street length and covered area are summed over those 街道 rows only: the buffer's streets (the
  neighbours') take part in the routes, never in the counts.

Stations: the region routes to every station within its outline plus the buffer (its neighbours' near the
border serve its people too), and counts as its own only those it owns.

All coordinates WGS84; times in minutes; lengths km; areas km².
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geomap.regions.workspace import RegionsWorkspace

__all__ = ["RegionStudy", "coverage_payload", "region_coverage", "region_gaps", "region_study", "totals"]

SUM_COLUMNS_SUFFIX = ("_covered",)


@dataclasses.dataclass
class RegionStudy:
    """A region's study (:class:`geomap.planning.study.Study`), its station index (the stations it routes to)
    and the ids of the stations it counts as its own."""

    key: str
    name: str
    study: Any
    index: Any
    owned_ids: set[str]


def region_study(rws: RegionsWorkspace, i: int, *, frame: pd.DataFrame | None = None) -> RegionStudy:
    """Region ``i``'s :class:`RegionStudy` (see the module docstring). ``frame``: the registry with its
    ``region`` column (:meth:`RegionsWorkspace.stations`), when the caller has it."""
    import geopandas as gpd

    from geomap.planning.subdistricts import assign_subdistrict
    from geomap.stations.index import StationIndex

    spec = rws.specs[i]
    ws = rws.region(i)
    study = ws.study()
    boundary = rws.boundaries[i]
    sds = study.subdistricts
    if len(sds):
        sds = sds.assign(geometry=shapely.intersection(sds.geometry.values, boundary))
        sds = sds[~shapely.is_empty(sds.geometry.values)].reset_index(drop=True)
    rest = shapely.difference(boundary, shapely.union_all(sds.geometry.values)) if len(sds) else boundary
    if not shapely.is_empty(rest) and shapely.area(rest) > 0:
        row = {c: np.nan for c in sds.columns if c != "geometry"}
        row.update(name=f"{spec.name}（其他）" if len(sds) else spec.name, source="region")
        sds = gpd.GeoDataFrame(pd.concat([sds, gpd.GeoDataFrame([{**row, "geometry": rest}], crs="EPSG:4326")],
                                         ignore_index=True), geometry="geometry", crs="EPSG:4326")
    layers = []
    for lay in study.demand:
        if lay.name == "restaurants" and study.features is not None:
            # the place's layer keeps points strictly inside the outline: one exactly on a border would be
            # counted by neither region; taken again from the extract, the owner rule decides
            from geomap.planning.demand import pois_layer

            lay = pois_layer(study.features.pois, sds)
        mine = rws.owner(lay.lon, lay.lat) == i
        lon, lat = lay.lon[mine], lay.lat[mine]
        layers.append(dataclasses.replace(lay, lon=lon, lat=lat, weight=lay.weight[mine],
                                          subdistrict=assign_subdistrict(sds, lon, lat)))
    study.subdistricts, study.demand = sds, layers
    frame = rws.stations() if frame is None else frame
    routed = rws.station_frame(i, frame)
    owned = set(routed.loc[routed["region"] == i, "id"].astype(str))
    return RegionStudy(key=spec.key, name=spec.name, study=study, index=StationIndex.from_frame(routed),
                       owned_ids=owned)


def totals(table: pd.DataFrame, *, layers: list[str]) -> dict[str, float]:
    """One row summing per-街道 rows: lengths, amounts and areas added, shares recomputed (NaN when the
    total is nothing: not measured, never 0 %)."""
    row: dict[str, float] = {}
    for col in ("street_km", "street_covered_km", "covered_area_km2", *layers, *(f"{n}_covered" for n in layers)):
        if col in table.columns:
            row[col] = float(np.nansum(table[col].to_numpy(float))) if len(table) else 0.0
    if "street_km" in row:
        row["street_share"] = row["street_covered_km"] / row["street_km"] if row["street_km"] > 0 else np.nan
    for n in layers:
        if n in row:
            row[f"{n}_share"] = row[f"{n}_covered"] / row[n] if row[n] > 0 else np.nan
    return row


def region_coverage(rws: RegionsWorkspace, i: int, *, minutes: float | None = None, mode: str | None = None,
                    kind: Any = None, amenity: Any = None, open_at: Any = None, with_area: bool = True,
                    frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Coverage of region ``i`` (JSON-able): ``subdistricts`` (records, one per 街道 of the region),
    ``region`` (their sum, with ``stations``: the stations it owns matching the filters, and
    ``stations_routed``: those its routes reach, its neighbours' near the border included), ``notes``,
    ``absent``, ``minutes``, ``mode``."""
    from geomap.planning.coverage import filter_stations

    rs = region_study(rws, i, frame=frame)
    res = rs.study.coverage(rs.index, minutes=minutes, mode=mode, kind=kind, amenity=amenity, open_at=open_at,
                            with_area=with_area)
    with rws.region(i).in_force():
        chosen = filter_stations(rs.index, kind=kind, amenity=amenity, open_at=open_at)
    return coverage_payload(rs, res, chosen)


def coverage_payload(rs: RegionStudy, res: Any, chosen: Any) -> dict[str, Any]:
    """:func:`region_coverage`'s answer from a coverage result ``res`` of ``rs``'s study and the stations it
    was computed for (``chosen``, filtered): also what the ``report`` batch task returns, so both give the
    same figures."""
    from geomap.planning.coverage import TOTAL_ROW

    layer_names = list(res.demand)
    table = res.table[res.table["subdistrict"] != TOTAL_ROW].reset_index(drop=True)
    table.insert(0, "region", rs.key)
    table.insert(1, "region_name", rs.name)
    region = {"region": rs.key, "region_name": rs.name,
              "stations": int(sum(str(s) in rs.owned_ids for s in chosen.ids)), "stations_routed": len(chosen),
              **totals(table, layers=layer_names)}
    return {"key": rs.key, "name": rs.name, "minutes": res.minutes, "mode": res.mode, "layers": layer_names,
            "subdistricts": _records(table), "region": region, "notes": list(rs.study.notes) + list(res.notes),
            "absent": dict(res.absent)}


def region_gaps(rws: RegionsWorkspace, i: int, *, minutes: float | None = None, mode: str | None = None,
                kind: Any = None, amenity: Any = None, open_at: Any = None, resolution: int | None = None,
                frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """The H3 gap grid of region ``i`` over its outline (JSON-able: ``cells`` a GeoJSON FeatureCollection,
    WGS84, each cell with ``region``; the rank ``gap_rank`` is within the region)."""
    import json

    rs = region_study(rws, i, frame=frame)
    grid = rs.study.gaps(rs.index, minutes=minutes, mode=mode, kind=kind, amenity=amenity, open_at=open_at,
                         resolution=resolution)
    grid.insert(0, "region", rs.key)
    grid.insert(1, "region_name", rs.name)
    return {"key": rs.key, "name": rs.name, "cells": json.loads(grid.to_json(na="null", drop_id=True)),
            "notes": list(rs.study.notes)}


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in table.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        (float(v) if isinstance(v, np.floating) else v)) for k, v in rec.items()})
    return out
