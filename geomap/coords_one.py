"""GCJ-02 / BD-09 conversions of one point (or a handful), compiled with numba.

A phone's query converts one point, and numpy spends about a microsecond per call on a one-element array:
the array path of :mod:`geomap.coords` would take tens of microseconds for a point, most of it call
overhead. Here the same formulas (:func:`geomap.coord_formulas._gcj_offsets` and
:func:`geomap.coord_formulas._bd09_formula`, compiled from the very same source) and the same fixed-point
inverse run on plain floats. Degrees throughout; forward transform numbers as :data:`geomap.coords.FORWARDS`
(1: WGS84 -> GCJ-02, 2: GCJ-02 -> BD-09, 3: WGS84 -> BD-09). Points outside China's box, and NaN, are returned as given.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geomap import coord_formulas as formulas

__all__ = ["convert_many", "forward", "inverse"]

_W, _S, _E, _N = formulas.CHINA_BOX
_gcj_offsets = njit(cache=True)(formulas._gcj_offsets)
_bd09_formula = njit(cache=True)(formulas._bd09_formula)


@njit(cache=True)
def _inside(lon, lat):  # pragma: no cover (compiled)
    return _W <= lon <= _E and _S <= lat <= _N


@njit(cache=True)
def forward(lon: float, lat: float, which: int) -> tuple[float, float]:  # pragma: no cover (compiled)
    """Forward transform number ``which`` of one point (as :data:`geomap.coords.FORWARDS`)."""
    x, y = lon, lat
    if which != 2 and _inside(x, y):  # WGS84 -> GCJ-02
        dx, dy = _gcj_offsets(x, y)
        x, y = x + dx, y + dy
    if which != 1 and _inside(x, y):  # GCJ-02 -> BD-09
        x, y = _bd09_formula(x, y)
    return x, y


@njit(cache=True)
def inverse(lon: float, lat: float, which: int, tol_deg: float = formulas.INVERSE_TOL_DEG,
            max_iter: int = formulas.INVERSE_MAX_ITER) -> tuple[float, float]:  # pragma: no cover (compiled)
    """The point whose forward transform ``which`` is (lon, lat): the iteration of
    :func:`geomap.coords._invert` (x <- x - (f(x) - target) until the step is under ``tol_deg``)."""
    if not _inside(lon, lat):
        return lon, lat
    x, y = lon, lat
    for _ in range(max_iter):
        fx, fy = forward(x, y, which)
        ex, ey = fx - lon, fy - lat
        x -= ex
        y -= ey
        if abs(ex) < tol_deg and abs(ey) < tol_deg:
            break
    return x, y


@njit(cache=True)
def _convert(lon, lat, which, inv):  # pragma: no cover (compiled)
    out_lon, out_lat = np.empty_like(lon), np.empty_like(lat)
    for i in range(lon.size):
        if inv:
            out_lon[i], out_lat[i] = inverse(lon[i], lat[i], which)
        else:
            out_lon[i], out_lat[i] = forward(lon[i], lat[i], which)
    return out_lon, out_lat


def convert_many(lon: np.ndarray, lat: np.ndarray, *, which: int, inverse: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Arrays (any shape, same shape) through forward transform ``which`` or its inverse, point by point;
    float64 arrays of that shape."""
    x, y = _convert(np.ascontiguousarray(lon, dtype=np.float64).ravel(),
                    np.ascontiguousarray(lat, dtype=np.float64).ravel(), which, inverse)
    return x.reshape(np.shape(lon)), y.reshape(np.shape(lat))
