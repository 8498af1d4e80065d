"""Service circles across regions: each region's bands on its own network, merged into one national set.

A place's published map draws the service-circle bands of all its stations
(:func:`geomap.publish.maps.service_bands`: every street's time to its nearest station, rasterised and traced
into rings 0–5, 5–10, 10–15 minutes). Across regions:

* :func:`region_circles` (the batch's ``circles`` task, inside a worker) draws region ``i``'s bands for the
  stations it is responsible for — those it counts (:meth:`RegionsWorkspace.owner`), plus the stations in no
  outline that the router gives it (:class:`~geomap.regions.router.RegionRouter`: the nearest buffer) — on
  its own network: its extract clipped to the outline plus the buffer, so a circle crossing the border is
  drawn on the neighbour's streets, exactly up to the buffer (``docs/regions.md``). It answers with the area
  reached **within** each time (the union of the bands up to it), WGS84 GeoJSON simplified as the place's
  map simplifies its bands (``2e-5`` degrees, about 2 m; 6 decimals).
* :func:`merge_circles` unions those areas across regions, per time (a station is drawn by one region only;
  neighbours' circles may overlap near a border and are unioned), and cuts them into rings again:
  ring *i* = within ``minutes[i]`` anywhere, minus within ``minutes[i-1]`` anywhere. A point 5 minutes from
  one region's station and 12 from another's is in the 0–5 ring only, as on a place's map (each point
  takes its nearest station).

The rings are drawn by :func:`geomap.publish.maps.build_map` (``bands=``), as a place's are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geomap.regions.workspace import RegionsWorkspace

__all__ = ["CIRCLE_MINUTES", "SIMPLIFY_DEG", "circle_owners", "circle_params", "merge_circles", "region_circles",
           "within_areas"]

CIRCLE_MINUTES: tuple[float, ...] = (5.0, 10.0, 15.0)
"""The published map's default bands (minutes), as a place's map (``geomap map --minutes``)."""

SIMPLIFY_DEG = 2e-5
"""Simplification tolerance of the regions' answers (degrees; the place map's, about 2 m)."""


def circle_owners(rws: RegionsWorkspace, lon: Any, lat: Any) -> np.ndarray:
    """Which region draws each WGS84 station's circle (int64; -1: none): the region counting it, else — a
    station in no outline — the region the router sends its point to (nearest outline whose buffer holds it)."""
    from geomap.regions.router import RegionRouter

    return RegionRouter(rws).region_for(lon, lat)


def circle_params(rws: RegionsWorkspace, *, minutes: Sequence[float] | None = None,
                  mode: str | None = None) -> dict[str, Any]:
    """The ``circles`` task's parameters in one spelling (minutes sorted floats, the mode resolved to the
    settings' default), so that the map command and the service find each other's cached regions."""
    mins = sorted({float(m) for m in (minutes if minutes is not None else CIRCLE_MINUTES)})
    return {"minutes": mins, "mode": (mode or rws.settings.default_mode).strip().lower()}


def _geojson(geom: shapely.Geometry) -> dict[str, Any]:
    geom = shapely.simplify(geom, SIMPLIFY_DEG, preserve_topology=True)
    geom = shapely.transform(geom, lambda xy: np.round(xy, 6))
    return json.loads(shapely.to_geojson(geom))


def region_circles(rws: RegionsWorkspace, i: int, *, minutes: Sequence[float] = CIRCLE_MINUTES,
                   mode: str | None = None, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Region ``i``'s service circles (JSON-able; see the module docstring): ``within`` — per value of
    ``minutes`` (ascending), the area reached within it from the region's stations, a WGS84 GeoJSON geometry;
    ``area_km2`` of each; ``minutes``, ``mode`` (default ``settings.default_mode``); ``stations`` (the stations
    it draws) and ``on_network`` (of those, the ones near enough a street to be drawn)."""
    from geomap.publish.maps import service_bands

    frame = rws.stations() if frame is None else frame
    routed = rws.station_frame(i, frame)
    lon, lat = routed["lon"].to_numpy(float), routed["lat"].to_numpy(float)
    mine = circle_owners(rws, lon, lat) == i
    ws = rws.region(i)
    mins = sorted({float(m) for m in minutes})
    with ws.in_force():
        mode = (mode or ws.settings.default_mode).strip().lower()
        bands = service_bands(ws.graph(mode), lon[mine], lat[mine], minutes=mins)
    rings = list(bands.geometry)
    within = [shapely.union_all(rings[: k + 1]) for k in range(len(rings))]
    return {"key": rws.specs[i].key, "name": rws.specs[i].name, "mode": mode, "minutes": mins,
            "stations": int(mine.sum()), "on_network": int(bands["stations"].iloc[0]) if len(bands) else 0,
            "area_km2": [float(a) for a in bands["area_km2"]], "within": [_geojson(g) for g in within]}


def within_areas(payload: dict[str, Any]) -> list[shapely.Geometry]:
    """The areas of a :func:`region_circles` answer as shapely geometries (WGS84), one per minute value."""
    return [shapely.from_geojson(json.dumps(g)) for g in payload["within"]]


def _geodesic_km2(geom: shapely.Geometry) -> float:
    from pyproj import Geod

    if geom.is_empty:
        return 0.0
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    return abs(float(area)) / 1e6


def merge_circles(payloads: Sequence[dict[str, Any]], *, minutes: Sequence[float] | None = None) -> Any:
    """One set of rings from the regions' :func:`region_circles` answers: per value of ``minutes``, the union
    across regions of the area reached within it, cut into rings (band *i*: within ``minutes[i]``, not within
    ``minutes[i-1]``). A GeoDataFrame (WGS84) with the columns of :func:`geomap.publish.maps.service_bands`:
    ``minutes_lo``, ``minutes``, ``area_km2`` (geodesic area reached within ``minutes``, all rings below
    included, km²), ``stations`` (drawn, summed over regions) and ``geometry``."""
    import geopandas as gpd

    mins = sorted({float(m) for m in (minutes if minutes is not None else
                                     (payloads[0]["minutes"] if payloads else CIRCLE_MINUTES))})
    for p in payloads:
        if [float(m) for m in p["minutes"]] != mins:
            raise ValueError(f"地区 {p['key']} 的服务圈分钟数 {p['minutes']} 与 {mins} 不同 / regions' minutes differ")
    parts = [within_areas(p) for p in payloads]
    within = [shapely.union_all([a[k] for a in parts]) if parts else shapely.MultiPolygon()
              for k in range(len(mins))]
    rings = [within[0], *(shapely.difference(within[k], within[k - 1]) for k in range(1, len(mins)))]
    return gpd.GeoDataFrame(
        {"minutes_lo": [0.0, *mins[:-1]], "minutes": mins, "area_km2": [_geodesic_km2(w) for w in within],
         "stations": [sum(int(p["on_network"]) for p in payloads)] * len(mins)},
        geometry=gpd.GeoSeries(rings, crs=4326))
