"""Areas reached within given times, for a whole city at once: the published map's service-circle bands.

A single station's service circle (:mod:`geomap.network.isochrones`) buffers its reachable street pieces
and unions them; for a city's stations together that union is the whole street network (a union of
380,000 buffered pieces took 10 s per band on a 100,000-node city). Here, instead:

1. the stations' labels give every node's time to its nearest station (one search for all stations);
2. every street is sampled every half raster cell and each sample's time is the exact network answer
   (:meth:`~geomap.network.labels.Labels.query`: leaving through either end of its street, or along it
   to a station on it);
3. the samples are rasterised (a cell keeps its quickest sample), each band ``time ≤ T`` is dilated by
   the street half-width (``buffer_m``, a disc), holes smaller than ``hole_fill_m2`` are filled (as for
   single circles), and the bands are nested (a hole filled at 5 minutes stays filled at 10);
4. each band (reached within ``T_i`` but not ``T_{i-1}``) is traced into polygons with contourpy
   (marching squares), in the graph's equirectangular frame, then back to WGS84.

The raster's cell is 10 m, coarser on very large networks (at most about 20 million cells): the bands'
outlines are accurate to about a cell, enough for a map. Cost: linear in street length and raster size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely
from numba import njit

from geomap.network.labels import Labels
from geomap.network.routing import Snapped, _interp, _snap_index

if TYPE_CHECKING:
    from geomap.network.graph import StreetGraph

__all__ = ["band_polygons"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MAX_CELLS = 20_000_000
"""The raster is made coarser than 10 m when the area would need more cells than this."""


@njit(cache=True, nogil=True)
def _rasterise(ix, iy, t, nx, ny):  # pragma: no cover (compiled)
    out = np.full((ny, nx), np.inf, dtype=np.float32)
    for i in range(ix.shape[0]):
        a, b = iy[i], ix[i]
        if 0 <= a < ny and 0 <= b < nx and t[i] < out[a, b]:
            out[a, b] = t[i]
    return out


def _disc(radius_cells: float) -> npt.NDArray[np.bool_]:
    r = int(np.ceil(radius_cells))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy) <= radius_cells * radius_cells + 1e-9


def _fill_small(mask: npt.NDArray[np.bool_], max_cells: float) -> npt.NDArray[np.bool_]:
    """``mask`` with the holes (components of its complement not touching the border) smaller than
    ``max_cells`` cells filled."""
    from scipy import ndimage

    lab, n = ndimage.label(~mask)
    if n == 0:
        return mask
    size = np.bincount(lab.ravel())
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    small = size < max_cells
    small[0] = False
    small[border] = False
    return mask | small[lab]


def _trace(mask: npt.NDArray[np.bool_], x0: float, y0: float, c: float) -> list[shapely.Polygon]:
    """Polygons (with holes) of the cells where ``mask`` is True, in the raster's frame (cell centres at
    ``x0 + (i + 0.5) c``), by contourpy's marching squares at level 0.5 on a padded raster."""
    from contourpy import FillType, contour_generator

    if not mask.any():
        return []
    z = np.pad(mask.astype(np.float32), 1)
    ny, nx = z.shape
    xs = x0 + (np.arange(nx) - 0.5) * c
    ys = y0 + (np.arange(ny) - 0.5) * c
    gen = contour_generator(xs, ys, z, name="serial", fill_type=FillType.OuterOffset)
    points, offsets = gen.filled(0.5, 2.0)
    out = []
    for pts, off in zip(points, offsets, strict=True):
        rings = [pts[off[i]:off[i + 1]] for i in range(len(off) - 1)]
        out.append(shapely.Polygon(rings[0], rings[1:]))
    return out


def _frame(graph: StreetGraph, gx: FloatArray, gy: FloatArray, streets: IntArray, *, pad_m: float,
           cell_m: float) -> tuple[float, float, float, int, int]:
    """The raster over ``streets`` (graph frame, metres): origin x, y, cell size, columns, rows."""
    a, b = graph.geom_offsets[streets], graph.geom_offsets[streets + 1]
    vx = np.concatenate([gx[a], gx[b - 1]])
    vy = np.concatenate([gy[a], gy[b - 1]])
    x_lo, x_hi, y_lo, y_hi = vx.min() - pad_m, vx.max() + pad_m, vy.min() - pad_m, vy.max() + pad_m
    c = max(cell_m, float(np.sqrt((x_hi - x_lo) * (y_hi - y_lo) / MAX_CELLS)))
    return float(x_lo), float(y_lo), c, int(np.ceil((x_hi - x_lo) / c)), int(np.ceil((y_hi - y_lo) / c))


def _sample_times(labels: Labels, streets: IntArray, gx: FloatArray, gy: FloatArray, x_lo: float, y_lo: float,
                  c: float) -> tuple[IntArray, IntArray, FloatArray]:
    """Samples every half cell along ``streets`` (their ends included): their raster column and row and
    their exact time to the nearest station of ``labels`` (s)."""
    graph = labels.graph
    n_s = np.maximum(np.ceil(graph.street_length_m[streets] / (0.5 * c)).astype(np.int64), 1) + 1
    st = np.repeat(streets, n_s)
    k = np.arange(len(st)) - np.repeat(np.cumsum(n_s) - n_s, n_s)
    frac = k / np.repeat(n_s - 1, n_s)
    sx, sy = _interp(graph, st, frac, (gx, gy))
    samples = Snapped(street=st, fraction=frac, distance_m=np.zeros(len(st)), lon=np.zeros(len(st)),
                      lat=np.zeros(len(st)), ok=np.ones(len(st), dtype=bool))
    times = labels.query(samples, k=1)[1][:, 0]
    return (np.floor((sx - x_lo) / c).astype(np.int64), np.floor((sy - y_lo) / c).astype(np.int64),
            times.astype(np.float64))


def _levels(times: npt.NDArray[np.float32], limits_s: FloatArray) -> npt.NDArray[np.uint8]:
    """Per cell, the first band whose limit its time is within (``len(limits_s)``: none)."""
    return np.searchsorted(limits_s, times, side="left").astype(np.uint8)


def _masks(level: npt.NDArray[np.uint8], n_bands: int, disc: npt.NDArray[np.bool_], max_cells: float,
           ) -> npt.NDArray[np.uint8]:
    """Per cell, the first band whose (dilated, small holes filled, nested) area holds it (``n_bands``:
    none), computed on this window as a whole (its border counts as the raster's border)."""
    from scipy import ndimage

    out = np.full(level.shape, n_bands, dtype=np.uint8)
    before = np.zeros(level.shape, dtype=bool)
    for i in range(n_bands):
        mask = ndimage.binary_dilation(level <= i, structure=disc)
        mask = _fill_small(mask, max_cells) | before
        out[mask & ~before] = i
        before = mask
    return out


class BandState:
    """What a city's service-circle bands were last drawn from, kept between drawings so that the bands of
    an edited station set are redrawn where the edit changed them, not everywhere.

    Kept per graph and band settings (:func:`band_polygons` with ``keep=True``): the nodes' times to their
    nearest station and the streets holding a station (to tell which streets an edit changed), each
    cell's band by time (``level``), each cell's band after widening and hole filling (``area``), and the
    streets of each 64-cell tile. An edit's changed streets give the tiles to sample again; where a
    cell's band by time changed, the areas are recomputed in a window around it wide enough to be exact
    (the street half-width for widening, plus the largest hole filled: a hole that reaches farther is too
    big to be filled anyway), and written back there only. The polygons are traced from the whole
    ``area`` raster each time (seconds on a million-node city, against ~10 s for the whole computation).
    Memory: two bytes per cell and a few per street (tens of MB at a million nodes)."""

    TILE = 64

    def __init__(self, labels: Labels, mins: list[float], *, buffer_m: float, hole_fill_m2: float,
                 cell_m: float) -> None:
        graph = labels.graph
        self.graph, self.mins = graph, mins
        self.limits_s = np.asarray([m * 60.0 for m in mins])
        si = _snap_index(graph)
        self.si = si
        gx, gy = si.fast_xy(graph.geom_lon, graph.geom_lat)
        all_streets = np.arange(graph.n_streets)
        self.x_lo, self.y_lo, self.c, self.nx, self.ny = _frame(graph, gx, gy, all_streets,
                                                                pad_m=buffer_m + 2 * cell_m, cell_m=cell_m)
        self.disc = _disc(buffer_m / self.c)
        self.r = self.disc.shape[0] // 2
        self.max_cells = hole_fill_m2 / (self.c * self.c)
        self.reach = self.r + int(np.ceil(self.max_cells)) + 1
        # streets of each tile (a street's box of vertices, one cell around it)
        lo_x = np.minimum.reduceat(gx, graph.geom_offsets[:-1])
        hi_x = np.maximum.reduceat(gx, graph.geom_offsets[:-1])
        lo_y = np.minimum.reduceat(gy, graph.geom_offsets[:-1])
        hi_y = np.maximum.reduceat(gy, graph.geom_offsets[:-1])
        t = self.TILE * self.c
        self.tx, self.ty = int(np.ceil(self.nx / self.TILE)), int(np.ceil(self.ny / self.TILE))
        tx0 = np.clip(np.floor((lo_x - self.x_lo - self.c) / t), 0, self.tx - 1).astype(np.int64)
        tx1 = np.clip(np.floor((hi_x - self.x_lo + self.c) / t), 0, self.tx - 1).astype(np.int64)
        ty0 = np.clip(np.floor((lo_y - self.y_lo - self.c) / t), 0, self.ty - 1).astype(np.int64)
        ty1 = np.clip(np.floor((hi_y - self.y_lo + self.c) / t), 0, self.ty - 1).astype(np.int64)
        self.street_tiles = (tx0, tx1, ty0, ty1)
        per = (tx1 - tx0 + 1) * (ty1 - ty0 + 1)
        owner = np.repeat(np.arange(graph.n_streets), per)
        k = np.arange(len(owner)) - np.repeat(np.cumsum(per) - per, per)
        w = np.repeat(tx1 - tx0 + 1, per)
        tile = (np.repeat(ty0, per) + k // w) * self.tx + np.repeat(tx0, per) + k % w
        order = np.argsort(tile, kind="stable")
        self.tile_streets = owner[order].astype(np.int32)
        self.tile_ptr = np.searchsorted(tile[order], np.arange(self.tx * self.ty + 1))
        self.node_time: FloatArray | None = None
        self.on_key: FloatArray | None = None
        self.level = np.full((self.ny, self.nx), len(mins), dtype=np.uint8)
        self.area = np.full((self.ny, self.nx), len(mins), dtype=np.uint8)
        self.result: tuple[list[shapely.Geometry], FloatArray] | None = None
        self.loaded = False
        """Whether the drawing started from one saved on disk (:func:`band_polygons`)."""

    def _gxy(self) -> tuple[FloatArray, FloatArray]:
        return self.si.fast_xy(self.graph.geom_lon, self.graph.geom_lat)

    @staticmethod
    def _station_key(labels: Labels) -> FloatArray:
        t = labels.targets
        live = t.ok & labels.alive
        return np.sort(t.street[live] + 0.999 * np.clip(t.fraction[live], 0.0, 1.0))

    def _fill_tiles(self, labels: Labels, tiles: IntArray) -> tuple[npt.NDArray[np.bool_], int, int]:
        """Sample again the streets of ``tiles`` and rewrite their cells' ``level``. Returns the cells whose
        level changed, as a window of the raster and its first row and column."""
        t = self.TILE
        rows, cols = tiles // self.tx, tiles % self.tx
        y0, y1 = int(rows.min()) * t, min((int(rows.max()) + 1) * t, self.ny)
        x0, x1 = int(cols.min()) * t, min((int(cols.max()) + 1) * t, self.nx)
        streets = np.unique(np.concatenate([self.tile_streets[self.tile_ptr[k]:self.tile_ptr[k + 1]]
                                            for k in tiles.tolist()]))
        times = np.full((y1 - y0, x1 - x0), np.inf, dtype=np.float32)
        if len(streets):
            gx, gy = self._gxy()
            ix, iy, tt = _sample_times(labels, streets.astype(np.int64), gx, gy, self.x_lo, self.y_lo, self.c)
            times = _rasterise(ix - x0, iy - y0, tt, x1 - x0, y1 - y0)
        in_tiles = np.zeros((self.ty, self.tx), dtype=bool)
        in_tiles.flat[tiles] = True
        in_tiles = np.kron(in_tiles[y0 // t:(y1 - 1) // t + 1, x0 // t:(x1 - 1) // t + 1],
                           np.ones((t, t), dtype=bool))[:y1 - y0, :x1 - x0]
        old = self.level[y0:y1, x0:x1]
        new = _levels(times, self.limits_s)
        changed = in_tiles & (new != old)
        old[changed] = new[changed]
        return changed, y0, x0

    def update(self, labels: Labels) -> tuple[list[shapely.Geometry], FloatArray]:
        """The bands of ``labels`` (same graph), from what changed since the last call."""
        node_time = labels.node_time_s()
        on_key = self._station_key(labels)
        n_bands = len(self.mins)
        if self.node_time is None:  # first drawing: every street near a station
            limit = self.limits_s[-1]
            near = (np.minimum(node_time[self.graph.street_u], node_time[self.graph.street_v]) <= limit)
            near[labels.targets.street[labels.targets.ok & labels.alive]] = True
            streets = np.flatnonzero(near)
            if len(streets):
                gx, gy = self._gxy()
                ix, iy, tt = _sample_times(labels, streets, gx, gy, self.x_lo, self.y_lo, self.c)
                self.level = _levels(_rasterise(ix, iy, tt, self.nx, self.ny), self.limits_s)
            self.area = _masks(self.level, n_bands, self.disc, self.max_cells)
        else:
            moved = node_time != self.node_time
            street_moved = moved[self.graph.street_u] | moved[self.graph.street_v]
            changed_on = np.setxor1d(self.on_key, on_key)
            street_moved[np.floor(changed_on).astype(np.int64)] = True
            streets = np.flatnonzero(street_moved)
            if len(streets):
                tx0, tx1, ty0, ty1 = (a[streets] for a in self.street_tiles)
                tiles = np.unique(np.concatenate([
                    (np.arange(y0, y1 + 1)[:, None] * self.tx + np.arange(x0, x1 + 1)[None, :]).ravel()
                    for x0, x1, y0, y1 in zip(tx0.tolist(), tx1.tolist(), ty0.tolist(), ty1.tolist(), strict=True)]))
                changed, y0, x0 = self._fill_tiles(labels, tiles)
                if changed.any():
                    self._repair(changed, y0, x0, n_bands)
        self.node_time, self.on_key = node_time, on_key
        self.result = self._trace_all(n_bands)
        return self.result

    def _repair(self, changed: npt.NDArray[np.bool_], y0: int, x0: int, n_bands: int) -> None:
        """Recompute ``area`` where a change of ``level`` at ``changed`` cells (a window whose first row and
        column are ``y0``, ``x0``) can reach, exactly: widening reaches ``r`` cells, a filled hole at most
        ``max_cells``; so the area may change within ``reach`` of a changed cell (box ``u``), holes counted
        in a box ``reach`` wider (``f``: one that touches its edge is too big to be filled, as in the whole
        raster) are exact within ``u``, and widening computed ``r`` wider still (``w``) is exact within ``f``."""
        from scipy import ndimage

        ys, xs = np.nonzero(changed)
        ys, xs = ys + y0, xs + x0

        def box(grow: int) -> tuple[int, int, int, int]:
            return (max(int(ys.min()) - grow, 0), min(int(ys.max()) + grow + 1, self.ny),
                    max(int(xs.min()) - grow, 0), min(int(xs.max()) + grow + 1, self.nx))

        u, f, w = box(self.reach), box(2 * self.reach), box(2 * self.reach + self.r)
        lvl = self.level[w[0]:w[1], w[2]:w[3]]
        fy, fx, fh, fw = f[0] - w[0], f[2] - w[2], f[1] - f[0], f[3] - f[2]
        before = np.zeros((fh, fw), dtype=bool)
        new_f = np.full((fh, fw), n_bands, dtype=np.uint8)
        for i in range(n_bands):
            widened = ndimage.binary_dilation(lvl <= i, structure=self.disc)[fy:fy + fh, fx:fx + fw]
            mask = _fill_small(widened, self.max_cells) | before
            new_f[mask & ~before] = i
            before = mask
        uy, ux = u[0] - f[0], u[2] - f[2]
        self.area[u[0]:u[1], u[2]:u[3]] = new_f[uy:uy + (u[1] - u[0]), ux:ux + (u[3] - u[2])]

    def _trace_all(self, n_bands: int) -> tuple[list[shapely.Geometry], FloatArray]:
        si, c = self.si, self.c
        counts = np.bincount(self.area.ravel(), minlength=n_bands + 1)
        areas = np.cumsum(counts[:n_bands]) * c * c / 1e6
        polys: list[shapely.Geometry] = []
        for i in range(n_bands):
            parts = _trace(self.area == i, self.x_lo, self.y_lo, c)
            if parts:
                geom = shapely.multipolygons(parts)
                geom = shapely.transform(geom, lambda xy: np.column_stack([xy[:, 0] / si.kx + si.lon0,
                                                                            xy[:, 1] / si.ky + si.lat0]))
            else:
                geom = shapely.MultiPolygon()
            polys.append(geom)
        return polys, areas.astype(np.float64)


_SAVED = ("node_time", "on_key", "level", "area")
"""The parts of a :class:`BandState` that follow the stations (the rest follows the graph alone)."""


def _store(graph: StreetGraph, key: tuple[Any, ...]) -> Path | None:
    """Where the band state of ``graph`` and band settings ``key`` is kept between processes: the graph's
    cache folder (a graph loaded from a workspace's cache), else nowhere."""
    cache = graph.__dict__.get("_cache_dir")
    if cache is None or not graph.cache_key:
        return None
    tag = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
    return Path(cache) / f"bands_{graph.cache_key[:20]}_{tag}"


def _load_saved(state: BandState, folder: Path) -> bool:
    """Give ``state`` the station-dependent parts saved in ``folder`` (by any process, for any station set:
    :meth:`BandState.update` redraws from the differences, so any saved drawing is a valid start).
    False when there is none or it does not fit."""
    try:
        arrays = {name: np.load(folder / f"{name}.npy") for name in _SAVED}
    except (OSError, ValueError):
        return False
    if arrays["level"].shape != state.level.shape or arrays["area"].shape != state.area.shape \
            or arrays["node_time"].shape != (state.graph.n_nodes,):
        return False
    state.node_time, state.on_key = arrays["node_time"], arrays["on_key"]
    state.level, state.area = arrays["level"], arrays["area"]
    return True


def _save(state: BandState, folder: Path) -> None:
    """Write the station-dependent parts of ``state`` to ``folder`` (a folder of this process's own,
    renamed into place: a reader never sees half of one)."""
    import os
    import shutil
    import threading

    tmp = folder.with_name(f"{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _SAVED:
        np.save(tmp / f"{name}.npy", getattr(state, name))
    shutil.rmtree(folder, ignore_errors=True)
    try:
        tmp.rename(folder)
    except OSError:  # another process saved its drawing there first: as good a start as ours
        shutil.rmtree(tmp, ignore_errors=True)


def band_polygons(labels: Labels, minutes: Sequence[float], *, buffer_m: float = 30.0,
                  hole_fill_m2: float = 20_000.0, cell_m: float = 10.0,
                  keep: bool = False) -> tuple[list[shapely.Geometry], FloatArray]:
    """The bands of ``minutes`` (sorted ascending) around the stations of ``labels`` (see the module
    docstring): a (Multi)Polygon per band in WGS84 (band *i*: reached within ``minutes[i]`` but not
    ``minutes[i-1]``) and the area reached within each value (km², all bands below included). Travel is
    *to* the stations (a rider riding to one), one-way streets in that direction.

    ``keep``: keep what the bands were drawn from on the graph (:class:`BandState`), so that the next
    station set's bands (an edit) are recomputed only where they change; the result is the same. A graph
    from a workspace's cache also keeps it on disk, beside its labels: a process that has not drawn these
    bands yet (another worker's map process, a restarted service) starts from the last drawing saved by
    any process and redraws what changed since."""
    mins = sorted(float(m) for m in minutes)
    graph = labels.graph
    key = (tuple(mins), float(buffer_m), float(hole_fill_m2), float(cell_m))
    states: dict[Any, BandState] = graph.__dict__.setdefault("_band_states", {}) if keep else {}
    store = _store(graph, key) if keep else None
    state = states.get(key)
    if state is None:
        state = BandState(labels, mins, buffer_m=buffer_m, hole_fill_m2=hole_fill_m2, cell_m=cell_m)
        state.loaded = store is not None and _load_saved(state, store)
        if keep:
            states.clear()  # one set of band settings per graph: a city's rasters are tens of MB
            states[key] = state
    result = state.update(labels)
    if store is not None:
        _save(state, store)
    return result
