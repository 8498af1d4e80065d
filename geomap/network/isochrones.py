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

Speed: the buffered streets are not re-unioned per query. Per graph (and ``buffer_m`` / ``quad_segs``) a
:class:`_BufferTree` orders the streets spatially (k-d splits of their centres) into a binary tree; a
tree node's geometry is the union of its streets' buffers, computed on first use and kept. A query
takes the largest subtrees whose streets are all fully reached, buffers only the partly reached pieces,
and unions those few parts.

Output polygons are in WGS84 by default (or ``crs="gcj02"`` / ``"bd09"``), with ``area_km2`` measured in
the metric frame.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer

from geomap.coords import normalize_crs, transform
from geomap.network.graph import StreetGraph
from geomap.network.routing import (
    Snapped,
    _snap_index,
    access_s,
    pieces_coords,
    snap_points,
    travel_times_from,
)
from geomap.settings import get_settings

__all__ = ["end_pieces", "isochrones", "prepare_isochrones", "reachable_pieces"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_BUFFER_M = 30.0
DEFAULT_HOLE_FILL_M2 = 20_000.0


def end_pieces(
    graph: StreetGraph, node_time_s: npt.NDArray[np.float64], limit_s: float, *,
    direction: Literal["from", "to"] = "from",
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Street pieces ``(street, f_lo, f_hi)`` (fractions from ``street_u``) reached within ``limit_s``
    seconds through a street's end nodes, given every node's time (s) from (``"from"``) or to (``"to"``)
    the origins. Pieces reached along the origins' own streets are the caller's to add."""
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
    return (np.concatenate([s_low, s_high]),
            np.concatenate([np.zeros(len(s_low)), np.clip(1.0 - reach_v[s_high], 0.0, 1.0)]),
            np.concatenate([np.clip(reach_u[s_low], 0.0, 1.0), np.ones(len(s_high))]))


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
    streets, lo, hi = end_pieces(graph, node_time_s, limit_s, direction=direction)
    if not origin.ok[origin_pos]:
        return streets, lo, hi
    t = graph.street_travel_s
    s = int(origin.street[origin_pos])
    f = float(origin.fraction[origin_pos])
    left = limit_s - float(access_s(graph, origin.distance_m[origin_pos]))  # after the origin's access leg
    if left < 0:
        return streets, lo, hi
    span = left / t[s] if t[s] > 0 else 1.0
    ahead_ok = graph.street_forward[s] if direction == "from" else graph.street_backward[s]
    behind_ok = graph.street_backward[s] if direction == "from" else graph.street_forward[s]
    return (np.concatenate([streets, [s, s]]),
            np.concatenate([lo, [f, max(0.0, f - span) if behind_ok else f]]),
            np.concatenate([hi, [min(1.0, f + span) if ahead_ok else f, f]]))


def _fill_small_holes(geom: shapely.Geometry, hole_fill_m2: float) -> shapely.Geometry:
    """Fill the interior rings smaller than ``hole_fill_m2`` (m², metric frame); all rings at once."""
    if hole_fill_m2 <= 0 or geom.is_empty:
        return geom
    polys = shapely.get_parts(geom)
    n_holes = shapely.get_num_interior_rings(polys)
    if not n_holes.any():
        return geom
    owner = np.repeat(np.arange(len(polys)), n_holes)
    ring_no = np.arange(len(owner)) - np.repeat(np.cumsum(n_holes) - n_holes, n_holes)
    rings = shapely.get_interior_ring(polys[owner], ring_no)
    small = shapely.area(shapely.polygons(rings)) < hole_fill_m2
    if not small.any():
        return geom
    touched = np.unique(owner[small])
    keep = ~small & np.isin(owner, touched)
    # rebuild the touched polygons: their shell first, then the holes they keep
    shells = shapely.get_exterior_ring(polys[touched])
    ring_geoms = np.concatenate([shells, rings[keep]])
    ring_index = np.concatenate([touched, owner[keep]])
    order = np.argsort(np.concatenate([np.zeros(len(touched)), np.ones(int(keep.sum()))]), kind="stable")
    order = order[np.argsort(ring_index[order], kind="stable")]
    rebuilt = shapely.polygons(ring_geoms[order], indices=np.searchsorted(touched, ring_index[order]))
    polys = polys.copy()
    polys[touched] = rebuilt
    return shapely.multipolygons(polys) if len(polys) > 1 else polys[0]


def area_of_pieces(graph: StreetGraph, street: IntArray, f_lo: FloatArray, f_hi: FloatArray, *,
                   buffer_m: float | None = None, hole_fill_m2: float | None = None) -> shapely.Geometry:
    """The area of street pieces ``(street, f_lo, f_hi)``: buffered by ``buffer_m`` and unioned (whole
    subtrees of fully covered streets from the graph's buffer tree), holes smaller than ``hole_fill_m2``
    filled; a polygon in the graph's local metric frame (metres; :func:`to_wgs84` turns it back).
    Zero-length pieces count (a node reached with no time left: a disc)."""
    settings = get_settings()
    buffer_m = float(getattr(settings, "isochrone_buffer_m", DEFAULT_BUFFER_M) if buffer_m is None else buffer_m)
    hole_fill_m2 = float(
        getattr(settings, "isochrone_hole_fill_m2", DEFAULT_HOLE_FILL_M2) if hole_fill_m2 is None else hole_fill_m2)
    tree = _buffer_tree(graph, buffer_m, 4)
    keep = f_hi >= f_lo
    poly = tree.polygon(street[keep], f_lo[keep], f_hi[keep]) if keep.any() else shapely.Polygon()
    return _fill_small_holes(poly, hole_fill_m2)


def to_wgs84(graph: StreetGraph, geom: Any) -> Any:
    """Geometries (scalar or array) from the graph's local metric frame back to WGS84 degrees."""
    to_ll = _buffer_tree(graph, get_settings().isochrone_buffer_m, 4).to_ll
    return shapely.transform(geom, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))


def prepare_isochrones(graph: StreetGraph, *, buffer_m: float | None = None, quad_segs: int = 4) -> None:
    """Build the graph's whole buffered-street tree now (otherwise :func:`isochrones` builds the parts it
    needs on first use and keeps them). Worth it for a server answering many service-circle queries."""
    settings = get_settings()
    buffer_m = float(getattr(settings, "isochrone_buffer_m", DEFAULT_BUFFER_M) if buffer_m is None else buffer_m)
    tree = _buffer_tree(graph, buffer_m, quad_segs)
    if graph.n_streets:
        tree._node_geoms(tree.levels, np.array([0]))


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
    :class:`~geomap.network.routing.SnapError`.

    Returns a GeoDataFrame with columns ``origin`` (position), ``origin_id``, ``minutes``, ``area_km2``
    and the polygon ``geometry`` (EPSG:4326 for WGS84; no EPSG code for GCJ-02 / BD-09, which have none),
    or a GeoJSON-like dict (FeatureCollection) with ``as_geojson=True``.
    """
    import geopandas as gpd
    import pandas as pd

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
    tree = _buffer_tree(graph, buffer_m, quad_segs)

    n_out = len(lon_a) * len(mins)
    geoms = np.empty(n_out, dtype=object)
    area_km2 = np.empty(n_out)
    for o in range(len(lon_a)):
        node_t = times[o]
        for i, m in enumerate(mins):
            r = o * len(mins) + i
            st, flo, fhi = reachable_pieces(graph, node_t, snapped, o, m * 60.0, direction=direction)
            poly = _fill_small_holes(tree.polygon(st, flo, fhi), hole_fill_m2)
            area_km2[r] = float(shapely.area(poly)) / 1e6
            geoms[r] = poly
    # metric frame -> WGS84 (-> GCJ-02 / BD-09), all polygons in one pass
    to_ll = tree.to_ll
    geoms = shapely.transform(geoms, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    if dst != "wgs84":
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(transform(xy[:, 0], xy[:, 1], src="wgs84", dst=dst))
        )
    origin = np.repeat(np.arange(len(lon_a)), len(mins))
    columns = {
        "origin": origin,
        "origin_id": [ids[o] for o in origin.tolist()],
        "minutes": np.tile(np.asarray(mins, dtype=float), len(lon_a)),
        "area_km2": area_km2,
        "coord_system": [dst] * n_out,
    }
    columns["geometry"] = gpd.array.from_shapely(geoms, crs=_wgs84_crs() if dst == "wgs84" else None)
    gdf = gpd.GeoDataFrame(pd.DataFrame(columns), geometry="geometry")
    if as_geojson:
        return gdf.to_geo_dict(drop_id=True)
    return gdf


class _BufferTree:
    """Buffered streets of one graph in the local metric frame, in a binary tree for fast unions.

    Streets are ordered by k-d splits of their centres (alternating the wider axis, halves of equal
    size) into the leaves of an implicit binary tree with ``2**levels`` slots (slot ``i`` of level ``l``
    covers leaves ``[i * 2**l, (i + 1) * 2**l)``; empty slots hold no street). A node's geometry is the
    union of the buffers of all its streets; it is computed when first needed (from its children) and
    kept, so after a few queries the unions around a place are done once.
    """

    def __init__(self, graph: StreetGraph, buffer_m: float, quad_segs: int) -> None:
        self.graph = graph
        self.buffer_m = float(buffer_m)
        self.quad_segs = int(quad_segs)
        si = _snap_index(graph)
        self.to_xy = si.to_xy
        self.to_ll = Transformer.from_crs(si.to_xy.target_crs, "EPSG:4326", always_xy=True)
        gx, gy = si.to_xy.transform(graph.geom_lon, graph.geom_lat)
        self.xy = (np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64))
        ns = graph.n_streets
        self.levels = int(np.ceil(np.log2(ns))) if ns > 1 else 0
        self.slot = self._kd_slots()  # leaf slot of every street
        size = 1 << self.levels
        occupied = np.zeros(size, dtype=bool)
        occupied[self.slot] = True
        self.slot_street = np.full(size, -1, dtype=np.int64)
        self.slot_street[self.slot] = np.arange(ns)
        # per level: does the node hold any street; its geometry once computed (None: not yet)
        self.occupied = [occupied]
        for _ in range(self.levels):
            occupied = occupied[0::2] | occupied[1::2]
            self.occupied.append(occupied)
        self.geom = [np.full(len(o), None, dtype=object) for o in self.occupied]

    def _kd_slots(self) -> IntArray:
        g = self.graph
        ns = g.n_streets
        if ns == 0:
            return np.zeros(0, dtype=np.int64)
        off = g.geom_offsets
        x, y = self.xy
        cx = (np.minimum.reduceat(x, off[:-1]) + np.maximum.reduceat(x, off[:-1])) / 2
        cy = (np.minimum.reduceat(y, off[:-1]) + np.maximum.reduceat(y, off[:-1])) / 2
        node = np.zeros(ns, dtype=np.int64)  # node index at the current level, top down
        for _ in range(self.levels):
            # per node: split along its wider axis, first ceil(m / 2) streets go left
            order = np.argsort(node, kind="stable")
            nd = node[order]
            starts = np.flatnonzero(np.r_[True, nd[1:] != nd[:-1]])
            spread_x = np.maximum.reduceat(cx[order], starts) - np.minimum.reduceat(cx[order], starts)
            spread_y = np.maximum.reduceat(cy[order], starts) - np.minimum.reduceat(cy[order], starts)
            counts = np.diff(np.r_[starts, ns])
            use_x = np.repeat(spread_x >= spread_y, counts)
            key = np.where(use_x, cx[order], cy[order])
            order = order[np.lexsort((key, nd))]
            rank = np.arange(ns) - np.repeat(starts, counts)
            right = rank >= np.repeat((counts + 1) // 2, counts)
            node[order] = node[order] * 2 + right
        return node

    def _node_geoms(self, level: int, idx: IntArray) -> npt.NDArray[np.object_]:
        """Geometries of nodes ``idx`` (all occupied) of ``level``, computing missing ones bottom-up."""
        need: list[IntArray] = [np.zeros(0, dtype=np.int64)] * (self.levels + 1)
        need[level] = idx
        for lv in range(level, 0, -1):  # top down: children of the missing nodes
            miss = need[lv][shapely.is_missing(self.geom[lv][need[lv]])]
            kids = np.concatenate([2 * miss, 2 * miss + 1])
            kids = kids[self.occupied[lv - 1][kids]]
            need[lv - 1] = np.union1d(need[lv - 1], kids)
        for lv in range(level + 1):  # bottom up
            geo = self.geom[lv]
            miss = need[lv][shapely.is_missing(geo[need[lv]])]
            if not len(miss):
                continue
            if lv == 0:
                geo[miss] = self._buffer(self.slot_street[miss], np.zeros(len(miss)), np.ones(len(miss)))
                continue
            a, b = self.geom[lv - 1][2 * miss], self.geom[lv - 1][2 * miss + 1]
            has_a, has_b = ~shapely.is_missing(a), ~shapely.is_missing(b)
            out = np.where(has_a, a, b)
            both = has_a & has_b
            out[both] = shapely.union(a[both], b[both])
            geo[miss] = out
        return self.geom[level][idx]

    def _buffer(self, street: IntArray, f_lo: FloatArray, f_hi: FloatArray) -> npt.NDArray[np.object_]:
        x, y, piece = pieces_coords(self.graph, street, f_lo, f_hi, xy=self.xy)
        lines = shapely.linestrings(np.column_stack([x, y]), indices=piece)
        return shapely.buffer(lines, self.buffer_m, quad_segs=self.quad_segs)

    def polygon(self, street: IntArray, f_lo: FloatArray, f_hi: FloatArray) -> shapely.Geometry:
        """Union of the buffered pieces ``(street, f_lo, f_hi)`` in the metric frame (metres).

        Streets covered end to end (by one piece, or by a piece from each end that meet) come from the
        tree as whole subtrees; the other pieces are buffered here. Reached nodes need no extra disc: each
        is the end of a reachable piece (a zero-length piece buffers to a disc: GEOS gives round caps to
        degenerate lines).
        """
        if not len(street):
            return shapely.Polygon()
        ns = self.graph.n_streets
        reach_lo = np.zeros(ns)  # covered from u over [0, reach_lo]
        reach_hi = np.full(ns, 2.0)  # covered from v over [reach_hi, 1]
        at_u = f_lo <= 0.0
        at_v = f_hi >= 1.0
        np.maximum.at(reach_lo, street[at_u], f_hi[at_u])
        np.minimum.at(reach_hi, street[at_v], f_lo[at_v])
        full = reach_lo >= reach_hi
        part = ~full[street]
        # largest subtrees with every street fully covered (empty slots count as covered)
        ok = np.ones(1 << self.levels, dtype=bool)
        ok[self.slot[~full]] = False
        oks = [ok]
        for _ in range(self.levels):
            ok = ok[0::2] & ok[1::2]
            oks.append(ok)
        parts = []
        for lv in range(self.levels + 1):
            take = oks[lv] & self.occupied[lv]
            if lv < self.levels:
                take &= ~np.repeat(oks[lv + 1], 2)
            idx = np.flatnonzero(take)
            if len(idx):
                parts.append(self._node_geoms(lv, idx))
        if part.any():
            parts.append(self._buffer(street[part], f_lo[part], f_hi[part]))
        allp = np.concatenate(parts)
        return allp[0] if len(allp) == 1 else shapely.union_all(allp)


@functools.cache
def _wgs84_crs() -> CRS:
    return CRS.from_epsg(4326)


def _buffer_tree(graph: StreetGraph, buffer_m: float, quad_segs: int) -> _BufferTree:
    """The graph's (cached) :class:`_BufferTree` for this buffer width and arc resolution."""
    trees: dict[tuple[float, int], _BufferTree] = graph.__dict__.setdefault("_buffer_trees", {})
    key = (float(buffer_m), int(quad_segs))
    tree = trees.get(key)
    if tree is None:
        tree = trees[key] = _BufferTree(graph, buffer_m, quad_segs)
    return tree
