"""One query point through snapping, the nearest-target labels and the routes, in plain Python.

A phone asks for one point at a time. The array paths of :mod:`geomap.routing` pay numpy's per-call
cost (about a microsecond) a few hundred times per query, which for a single point is nearly all of the
time. Here the same steps read the same cached tables (the snapping grid, the per-street label tables,
the predecessor trees) with float arithmetic and a handful of small numpy calls, so a one-point answer
costs tens of microseconds instead of hundreds.

The answers are those of the array path (same candidates, same formulas, same tie-breaking; the tests
compare the two on the real extract, and the array path is checked against networkx). Units and
coordinates as in :mod:`geomap.routing`: WGS84 degrees, metres, seconds.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from geomap import coords
from geomap.coords import EARTH_RADIUS_M
from geomap.network import StreetGraph
from geomap.routing import (
    SnapError,
    Snapped,
    TargetIndex,
    _core_snap_index,
    _edge_lookup,
    _snap_index,
    _SnapIndex,
    core_streets,
)

__all__ = ["query_one", "routes_one", "snap_one"]

_RAD = math.pi / 180.0


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    a = math.sin((p2 - p1) / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((lon2 - lon1) * _RAD / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def _nearest_segment(si: _SnapIndex, px: float, py: float) -> int:
    """The nearest segment of one point (frame of :meth:`_SnapIndex.fast_xy`): the grid cell's candidates
    (the cell is filled on first use), or the STRtree when the cell has none (far from every street)."""
    c = si.CELL_M
    ix, iy = math.floor((px - si.grid_x0) / c), math.floor((py - si.grid_y0) / c)
    if 0 <= ix < si.grid_nx and 0 <= iy < si.grid_ny:
        cell_no = ix * si.grid_ny + iy
        cells, ptr, cseg, slots = si._grid
        pos = int(np.searchsorted(cells, cell_no))
        if pos >= len(cells) or cells[pos] != cell_no:
            si._fill_cells(np.array([cell_no], dtype=np.int64))
            cells, ptr, cseg, slots = si._grid
            pos = int(np.searchsorted(cells, cell_no))
        lo, hi = int(ptr[pos]), int(ptr[pos + 1])
        if hi > lo:  # the same float32 arithmetic as the array path, so the same segment wins
            x0, y0, dx, dy, inv = (v[lo:hi] for v in slots)
            qx = np.float32(px - (si.grid_x0 + ix * c)) - x0
            qy = np.float32(py - (si.grid_y0 + iy * c)) - y0
            t = (qx * dx + qy * dy) * inv
            np.clip(t, 0.0, 1.0, out=t)
            ex = t * dx - qx
            ey = t * dy - qy
            return int(cseg[lo + int(np.argmin(ex * ex + ey * ey))])
    return int(si.tree.query_nearest(shapely.Point(px, py), all_matches=False)[0])


def _project(graph: StreetGraph, si: _SnapIndex, seg: int, lon: float, lat: float, px: float, py: float
             ) -> tuple[int, float, float, float, float]:
    """Foot of the point on segment ``seg``: (street, fraction, great-circle metres, foot lon, foot lat)."""
    a = int(si.seg_first[seg])
    x0, y0 = float(si.gx[a]), float(si.gy[a])
    dx, dy = float(si.gx[a + 1]) - x0, float(si.gy[a + 1]) - y0
    den = dx * dx + dy * dy
    t = min(max(((px - x0) * dx + (py - y0) * dy) / den, 0.0), 1.0) if den > 0 else 0.0
    glon, glat, cf = graph.geom_lon, graph.geom_lat, graph.geom_cumfrac
    lon0, lat0, c0 = float(glon[a]), float(glat[a]), float(cf[a])
    slon = lon0 + t * (float(glon[a + 1]) - lon0)
    slat = lat0 + t * (float(glat[a + 1]) - lat0)
    frac = min(max(c0 + t * (float(cf[a + 1]) - c0), 0.0), 1.0)
    return int(si.seg_street[seg]), frac, _haversine_m(lon, lat, slon, slat), slon, slat


def _has_core(graph: StreetGraph) -> bool:
    has = graph.__dict__.get("_has_core")
    if has is None:
        has = bool(core_streets(graph).any())
        graph.__dict__["_has_core"] = has
    return has


def snap_one(graph: StreetGraph, lon: float, lat: float, *, max_snap_m: float, prefer_core: bool = True
             ) -> Snapped:
    """:func:`geomap.routing.snap_points` for one WGS84 point (raises :class:`SnapError` when it is farther
    than ``max_snap_m`` metres from every street); a length-1 :class:`Snapped`."""
    lon, lat = float(lon), float(lat)
    if graph.n_streets == 0 or not (math.isfinite(lon) and math.isfinite(lat)):
        raise SnapError(np.array([math.inf]), np.array([0]), max_snap_m)
    si = _snap_index(graph)
    px, py = (lon - si.lon0) * si.kx, (lat - si.lat0) * si.ky
    best = _project(graph, si, _nearest_segment(si, px, py), lon, lat, px, py)
    if prefer_core:
        core = core_streets(graph)
        if not core[best[0]] and _has_core(graph):
            csi = _core_snap_index(graph)
            alt = _project(graph, csi, _nearest_segment(csi, px, py), lon, lat, px, py)
            if alt[2] <= max_snap_m:
                best = alt
    street, frac, dist, slon, slat = best
    if not dist <= max_snap_m:
        raise SnapError(np.array([dist]), np.array([0]), max_snap_m)
    return Snapped(street=np.array([street]), fraction=np.array([frac]), distance_m=np.array([dist]),
                   lon=np.array([slon]), lat=np.array([slat]), ok=np.array([True]))


def query_one(index: TargetIndex, street: int, fraction: float, k: int
              ) -> tuple[list[int], list[float], list[float], list[int]]:
    """:meth:`TargetIndex.query` for one snapped point: the reachable targets among the ``k`` quickest,
    quickest first, as lists (target, travel_s, distance_m, via: 0 through the street's v end, 1 through
    u, 2 directly along the street)."""
    g = index.graph
    if not (g.n_nodes and index.n_targets):
        return [], [], [], []
    jj, _, _, mv, mu, fr = index._street_tables()
    a_tab, b_tab, has_on = index._query_terms()
    s, f = street, fraction
    t = float(g.street_travel_s[s])
    tf = t * f
    tv = a_tab[s] - tf
    tt = b_tab[s] + tf
    via = (tt < tv).astype(np.int8)
    np.minimum(tt, tv, out=tt)
    if has_on[s]:
        d = fr[s] - f
        with np.errstate(invalid="ignore"):
            ok = ((d >= 0) & g.street_forward[s]) | ((d <= 0) & g.street_backward[s])
        td = np.where(ok, np.abs(d) * t, np.inf)
        direct = td <= tt
        via = np.where(direct, np.int8(2), via)
        tt = np.where(direct, td, tt)
    o = np.argsort(tt, kind="stable")[:min(k, len(tt))]
    times = tt[o].tolist()
    n_ok = sum(1 for x in times if x < math.inf)
    o = o[:n_ok]
    vias = via[o].tolist()
    length = float(g.street_length_m[s])
    dist = []
    for col, v in zip(o.tolist(), vias, strict=True):
        if v == 0:
            dist.append((1 - f) * length + float(mv[s, col]))
        elif v == 1:
            dist.append(f * length + float(mu[s, col]))
        else:
            dist.append(abs(float(fr[s, col]) - f) * length)
    return jj[s, o].tolist(), times[:n_ok], dist, vias


def routes_one(index: TargetIndex, snapped: Snapped, targets: list[int], vias: list[int], *, crs: str = "wgs84"
               ) -> list[shapely.LineString]:
    """Route LineStrings from the snapped point (length-1 ``snapped``) to each of ``targets`` reached as
    ``vias`` says (:func:`query_one`); the same vertices as the array path's routes. Coordinates in
    ``crs`` (wgs84, gcj02 or bd09): the street vertices come from a per-graph table in that system, so
    a route costs no per-vertex conversion."""
    g = index.graph
    s, f = int(snapped.street[0]), float(snapped.fraction[0])
    here = coords.from_wgs84_point(float(snapped.lon[0]), float(snapped.lat[0]), dst=crs)
    tgt = index.targets
    t_lon, t_lat = _target_positions(index, crs)
    # per route, its pieces (street, f_from, f_to, point at f_from, point at f_to); a point is given where
    # the piece starts or ends inside a street (the query's or the target's snapped position)
    pieces: list[list[tuple[int, float, float, tuple[float, float] | None, tuple[float, float] | None]]] = []
    walk_r, walk_j, walk_x = [], [], []
    for r, (j, v) in enumerate(zip(targets, vias, strict=True)):
        if v == 2:
            pieces.append([(s, f, float(tgt.fraction[j]), here, (float(t_lon[j]), float(t_lat[j])))])
            continue
        pieces.append([(s, f, 1.0 if v == 0 else 0.0, here, None)])
        walk_r.append(r)
        walk_j.append(j)
        walk_x.append(int(g.street_v[s] if v == 0 else g.street_u[s]))
    if walk_r:
        hr, _, hx, hy, fin = index._walk_small(np.array(walk_r), np.array(walk_j), np.array(walk_x))
        if len(hr):
            e = _edge_lookup(g, hx, hy)
            for r, es, fwd in zip(hr.tolist(), g.edge_street[e].tolist(), g.edge_forward[e].tolist(), strict=True):
                pieces[r].append((es, 0.0, 1.0, None, None) if fwd else (es, 1.0, 0.0, None, None))
        if len(fin):
            st, fa, fb = index._final_pieces(fin[:, 2], fin[:, 3])
            for r, j, a, b, c in zip(fin[:, 0].tolist(), fin[:, 3].tolist(), st.tolist(), fa.tolist(), fb.tolist(),
                                     strict=True):
                pieces[r].append((a, b, c, None, (float(t_lon[j]), float(t_lat[j]))))
    return _lines(g, pieces, crs=crs)


def _target_positions(index: TargetIndex, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """The targets' snapped positions in ``crs`` (converted once per index and system)."""
    key = f"_targets_{crs}"
    xy = index.__dict__.get(key)
    if xy is None:
        xy = coords.from_wgs84(index.targets.lon, index.targets.lat, dst=crs)
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


def _lines(g: StreetGraph, routes: list[list[tuple[int, float, float, tuple[float, float] | None,
                                                   tuple[float, float] | None]]], *, crs: str
           ) -> list[shapely.LineString]:
    """LineStrings (in ``crs``) of routes given as pieces: a whole street is its vertex range; a partial
    one is its inner vertices between the given end points, already in ``crs`` (what
    :func:`geomap.routing.pieces_coords` and :func:`geomap.routing._linestrings` do for many pieces at
    once). Consecutive repeated points are
    dropped; a one-point route (the point is at the station) stays a zero-length line."""
    idx: list[int] = []  # vertex indices; -1 marks a given point, taken in order from ``given``
    given: list[tuple[float, float]] = []
    group: list[int] = []
    cf, off = g.geom_cumfrac, g.geom_offsets
    for r, route in enumerate(routes):
        n0 = len(idx)
        for s, fa, fb, pa, pb in route:
            o0, o1 = int(off[s]), int(off[s + 1])
            if pa is None and pb is None:  # a whole street, forward or backward
                idx.extend(range(o0, o1) if fb > fa else range(o1 - 1, o0 - 1, -1))
                continue
            lo, hi = (fa, fb) if fb >= fa else (fb, fa)
            i0 = o0 + int(np.searchsorted(cf[o0:o1], lo, side="right"))
            i1 = o0 + int(np.searchsorted(cf[o0:o1], hi, side="left"))
            for p, end in ((pa, fa), (pb, fb)):
                if p is not None:
                    idx.append(-1)
                    given.append(p)
                else:
                    idx.append(o0 if end == 0.0 else o1 - 1)
                if p is pa:
                    idx.extend(range(i0, i1) if fb >= fa else range(i1 - 1, i0 - 1, -1))
        group.extend([r] * (len(idx) - n0))
    ia = np.array(idx, dtype=np.int64)
    vlon, vlat = _vertices(g, crs)
    lon, lat = vlon[ia], vlat[ia]
    if given:
        at = ia < 0
        xy = np.array(given)
        lon[at], lat[at] = xy[:, 0], xy[:, 1]
    gr = np.array(group, dtype=np.int64)
    keep = np.ones(len(ia), dtype=bool)
    keep[1:] = (gr[1:] != gr[:-1]) | (lon[1:] != lon[:-1]) | (lat[1:] != lat[:-1])
    lon, lat, gr = lon[keep], lat[keep], gr[keep]
    cnt = np.bincount(gr, minlength=len(routes))
    if (cnt == 1).any():  # repeat the single point: a zero-length line
        one = np.flatnonzero(cnt == 1)
        pos = np.searchsorted(gr, one)
        lon, lat, gr = np.insert(lon, pos, lon[pos]), np.insert(lat, pos, lat[pos]), np.insert(gr, pos, one)
    return list(shapely.linestrings(np.column_stack([lon, lat]), indices=gr))
