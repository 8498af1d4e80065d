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
one-way streets are honoured in the travel direction. The k nearest stations of many points are the
labels of :mod:`geomap.network.labels`, which also handle two points on the same street (direct travel
along it).

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
    "Route",
    "SnapError",
    "Snapped",
    "node_travel_times",
    "route",
    "snap_points",
    "travel_times_from",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

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
    from geomap.network.labels import build_labels
    from geomap.network.nearest import routes

    o = snap_points(graph, from_lon, from_lat, max_snap_m=max_snap_m)
    d = snap_points(graph, to_lon, to_lat, max_snap_m=max_snap_m)
    lab = build_labels(graph, d, k=1, limit_s=np.inf)
    slot, travel_s, distance_m, via = lab.query(o, k=1)
    geom = routes(lab, o, slot, via)[0, 0]
    return Route(travel_s=float(travel_s[0, 0]), distance_m=float(distance_m[0, 0]), geometry=geom, origin=o,
                 destination=d)
