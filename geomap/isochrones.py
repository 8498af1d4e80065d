"""Service circles (服务圈): the area reachable within T minutes along the street network.

Method (see ``docs/network.md``): one bounded Dijkstra from the snapped origin gives every node's travel
time; each street is then covered from each end as far as the remaining time allows (the partly reached
street is cut at the reachable fraction; the origin's own street is covered from the origin both ways
where allowed). Those reachable street pieces are buffered by a street half-width ``buffer_m`` in the
graph's local metric frame (azimuthal equidistant, metres) and unioned; interior holes smaller than
``hole_fill_m2`` are filled, block-sized holes stay. Not a buffer around the point, not a convex hull.

Guarantees: every point of the network reachable within T lies inside the T polygon; any point inside
it is within ``buffer_m`` (straight line) of a reachable street point or inside a filled hole smaller
than ``hole_fill_m2``. For the inside/outside margin used by the tests see ``docs/network.md``.

Output polygons are in WGS84 by default (or ``crs="gcj02"`` / ``"bd09"``), with ``area_km2`` measured in
the metric frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

from geomap.coords import normalize_crs, transform
from geomap.network import StreetGraph
from geomap.routing import Snapped, _snap_index, pieces_coords, snap_points, travel_times_from
from geomap.settings import get_settings

__all__ = ["isochrones", "reachable_pieces"]

DEFAULT_BUFFER_M = 30.0
DEFAULT_HOLE_FILL_M2 = 20_000.0


def reachable_pieces(
    graph: StreetGraph,
    node_time_s: npt.NDArray[np.float64],
    origin: Snapped,
    origin_pos: int,
    limit_s: float,
    *,
    direction: Literal["from", "to"] = "from",
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Street pieces ``(street, f_lo, f_hi)`` (fractions of each street, 0 at ``street_u``) reachable
    within ``limit_s`` seconds, given the node times (s) of one origin and the origin's snap."""
    t = graph.street_travel_s
    tu = node_time_s[graph.street_u]
    tv = node_time_s[graph.street_v]
    fw, bw = graph.street_forward, graph.street_backward
    # leaving u toward v covers [0, x] (needs forward for "from", backward for "to"); v likewise
    low_ok = (fw if direction == "from" else bw) & (tu <= limit_s)
    high_ok = (bw if direction == "from" else fw) & (tv <= limit_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach_u = np.where(t > 0, (limit_s - tu) / np.where(t > 0, t, 1.0), 1.0)
        reach_v = np.where(t > 0, (limit_s - tv) / np.where(t > 0, t, 1.0), 1.0)
    s_low = np.flatnonzero(low_ok)
    s_high = np.flatnonzero(high_ok)
    streets = [s_low, s_high]
    lo = [np.zeros(len(s_low)), np.clip(1.0 - reach_v[s_high], 0.0, 1.0)]
    hi = [np.clip(reach_u[s_low], 0.0, 1.0), np.ones(len(s_high))]
    if origin.ok[origin_pos]:
        s = int(origin.street[origin_pos])
        f = float(origin.fraction[origin_pos])
        span = limit_s / t[s] if t[s] > 0 else 1.0
        ahead_ok = fw[s] if direction == "from" else bw[s]
        behind_ok = bw[s] if direction == "from" else fw[s]
        streets.append(np.array([s, s]))
        lo.append(np.array([f, max(0.0, f - span) if behind_ok else f]))
        hi.append(np.array([min(1.0, f + span) if ahead_ok else f, f]))
    return np.concatenate(streets), np.concatenate(lo), np.concatenate(hi)


def _fill_small_holes(geom: shapely.Geometry, hole_fill_m2: float) -> shapely.Geometry:
    if hole_fill_m2 <= 0 or geom.is_empty:
        return geom
    polys = shapely.get_parts(geom)
    out = []
    for p in polys:
        rings = shapely.get_interior_ring(p, np.arange(shapely.get_num_interior_rings(p)))
        if len(rings):
            areas = shapely.area(shapely.polygons(rings))
            rings = rings[areas >= hole_fill_m2]
        out.append(shapely.polygons(shapely.get_exterior_ring(p), holes=rings if len(rings) else None))
    return shapely.multipolygons(out) if len(out) > 1 else out[0]


def isochrones(
    graph: StreetGraph,
    *,
    lon: float | npt.ArrayLike,
    lat: float | npt.ArrayLike,
    minutes: float | Sequence[float] | None = None,
    origin_ids: Sequence[Any] | None = None,
    direction: Literal["from", "to"] = "from",
    buffer_m: float | None = None,
    hole_fill_m2: float | None = None,
    crs: str = "wgs84",
    max_snap_m: float | None = None,
    quad_segs: int = 4,
    as_geojson: bool = False,
) -> Any:
    """Service-circle polygons around one or more origins (WGS84 lon/lat degrees, scalars or arrays).

    ``minutes`` (default ``[settings.default_minutes]``) gives one polygon per origin and value.
    ``direction="from"`` (default): places reachable *from* the origin; ``"to"``: places from which the
    origin is reachable (differs only where one-way streets matter: e-bike, drive, truck).
    ``buffer_m``: street half-width in metres (default ``settings.isochrone_buffer_m`` or 30);
    ``hole_fill_m2``: holes smaller than this (m²) are filled (default
    ``settings.isochrone_hole_fill_m2`` or 20,000 m²). ``crs``: output coordinate system (``wgs84``,
    ``gcj02`` or ``bd09``). Origins farther than ``max_snap_m`` from every street raise
    :class:`~geomap.routing.SnapError`.

    Returns a GeoDataFrame with columns ``origin`` (position), ``origin_id``, ``minutes``, ``area_km2``
    and the polygon ``geometry`` (EPSG:4326 for WGS84; no EPSG code for GCJ-02 / BD-09, which have none),
    or a GeoJSON-like dict (FeatureCollection) with ``as_geojson=True``.
    """
    import geopandas as gpd

    settings = get_settings()
    if minutes is None:
        minutes = [settings.default_minutes]
    mins = sorted({float(m) for m in np.atleast_1d(np.asarray(minutes, dtype=float))})
    if any(m <= 0 for m in mins):
        raise ValueError("minutes must be positive")
    buffer_m = float(getattr(settings, "isochrone_buffer_m", DEFAULT_BUFFER_M) if buffer_m is None else buffer_m)
    hole_fill_m2 = float(
        getattr(settings, "isochrone_hole_fill_m2", DEFAULT_HOLE_FILL_M2) if hole_fill_m2 is None else hole_fill_m2
    )
    dst = normalize_crs(crs)
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
    ids = list(range(len(lon_a))) if origin_ids is None else list(origin_ids)
    if len(ids) != len(lon_a):
        raise ValueError("origin_ids must have one entry per origin")
    snapped = snap_points(graph, lon_a, lat_a, max_snap_m=max_snap_m)
    limit = max(mins) * 60.0
    times = travel_times_from(graph, snapped, limit_s=limit, direction=direction)
    si = _snap_index(graph)
    to_ll = Transformer.from_crs(si.to_xy.target_crs, "EPSG:4326", always_xy=True)

    rows: list[dict[str, Any]] = []
    geoms: list[shapely.Geometry] = []
    for o in range(len(lon_a)):
        node_t = times[o]
        for m in mins:
            lim = m * 60.0
            st, flo, fhi = reachable_pieces(graph, node_t, snapped, o, lim, direction=direction)
            poly = _pieces_polygon(graph, si, st, flo, fhi, buffer_m, quad_segs)
            poly = _fill_small_holes(poly, hole_fill_m2)
            area_km2 = float(shapely.area(poly)) / 1e6
            poly = shapely.transform(poly, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
            if dst != "wgs84":
                poly = shapely.transform(
                    poly, lambda xy: np.column_stack(transform(xy[:, 0], xy[:, 1], src="wgs84", dst=dst))
                )
            rows.append({"origin": o, "origin_id": ids[o], "minutes": m, "area_km2": area_km2})
            geoms.append(poly)
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326" if dst == "wgs84" else None)
    gdf["coord_system"] = dst
    if as_geojson:
        return gdf.to_geo_dict(drop_id=True)
    return gdf


def _pieces_polygon(
    graph: StreetGraph,
    si: Any,
    street: npt.NDArray[np.int64],
    f_lo: npt.NDArray[np.float64],
    f_hi: npt.NDArray[np.float64],
    buffer_m: float,
    quad_segs: int,
) -> shapely.Geometry:
    """Union of the buffered street pieces, in the local metric frame (metres).

    Reached nodes need no extra disc: each is the end of a reachable piece (a piece of zero length
    buffers to a disc, as GEOS gives round caps to degenerate lines).
    """
    if not len(street):
        return shapely.Polygon()
    lon, lat, piece = pieces_coords(graph, street, f_lo, f_hi)
    x, y = si.to_xy.transform(lon, lat)
    lines = shapely.linestrings(np.column_stack([x, y]), indices=piece)
    return shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=quad_segs))
