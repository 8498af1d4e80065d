"""One query point through snapping, the nearest-target labels and the routes, compiled with numba.

A phone asks for one point at a time. The array paths of :mod:`geomap.network.routing` pay numpy's per-call
cost (about a microsecond) a few hundred times per query, and plain Python pays about as much per step
of a route walk: either way nearly all of a one-point answer's time. Here the same steps run as small
numba-compiled kernels over the same cached tables (the snapping grid, the per-street label tables, the
predecessor trees), so a one-point answer costs tens of microseconds. :func:`answer_one` runs all three
steps in one compiled call (one dispatch, its arrays gathered once per label index), falling back to the
steps where the snapping grid cannot answer yet.

The answers are those of the array path (same candidates, same formulas, same tie-breaking; the tests
compare the two on the real extract, and the array path is checked against networkx). Units and
coordinates as in :mod:`geomap.network.routing`: WGS84 degrees, metres, seconds. The kernels are compiled on
first use and cached on disk (numba ``cache=True``); the service compiles them while it loads.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import shapely
from numba import njit, types
from numba.experimental import structref

from geomap import coords
from geomap.coords import EARTH_RADIUS_M
from geomap.coords_one import forward as coords_forward
from geomap.coords_one import inverse as coords_inverse
from geomap.network.geojson_text import check_decimals, linestring_json, point_texts, write_linestrings
from geomap.network.graph import StreetGraph
from geomap.network.routing import SnapError, TargetIndex, _core_snap_index, _snap_index, _SnapIndex, core_streets

__all__ = ["PointRoutes", "PointSnap", "RouteFormat", "answer_one", "one_call", "query_one", "routes_one", "snap_one"]

_NOT_FILLED = -2  # the grid cell of the point has not been filled yet
_NO_CANDIDATES = -1  # outside the grid, or a cell far from every street: ask the STRtree


# --- snapping ---------------------------------------------------------------------------------------------

@njit(cache=True)
def _grid_nearest(px, py, cells, ptr, cseg, x0s, y0s, dxs, dys, invs, gx0, gy0, c, nx, ny):  # pragma: no cover
    """The nearest candidate segment of the point's grid cell (float32, as the array path), or a code."""
    ix = math.floor((px - gx0) / c)
    iy = math.floor((py - gy0) / c)
    if ix < 0 or ix >= nx or iy < 0 or iy >= ny:
        return _NO_CANDIDATES
    cell_no = np.int64(ix) * ny + np.int64(iy)
    pos = np.searchsorted(cells, cell_no)
    if pos >= len(cells) or cells[pos] != cell_no:
        return _NOT_FILLED
    lo, hi = ptr[pos], ptr[pos + 1]
    if hi <= lo:
        return _NO_CANDIDATES
    qx0 = np.float32(px - (gx0 + ix * c))
    qy0 = np.float32(py - (gy0 + iy * c))
    best, best_d2 = -1, np.float32(np.inf)
    for i in range(lo, hi):
        qx = qx0 - x0s[i]
        qy = qy0 - y0s[i]
        t = (qx * dxs[i] + qy * dys[i]) * invs[i]
        t = min(max(t, np.float32(0.0)), np.float32(1.0))
        ex = t * dxs[i] - qx
        ey = t * dys[i] - qy
        d2 = ex * ex + ey * ey
        if d2 < best_d2:  # the first of equal minima, as the array path's argmin
            best, best_d2 = i, d2
    return cseg[best]


@njit(cache=True)
def _project(seg, px, py, lon, lat, seg_first, seg_street, gx, gy, glon, glat, cf, radius_m):  # pragma: no cover
    """Foot of the point on segment ``seg``: (street, fraction, great-circle metres, foot lon, foot lat)."""
    a = seg_first[seg]
    x0, y0 = gx[a], gy[a]
    dx, dy = gx[a + 1] - x0, gy[a + 1] - y0
    den = dx * dx + dy * dy
    t = min(max(((px - x0) * dx + (py - y0) * dy) / den, 0.0), 1.0) if den > 0 else 0.0
    slon = glon[a] + t * (glon[a + 1] - glon[a])
    slat = glat[a] + t * (glat[a + 1] - glat[a])
    frac = min(max(cf[a] + t * (cf[a + 1] - cf[a]), 0.0), 1.0)
    r = math.pi / 180.0
    p1, p2 = lat * r, slat * r
    h = math.sin((p2 - p1) / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((slon - lon) * r / 2.0) ** 2
    dist = 2.0 * radius_m * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))
    return seg_street[seg], frac, dist, slon, slat


def _nearest_segment(si: _SnapIndex, px: float, py: float) -> int:
    """The nearest segment (frame of :meth:`_SnapIndex.fast_xy`): the grid cell's candidates (the cell is
    filled on first use), or the STRtree when the cell has none (far from every street)."""
    for _ in range(2):
        cells, ptr, cseg, slots = si._grid
        seg = _grid_nearest(px, py, cells, ptr, cseg, *slots, si.grid_x0, si.grid_y0, si.CELL_M, si.grid_nx,
                            si.grid_ny)
        if seg != _NOT_FILLED:
            break
        c = si.CELL_M
        si._fill_cells(np.array([math.floor((px - si.grid_x0) / c) * si.grid_ny
                                 + math.floor((py - si.grid_y0) / c)], dtype=np.int64))
    if seg >= 0:
        return int(seg)
    return int(si.tree.query_nearest(shapely.Point(px, py), all_matches=False)[0])


def _snap_on(graph: StreetGraph, si: _SnapIndex, lon: float, lat: float, px: float, py: float
             ) -> tuple[int, float, float, float, float]:
    return _project(_nearest_segment(si, px, py), px, py, lon, lat, si.seg_first, si.seg_street, si.gx, si.gy,
                    graph.geom_lon, graph.geom_lat, graph.geom_cumfrac, EARTH_RADIUS_M)


def _has_core(graph: StreetGraph) -> bool:
    has = graph.__dict__.get("_has_core")
    if has is None:
        has = bool(core_streets(graph).any())
        graph.__dict__["_has_core"] = has
    return has


class PointSnap(NamedTuple):
    """One point placed on a street, as :class:`geomap.network.routing.Snapped` for one point, in plain numbers:
    street index, fraction along it (0 at ``street_u``), straight-line metres from the point, and the
    snapped position (WGS84 degrees)."""

    street: int
    fraction: float
    distance_m: float
    lon: float
    lat: float


def snap_one(graph: StreetGraph, lon: float, lat: float, *, max_snap_m: float, prefer_core: bool = True
             ) -> PointSnap:
    """:func:`geomap.network.routing.snap_points` for one WGS84 point (raises :class:`SnapError` when it is farther
    than ``max_snap_m`` metres from every street)."""
    lon, lat = float(lon), float(lat)
    if graph.n_streets == 0 or not (math.isfinite(lon) and math.isfinite(lat)):
        raise SnapError(np.array([math.inf]), np.array([0]), max_snap_m)
    si = _snap_index(graph)
    px, py = (lon - si.lon0) * si.kx, (lat - si.lat0) * si.ky
    best = _snap_on(graph, si, lon, lat, px, py)
    if prefer_core and not core_streets(graph)[best[0]] and _has_core(graph):
        alt = _snap_on(graph, _core_snap_index(graph), lon, lat, px, py)
        if alt[2] <= max_snap_m:
            best = alt
    if not best[2] <= max_snap_m:
        raise SnapError(np.array([best[2]]), np.array([0]), max_snap_m)
    return PointSnap(int(best[0]), *best[1:])


# --- the k nearest targets --------------------------------------------------------------------------------

@njit(cache=True)
def _query(s, f, k, jj, a_tab, b_tab, raw_v, raw_u, has_on, mv, mu, fr, travel_s, length_m, forward,
           backward):  # pragma: no cover
    """Row ``s`` of the street tables for a point at fraction ``f``: the reachable targets among the ``k``
    quickest (ties in table order, i.e. by target index): (count, target, travel_s, distance_m, via). A
    point at a street end takes that node's labels whatever the street's direction (routing.end_access)."""
    width = jj.shape[1]
    t = travel_s[s]
    tf = t * f
    tt = np.empty(width)
    via = np.zeros(width, dtype=np.int8)
    for c in range(width):
        tv = raw_v[s, c] if f == 1.0 and not forward[s] else a_tab[s, c] - tf
        tu = raw_u[s, c] if f == 0.0 and not backward[s] else b_tab[s, c] + tf
        if tu < tv:
            via[c] = 1
            tt[c] = tu
        else:
            tt[c] = tv
        if has_on[s]:
            d = fr[s, c] - f  # NaN unless the target lies on this street
            if (d >= 0 and forward[s]) or (d <= 0 and backward[s]):
                td = abs(d) * t
                if td <= tt[c]:
                    via[c] = 2
                    tt[c] = td
    order = np.argsort(tt, kind="mergesort")  # stable: equal times keep the table (target) order
    n_cols = min(k, width)
    out_j = np.full(n_cols, -1, dtype=np.int64)
    out_t = np.empty(n_cols)
    out_m = np.empty(n_cols)
    out_v = np.empty(n_cols, dtype=np.int8)
    n = 0
    length = length_m[s]
    for i in range(n_cols):
        c = order[i]
        if not np.isfinite(tt[c]):
            break
        out_j[n], out_t[n], out_v[n] = jj[s, c], tt[c], via[c]
        if via[c] == 0:
            out_m[n] = (1 - f) * length + mv[s, c]
        elif via[c] == 1:
            out_m[n] = f * length + mu[s, c]
        else:
            out_m[n] = abs(fr[s, c] - f) * length
        n += 1
    return n, out_j[:n], out_t[:n], out_m[:n], out_v[:n]


def query_one(index: TargetIndex, street: int, fraction: float, k: int
              ) -> tuple[list[int], list[float], list[float], list[int]]:
    """:meth:`TargetIndex.query` for one snapped point: the reachable targets among the ``k`` quickest,
    quickest first, as lists (target, travel_s, distance_m, via: 0 through the street's v end, 1 through
    u, 2 directly along the street)."""
    g = index.graph
    if not (g.n_nodes and index.n_targets):
        return [], [], [], []
    jj, raw_v, raw_u, mv, mu, fr = index._street_tables()
    a_tab, b_tab, has_on = index._query_terms()
    _, tj, tt, dm, via = _query(int(street), float(fraction), int(k), jj, a_tab, b_tab, raw_v, raw_u, has_on, mv,
                                mu, fr, g.street_travel_s, g.street_length_m, g.street_forward, g.street_backward)
    return tj.tolist(), tt.tolist(), dm.tolist(), via.tolist()


# --- routes -----------------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _push(buf, m, start, x, y, vid):  # pragma: no cover
    """Append (x, y, vertex number ``vid`` or -1 for a point that is no vertex) as row ``m`` of ``buf``
    (grown when full) unless it repeats the previous point of the route that starts at row ``start``
    (consecutive repeated points are dropped). Returns the buffer and the new row count. Inlined (numba
    ``inline="always"``): as a call, each route point passed the buffer with a reference-count pair
    (1.5 µs of a 14 µs answer); inlining the other kernels too gained 0.5 µs for 16 s more compiling."""
    if m > start and buf[m - 1, 0] == x and buf[m - 1, 1] == y:
        return buf, m
    if m == buf.shape[0]:
        grown = np.empty((2 * m + 16, 3))
        grown[:m] = buf[:m]
        buf = grown
    buf[m, 0] = x
    buf[m, 1] = y
    buf[m, 2] = vid
    return buf, m + 1


@njit(cache=True)
def _cut(buf, m, start, st, fa, fb, pa, pb, off, cf, vlon, vlat):  # pragma: no cover
    """Street ``st`` from fraction ``fa`` to ``fb`` (backward when ``fb < fa``): its vertices strictly
    between; an end with a given point (``pa`` / ``pb``, NaN when none) starts / ends there, the other end
    is the street's end vertex. Appended to the route in ``buf`` (see :func:`_push`)."""
    o0, o1 = off[st], off[st + 1]
    if np.isnan(pa[0]):
        v = o0 if fa == 0.0 else o1 - 1
        buf, m = _push(buf, m, start, vlon[v], vlat[v], v)
    else:
        buf, m = _push(buf, m, start, pa[0], pa[1], -1)
    seg = cf[o0:o1]
    if fb >= fa:
        for v in range(o0 + np.searchsorted(seg, fa, side="right"), o0 + np.searchsorted(seg, fb, side="left")):
            buf, m = _push(buf, m, start, vlon[v], vlat[v], v)
    else:
        for v in range(o0 + np.searchsorted(seg, fa, side="left") - 1,
                       o0 + np.searchsorted(seg, fb, side="right") - 1, -1):
            buf, m = _push(buf, m, start, vlon[v], vlat[v], v)
    if np.isnan(pb[0]):
        v = o0 if fb == 0.0 else o1 - 1
        buf, m = _push(buf, m, start, vlon[v], vlat[v], v)
    else:
        buf, m = _push(buf, m, start, pb[0], pb[1], -1)
    return buf, m


@njit(cache=True)
def _routes(trees, rows, vias, n, s, f, here, t_pos, targets, street_u, street_v, forward, backward, travel_s,
            t_street, t_frac, indptr, indices, edge_street, edge_forward, off, cf, vlon, vlat, scale
            ):  # pragma: no cover
    """Vertices (in the frame of ``vlon`` / ``vlat``) of the routes from the point at fraction ``f`` of street
    ``s`` to each of ``targets`` (at ``t_frac`` on ``t_street``, position ``t_pos``), reached as ``vias``
    says, each following its predecessor tree ``trees[rows[i]]`` (entries ≥ ``n`` are targets). Returns
    the vertices of all routes, one after the other, and where each route ends in them; rounded as
    ``np.round`` does (``rint(x * scale) / scale``) when ``scale`` > 0; with ``scale`` < 0, the buffer
    itself, rows (x, y, vertex number or -1), for :func:`geomap.network.geojson_text.write_linestrings`. The
    routes are written into one growing buffer (no list per route)."""
    buf = np.empty((64, 3))
    m = 0
    ends = np.zeros(len(targets), dtype=np.int64)
    none = np.array([np.nan, np.nan])
    for i in range(len(targets)):
        start = m
        j0, via, tree = targets[i], vias[i], trees[rows[i]]
        there = t_pos[j0]
        if via == 2:
            buf, m = _cut(buf, m, start, s, f, t_frac[j0], here, there, off, cf, vlon, vlat)
        else:
            buf, m = _cut(buf, m, start, s, f, 1.0 if via == 0 else 0.0, here, none, off, cf, vlon, vlat)
            x = street_v[s] if via == 0 else street_u[s]
            for _ in range(n + 2):
                y = tree[x]
                if y < 0:
                    break
                if y >= n:  # arrive: the last piece along the target's street (as TargetIndex._final_pieces)
                    j = y - n
                    st, fr = t_street[j], t_frac[j]
                    t = travel_s[st]
                    from_u = street_u[st] == x and (forward[st] or fr == 0.0)  # routing.end_access, arriving
                    from_v = street_v[st] == x and (backward[st] or fr == 1.0)
                    use_u = from_u and ((not from_v) or fr * t <= (1 - fr) * t)
                    buf, m = _cut(buf, m, start, st, 0.0 if use_u else 1.0, fr, none, t_pos[j], off, cf, vlon, vlat)
                    break
                e = indptr[x]  # the edge x -> y (the first in CSR order, as routing._edge_lookup)
                while indices[e] != y:
                    e += 1
                es = edge_street[e]
                if edge_forward[e]:
                    for v in range(off[es], off[es + 1]):
                        buf, m = _push(buf, m, start, vlon[v], vlat[v], v)
                else:
                    for v in range(off[es + 1] - 1, off[es] - 1, -1):
                        buf, m = _push(buf, m, start, vlon[v], vlat[v], v)
                x = y
        if m - start == 1:  # the point is at the station: a zero-length line
            buf, m = _push(buf, m, m, buf[m - 1, 0], buf[m - 1, 1], buf[m - 1, 2])
        ends[i] = m
    if scale > 0:
        return np.rint(buf[:m, :2] * scale) / scale, ends
    if scale < 0:
        return buf[:m], ends
    return buf[:m, :2].copy(), ends


def routes_one(index: TargetIndex, snapped: PointSnap, targets: list[int], vias: list[int], *,
               crs: str = "wgs84", decimals: int | None = None) -> list[np.ndarray]:
    """Route vertices, an ``(m, 2)`` lon/lat array per target, from the snapped point (:func:`snap_one`) to
    each of ``targets`` reached as ``vias`` says (:func:`query_one`); the same vertices as the array path's
    routes. Coordinates in ``crs`` (wgs84, gcj02 or bd09): the street vertices come from a per-graph table
    in that system, so a route costs no per-vertex conversion; rounded to ``decimals`` (as ``np.round``)
    when given."""
    scale = _scale(decimals)
    if not targets:
        return []
    crs = coords.normalize_crs(crs)
    g = index.graph
    js = np.asarray(targets, dtype=np.int64)
    kept = _kept_trees(index)
    if kept is not None:
        trees, by_target = kept
        rows = js if by_target else np.zeros(len(js), dtype=np.int64)
    else:  # trees not kept (a big graph): one Dijkstra per target, as the array path
        trees, rows = np.stack([index._tree_for(int(j)) for j in targets]), np.arange(len(js))
    here = np.array(coords.from_wgs84_point(snapped.lon, snapped.lat, dst=crs))
    tgt = index.targets
    xy, ends = _routes(trees, rows, np.asarray(vias, dtype=np.int64), g.n_nodes, snapped.street, snapped.fraction,
                       here, _target_positions(index, crs), js, g.street_u, g.street_v, g.street_forward,
                       g.street_backward, g.street_travel_s, tgt.street, tgt.fraction, g.indptr, g.indices,
                       g.edge_street, g.edge_forward, g.geom_offsets, g.geom_cumfrac, *_vertices(g, crs), scale)
    return _split(xy, ends.tolist())


def _scale(decimals: int | None) -> float:
    """The kernels' rounding factor for ``decimals`` (0: no rounding)."""
    if decimals is None:
        return 0.0
    if decimals < 0:
        raise ValueError(f"decimals must be 0 or more, not {decimals}")
    return 10.0 ** decimals


def _kept_trees(index: TargetIndex) -> tuple[np.ndarray, bool] | None:
    """The predecessor trees the route walk follows, and whether they are one row per target (else one
    tree, k = 1); None when the index does not keep them (a big graph)."""
    if index.k == 1:
        return index.pred[None, :], False
    matrix = getattr(index, "_tree_matrix", None)
    return None if matrix is None else (matrix, True)


def _split(xy: Any, stops: list[int]) -> list[Any]:
    """The routes, one piece of ``xy`` each (an ``(m, 2)`` view of an array, or bytes of a text), given
    where each ends (no routes: no stops). A plain loop: a third of a comprehension over ``zip``'s time."""
    out, a = [], 0
    for b in stops:
        out.append(xy[a:b])
        a = b
    return out


# --- the whole answer in one call -------------------------------------------------------------------------

_CRS_CODE = {"wgs84": 0, "gcj02": coords.STEPS[("wgs84", "gcj02")][0], "bd09": coords.STEPS[("wgs84", "bd09")][0]}
"""The geomap.coords_one forward transform from WGS84 to each system (0: none)."""
_FAST_OK, _FAST_SLOW, _FAST_GROW = 0, 1, 2
_NO_ROUTES, _ROUTES_XY, _ROUTES_GEOJSON = 0, 1, 2


@njit(cache=True)
def _snap_grid(px, py, lon, lat, cells, ptr, cseg, x0s, y0s, dxs, dys, invs, gx0, gy0, c, nx, ny, seg_first,
               seg_street, gx, gy, glon, glat, cf, radius_m):  # pragma: no cover
    """:func:`_grid_nearest` then :func:`_project`: (code, street, fraction, metres, lon, lat); the code is
    negative when the grid cannot answer (:data:`_NOT_FILLED`, or :data:`_NO_CANDIDATES`: the cell is
    far from every street)."""
    seg = _grid_nearest(px, py, cells, ptr, cseg, x0s, y0s, dxs, dys, invs, gx0, gy0, c, nx, ny)
    if seg < 0:
        return seg, -1, 0.0, np.inf, 0.0, 0.0
    street, frac, dist, slon, slat = _project(seg, px, py, lon, lat, seg_first, seg_street, gx, gy, glon, glat,
                                              cf, radius_m)
    return 0, street, frac, dist, slon, slat


@njit(cache=True, inline="always")
def _slow_answer():  # pragma: no cover
    """:func:`_answer_flat`'s answer when the caller must take the step-by-step path (empty arrays of the
    answer's types)."""
    return (_FAST_SLOW, -1, 0.0, 0.0, 0.0, 0.0, np.zeros((2, 0), dtype=np.int64), np.zeros((2, 0)),
            np.zeros((0, 2)), np.zeros(0, dtype=np.uint8))


@njit(cache=True)
def _answer_flat(lon, lat, src_code, k, max_snap_m, want_routes, crs_code, scale, decimals, vrows, vlens,
                 lon0, kx, lat0, ky,
                 m_cells, m_ptr, m_cseg, m_x0s, m_y0s, m_dxs, m_dys, m_invs, m_gx0, m_gy0, m_c, m_nx, m_ny,
                 m_seg_first, m_seg_street, m_gx, m_gy,
                 use_core, core, c_far_m, c_cells, c_ptr, c_cseg, c_x0s, c_y0s, c_dxs, c_dys, c_invs, c_gx0, c_gy0,
                 c_c, c_nx, c_ny, c_seg_first, c_seg_street, c_gx, c_gy,
                 glon, glat, cf, radius_m,
                 jj, a_tab, b_tab, raw_v, raw_u, has_on, mv, mu, fr, travel_s, length_m, forward, backward,
                 trees, rows_are_targets, n, t_pos, street_u, street_v, t_street, t_frac, indptr, indices,
                 edge_street, edge_forward, off, vlon, vlat):  # pragma: no cover
    """:func:`snap_one`, :func:`query_one` and :func:`routes_one` in one compiled call (one dispatch instead
    of a dozen Python steps). Returns a status (:data:`_FAST_SLOW` when the snapping grid cannot answer
    or the point is too far: the caller takes the step-by-step path, which fills the grid or raises), the
    snap (street, fraction, metres, lon, lat), the targets with where each route ends (int64 rows; ends 0
    without routes), travel_s with distance_m (float64 rows), and the routes: their vertices when
    ``want_routes`` is :data:`_ROUTES_XY` (rounded as ``np.round`` to ``decimals`` when ``scale`` =
    10**decimals > 0), their GeoJSON text when it is :data:`_ROUTES_GEOJSON` (:mod:`geomap.network.geojson_text`,
    the street vertices' text copied from ``vrows`` / ``vlens``; the ends are then offsets in the text).
    Four arrays, which :func:`_answer` copies into the caller's buffers. ``c_far_m``: where the core grid
    has no candidates, every core street is farther than this (the grid's ``NEAR_M`` less half a cell
    diagonal); (``lon0``, ``kx``, ``lat0``, ``ky``): the snapping grid's frame."""
    if src_code != 0:  # the query point from GCJ-02 / BD-09 (coords_one.inverse, as coords.to_wgs84_point)
        lon, lat = coords_inverse(lon, lat, src_code)
    px, py = (lon - lon0) * kx, (lat - lat0) * ky  # the snapping grid's frame (routing._SnapIndex)
    code, s, f, d, slon, slat = _snap_grid(px, py, lon, lat, m_cells, m_ptr, m_cseg, m_x0s, m_y0s, m_dxs, m_dys,
                                         m_invs, m_gx0, m_gy0, m_c, m_nx, m_ny, m_seg_first, m_seg_street, m_gx,
                                         m_gy, glon, glat, cf, radius_m)
    if code < 0:
        return _slow_answer()
    if use_core and not core[s]:  # as snap_one: a core street within reach wins over a service way
        code, s2, f2, d2, slon2, slat2 = _snap_grid(px, py, lon, lat, c_cells, c_ptr, c_cseg, c_x0s, c_y0s, c_dxs,
                                                  c_dys, c_invs, c_gx0, c_gy0, c_c, c_nx, c_ny, c_seg_first,
                                                  c_seg_street, c_gx, c_gy, glon, glat, cf, radius_m)
        if code == _NOT_FILLED or (code == _NO_CANDIDATES and max_snap_m >= c_far_m):
            return _slow_answer()
        if code == 0 and d2 <= max_snap_m:  # (no candidates: every core street is beyond max_snap_m)
            s, f, d, slon, slat = s2, f2, d2, slon2, slat2
    if not d <= max_snap_m:
        return _slow_answer()
    _, tj, tt, dm, via = _query(s, f, k, jj, a_tab, b_tab, raw_v, raw_u, has_on, mv, mu, fr, travel_s, length_m,
                                forward, backward)
    ints, nums = np.zeros((2, len(tj)), dtype=np.int64), np.empty((2, len(tj)))
    ints[0], nums[0], nums[1] = tj, tt, dm
    if want_routes == _NO_ROUTES or len(tj) == 0:
        return _FAST_OK, s, f, d, slon, slat, ints, nums, np.zeros((0, 2)), np.zeros(0, dtype=np.uint8)
    here = np.empty(2)
    if crs_code == 0:
        here[0], here[1] = slon, slat
    else:
        here[0], here[1] = coords_forward(slon, slat, crs_code)
    rows = tj if rows_are_targets else np.zeros(len(tj), dtype=np.int64)
    text = want_routes == _ROUTES_GEOJSON
    xy, ends = _routes(trees, rows, via, n, s, f, here, t_pos, tj, street_u, street_v, forward, backward,
                       travel_s, t_street, t_frac, indptr, indices, edge_street, edge_forward, off, cf, vlon, vlat,
                       -1.0 if text else scale)  # (text: the raw buffer, with vertex numbers)
    if text:
        geo, ints[1] = write_linestrings(xy, ends, vrows, vlens, scale, decimals)
        return _FAST_OK, s, f, d, slon, slat, ints, nums, np.zeros((0, 2)), geo
    ints[1] = ends
    return _FAST_OK, s, f, d, slon, slat, ints, nums, xy, np.zeros(0, dtype=np.uint8)


_CALL_ARGS = 11
"""Arguments of :func:`_answer_flat` given per call (the point, k, the output's form); the rest are its
tables, held by one :class:`_Tables`."""
_TABLE_FIELDS = tuple(inspect.signature(_answer_flat.py_func).parameters)[_CALL_ARGS:]


@structref.register
class _TablesType(types.StructRef):
    def preprocess_fields(self, fields):  # type: ignore[no-untyped-def]
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class _Tables(structref.StructRefProxy):
    """The arrays and constants :func:`_answer_flat` reads for one label index and coordinate system, in
    one numba structure: a call passes one argument instead of 70 (numba checks and unboxes each argument
    on every call: ~65 ns an array warm, twice that with cold caches, which was most of the call's cost
    beyond the work). Holds references, copies nothing. Build with :func:`_tables`; copied and pickled
    from the tuple it was made of (``values``), as the structure itself cannot be."""

    values: tuple
    compiled: Callable[..., tuple]
    """The machine-code :func:`_answer` for these tables' types (:func:`_compiled_answer`)."""

    def __reduce__(self) -> tuple:
        return _tables, (self.values,)


structref.define_proxy(_Tables, _TablesType, list(_TABLE_FIELDS))


def _tables(values: tuple) -> _Tables:
    """The :class:`_Tables` of ``values`` (in the order of :data:`_TABLE_FIELDS`), with its compiled
    :func:`_answer`."""
    t = _Tables(*values)
    t.values = values
    t.compiled = _compiled_answer(t)
    return t


@njit(cache=True)
def _answer(lon, lat, src_code, k, max_snap_m, want_routes, crs_code, scale, decimals, vrows, vlens,
            out_i, out_f, out_xy, out_t, t):  # pragma: no cover
    """:func:`_answer_flat` with its tables from ``t`` (a :class:`_Tables`), its arrays copied into the
    caller's buffers (:class:`_Buffers`): numba would box each returned array as a new numpy array
    (~0.6 µs each, four per answer). Returns (status, street, fraction, metres, snapped lon, lat, number
    of targets, rows of routes in ``out_xy`` or bytes of text in ``out_t``); status :data:`_FAST_GROW`
    when a buffer is too small (the two counts then say how large they must be)."""
    status, s, f, d, slon, slat, ints, nums, xy, text = _answer_flat(
        lon, lat, src_code, k, max_snap_m, want_routes, crs_code, scale, decimals, vrows, vlens,
        t.lon0, t.kx, t.lat0, t.ky, t.m_cells, t.m_ptr, t.m_cseg, t.m_x0s, t.m_y0s, t.m_dxs, t.m_dys, t.m_invs, t.m_gx0,
        t.m_gy0, t.m_c, t.m_nx, t.m_ny, t.m_seg_first, t.m_seg_street, t.m_gx, t.m_gy,
        t.use_core, t.core, t.c_far_m, t.c_cells, t.c_ptr, t.c_cseg, t.c_x0s, t.c_y0s, t.c_dxs,
        t.c_dys, t.c_invs, t.c_gx0, t.c_gy0, t.c_c, t.c_nx, t.c_ny, t.c_seg_first, t.c_seg_street,
        t.c_gx, t.c_gy, t.glon, t.glat, t.cf, t.radius_m,
        t.jj, t.a_tab, t.b_tab, t.raw_v, t.raw_u, t.has_on, t.mv, t.mu, t.fr, t.travel_s,
        t.length_m, t.forward, t.backward, t.trees, t.rows_are_targets, t.n, t.t_pos, t.street_u,
        t.street_v, t.t_street, t.t_frac, t.indptr, t.indices, t.edge_street, t.edge_forward,
        t.off, t.vlon, t.vlat)
    nt, m = ints.shape[1], max(xy.shape[0], text.shape[0])
    if status != _FAST_OK:
        return status, s, f, d, slon, slat, 0, 0
    if nt > out_i.shape[1] or xy.shape[0] > out_xy.shape[0] or text.shape[0] > out_t.shape[0]:
        return _FAST_GROW, s, f, d, slon, slat, nt, m
    out_i[:, :nt] = ints
    out_f[:, :nt] = nums
    out_xy[:xy.shape[0]] = xy
    out_t[:text.shape[0]] = text
    return status, s, f, d, slon, slat, nt, m


class _Buffers(threading.local):
    """Each thread's output buffers for :func:`_answer` (a call copies what it needs out of them before it
    returns, so one set serves every index): targets with where each route ends (int64, 2 × targets),
    travel_s with distance_m (float64, 2 × targets), route vertices (float64, rows × 2) and route text
    (uint8); grown by :meth:`grow` when an answer needs more."""

    def __init__(self) -> None:
        self.arrays = self._make(64, 4096, 1 << 16)

    @staticmethod
    def _make(k: int, rows: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.zeros((2, k), dtype=np.int64), np.zeros((2, k)), np.zeros((rows, 2)),
                np.zeros(size, dtype=np.uint8))

    def grow(self, k: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Buffers for ``k`` targets and ``m`` route rows or text bytes (at least twice the old ones)."""
        oi, _, oxy, ot = self.arrays
        self.arrays = self._make(max(k, 2 * oi.shape[1]), max(m, 2 * oxy.shape[0]), max(m, 2 * ot.shape[0]))
        return self.arrays


_BUFFERS = _Buffers()


class PointRoutes(NamedTuple):
    """:func:`answer_one`'s answer: the snap, the reachable targets among the ``k`` quickest (quickest
    first) with travel_s and distance_m, and per target its route, or None when routes were not asked.
    A route is an ``(m, 2)`` array in the crs asked (a view of one array holding all routes), or with
    ``route_format="geojson"`` the UTF-8 text of its GeoJSON LineString (:mod:`geomap.network.geojson_text`)."""

    snap: PointSnap
    targets: list[int]
    travel_s: list[float]
    distance_m: list[float]
    routes: list[np.ndarray] | list[bytes] | None


RouteFormat = Literal["xy", "geojson"]
"""How :func:`one_call` gives the routes: ``(m, 2)`` arrays, or GeoJSON LineString text (bytes)."""


def answer_one(index: TargetIndex, lon: float, lat: float, *, k: int, max_snap_m: float, routes: bool = True,
               crs: str = "wgs84", decimals: int | None = None) -> PointRoutes:
    """:func:`snap_one`, :func:`query_one` and :func:`routes_one` for one WGS84 point, in one compiled call
    when the snapping grid already covers the point (it fills as points are asked); otherwise, and for
    a point too far from the streets (:class:`SnapError`), step by step. Same answers either way."""
    return one_call(index, crs=crs, decimals=decimals)(float(lon), float(lat), int(k), float(max_snap_m), routes)


def one_call(index: TargetIndex, *, crs: str = "wgs84", decimals: int | None = None, src: str = "wgs84",
             route_format: RouteFormat = "xy") -> Callable[[float, float, int, float, bool], PointRoutes]:
    """:func:`answer_one` with the index, the routes' coordinate system and rounding bound once:
    ``ask(lon, lat, k, max_snap_m, routes)`` (floats, int, float, bool), for a caller answering many
    points on one index (:class:`geomap.nearest.PointSearch`). The point is given in ``src`` (wgs84,
    gcj02 or bd09): its conversion to WGS84 runs inside the compiled call. ``route_format="geojson"``
    (``decimals`` required, 0–9): each route as the text of its GeoJSON LineString, written by the
    compiled call (for a service that splices it into its answer: formatting the numbers there costs
    less than a JSON encoder's float formatting); the numbers are those of the arrays."""
    scale = _scale(decimals)
    src_code = _CRS_CODE[coords.normalize_crs(src)]  # the forward transform that src inverts (0: none)
    if route_format not in ("xy", "geojson"):
        raise ValueError(f"route_format must be 'xy' or 'geojson', not {route_format!r}")
    geojson = route_format == "geojson"
    if geojson:
        if decimals is None:
            raise ValueError("route_format='geojson' needs decimals (0-9)")
        check_decimals(decimals)
    code = _ROUTES_GEOJSON if geojson else _ROUTES_XY
    n_dec = decimals or 0
    vrows, vlens = _vertex_texts(index.graph, coords.normalize_crs(crs), n_dec) if geojson else _NO_TEXTS

    def ask(lon: float, lat: float, k: int, max_snap_m: float, routes: bool = True) -> PointRoutes:
        prepared = _prepared(index, crs) if math.isfinite(lon) and math.isfinite(lat) else None
        if prepared is not None:
            crs_code, tables = prepared
            want = code if routes else _NO_ROUTES
            oi, of, oxy, ot = _BUFFERS.arrays
            out = tables.compiled(lon, lat, src_code, k, max_snap_m, want, crs_code, scale, n_dec, vrows, vlens,
                                  oi, of, oxy, ot, tables)
            if out[0] == _FAST_GROW:
                oi, of, oxy, ot = _BUFFERS.grow(out[6], out[7])
                out = tables.compiled(lon, lat, src_code, k, max_snap_m, want, crs_code, scale, n_dec, vrows, vlens,
                                      oi, of, oxy, ot, tables)
            if out[0] == _FAST_OK:
                _, s, f, d, slon, slat, nt, m = out
                (tj, stops), (tt, dm) = oi[:, :nt].tolist(), of[:, :nt].tolist()
                got = None if not routes else _split(ot[:m].tobytes() if geojson else oxy[:m].copy(), stops)
                return PointRoutes(PointSnap(s, f, d, slon, slat), tj, tt, dm, got)
        if src_code:
            lon, lat = coords.to_wgs84_point(lon, lat, src=src)
        snap = snap_one(index.graph, lon, lat, max_snap_m=max_snap_m)
        tj, ts, dm, via = query_one(index, snap.street, snap.fraction, k)
        got = routes_one(index, snap, tj, via, crs=crs, decimals=None if geojson else decimals) if routes else None
        if got is not None and geojson:
            got = [linestring_json(r, decimals=n_dec) for r in got]
        return PointRoutes(snap, tj, ts, dm, got)

    return ask


def _prepared(index: TargetIndex, crs: str) -> tuple[int, _Tables] | None:
    """The code of ``crs`` and the arrays :func:`_answer` reads for ``index`` with routes in ``crs`` (a
    :class:`_Tables`), gathered once per index and system (and again when a snapping grid has filled more
    cells: the grid arrays are replaced then); None when the one-call path cannot serve this index (no
    streets, no targets, or trees not kept)."""
    by_crs = index.__dict__.setdefault("_answer_tables", {})
    cached = by_crs.get(crs)  # (main grid index, core grid index, their grid arrays, prepared) or None
    if cached is not None:
        si, ci, m_grid, c_grid, prepared = cached
        if si._grid is m_grid and ci._grid is c_grid:  # the look-up a query pays
            return prepared
    g = index.graph
    kept = _kept_trees(index)
    if not (g.n_streets and g.n_nodes and index.n_targets) or kept is None:
        return None
    si = _snap_index(g)
    use_core = _has_core(g)
    ci = _core_snap_index(g) if use_core else si
    norm = coords.normalize_crs(crs)
    grids = si._grid, ci._grid
    (m_cells, m_ptr, m_cseg, m_slots), (c_cells, c_ptr, c_cseg, c_slots) = grids
    jj, raw_v, raw_u, mv, mu, fr = index._street_tables()
    a_tab, b_tab, has_on = index._query_terms()
    trees, by_target = kept
    tgt = index.targets
    tables = (
        si.lon0, si.kx, si.lat0, si.ky,
        m_cells, m_ptr, m_cseg, *m_slots, si.grid_x0, si.grid_y0, si.CELL_M, si.grid_nx, si.grid_ny,
        si.seg_first, si.seg_street, si.gx, si.gy,
        use_core, core_streets(g), ci.NEAR_M - ci.CELL_M * math.sqrt(0.5),
        c_cells, c_ptr, c_cseg, *c_slots, ci.grid_x0, ci.grid_y0, ci.CELL_M, ci.grid_nx, ci.grid_ny,
        ci.seg_first, ci.seg_street, ci.gx, ci.gy,
        g.geom_lon, g.geom_lat, g.geom_cumfrac, EARTH_RADIUS_M,
        jj, a_tab, b_tab, raw_v, raw_u, has_on, mv, mu, fr, g.street_travel_s, g.street_length_m,
        g.street_forward, g.street_backward,
        trees, by_target, g.n_nodes, _target_positions(index, norm), g.street_u, g.street_v, tgt.street,
        tgt.fraction, g.indptr, g.indices, g.edge_street, g.edge_forward, g.geom_offsets, *_vertices(g, norm))
    prepared = (_CRS_CODE[norm], _tables(tables))
    by_crs[crs] = by_crs[norm] = (si, ci, *grids, prepared)  # the alias and the system share one set of arrays
    return prepared


def _compiled_answer(tables: _Tables) -> Callable[..., tuple]:
    """The machine-code :func:`_answer` for ``tables`` (compiled, or loaded from numba's cache, on first
    use), to be called without numba's dispatch: the dispatcher works out the type of each of the 16
    arguments on every call (~1.2 µs warm, ~3 µs with cold caches, a quarter of the call). The types are
    fixed by construction: floats and ints for the point and settings, uint8 vertex texts
    (:func:`_vertex_texts`, :data:`_NO_TEXTS`), :class:`_Buffers`' arrays and ``tables``; the compiled
    code reads its arguments as these types (numbers are converted, arrays are not checked), so only
    :func:`one_call`'s ``ask`` calls it, with arguments of these kinds (a test checks the types match)."""
    args = (0.0, 0.0, 0, 1, 0.0, _NO_ROUTES, 0, 0.0, 0, *_NO_TEXTS, *_BUFFERS.arrays, tables)
    sig = tuple(_answer.typeof_pyval(a) for a in args)
    if sig not in _answer.overloads:
        _answer.compile(sig)
    return _answer.get_overload(sig)


def _target_positions(index: TargetIndex, crs: str) -> np.ndarray:
    """The targets' snapped positions in ``crs``, shape (n, 2) (converted once per index and system)."""
    key = f"_targets_{crs}"
    xy = index.__dict__.get(key)
    if xy is None:
        xy = np.column_stack(coords.from_wgs84(index.targets.lon, index.targets.lat, dst=crs))
        index.__dict__[key] = xy
    return xy


def _vertices(g: StreetGraph, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """The street geometry vertices in ``crs`` (converted once per graph and system)."""
    if crs == "wgs84":
        return g.geom_lon, g.geom_lat
    key = f"_geom_{crs}"
    xy = g.__dict__.get(key)
    if xy is None:
        xy = coords.from_wgs84(g.geom_lon, g.geom_lat, dst=crs)
        g.__dict__[key] = xy
    return xy


_NO_TEXTS = (np.zeros((0, 0), dtype=np.uint8), np.zeros(0, dtype=np.uint8))


def _vertex_texts(g: StreetGraph, crs: str, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``[x,y]`` text of each street geometry vertex in ``crs`` rounded to ``decimals``
    (:func:`geomap.network.geojson_text.point_texts`; written once per graph, system and rounding: about 25 bytes
    a vertex), so that a route in GeoJSON copies its vertices' text instead of formatting numbers."""
    key = f"_geom_text_{crs}_{decimals}"
    texts = g.__dict__.get(key)
    if texts is None:
        texts = g.__dict__[key] = point_texts(*_vertices(g, crs), decimals=decimals)
    return texts
