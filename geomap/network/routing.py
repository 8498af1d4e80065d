"""Routing kernels on a :class:`~geomap.network.graph.StreetGraph`: snapping, bounded and multi-source shortest
paths (``scipy.sparse.csgraph``), k-nearest-target labels and route geometry.

Units and coordinates: WGS84 longitude/latitude in degrees, lengths in metres, times in seconds.

**Snapping.** A point snaps onto the nearest street *piece* (not only the nearest node) in the graph's
local azimuthal-equidistant frame; it lands at a fraction ``f`` (0..1, of the street's ``length_m``) from
``street_u``. From there it reaches ``street_v`` after ``(1 - f) * travel_s`` if the street may be
travelled forward and ``street_u`` after ``f * travel_s`` if backward. A point farther than
``max_snap_m`` (default ``settings.max_snap_m``) from every street raises :class:`SnapError`.

**Snapped points as graph nodes.** Shortest paths treat a snapped point as an extra (virtual) node whose
edges are the two partial streets; these rows are appended to the CSR matrix, so one Dijkstra run
answers for many points. Distances *to* points are computed on the reversed graph (from the points), so
one-way streets are honoured in the travel direction. Two points on the same street may also travel
directly along it; :class:`TargetIndex` handles that case explicitly.

**Unreachable** nodes and targets (other components, one-way dead ends) get ``inf`` time, target ``-1``
and no route; nothing raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from geomap.coords import EARTH_RADIUS_M, haversine_m, local_metric_crs
from geomap.network.graph import StreetGraph, _ranges
from geomap.settings import get_settings

__all__ = [
    "Answer",
    "Route",
    "SnapError",
    "Snapped",
    "TargetIndex",
    "node_travel_times",
    "route",
    "snap_points",
    "travel_times_from",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_NO_PRED = -9999  # scipy's "no predecessor" marker


class SnapError(ValueError):
    """A point is farther from the street network than the allowed snapping distance.

    ``distance_m`` holds the straight-line distance (metres) of each offending point to the nearest
    street, ``index`` their positions in the input, ``max_snap_m`` the limit.
    """

    def __init__(self, distance_m: npt.ArrayLike, index: npt.ArrayLike, max_snap_m: float) -> None:
        self.distance_m = np.atleast_1d(np.asarray(distance_m, dtype=float))
        self.index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        self.max_snap_m = float(max_snap_m)
        d = self.distance_m
        if len(d) == 1:
            dist_txt = "no street at all" if not np.isfinite(d[0]) else f"{d[0]:,.0f} m"
            zh = "附近没有道路" if not np.isfinite(d[0]) else f"{d[0]:,.0f} 米"
            msg = (
                f"该位置距离最近的道路 {zh}，超过允许的 {self.max_snap_m:,.0f} 米，无法接入路网。 "
                f"The point is {dist_txt} from the nearest street, more than the allowed "
                f"{self.max_snap_m:,.0f} m (max_snap_m); it cannot be placed on the network."
            )
        else:
            lo, hi = float(np.min(d)), float(np.max(d))
            msg = (
                f"{len(d)} 个位置距离最近的道路 {lo:,.0f}–{hi:,.0f} 米，超过允许的 {self.max_snap_m:,.0f} 米。 "
                f"{len(d)} points are {lo:,.0f}–{hi:,.0f} m from the nearest street, more than the allowed "
                f"{self.max_snap_m:,.0f} m (max_snap_m); first at input position {int(self.index[0])}."
            )
        super().__init__(msg)


# ------------------------------------------------------------------------------------------------------
# Snapping
# ------------------------------------------------------------------------------------------------------


@dataclass
class Snapped:
    """Points placed on streets. All arrays have one entry per input point.

    ``street``: street index (-1 where not snapped); ``fraction``: position along it, 0 at ``street_u``
    and 1 at ``street_v`` (share of ``street_length_m``); ``distance_m``: straight-line distance from the
    input point to the street (metres); ``lon`` / ``lat``: the snapped position (WGS84 degrees);
    ``ok``: snapped within ``max_snap_m``.
    """

    street: IntArray
    fraction: FloatArray
    distance_m: FloatArray
    lon: FloatArray
    lat: FloatArray
    ok: BoolArray

    def __len__(self) -> int:
        return len(self.street)

    def take(self, idx: npt.ArrayLike) -> Snapped:
        idx = np.asarray(idx)
        names = ("street", "fraction", "distance_m", "lon", "lat", "ok")
        return Snapped(*(getattr(self, f)[idx] for f in names))


class _SnapIndex:
    """STRtree over every straight segment of every street (or of the streets in ``street_mask``), in the
    graph's local metric frame."""

    def __init__(self, graph: StreetGraph, street_mask: BoolArray | None = None) -> None:
        lon0, lat0 = graph.centre_lonlat
        # accurate local frame (pyproj, azimuthal equidistant) for geometry output such as isochrones
        self.to_xy = Transformer.from_crs("EPSG:4326", local_metric_crs(lon0, lat0), always_xy=True)
        # a fast equirectangular frame for choosing the nearest segment; distances reported are
        # great-circle (haversine) to the chosen foot point, not distances in this frame
        self.lon0, self.lat0 = lon0, lat0
        self.kx = np.radians(1.0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
        self.ky = np.radians(1.0) * EARTH_RADIUS_M
        gx, gy = self.fast_xy(graph.geom_lon, graph.geom_lat)
        self.gx = np.asarray(gx, dtype=np.float64)
        self.gy = np.asarray(gy, dtype=np.float64)
        nv = len(graph.geom_lon)
        last = np.zeros(nv, dtype=bool)
        last[graph.geom_offsets[1:] - 1] = True
        self.seg_first = np.flatnonzero(~last)
        self.seg_street = np.repeat(np.arange(graph.n_streets), np.diff(graph.geom_offsets) - 1)
        if street_mask is not None:
            keep = street_mask[self.seg_street]
            self.seg_first, self.seg_street = self.seg_first[keep], self.seg_street[keep]
        a = self.seg_first
        coords = np.stack(
            [np.column_stack([self.gx[a], self.gy[a]]), np.column_stack([self.gx[a + 1], self.gy[a + 1]])], axis=1
        )
        self.segments = shapely.linestrings(coords)
        self.tree = shapely.STRtree(self.segments)
        # the look-up grid: its frame is fixed here, its cells are filled only where queries fall
        c = self.CELL_M
        pad = self.NEAR_M + c
        self.grid_x0 = float(self.gx.min() - pad) if nv else 0.0
        self.grid_y0 = float(self.gy.min() - pad) if nv else 0.0
        self.grid_nx = int(np.ceil((self.gx.max() + pad - self.grid_x0) / c)) if nv else 0
        self.grid_ny = int(np.ceil((self.gy.max() + pad - self.grid_y0) / c)) if nv else 0
        # filled cells (sorted), their candidate slots (ptr[i]:ptr[i+1]), the candidate segment per slot and
        # the per-slot float32 geometry; replaced as one tuple so a concurrent reader sees one consistent grid
        self._grid: tuple[IntArray, IntArray, IntArray, tuple[npt.NDArray[np.float32], ...]] = (
            np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64),
            tuple(np.zeros(0, np.float32) for _ in range(5)))

    @property
    def _cells(self) -> IntArray:
        return self._grid[0]

    CELL_M = 25.0  # grid cell size of the nearest-segment look-up
    GRID_MIN_BATCH = 2000  # batches smaller than this use the STRtree alone
    NEAR_M = 350.0  # cells farther than this from every street keep no candidates (STRtree fallback)

    def _fill_cells(self, need: IntArray) -> None:
        """Fill the grid cells ``need`` (sorted unique cell numbers) not filled yet.

        A cell's candidates are all segments within ``d(centre) + cell diagonal`` of its centre, where
        d(centre) is the centre's distance to its nearest segment (for any point p of the cell, d(p) <=
        d(centre) + half diagonal, and a segment nearest to p lies within d(p) + half diagonal of the
        centre), so the nearest candidate is the exact nearest segment. Only cells that queries touch
        are filled: the cost follows the points asked, not the extent of the network.
        """
        old_cells, old_ptr, old_cseg, _ = self._grid
        missing = need[~np.isin(need, old_cells, assume_unique=True)]
        if not len(missing):
            return
        c, ny_ = self.CELL_M, self.grid_ny
        cx = self.grid_x0 + (missing // ny_ + 0.5) * c
        cy = self.grid_y0 + (missing % ny_ + 0.5) * c
        centres = shapely.points(cx, cy)
        _, dist = self.tree.query_nearest(centres, return_distance=True, all_matches=False)
        near = np.flatnonzero(dist <= self.NEAR_M)
        radius = dist[near] + c * np.sqrt(2.0) + 1e-6
        q_i, seg = self.tree.query(centres[near], predicate="dwithin", distance=radius)
        old_cell = np.repeat(old_cells, np.diff(old_ptr))
        cells = np.sort(np.concatenate([old_cells, missing]))
        cell = np.concatenate([old_cell, missing[near[q_i]]])
        seg = np.concatenate([old_cseg, seg.astype(np.int64)])
        order = np.lexsort((seg, cell))
        cell, seg = cell[order], seg[order]
        ptr = np.append(np.searchsorted(cell, cells, side="left"), len(cell)).astype(np.int64)
        # per candidate slot, its segment relative to the lower-left corner of its cell, in float32 (the
        # values stay within a few hundred metres, so float32 resolves well under a millimetre): the
        # look-up then reads contiguous memory and needs no division
        a = self.seg_first[seg]
        ox = self.grid_x0 + (cell // ny_) * c
        oy = self.grid_y0 + (cell % ny_) * c
        dx, dy = self.gx[a + 1] - self.gx[a], self.gy[a + 1] - self.gy[a]
        den = dx * dx + dy * dy
        inv = np.divide(1.0, den, out=np.zeros_like(den), where=den > 0)
        slots = tuple(v.astype(np.float32) for v in (self.gx[a] - ox, self.gy[a] - oy, dx, dy, inv))
        self._grid = (cells, ptr, seg, slots)

    def fast_xy(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Equirectangular metres around the graph centre (for nearest-segment search only)."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def nearest_segments(self, px: FloatArray, py: FloatArray) -> IntArray:
        """Exact nearest segment (in the frame of :meth:`fast_xy`) of each finite point.

        A grid look-up gives each point's candidate segments (see :meth:`_fill_cells`); the nearest of
        them is exact. Points in cells without candidates (far from every street) use the STRtree.
        """
        n = len(px)
        best = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return best
        if n < self.GRID_MIN_BATCH or self.grid_nx == 0:  # a few points: the STRtree alone is quicker
            _, seg = self.tree.query_nearest(shapely.points(px, py), return_distance=False, all_matches=False)
            return seg.astype(np.int64)
        x_min, y_min, nx_, ny_ = self.grid_x0, self.grid_y0, self.grid_nx, self.grid_ny
        c = self.CELL_M
        ix = np.floor((px - x_min) / c)
        iy = np.floor((py - y_min) / c)
        inside = (ix >= 0) & (ix < nx_) & (iy >= 0) & (iy < ny_)
        cell_no = np.where(inside, ix * ny_ + iy, -1).astype(np.int64)
        self._fill_cells(np.unique(cell_no[inside]))
        cells, ptr, cseg, slots = self._grid  # one consistent grid for this whole look-up
        pos = np.clip(np.searchsorted(cells, cell_no), 0, max(len(cells) - 1, 0))
        count = np.where(inside, ptr[pos + 1] - ptr[pos], 0)
        cell = pos  # index into the filled cells
        has = np.flatnonzero(count > 0)
        if len(has):
            cnt = count[has]
            flat = _ranges(ptr[cell[has]], cnt)  # candidate slots, ragged by query
            row = np.repeat(np.arange(len(has), dtype=np.int32), cnt)
            x0, y0, dx, dy, inv = (np.take(v, flat) for v in slots)
            qx = (px[has] - (x_min + ix[has] * c)).astype(np.float32)[row]  # relative to the cell corner
            qy = (py[has] - (y_min + iy[has] * c)).astype(np.float32)[row]
            qx -= x0
            qy -= y0
            t = (qx * dx + qy * dy) * inv
            np.clip(t, 0.0, 1.0, out=t)
            ex = t * dx - qx
            ey = t * dy - qy
            d2 = ex * ex + ey * ey
            starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
            rowmin = np.minimum.reduceat(d2, starts)
            at_min = np.flatnonzero(d2 <= rowmin[row])
            first = np.ones(len(at_min), dtype=bool)
            first[1:] = row[at_min[1:]] != row[at_min[:-1]]
            best[has] = cseg[flat[at_min[first]]]
        rest = np.flatnonzero(best < 0)
        if len(rest):
            _, seg = self.tree.query_nearest(
                shapely.points(px[rest], py[rest]), return_distance=False, all_matches=False
            )
            best[rest] = seg
        return best


def _snap_index(graph: StreetGraph) -> _SnapIndex:
    idx = graph.__dict__.get("_snap_index")
    if idx is None:
        idx = _SnapIndex(graph)
        graph.__dict__["_snap_index"] = idx
    return idx


def core_streets(graph: StreetGraph) -> BoolArray:
    """Streets whose two ends lie in the largest strongly connected part of the directed graph.

    From a point on such a street every other core street can be reached and back. Streets outside it
    are one-way dead ends (often cut by the edge of the extract), roads that only lead out of the
    network, or small islands.
    """
    core = graph.__dict__.get("_core_streets")
    if core is None:
        from scipy.sparse.csgraph import connected_components

        core = np.zeros(graph.n_streets, dtype=bool)
        if graph.n_nodes:
            _, lab = connected_components(graph.csr(), directed=True, connection="strong")
            big = np.argmax(np.bincount(lab))
            if np.count_nonzero(lab == big) > 1:
                core = (lab[graph.street_u] == big) & (lab[graph.street_v] == big)
        graph.__dict__["_core_streets"] = core
    return core


def _core_snap_index(graph: StreetGraph) -> _SnapIndex:
    idx = graph.__dict__.get("_snap_index_core")
    if idx is None:
        idx = _SnapIndex(graph, core_streets(graph))
        graph.__dict__["_snap_index_core"] = idx
    return idx


def snap_points(
    graph: StreetGraph,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_snap_m: float | None = None,
    errors: Literal["raise", "ignore"] = "raise",
    prefer_core: bool = True,
) -> Snapped:
    """Snap WGS84 points (degrees; scalars or arrays) onto the nearest street of ``graph``.

    With ``prefer_core`` (default), a point whose nearest street lies outside the graph's strongly
    connected core (:func:`core_streets`: a one-way street leading out of the network, a small island)
    snaps instead onto the nearest core street when that one is within ``max_snap_m`` too — as routing
    engines do — so that a rider standing by a dead-end slip road is not told nothing can be reached.
    A point with no core street within ``max_snap_m`` keeps its nearest street (islands still work).

    Points farther than ``max_snap_m`` metres (default ``settings.max_snap_m``) from every street raise
    :class:`SnapError` (``errors="raise"``) or come back with ``ok=False`` and ``street=-1``
    (``errors="ignore"``); ``distance_m`` then still tells how far they are.
    """
    max_snap_m = float(get_settings().max_snap_m if max_snap_m is None else max_snap_m)
    lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
    lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
    n = len(lon_a)
    out = Snapped(
        street=np.full(n, -1, dtype=np.int64),
        fraction=np.full(n, np.nan),
        distance_m=np.full(n, np.inf),
        lon=np.full(n, np.nan),
        lat=np.full(n, np.nan),
        ok=np.zeros(n, dtype=bool),
    )
    if graph.n_streets == 0 or n == 0:
        if errors == "raise" and n:
            raise SnapError(out.distance_m, np.arange(n), max_snap_m)
        return out
    si = _snap_index(graph)
    px, py = si.fast_xy(lon_a, lat_a)
    px = np.asarray(px, dtype=np.float64)
    py = np.asarray(py, dtype=np.float64)
    valid = np.isfinite(px) & np.isfinite(py)
    # nearest segment in the metric frame; the limit applies to the great-circle distance to it
    rows = np.flatnonzero(valid)
    seg = si.nearest_segments(px[rows], py[rows])
    _project_onto(graph, si, out, rows, seg, lon_a, lat_a, px, py)
    if prefer_core:
        core = core_streets(graph)
        off = rows[~core[out.street[rows]]]
        if len(off) and core.any():
            csi = _core_snap_index(graph)
            alt = Snapped(*(np.empty_like(getattr(out, f)) for f in ("street", "fraction", "distance_m", "lon",
                                                                     "lat", "ok")))
            cseg = csi.nearest_segments(px[off], py[off])
            _project_onto(graph, csi, alt, off, cseg, lon_a, lat_a, px, py)
            use = off[alt.distance_m[off] <= max_snap_m]
            for f in ("street", "fraction", "distance_m", "lon", "lat"):
                getattr(out, f)[use] = getattr(alt, f)[use]
    out.ok[rows] = out.distance_m[rows] <= max_snap_m
    far = np.flatnonzero(~out.ok)
    if len(far):
        out.street[far] = -1
        out.fraction[far] = np.nan
        out.lon[far] = np.nan
        out.lat[far] = np.nan
        if errors == "raise":
            raise SnapError(out.distance_m[far], far, max_snap_m)
    return out


def _project_onto(
    graph: StreetGraph,
    si: _SnapIndex,
    out: Snapped,
    rows: IntArray,
    seg: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    px: FloatArray,
    py: FloatArray,
) -> None:
    """Fill ``out`` at ``rows`` with the foot of each point on segment ``seg`` (metric frame), its
    fraction along the street (of the great-circle length) and the great-circle distance to it."""
    a = si.seg_first[seg]
    x0, y0, x1, y1 = si.gx[a], si.gy[a], si.gx[a + 1], si.gy[a + 1]
    dx, dy = x1 - x0, y1 - y0
    den = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(den > 0, ((px[rows] - x0) * dx + (py[rows] - y0) * dy) / np.where(den > 0, den, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    cf = graph.geom_cumfrac
    slon = graph.geom_lon[a] + t * (graph.geom_lon[a + 1] - graph.geom_lon[a])
    slat = graph.geom_lat[a] + t * (graph.geom_lat[a + 1] - graph.geom_lat[a])
    out.street[rows] = si.seg_street[seg]
    out.fraction[rows] = np.clip(cf[a] + t * (cf[a + 1] - cf[a]), 0.0, 1.0)
    out.lon[rows] = slon
    out.lat[rows] = slat
    out.distance_m[rows] = haversine_m(lon[rows], lat[rows], slon, slat)


# ------------------------------------------------------------------------------------------------------
# Access edges and augmented matrices
# ------------------------------------------------------------------------------------------------------


def end_access(graph: StreetGraph, street: IntArray, fraction: FloatArray, *, leaving: bool
               ) -> tuple[BoolArray, BoolArray]:
    """Whether points at ``fraction`` of ``street`` may go to (``leaving``) or come from (arriving) the
    street's v end and its u end: ``(v_ok, u_ok)``. The street's one-way direction decides, except at an
    end itself: a point at fraction 0 stands on u (1: on v) and takes or leaves that node at no cost
    whatever the direction. (Without that exception a rider at a junction was told a station 4.8 s away
    was 253 s away, whenever the nearest street piece happened to be the one-way one.)"""
    fw, bw = graph.street_forward[street], graph.street_backward[street]
    at_u, at_v = fraction == 0.0, fraction == 1.0
    if leaving:
        return fw | at_v, bw | at_u
    return bw | at_v, fw | at_u


def _access_edges(
    graph: StreetGraph, snapped: Snapped, *, inbound: bool
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Partial-street edges between snapped points and street ends.

    ``inbound=False``: point → node (leaving the point). ``inbound=True``: node → point, returned as
    point → node edges of the *reversed* graph. Returns ``(point, node, travel_s, length_m)``; for a
    self-loop street the cheaper of the two ways to the same node is kept.
    """
    ok = np.flatnonzero(snapped.ok)
    s = snapped.street[ok]
    f = snapped.fraction[ok]
    t = graph.street_travel_s[s]
    length = graph.street_length_m[s]
    u, v = graph.street_u[s], graph.street_v[s]
    # leaving the point: to v forward, to u backward; arriving: from u forward, from v backward (and a
    # point at a street end is at that node)
    to_v_ok, to_u_ok = end_access(graph, s, f, leaving=not inbound)
    pts = np.concatenate([ok[to_v_ok], ok[to_u_ok]])
    nodes = np.concatenate([v[to_v_ok], u[to_u_ok]])
    cost = np.concatenate([((1.0 - f) * t)[to_v_ok], (f * t)[to_u_ok]])
    lens = np.concatenate([((1.0 - f) * length)[to_v_ok], (f * length)[to_u_ok]])
    order = np.lexsort((lens, cost, nodes, pts))
    pts, nodes, cost, lens = pts[order], nodes[order], cost[order], lens[order]
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = (pts[1:] != pts[:-1]) | (nodes[1:] != nodes[:-1])
    return pts[keep], nodes[keep], cost[keep], lens[keep]


def _augmented(
    graph: StreetGraph, *, reverse: bool, pts: IntArray, nodes: IntArray, cost: FloatArray, n_virtual: int
) -> sp.csr_matrix:
    """The (reversed) CSR matrix with ``n_virtual`` extra rows (virtual nodes N..N+K-1) appended; virtual
    node ``N + pts[i]`` has an edge to ``nodes[i]`` of weight ``cost[i]``. ``pts`` must be sorted."""
    n = graph.n_nodes
    if reverse:
        order = graph.reverse_order
        indptr, indices, data = graph.reverse_indptr, graph.edge_u[order], graph.edge_travel_s[order]
    else:
        indptr, indices, data = graph.indptr, graph.indices, graph.edge_travel_s
    extra_ptr = np.searchsorted(pts, np.arange(n_virtual + 1), side="left") + indptr[-1]
    full_ptr = np.concatenate([indptr, extra_ptr[1:]])
    full_ind = np.concatenate([indices, nodes])
    full_dat = np.concatenate([data, cost])
    size = n + n_virtual
    return sp.csr_matrix((full_dat, full_ind, full_ptr), shape=(size, size))


def node_travel_times(
    graph: StreetGraph, sources: npt.ArrayLike, *, limit_s: float | None = None, reverse: bool = False
) -> FloatArray:
    """Shortest travel times (s) from node indices ``sources`` to every node, shape ``(len(sources), N)``.

    ``reverse=True`` gives times *to* the sources. Beyond ``limit_s`` (or unreachable): ``inf``.
    """
    mat = graph.csr()
    if reverse:
        mat = mat.T.tocsr()
    src = np.atleast_1d(np.asarray(sources, dtype=np.int64))
    return np.atleast_2d(dijkstra(mat, directed=True, indices=src, limit=np.inf if limit_s is None else limit_s))


def travel_times_from(
    graph: StreetGraph,
    snapped: Snapped,
    *,
    limit_s: float | None = None,
    direction: Literal["from", "to"] = "from",
) -> FloatArray:
    """Bounded travel times (s) between each snapped point and every node, shape ``(len(snapped), N)``.

    ``direction="from"``: from the point to the node; ``"to"``: from the node to the point (one-way
    streets in the travel direction). Beyond ``limit_s``, unreachable, or an unsnapped point: ``inf``.
    Travel along the point's own street without passing a node is not a node time; callers that need it
    (isochrones) add it from ``snapped.fraction``.
    """
    n, k = graph.n_nodes, len(snapped)
    if k == 0:
        return np.zeros((0, n))
    pts, nodes, cost, _ = _access_edges(graph, snapped, inbound=direction == "to")
    mat = _augmented(graph, reverse=direction == "to", pts=pts, nodes=nodes, cost=cost, n_virtual=k)
    dist = dijkstra(
        mat, directed=True, indices=n + np.arange(k), limit=np.inf if limit_s is None else float(limit_s)
    )
    return np.atleast_2d(dist)[:, :n]


# ------------------------------------------------------------------------------------------------------
# Helpers over predecessor trees
# ------------------------------------------------------------------------------------------------------


def _edge_lookup(graph: StreetGraph, x: IntArray, y: IntArray) -> IntArray:
    """Index of the directed CSR edge x→y (must exist)."""
    n = np.int64(max(graph.n_nodes, 1))
    keys = graph.__dict__.get("_edge_keys")
    if keys is None:  # sorted (CSR order); built once per graph, not per route
        keys = graph.edge_u * n + graph.indices
        graph.__dict__["_edge_keys"] = keys
    return np.searchsorted(keys, x.astype(np.int64) * n + y.astype(np.int64))


def _hop_lengths(
    graph: StreetGraph,
    x: IntArray,
    y: IntArray,
    acc_keys: IntArray,
    acc_len: FloatArray,
) -> FloatArray:
    """Length (m) of hops x → y in the forward direction; y >= N is a virtual target (access edge).

    ``acc_keys`` are sorted keys ``target * N + node`` of the inbound access edges, ``acc_len`` their
    lengths.
    """
    n = graph.n_nodes
    out = np.zeros(len(x), dtype=np.float64)
    real = y < n
    if real.any():
        out[real] = graph.edge_length_m[_edge_lookup(graph, x[real], y[real])]
    virt = ~real
    if virt.any():
        key = (y[virt] - n) * np.int64(max(n, 1)) + x[virt]
        out[virt] = acc_len[np.searchsorted(acc_keys, key)]
    return out


def _accumulate(ptr: IntArray, val: FloatArray) -> FloatArray:
    """Sum of ``val`` along pointer chains to a root (a root points to itself, its value should be 0).

    Pointer jumping: O(n log depth), array-at-a-time.
    """
    acc = val.copy()
    ptr = ptr.copy()
    for _ in range(64):
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        acc = acc + acc[ptr]
        ptr = nxt
    return acc


# ------------------------------------------------------------------------------------------------------
# Route geometry
# ------------------------------------------------------------------------------------------------------


def _interp(
    graph: StreetGraph,
    street: IntArray,
    frac: FloatArray,
    xy: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """WGS84 position at fraction ``frac`` of ``street`` (linear within the geometry segment); with ``xy``
    (per-vertex coordinates in another frame, e.g. metres) the position in that frame."""
    gx, gy = (graph.geom_lon, graph.geom_lat) if xy is None else xy
    cf = graph.geom_cumfrac
    start = graph.geom_offsets[street]
    end = graph.geom_offsets[street + 1] - 1
    key = _vertex_keys(graph)
    i = np.searchsorted(key, street + frac, side="right") - 1
    i = np.clip(i, start, np.maximum(end - 1, start))
    j = np.minimum(i + 1, end)
    den = cf[j] - cf[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(den > 0, (frac - cf[i]) / np.where(den > 0, den, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    return gx[i] + t * (gx[j] - gx[i]), gy[i] + t * (gy[j] - gy[i])


def _vertex_keys(graph: StreetGraph) -> FloatArray:
    """Monotone key ``street + cumfrac`` over all geometry vertices (for vectorised look-ups)."""
    key = graph.__dict__.get("_vertex_keys")
    if key is None:
        sid = np.repeat(np.arange(graph.n_streets, dtype=np.float64), np.diff(graph.geom_offsets))
        key = sid + graph.geom_cumfrac
        graph.__dict__["_vertex_keys"] = key
    return key


def pieces_coords(
    graph: StreetGraph,
    street: IntArray,
    f_from: FloatArray,
    f_to: FloatArray,
    *,
    xy: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Coordinates of street pieces travelled from fraction ``f_from`` to ``f_to`` (backward when
    ``f_to < f_from``), following the street geometry. Returns ``(lon, lat, piece)`` arrays with the
    piece index of every vertex, pieces in input order, each with its two (interpolated) end points.
    With ``xy`` (the geometry vertices in another frame, e.g. the local metric one) the coordinates are
    in that frame instead of WGS84."""
    street = np.asarray(street, dtype=np.int64)
    f_from = np.asarray(f_from, dtype=np.float64)
    f_to = np.asarray(f_to, dtype=np.float64)
    m = len(street)
    if m == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    key = _vertex_keys(graph)
    lo, hi = np.minimum(f_from, f_to), np.maximum(f_from, f_to)
    i0 = np.searchsorted(key, street + lo, side="right")
    i1 = np.searchsorted(key, street + hi, side="left")
    i0 = np.maximum(i0, graph.geom_offsets[street])
    i1 = np.minimum(i1, graph.geom_offsets[street + 1])
    n_in = np.maximum(i1 - i0, 0)
    inner = _ranges(i0, n_in)
    backward = f_to < f_from
    piece_of_inner = np.repeat(np.arange(m), n_in)
    bw = backward[piece_of_inner]
    inner = np.where(bw, (i0 + i1 - 1)[piece_of_inner] - inner, inner)
    gx, gy = (graph.geom_lon, graph.geom_lat) if xy is None else xy
    alon, alat = _interp(graph, street, f_from, xy)
    blon, blat = _interp(graph, street, f_to, xy)
    counts = n_in + 2
    total = int(counts.sum())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lon = np.empty(total)
    lat = np.empty(total)
    piece = np.repeat(np.arange(m, dtype=np.int64), counts)
    lon[starts], lat[starts] = alon, alat
    ends = starts + counts - 1
    lon[ends], lat[ends] = blon, blat
    pos = _ranges(starts + 1, n_in)
    lon[pos] = gx[inner]
    lat[pos] = gy[inner]
    return lon, lat, piece


def _linestrings(lon: FloatArray, lat: FloatArray, group: IntArray, n_groups: int) -> npt.NDArray[np.object_]:
    """LineStrings from vertices sorted by group (consecutive duplicates dropped; a one-point group
    becomes a zero-length line). Groups without vertices are None."""
    out = np.full(n_groups, None, dtype=object)
    if len(lon) == 0:
        return out
    keep = np.ones(len(lon), dtype=bool)
    keep[1:] = (group[1:] != group[:-1]) | (lon[1:] != lon[:-1]) | (lat[1:] != lat[:-1])
    lon, lat, group = lon[keep], lat[keep], group[keep]
    cnt = np.bincount(group, minlength=n_groups)
    single = np.flatnonzero(cnt == 1)
    if len(single):
        pos = np.searchsorted(group, single)
        lon = np.insert(lon, pos, lon[pos])
        lat = np.insert(lat, pos, lat[pos])
        group = np.insert(group, pos, single)
    present = np.unique(group)
    dense = np.searchsorted(present, group)
    lines = shapely.linestrings(np.column_stack([lon, lat]), indices=dense)
    out[present] = lines
    return out


# ------------------------------------------------------------------------------------------------------
# k-nearest targets
# ------------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """Nearest targets for a batch of query points, arrays of shape ``(n_queries, k)``.

    ``target``: index into the target set (-1: none reachable); ``travel_s`` seconds (inf: none);
    ``distance_m``: metres along the network route; ``geometry``: route LineStrings in WGS84 from the
    snapped query point to the snapped target (None where unreachable or routes not asked).
    """

    target: IntArray
    travel_s: FloatArray
    distance_m: FloatArray
    geometry: npt.NDArray[np.object_] | None
    query_snap: Snapped


class TargetIndex:
    """Per-node labels of the k quickest targets *to travel to* (one-way streets honoured), computed
    once; afterwards a query point's k nearest targets are an index look-up over the two ends of its
    street plus targets on the same street (exactly the brute-force answer).

    ``k == 1`` uses one multi-source Dijkstra (``min_only``) on the reversed graph. ``k > 1`` runs one
    Dijkstra per target, in chunks, keeping the k best per node (ties broken by target index); their
    predecessor trees are kept for routes when ``n_targets * n_nodes <= tree_budget``, otherwise routes
    re-run one Dijkstra per target that appears in an answer (the documented fallback). ``limit_s``
    bounds the search: targets farther than that are reported unreachable.
    """

    def __init__(
        self,
        graph: StreetGraph,
        targets: Snapped,
        *,
        k: int = 1,
        limit_s: float | None = None,
        tree_budget: int = 20_000_000,
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.graph = graph
        self.k = int(k)
        self.limit_s = float(np.inf if limit_s is None else limit_s)
        n, nt = graph.n_nodes, len(targets)
        self._set_targets(targets)
        kk = self.k
        self.label_target = np.full((n, kk), -1, dtype=np.int64)
        self.label_time_s = np.full((n, kk), np.inf)
        self.label_dist_m = np.full((n, kk), np.inf)
        self.pred: IntArray | None = None
        self.trees: dict[int, IntArray] = {}
        if nt == 0 or n == 0:
            self._prepare_same_street()
            return
        if kk == 1:
            dist, pred, src = dijkstra(
                self._mat, directed=True, indices=n + np.arange(nt), min_only=True,
                return_predecessors=True, limit=self.limit_s,
            )
            self.pred = pred.astype(np.int64)
            dm = self._tree_lengths(self.pred)
            reach = np.isfinite(dist[:n])
            self.label_time_s[:, 0] = dist[:n]
            self.label_target[reach, 0] = src[:n][reach] - n
            self.label_dist_m[:, 0] = np.where(reach, dm[:n], np.inf)
        else:
            self._keep_trees = nt * (n + nt) <= tree_budget
            # the kept trees, one row per target (``trees[j]`` are views of its rows)
            self._tree_matrix = np.empty((nt, n + nt), dtype=np.int32) if self._keep_trees else None
            self._add_labels(np.arange(nt))
        self._prepare_same_street()

    def _set_targets(self, targets: Snapped) -> None:
        """The targets, their access edges (sorted by target, node) and the reversed graph with one virtual
        node per target appended (node N + j)."""
        n = self.graph.n_nodes
        self.targets, self.n_targets = targets, len(targets)
        pts, nodes, cost, lens = _access_edges(self.graph, targets, inbound=True)
        self._acc = (pts, nodes, cost, lens)
        self._acc_keys = pts * np.int64(max(n, 1)) + nodes  # sorted (pts, nodes)
        self._acc_len = lens
        self._mat = _augmented(self.graph, reverse=True, pts=pts, nodes=nodes, cost=cost, n_virtual=len(targets))

    def _add_labels(self, targets: IntArray) -> None:
        """Merge the labels of ``targets`` (a Dijkstra each, in chunks) into the k best per node, ties to
        the lower target index (a stable sort over [kept labels, new targets in order])."""
        n, kk = self.graph.n_nodes, self.k
        size = self._mat.shape[0]
        chunk = int(np.clip(20_000_000 // max(size, 1), 1, max(len(targets), 1)))
        for c0 in range(0, len(targets), chunk):
            ids = targets[c0:c0 + chunk]
            dist, pred = dijkstra(
                self._mat, directed=True, indices=n + ids, return_predecessors=True, limit=self.limit_s
            )
            dist = np.atleast_2d(dist)
            pred = np.atleast_2d(pred).astype(np.int64)
            dms = self._tree_lengths(pred)[:, :n]
            if self._tree_matrix is not None:
                self._tree_matrix[ids] = pred
                for j in ids:
                    self.trees[int(j)] = self._tree_matrix[j]
            t_all = np.concatenate([self.label_time_s, dist[:, :n].T], axis=1)
            j_all = np.concatenate([self.label_target, np.broadcast_to(ids, (n, len(ids)))], axis=1)
            m_all = np.concatenate([self.label_dist_m, dms.T], axis=1)
            order = np.argsort(t_all, axis=1, kind="stable")[:, :kk]
            self.label_time_s = np.take_along_axis(t_all, order, axis=1)
            self.label_target = np.where(
                np.isfinite(self.label_time_s), np.take_along_axis(j_all, order, axis=1), -1
            )
            self.label_dist_m = np.where(
                np.isfinite(self.label_time_s), np.take_along_axis(m_all, order, axis=1), np.inf
            )

    def extended(self, more: Snapped, *, tree_budget: int = 20_000_000) -> TargetIndex:
        """This index with the targets ``more`` appended (their indices follow the present ones): the same
        labels as building the index from all the targets, for a Dijkstra per *new* target only. (A
        target's virtual node has no way in, so adding targets changes no distance to the old ones.)
        ``k == 1`` indexes (one multi-source search, whose ties scipy breaks) are rebuilt whole."""
        targets = Snapped(*(np.concatenate([getattr(self.targets, f), getattr(more, f)])
                            for f in ("street", "fraction", "distance_m", "lon", "lat", "ok")))
        if self.k == 1 or self.graph.n_nodes == 0 or self.n_targets == 0:
            return TargetIndex(self.graph, targets, k=self.k, limit_s=self.limit_s, tree_budget=tree_budget)
        n, old, nt = self.graph.n_nodes, self.n_targets, len(targets)
        new = TargetIndex.__new__(TargetIndex)
        new.graph, new.k, new.limit_s = self.graph, self.k, self.limit_s
        new._set_targets(targets)
        new.label_target, new.label_time_s = self.label_target.copy(), self.label_time_s.copy()
        new.label_dist_m, new.pred, new.trees = self.label_dist_m.copy(), None, {}
        new._keep_trees = bool(getattr(self, "_keep_trees", True)) and nt * (n + nt) <= tree_budget
        old_trees = getattr(self, "_tree_matrix", None)
        new._tree_matrix = None
        if new._keep_trees and old_trees is not None:
            new._tree_matrix = np.full((nt, n + nt), _NO_PRED, dtype=np.int32)
            new._tree_matrix[:old, : n + old] = old_trees
            for j in range(old):
                new.trees[j] = new._tree_matrix[j]
        elif new._keep_trees:  # the old trees were not kept: the new index cannot keep all of them either
            new._keep_trees = False
        new._add_labels(np.arange(old, nt))
        new._prepare_same_street()
        return new

    # -- precompute helpers ---------------------------------------------------------------------------
    def _tree_lengths(self, pred: IntArray) -> FloatArray:
        """Metres from every node along its predecessor chain to the target root (inf if unreached).

        ``pred``: one predecessor tree (1-D) or several (2-D, one per row, all done in one pass)."""
        n = self.graph.n_nodes
        trees = np.atleast_2d(pred)
        n_rows, size = trees.shape
        base = (np.arange(n_rows, dtype=np.int64) * size)[:, None]
        ptr = np.arange(size, dtype=np.int64)[None, :] + base  # flat indices into the (rows, size) array
        val = np.zeros((n_rows, size))
        has = (trees >= 0) & (np.arange(size) < n)[None, :]
        r, x = np.nonzero(has)
        y = trees[r, x]
        ptr[r, x] = y + base[r, 0]
        val[r, x] = _hop_lengths(self.graph, x, y, self._acc_keys, self._acc_len)
        ptr, acc = ptr.ravel(), val.ravel()
        for _ in range(64):  # pointer jumping: sum along the chains, ptr ends at each chain's root
            nxt = ptr[ptr]
            if np.array_equal(nxt, ptr):
                break
            acc = acc + acc[ptr]
            ptr = nxt
        root_ok = (ptr % size) >= n
        out = np.where(root_ok, acc, np.inf).reshape(n_rows, size)
        return out if np.ndim(pred) == 2 else out[0]

    def _prepare_same_street(self) -> None:
        ok = np.flatnonzero(self.targets.ok)
        order = ok[np.argsort(self.targets.street[ok], kind="stable")]
        self._ts_order = order
        self._ts_street = self.targets.street[order]

    # -- queries --------------------------------------------------------------------------------------
    def _street_tables(self) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Per street, every target a point on it can rank: the labels of both ends plus the targets on
        the street itself, one column per distinct target, sorted by target index. Columns: target,
        time / distance to it from v (``inf`` if not among v's labels), from u, and the target's
        fraction on this street (NaN unless it lies on it: then direct travel along the street counts).
        """
        cached = self.__dict__.get("_tables")
        if cached is not None:
            return cached
        g = self.graph
        ns, kk = g.n_streets, self.k
        u, v = g.street_u, g.street_v
        lo = np.searchsorted(self._ts_street, np.arange(ns), side="left")
        hi = np.searchsorted(self._ts_street, np.arange(ns), side="right")
        dmax = int((hi - lo).max()) if ns else 0
        col = lo[:, None] + np.arange(dmax)[None, :]
        on = col < hi[:, None]
        on_j = np.where(on, self._ts_order[np.minimum(col, max(len(self._ts_order) - 1, 0))], -1)
        on_f = np.where(on, self.targets.fraction[np.maximum(on_j, 0)], np.nan)
        inf_k = np.full((ns, kk), np.inf)
        inf_d = np.full((ns, dmax), np.inf)
        jj = np.concatenate([self.label_target[v], self.label_target[u], on_j], axis=1)
        tv = np.concatenate([self.label_time_s[v], inf_k, inf_d], axis=1)
        tu = np.concatenate([inf_k, self.label_time_s[u], inf_d], axis=1)
        mv = np.concatenate([self.label_dist_m[v], inf_k, inf_d], axis=1)
        mu = np.concatenate([inf_k, self.label_dist_m[u], inf_d], axis=1)
        fr = np.concatenate([np.full((ns, 2 * kk), np.nan), on_f], axis=1)
        order = np.argsort(np.where(jj >= 0, jj, np.iinfo(np.int64).max), axis=1, kind="stable")
        jj, tv, tu, mv, mu, fr = (np.take_along_axis(a, order, axis=1) for a in (jj, tv, tu, mv, mu, fr))
        # a target appears at most three times (from v's labels, from u's, on the street), each entry
        # with one part only: gather the parts onto the first entry of its run and blank the others
        width = jj.shape[1]
        for shift in (1, 2):
            if width <= shift:
                break
            same = np.zeros(jj.shape, dtype=bool)
            same[:, :-shift] = (jj[:, :-shift] == jj[:, shift:]) & (jj[:, :-shift] >= 0)
            tv = np.where(same, np.minimum(tv, np.roll(tv, -shift, axis=1)), tv)
            tu = np.where(same, np.minimum(tu, np.roll(tu, -shift, axis=1)), tu)
            mv = np.where(same, np.minimum(mv, np.roll(mv, -shift, axis=1)), mv)
            mu = np.where(same, np.minimum(mu, np.roll(mu, -shift, axis=1)), mu)
            fr = np.where(same & np.isnan(fr), np.roll(fr, -shift, axis=1), fr)
        if width > 1:
            later = np.zeros(jj.shape, dtype=bool)
            later[:, 1:] = (jj[:, 1:] == jj[:, :-1]) & (jj[:, 1:] >= 0)
            jj = np.where(later, -1, jj)
            tv = np.where(later, np.inf, tv)
            tu = np.where(later, np.inf, tu)
            fr = np.where(later, np.nan, fr)
        # compact: the kept entries of each row first (still in target order), then drop empty columns
        keep = np.argsort(jj < 0, axis=1, kind="stable")
        jj, tv, tu, mv, mu, fr = (np.take_along_axis(a, keep, axis=1) for a in (jj, tv, tu, mv, mu, fr))
        width = max(int((jj >= 0).sum(axis=1).max()) if ns else 0, 1)
        tables = tuple(np.ascontiguousarray(a[:, :width]) for a in (jj, tv, tu, mv, mu, fr))
        self.__dict__["_tables"] = tables
        return tables  # type: ignore[return-value]

    def _query_terms(self) -> tuple[FloatArray, FloatArray, BoolArray]:
        """Per street and table column: ``a`` with time = ``a - f * travel_s`` through v (inf where the
        street is not open forward), ``b`` with time = ``b + f * travel_s`` through u (inf where not open
        backward), and whether the street holds any target (direct travel along it then counts)."""
        cached = self.__dict__.get("_terms")
        if cached is not None:
            return cached
        g = self.graph
        _, tv, tu, _, _, fr = self._street_tables()
        t = g.street_travel_s[:, None]
        a = np.where(g.street_forward[:, None], t + tv, np.inf)
        b = np.where(g.street_backward[:, None], tu, np.inf)
        terms = (a, b, ~np.isnan(fr).all(axis=1))
        self.__dict__["_terms"] = terms
        return terms

    def query(self, snapped: Snapped, *, k: int | None = None, return_routes: bool = True) -> Answer:
        """The ``k`` (default: the index's k; at most that) nearest targets of each snapped point.

        Exact: for a point at fraction f of street (u, v) the time to target j is the least of
        ``(1 - f) * travel_s + time(v -> j)`` (street forward), ``f * travel_s + time(u -> j)``
        (backward) and direct travel along the street when j lies on it; a target in the point's top-k
        is in the top-k labels of the end it is reached through, so the per-street table suffices.
        """
        k = self.k if k is None else int(k)
        if k > self.k:
            raise ValueError(f"this index keeps {self.k} labels per node; build it with k >= {k}")
        g = self.graph
        q = len(snapped)
        best_t = np.full((q, k), np.inf)
        best_j = np.full((q, k), -1, dtype=np.int64)
        best_m = np.full((q, k), np.inf)
        best_via = np.zeros((q, k), dtype=np.int8)
        rows = np.flatnonzero(snapped.ok)
        if len(rows) and g.n_nodes and self.n_targets:
            jj, _, _, mv, mu, fr = self._street_tables()
            a_tab, b_tab, has_on = self._query_terms()
            width = jj.shape[1]
            all_rows = len(rows) == q
            s = snapped.street if all_rows else snapped.street[rows]
            f = snapped.fraction if all_rows else snapped.fraction[rows]
            t = g.street_travel_s[s]
            tf = (t * f)[:, None]
            tv_q = np.take(a_tab, s, axis=0)
            tv_q -= tf  # (1 - f) * t + time(v -> j), street open forward
            tt = np.take(b_tab, s, axis=0)
            tt += tf  # f * t + time(u -> j), street open backward
            _, raw_v, raw_u, _, _, _ = self._street_tables()
            at_v = np.flatnonzero((f == 1.0) & ~g.street_forward[s])  # at v itself: v's labels, whatever the way
            tv_q[at_v] = raw_v[s[at_v]]
            at_u = np.flatnonzero((f == 0.0) & ~g.street_backward[s])
            tt[at_u] = raw_u[s[at_u]]
            via = (tt < tv_q).astype(np.int8)  # 0: through v (preferred on ties), 1: through u
            np.minimum(tt, tv_q, out=tt)
            on = np.flatnonzero(has_on[s])  # direct travel along the street to a target on it
            if len(on):
                so, fo = s[on], f[on][:, None]
                d = fr[so] - fo
                with np.errstate(invalid="ignore"):
                    ok = ((d >= 0) & g.street_forward[so][:, None]) | ((d <= 0) & g.street_backward[so][:, None])
                td = np.where(ok, np.abs(d) * t[on][:, None], np.inf)
                direct = td <= tt[on]
                via[on] = np.where(direct, 2, via[on])
                tt[on] = np.where(direct, td, tt[on])
            n_cols = min(k, width)
            nq = len(s)
            # columns are in target order, so a stable sort breaks ties by target index
            o = np.argsort(tt, axis=1, kind="stable")[:, :n_cols]
            at_q = np.arange(nq)[:, None] * width + o
            at_s = s[:, None] * width + o
            bt = np.take(tt, at_q)
            bvia = np.take(via, at_q)
            reach = np.isfinite(bt)
            fcol = f[:, None]
            length = g.street_length_m[s][:, None]
            dist = np.where(
                bvia == 0,
                (1 - fcol) * length + np.take(mv, at_s),
                np.where(bvia == 1, fcol * length + np.take(mu, at_s), np.abs(np.take(fr, at_s) - fcol) * length),
            )
            sel = slice(None) if all_rows else rows
            best_t[sel, :n_cols] = bt
            best_j[sel, :n_cols] = np.where(reach, np.take(jj, at_s), -1)
            best_m[sel, :n_cols] = np.where(reach, dist, np.inf)
            best_via[sel, :n_cols] = bvia
        geom = None
        if return_routes:
            geom = self._routes(snapped, best_j, best_via, np.isfinite(best_t))
        return Answer(target=best_j, travel_s=best_t, distance_m=best_m, geometry=geom, query_snap=snapped)

    # -- routes ----------------------------------------------------------------------------------------
    def _tree_for(self, j: int) -> IntArray:
        tree = self.trees.get(j)
        if tree is None:
            n = self.graph.n_nodes
            _, pred = dijkstra(
                self._mat, directed=True, indices=n + j, return_predecessors=True, limit=self.limit_s
            )
            tree = pred.astype(np.int32)
            if getattr(self, "_keep_trees", True):
                self.trees[j] = tree
        return tree

    def _next(self, x: IntArray, j: IntArray) -> IntArray:
        if self.k == 1:
            assert self.pred is not None
            return self.pred[x]
        out = np.empty(len(x), dtype=np.int64)
        for jj in np.unique(j):
            sel = j == jj
            out[sel] = self._tree_for(int(jj))[x[sel]]
        return out

    SMALL_ROUTES = 64  # up to this many routes, predecessor chains are walked in plain Python

    def _final_pieces(self, x: IntArray, tj: IntArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """The last piece of routes arriving at node ``x`` into target ``tj``: (street, f_from, f_to)."""
        g = self.graph
        st = self.targets.street[tj]
        fr = self.targets.fraction[tj]
        t = g.street_travel_s[st]
        v_ok, u_ok = end_access(g, st, fr, leaving=False)
        from_u_ok = (g.street_u[st] == x) & u_ok
        from_v_ok = (g.street_v[st] == x) & v_ok
        use_u = from_u_ok & (~from_v_ok | (fr * t <= (1 - fr) * t))
        return st, np.where(use_u, 0.0, 1.0), fr

    def _walk_small(self, rid: IntArray, j: IntArray, cur0: IntArray
                    ) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
        """The node chains of a few routes, walked one node at a time (a numpy pass per step costs more
        than the step when there are only a few routes). Returns hop (route, step, from, to) and final
        (route, step, last node, target) arrays."""
        n = self.graph.n_nodes
        hr: list[int] = []
        hs: list[int] = []
        hx: list[int] = []
        hy: list[int] = []
        fr_: list[tuple[int, int, int, int]] = []
        for r, jj, cur in zip(rid.tolist(), j.tolist(), cur0.tolist(), strict=True):
            tree = self.pred if self.k == 1 else self._tree_for(int(jj))
            assert tree is not None
            step = 1
            while True:
                nxt = int(tree[cur])
                if 0 <= nxt < n:
                    hr.append(r)
                    hs.append(step)
                    hx.append(cur)
                    hy.append(nxt)
                    cur = nxt
                    step += 1
                    if step > n + 2:  # pragma: no cover - a predecessor tree cannot cycle
                        raise RuntimeError("route reconstruction did not terminate")
                    continue
                if nxt >= n:
                    fr_.append((r, step, cur, nxt - n))
                break
        f_arr = np.array(fr_, dtype=np.int64).reshape(-1, 4)
        return (np.array(hr, dtype=np.int64), np.array(hs, dtype=np.int64), np.array(hx, dtype=np.int64),
                np.array(hy, dtype=np.int64), f_arr)

    def _routes(self, snapped: Snapped, best_j: IntArray, best_via: npt.NDArray[np.int8], reach: BoolArray):
        g = self.graph
        n = g.n_nodes
        q, k = best_j.shape
        rid_q, rid_r = np.nonzero(reach)
        nroutes = len(rid_q)
        rid = rid_q * k + rid_r
        j = best_j[rid_q, rid_r]
        via = best_via[rid_q, rid_r]
        s = snapped.street[rid_q]
        f = snapped.fraction[rid_q]
        ts = self.targets.street[j]
        tf = self.targets.fraction[j]
        # piece lists: (route, step, street, f_from, f_to)
        p_route: list[IntArray] = []
        p_step: list[IntArray] = []
        p_s: list[IntArray] = []
        p_a: list[FloatArray] = []
        p_b: list[FloatArray] = []
        direct = via == 2
        p_route.append(rid[direct])
        p_step.append(np.zeros(int(direct.sum()), dtype=np.int64))
        p_s.append(s[direct])
        p_a.append(f[direct])
        p_b.append(tf[direct])
        net = ~direct
        start_node = np.where(via == 0, g.street_v[s], g.street_u[s])
        p_route.append(rid[net])
        p_step.append(np.zeros(int(net.sum()), dtype=np.int64))
        p_s.append(s[net])
        p_a.append(f[net])
        p_b.append(np.where(via[net] == 0, 1.0, 0.0))
        cur = start_node[net]
        cj = j[net]
        cr = rid[net]
        step = 1
        if nroutes <= self.SMALL_ROUTES:
            hr, hs, hx, hy, fin_rows = self._walk_small(cr, cj, cur)
            if len(hr):
                e = _edge_lookup(g, hx, hy)
                fwd = g.edge_forward[e]
                p_route.append(hr)
                p_step.append(hs)
                p_s.append(g.edge_street[e])
                p_a.append(np.where(fwd, 0.0, 1.0))
                p_b.append(np.where(fwd, 1.0, 0.0))
            if len(fin_rows):
                st, fa_, fb_ = self._final_pieces(fin_rows[:, 2], fin_rows[:, 3])
                p_route.append(fin_rows[:, 0])
                p_step.append(fin_rows[:, 1])
                p_s.append(st)
                p_a.append(fa_)
                p_b.append(fb_)
            cur = cur[:0]
        while len(cur):
            nxt = self._next(cur, cj)
            real = (nxt >= 0) & (nxt < n)
            if real.any():
                e = _edge_lookup(g, cur[real], nxt[real])
                es = g.edge_street[e]
                fwd = g.edge_forward[e]
                p_route.append(cr[real])
                p_step.append(np.full(int(real.sum()), step, dtype=np.int64))
                p_s.append(es)
                p_a.append(np.where(fwd, 0.0, 1.0))
                p_b.append(np.where(fwd, 1.0, 0.0))
            fin = nxt >= n
            if fin.any():
                st, fa_, fb_ = self._final_pieces(cur[fin], nxt[fin] - n)
                p_route.append(cr[fin])
                p_step.append(np.full(int(fin.sum()), step, dtype=np.int64))
                p_s.append(st)
                p_a.append(fa_)
                p_b.append(fb_)
            cur, cj, cr = nxt[real], cj[real], cr[real]
            step += 1
            if step > n + 2:  # pragma: no cover - a predecessor tree cannot cycle
                raise RuntimeError("route reconstruction did not terminate")
        route_id = np.concatenate(p_route)
        order = np.lexsort((np.concatenate(p_step), route_id))
        street = np.concatenate(p_s)[order]
        fa = np.concatenate(p_a)[order]
        fb = np.concatenate(p_b)[order]
        route_id = route_id[order]
        lon, lat, piece = pieces_coords(g, street, fa, fb)
        lines = _linestrings(lon, lat, route_id[piece], q * k)
        del ts, nroutes
        return lines.reshape(q, k)


# ------------------------------------------------------------------------------------------------------
# Point to point
# ------------------------------------------------------------------------------------------------------


@dataclass
class Route:
    """A route between two points: ``travel_s`` seconds, ``distance_m`` metres along the network and the
    ``geometry`` (WGS84 LineString from the snapped origin to the snapped destination, None if
    unreachable); ``origin`` / ``destination`` are the snaps."""

    travel_s: float
    distance_m: float
    geometry: shapely.LineString | None
    origin: Snapped
    destination: Snapped


def route(
    graph: StreetGraph,
    *,
    from_lon: float,
    from_lat: float,
    to_lon: float,
    to_lat: float,
    max_snap_m: float | None = None,
) -> Route:
    """Quickest route between two WGS84 points (degrees), both snapped onto streets (:class:`SnapError`
    if either is too far). Unreachable: ``travel_s = inf`` and no geometry."""
    o = snap_points(graph, from_lon, from_lat, max_snap_m=max_snap_m)
    d = snap_points(graph, to_lon, to_lat, max_snap_m=max_snap_m)
    ans = TargetIndex(graph, d, k=1).query(o, return_routes=True)
    geom = ans.geometry[0, 0] if ans.geometry is not None else None
    return Route(
        travel_s=float(ans.travel_s[0, 0]),
        distance_m=float(ans.distance_m[0, 0]),
        geometry=geom,
        origin=o,
        destination=d,
    )
