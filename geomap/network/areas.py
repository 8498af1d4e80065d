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

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely
from numba import njit

from geomap.network.labels import Labels
from geomap.network.routing import Snapped, _interp, _snap_index

__all__ = ["band_polygons"]

FloatArray = npt.NDArray[np.float64]
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


def band_polygons(labels: Labels, minutes: Sequence[float], *, buffer_m: float = 30.0,
                  hole_fill_m2: float = 20_000.0, cell_m: float = 10.0) -> tuple[list[shapely.Geometry], FloatArray]:
    """The bands of ``minutes`` (sorted ascending) around the stations of ``labels`` (see the module
    docstring): a (Multi)Polygon per band in WGS84 (band *i*: reached within ``minutes[i]`` but not
    ``minutes[i-1]``) and the area reached within each value (km², all bands below included). Travel is
    *to* the stations (a rider riding to one), one-way streets in that direction."""
    graph = labels.graph
    stations = labels.targets
    mins = sorted(float(m) for m in minutes)
    limit = mins[-1] * 60.0
    si = _snap_index(graph)
    node_time_s = labels.node_time_s()
    tu, tv = node_time_s[graph.street_u], node_time_s[graph.street_v]
    on = np.zeros(graph.n_streets, dtype=bool)
    on[stations.street[stations.ok & labels.alive]] = True
    near = (np.minimum(tu, tv) <= limit) | on
    streets = np.flatnonzero(near)
    empty = ([shapely.MultiPolygon()] * len(mins), np.zeros(len(mins)))
    if not len(streets):
        return empty
    gx, gy = si.fast_xy(graph.geom_lon, graph.geom_lat)
    a, b = graph.geom_offsets[streets], graph.geom_offsets[streets + 1]
    vx = np.concatenate([gx[a], gx[b - 1]])
    vy = np.concatenate([gy[a], gy[b - 1]])
    pad = buffer_m + 2 * cell_m
    x_lo, x_hi, y_lo, y_hi = vx.min() - pad, vx.max() + pad, vy.min() - pad, vy.max() + pad
    c = max(cell_m, float(np.sqrt((x_hi - x_lo) * (y_hi - y_lo) / MAX_CELLS)))
    nx, ny = int(np.ceil((x_hi - x_lo) / c)), int(np.ceil((y_hi - y_lo) / c))
    # samples every half cell along each street (its ends included)
    n_s = np.maximum(np.ceil(graph.street_length_m[streets] / (0.5 * c)).astype(np.int64), 1) + 1
    st = np.repeat(streets, n_s)
    k = np.arange(len(st)) - np.repeat(np.cumsum(n_s) - n_s, n_s)
    frac = k / np.repeat(n_s - 1, n_s)
    sx, sy = _interp(graph, st, frac, (gx, gy))
    samples = Snapped(street=st, fraction=frac, distance_m=np.zeros(len(st)), lon=np.zeros(len(st)),
                      lat=np.zeros(len(st)), ok=np.ones(len(st), dtype=bool))
    times = labels.query(samples, k=1)[1][:, 0]
    raster = _rasterise(np.floor((sx - x_lo) / c).astype(np.int64), np.floor((sy - y_lo) / c).astype(np.int64),
                        times.astype(np.float64), nx, ny)
    from scipy import ndimage

    disc = _disc(buffer_m / c)
    filled_before = np.zeros((ny, nx), dtype=bool)
    polys: list[shapely.Geometry] = []
    areas = np.zeros(len(mins))
    for i, m in enumerate(mins):
        mask = ndimage.binary_dilation(raster <= m * 60.0, structure=disc)
        mask = _fill_small(mask, hole_fill_m2 / (c * c)) | filled_before
        areas[i] = float(mask.sum()) * c * c / 1e6
        parts = _trace(mask & ~filled_before, x_lo, y_lo, c)
        filled_before = mask
        if parts:
            geom = shapely.multipolygons(parts)
            geom = shapely.transform(geom, lambda xy: np.column_stack([xy[:, 0] / si.kx + si.lon0,
                                                                        xy[:, 1] / si.ky + si.lat0]))
        else:
            geom = shapely.MultiPolygon()
        polys.append(geom)
    return polys, areas
