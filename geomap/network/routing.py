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

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely
from numba import njit
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from geomap import npy
from geomap.coords import EARTH_RADIUS_M, local_metric_crs
from geomap.coords_compiled import haversine_m as _haversine_compiled
from geomap.network.graph import StreetGraph
from geomap.settings import get_settings

__all__ = [
    "Route",
    "SnapError",
    "Snapped",
    "access_s",
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


@njit(cache=True, nogil=True)
def _nearest_seg(x, y, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, street_mask, use_mask,
                 cell_ptr, cell_seg, x0, y0, c, nx, ny, cap_m):  # pragma: no cover (compiled)
    """Nearest segment of a point (metres in the equirectangular frame), searching the grid's cells in
    square rings around the point's cell until no unvisited cell can hold a nearer segment, or until
    ``cap_m`` (then -1). With ``use_mask``, only segments of streets where ``street_mask`` is True."""
    max_ring = int(cap_m / c) + 2
    cx = min(max(x, x0), x0 + nx * c)  # the point clamped onto the grid (its projection)
    cy = min(max(y, y0), y0 + ny * c)
    out2 = (x - cx) * (x - cx) + (y - cy) * (y - cy)
    ix = min(max(int((cx - x0) / c), 0), nx - 1)
    iy = min(max(int((cy - y0) / c), 0), ny - 1)
    bd = np.inf
    bs = -1
    for r in range(max_ring + 1):
        # every cell at Chebyshev distance r from (ix, iy)
        for gx in range(ix - r, ix + r + 1):
            if gx < 0 or gx >= nx:
                continue
            edge = gx == ix - r or gx == ix + r
            step = 1 if edge else 2 * r
            gy = iy - r
            while gy <= iy + r:
                if 0 <= gy < ny:
                    cell = gx * ny + gy
                    for q in range(cell_ptr[cell], cell_ptr[cell + 1]):
                        sg = cell_seg[q]
                        if use_mask and not street_mask[seg_street[sg]]:
                            continue
                        a = seg_first[sg]
                        ax = (glon[a] - lon0) * kx
                        ay = (glat[a] - lat0) * ky
                        dx = (glon[a + 1] - lon0) * kx - ax
                        dy = (glat[a + 1] - lat0) * ky - ay
                        den = dx * dx + dy * dy
                        tt = 0.0
                        if den > 0:
                            tt = ((x - ax) * dx + (y - ay) * dy) / den
                            tt = min(max(tt, 0.0), 1.0)
                        ex = ax + tt * dx - x
                        ey = ay + tt * dy - y
                        d2 = ex * ex + ey * ey
                        if d2 < bd or (d2 == bd and sg < bs):
                            bd = d2
                            bs = sg
                if r == 0:
                    break
                gy += step
        # cells not yet visited are at least r cells (r * c metres) from the clamped point; the point's
        # offset from the grid adds at right angles (projection onto a box)
        lower = out2 + (r * c) * (r * c)
        if bs >= 0 and bd <= lower:
            break
        if r * c > cap_m and lower > cap_m * cap_m:
            break
    return bs


@njit(cache=True, nogil=True)
def _grid_nearest(px, py, ok, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, street_mask, use_mask,
                  cell_ptr, cell_seg, x0, y0, c, nx, ny, cap_m):  # pragma: no cover (compiled)
    """:func:`_nearest_seg` of every point (-1 where not ``ok`` or none within ``cap_m``)."""
    best = np.full(px.shape[0], -1, dtype=np.int64)
    for p in range(px.shape[0]):
        if ok[p]:
            best[p] = _nearest_seg(px[p], py[p], lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, street_mask,
                                   use_mask, cell_ptr, cell_seg, x0, y0, c, nx, ny, cap_m)
    return best


@njit(cache=True, nogil=True, inline="always")
def _foot(seg, x, y, lon, lat, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, cumfrac):  # pragma: no cover
    """The foot of (x, y) on segment ``seg``: street, fraction along it (of its great-circle length),
    WGS84 position and great-circle metres from (lon, lat)."""
    a = seg_first[seg]
    ax = (glon[a] - lon0) * kx
    ay = (glat[a] - lat0) * ky
    dx = (glon[a + 1] - lon0) * kx - ax
    dy = (glat[a + 1] - lat0) * ky - ay
    den = dx * dx + dy * dy
    tt = 0.0
    if den > 0:
        tt = min(max(((x - ax) * dx + (y - ay) * dy) / den, 0.0), 1.0)
    slon = glon[a] + tt * (glon[a + 1] - glon[a])
    slat = glat[a] + tt * (glat[a + 1] - glat[a])
    frac = min(max(cumfrac[a] + tt * (cumfrac[a + 1] - cumfrac[a]), 0.0), 1.0)
    return seg_street[seg], frac, slon, slat, _haversine_compiled(lon, lat, slon, slat)


@njit(cache=True, nogil=True)
def _snap_one(lon, lat, max_snap_m, cap_m, prefer_core, core, lon0, lat0, kx, ky, glon, glat, seg_first,
              seg_street, cumfrac, cell_ptr, cell_seg, x0, y0, c, nx, ny):  # pragma: no cover (compiled)
    """Snap one WGS84 point: (street, fraction, distance_m, lon, lat, status) with status 0 within
    ``max_snap_m``, 1 farther (the distance is exact), 2 no street within ``cap_m`` (distance unknown).
    With ``prefer_core``, a point whose nearest street is outside the core snaps onto the nearest core
    street when that one is within ``max_snap_m`` too (see :func:`snap_points`)."""
    x = (lon - lon0) * kx
    y = (lat - lat0) * ky
    if not (math.isfinite(x) and math.isfinite(y)):
        return -1, np.nan, np.inf, np.nan, np.nan, 2
    seg = _nearest_seg(x, y, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, core, False, cell_ptr,
                       cell_seg, x0, y0, c, nx, ny, cap_m)
    if seg < 0:
        return -1, np.nan, np.inf, np.nan, np.nan, 2
    s, f, slon, slat, d = _foot(seg, x, y, lon, lat, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, cumfrac)
    if prefer_core and not core[s]:
        cseg = _nearest_seg(x, y, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, core, True, cell_ptr,
                            cell_seg, x0, y0, c, nx, ny, 1.5 * max_snap_m)
        if cseg >= 0:
            s2, f2, slon2, slat2, d2 = _foot(cseg, x, y, lon, lat, lon0, lat0, kx, ky, glon, glat, seg_first,
                                             seg_street, cumfrac)
            if d2 <= max_snap_m:
                s, f, slon, slat, d = s2, f2, slon2, slat2, d2
    return s, f, d, slon, slat, 0 if d <= max_snap_m else 1


@njit(cache=True, nogil=True)
def _snap_batch(lon, lat, max_snap_m, cap_m, prefer_core, core, lon0, lat0, kx, ky, glon, glat, seg_first,
                seg_street, cumfrac, cell_ptr, cell_seg, x0, y0, c, nx, ny):  # pragma: no cover (compiled)
    n = lon.shape[0]
    street = np.full(n, -1, dtype=np.int64)
    frac = np.full(n, np.nan)
    dist = np.full(n, np.inf)
    slon = np.full(n, np.nan)
    slat = np.full(n, np.nan)
    status = np.full(n, 2, dtype=np.int8)
    for p in range(n):
        street[p], frac[p], dist[p], slon[p], slat[p], status[p] = _snap_one(
            lon[p], lat[p], max_snap_m, cap_m, prefer_core, core, lon0, lat0, kx, ky, glon, glat, seg_first,
            seg_street, cumfrac, cell_ptr, cell_seg, x0, y0, c, nx, ny)
    return street, frac, dist, slon, slat, status


class _SnapIndex:
    """Every straight segment of every street in a uniform grid (CSR: cells -> segments, int32), searched
    by a compiled ring search (:func:`_grid_nearest`) in a fast local equirectangular frame (metres).
    About 20 bytes per segment, built in one numpy pass: a million-node city's index is tens of MB, where
    an STRtree of shapely segments took ~850 MB and 2.6 s."""

    TARGET_PER_CELL = 2.0  # segments per cell on average (the cell size follows the network's density)

    _ARRAYS = ("seg_first", "seg_street", "cell_seg", "cell_ptr")
    _SCALARS = ("x0", "y0", "cell_m", "nx", "ny")

    def save(self, folder: Path) -> None:
        """Write the index's arrays (memory-mappable ``.npy``) and sizes to ``folder``."""
        import json
        import os
        import shutil
        import threading

        tmp = folder.with_name(f"{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for name in self._ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name))
        (tmp / "meta.json").write_text(json.dumps({k: getattr(self, k) for k in self._SCALARS}), encoding="utf-8")
        try:
            tmp.rename(folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, graph: StreetGraph) -> _SnapIndex:
        """An index written by :meth:`save` for ``graph``, memory-mapped."""
        import json

        si = cls.__new__(cls)
        si._frame(graph)
        for name in cls._ARRAYS:
            setattr(si, name, npy.load(folder / f"{name}.npy", mmap_mode="r"))
        for k, v in json.loads((folder / "meta.json").read_text(encoding="utf-8")).items():
            setattr(si, k, v)
        return si

    def _frame(self, graph: StreetGraph) -> None:
        """The frames: an accurate local one (pyproj, azimuthal equidistant) for geometry output such as
        service circles, and a fast equirectangular one for choosing the nearest segment (distances
        reported are great-circle, to the chosen foot point, not distances in this frame)."""
        lon0, lat0 = graph.centre_lonlat
        self.to_xy = Transformer.from_crs("EPSG:4326", local_metric_crs(lon0, lat0), always_xy=True)
        self.lon0, self.lat0 = lon0, lat0
        self.kx = float(np.radians(1.0) * EARTH_RADIUS_M * np.cos(np.radians(lat0)))
        self.ky = float(np.radians(1.0) * EARTH_RADIUS_M)
        self.glon, self.glat = graph.geom_lon, graph.geom_lat

    def __init__(self, graph: StreetGraph) -> None:
        self._frame(graph)
        nv = len(graph.geom_lon)
        last = np.zeros(nv, dtype=bool)
        last[graph.geom_offsets[1:] - 1] = True
        self.seg_first = np.flatnonzero(~last).astype(np.int64)
        self.seg_street = np.repeat(np.arange(graph.n_streets), np.diff(graph.geom_offsets) - 1).astype(np.int64)
        a = self.seg_first
        gx, gy = self.fast_xy(graph.geom_lon, graph.geom_lat)
        x_lo, x_hi = np.minimum(gx[a], gx[a + 1]), np.maximum(gx[a], gx[a + 1])
        y_lo, y_hi = np.minimum(gy[a], gy[a + 1]), np.maximum(gy[a], gy[a + 1])
        if len(a):
            self.x0, self.y0 = float(x_lo.min()) - 1.0, float(y_lo.min()) - 1.0
            w, h = float(x_hi.max()) + 1.0 - self.x0, float(y_hi.max()) + 1.0 - self.y0
            self.cell_m = float(np.clip(np.sqrt(w * h * self.TARGET_PER_CELL / len(a)), 10.0, 2000.0))
        else:
            self.x0, self.y0, w, h, self.cell_m = 0.0, 0.0, 1.0, 1.0, 100.0
        c = self.cell_m
        self.nx, self.ny = int(np.ceil(w / c)) or 1, int(np.ceil(h / c)) or 1
        ix0 = np.floor((x_lo - self.x0) / c).astype(np.int64)
        ix1 = np.floor((x_hi - self.x0) / c).astype(np.int64)
        iy0 = np.floor((y_lo - self.y0) / c).astype(np.int64)
        iy1 = np.floor((y_hi - self.y0) / c).astype(np.int64)
        # every cell of each segment's bounding box
        nxs, nys = ix1 - ix0 + 1, iy1 - iy0 + 1
        per = nxs * nys
        seg = np.repeat(np.arange(len(a), dtype=np.int64), per)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(per) - per, per)
        cx = ix0[seg] + k // nys[seg]
        cy = iy0[seg] + k % nys[seg]
        cell = cx * self.ny + cy
        order = np.argsort(cell, kind="stable")
        self.cell_seg = seg[order].astype(np.int32)
        self.cell_ptr = np.zeros(self.nx * self.ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=self.nx * self.ny), out=self.cell_ptr[1:])

    def fast_xy(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Equirectangular metres around the graph centre (for nearest-segment search only)."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def kernel_args(self, graph: StreetGraph) -> tuple:
        """The arrays and sizes the compiled snapping (:func:`_snap_one`) reads, from ``core`` on."""
        return (graph.core_street, self.lon0, self.lat0, self.kx, self.ky, self.glon, self.glat, self.seg_first,
                self.seg_street, graph.geom_cumfrac, self.cell_ptr, self.cell_seg, self.x0, self.y0, self.cell_m,
                self.nx, self.ny)

    def nearest_segments(self, px: FloatArray, py: FloatArray, *, street_mask: BoolArray | None = None,
                         cap_m: float = 5000.0) -> IntArray:
        """Exact nearest segment (in the frame of :meth:`fast_xy`) of each finite point within ``cap_m``
        (-1 beyond it); with ``street_mask``, among the segments of those streets only."""
        px = np.ascontiguousarray(px, dtype=np.float64)
        py = np.ascontiguousarray(py, dtype=np.float64)
        ok = np.isfinite(px) & np.isfinite(py)
        if len(self.seg_first) == 0:
            return np.full(len(px), -1, dtype=np.int64)
        mask = street_mask if street_mask is not None else np.zeros(1, dtype=np.bool_)
        return _grid_nearest(px, py, ok, self.lon0, self.lat0, self.kx, self.ky, self.glon, self.glat,
                             self.seg_first, self.seg_street, mask, street_mask is not None, self.cell_ptr,
                             self.cell_seg, self.x0, self.y0, self.cell_m, self.nx, self.ny, float(cap_m))


def _snap_index(graph: StreetGraph) -> _SnapIndex:
    """The graph's snapping index: built once, kept on the graph, and beside the graph's disk cache
    (memory-mapped on the next start) when it has one."""
    idx = graph.__dict__.get("_snap_index")
    if idx is None:
        cache = graph.__dict__.get("_cache_dir")
        folder = Path(cache) / f"snap_{graph.cache_key[:20]}" if cache and graph.cache_key else None
        if folder is not None and folder.exists():
            try:
                idx = _SnapIndex.load(folder, graph)
            except (OSError, ValueError, KeyError):
                idx = None
        if idx is None:
            idx = _SnapIndex(graph)
            if folder is not None:
                idx.save(folder)
        graph.__dict__["_snap_index"] = idx
    return idx


def core_streets(graph: StreetGraph) -> BoolArray:
    """Streets of the graph's strongly connected core (:attr:`StreetGraph.core_street`)."""
    return graph.core_street


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
    street, frac, dist, slon, slat, status = _snap_batch(
        lon_a, lat_a, max_snap_m, max(FAR_M, 3.0 * max_snap_m), prefer_core, *si.kernel_args(graph))
    beyond = np.flatnonzero(status == 2)
    if len(beyond):  # no street within the search's reach: how far the nearest street node is (never nearer)
        fin = beyond[np.isfinite(lon_a[beyond]) & np.isfinite(lat_a[beyond])]
        dist[fin] = _nearest_node_m(graph, lon_a[fin], lat_a[fin])
    ok = status == 0
    out = Snapped(street=np.where(ok, street, -1), fraction=np.where(ok, frac, np.nan), distance_m=dist,
                  lon=np.where(ok, slon, np.nan), lat=np.where(ok, slat, np.nan), ok=ok)
    far = np.flatnonzero(~ok)
    if len(far) and errors == "raise":
        raise SnapError(out.distance_m[far], far, max_snap_m)
    return out


FAR_M = 5000.0
"""Streets are searched exactly up to this far from a point (or 3 × ``max_snap_m``); a point with none so
near is told the distance to the nearest street node (the nearest street is at most that far)."""


def _nearest_node_m(graph: StreetGraph, lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Great-circle metres from each WGS84 point to the nearest node of ``graph`` (a k-d tree on unit
    vectors, built on first use)."""
    from scipy.spatial import cKDTree

    from geomap.coords import chord_to_m, unit_vectors

    tree = graph.__dict__.get("_node_tree")
    if tree is None:
        tree = graph.__dict__["_node_tree"] = cKDTree(unit_vectors(graph.node_lon, graph.node_lat))
    chord, _ = tree.query(unit_vectors(lon, lat), k=1)
    return chord_to_m(chord)


# ------------------------------------------------------------------------------------------------------
# Access edges and augmented matrices
# ------------------------------------------------------------------------------------------------------


def access_s(graph: StreetGraph, distance_m: npt.ArrayLike) -> FloatArray:
    """Seconds of the straight access legs of length ``distance_m`` (metres) at the graph's
    ``access_speed_kmh``: from a point to where it snaps onto its street, or from a station's street to
    the station. Every trip time counts both legs (the whole trip, documented in ``docs/network.md``)."""
    return np.asarray(distance_m, dtype=np.float64) * (3.6 / graph.access_speed_kmh)


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
    """Partial-street edges between snapped points and street ends, access legs included.

    ``inbound=False``: point → node (leaving the point). ``inbound=True``: node → point, returned as
    point → node edges of the *reversed* graph. Returns ``(point, node, travel_s, length_m)``: the straight
    leg between the point and its street (:func:`access_s`) plus the partial street; for a self-loop
    street the cheaper of the two ways to the same node is kept.
    """
    ok = np.flatnonzero(snapped.ok)
    s = snapped.street[ok]
    f = snapped.fraction[ok]
    leg_m = np.asarray(snapped.distance_m, dtype=np.float64)[ok]
    leg_s = access_s(graph, leg_m)
    t = graph.street_travel_s[s]
    length = graph.street_length_m[s]
    u, v = graph.street_u[s], graph.street_v[s]
    # leaving the point: to v forward, to u backward; arriving: from u forward, from v backward (and a
    # point at a street end is at that node)
    to_v_ok, to_u_ok = end_access(graph, s, f, leaving=not inbound)
    pts = np.concatenate([ok[to_v_ok], ok[to_u_ok]])
    nodes = np.concatenate([v[to_v_ok], u[to_u_ok]])
    cost = np.concatenate([((1.0 - f) * t + leg_s)[to_v_ok], (f * t + leg_s)[to_u_ok]])
    lens = np.concatenate([((1.0 - f) * length + leg_m)[to_v_ok], (f * length + leg_m)[to_u_ok]])
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
    streets in the travel direction). The point's access leg to its street is included
    (:func:`access_s`). Beyond ``limit_s``, unreachable, or an unsnapped point: ``inf``.
    Travel along the point's own street without passing a node is not a node time; callers that need it
    (isochrones) add it from ``snapped.fraction`` and the access leg.
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


@njit(cache=True, nogil=True, inline="always")
def _at(s, f, offsets, cumfrac, gx, gy):  # pragma: no cover (compiled)
    """Position at fraction ``f`` of street ``s`` (linear within its geometry segment), in the frame of
    ``gx`` / ``gy``."""
    a, b = offsets[s], offsets[s + 1] - 1
    lo, hi = a, max(b - 1, a)
    while lo < hi:  # the last vertex i of the street with cumfrac[i] <= f (among the segment starts)
        mid = (lo + hi + 1) >> 1
        if cumfrac[mid] <= f:
            lo = mid
        else:
            hi = mid - 1
    j = min(lo + 1, b)
    den = cumfrac[j] - cumfrac[lo]
    tt = min(max((f - cumfrac[lo]) / den, 0.0), 1.0) if den > 0 else 0.0
    return gx[lo] + tt * (gx[j] - gx[lo]), gy[lo] + tt * (gy[j] - gy[lo])


@njit(cache=True, nogil=True)
def _pieces_xy(street, f_from, f_to, offsets, cumfrac, gx, gy):  # pragma: no cover (compiled)
    """Vertices of street pieces travelled from ``f_from`` to ``f_to``: per piece its two interpolated
    ends and the geometry vertices strictly between them, in travel order; returns (x, y, piece)."""
    m = street.shape[0]
    total = 0
    for i in range(m):
        total += offsets[street[i] + 1] - offsets[street[i]] + 2
    x = np.empty(total)
    y = np.empty(total)
    piece = np.empty(total, dtype=np.int64)
    w = 0
    for i in range(m):
        s, fa, fb = street[i], f_from[i], f_to[i]
        lo, hi = min(fa, fb), max(fa, fb)
        x[w], y[w] = _at(s, fa, offsets, cumfrac, gx, gy)
        piece[w] = i
        w += 1
        a, b = offsets[s], offsets[s + 1]
        if fb >= fa:
            for v in range(a, b):
                if lo < cumfrac[v] < hi:
                    x[w], y[w], piece[w] = gx[v], gy[v], i
                    w += 1
        else:
            for v in range(b - 1, a - 1, -1):
                if lo < cumfrac[v] < hi:
                    x[w], y[w], piece[w] = gx[v], gy[v], i
                    w += 1
        x[w], y[w] = _at(s, fb, offsets, cumfrac, gx, gy)
        piece[w] = i
        w += 1
    return x[:w], y[:w], piece[:w]


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
    gx, gy = (graph.geom_lon, graph.geom_lat) if xy is None else xy
    return _pieces_xy(np.ascontiguousarray(street, dtype=np.int64), np.ascontiguousarray(f_from, dtype=np.float64),
                      np.ascontiguousarray(f_to, dtype=np.float64), graph.geom_offsets, graph.geom_cumfrac,
                      np.ascontiguousarray(gx, dtype=np.float64), np.ascontiguousarray(gy, dtype=np.float64))


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
    from geomap.network.query import answer

    limit = float(get_settings().max_snap_m if max_snap_m is None else max_snap_m)
    o = snap_points(graph, from_lon, from_lat, max_snap_m=limit)
    d = snap_points(graph, to_lon, to_lat, max_snap_m=limit)
    ans = answer(build_labels(graph, d, k=1, limit_s=np.inf), from_lon, from_lat, k=1, max_snap_m=limit)
    return Route(travel_s=float(ans.travel_s[0, 0]), distance_m=float(ans.distance_m[0, 0]),
                 geometry=ans.routes()[0, 0], origin=o, destination=d)
