"""The conversions of :mod:`geomap.coords` for plain floats inside compiled (numba) code.

The compiled query path (:mod:`geomap.network.query`) converts a rider's point from GCJ-02 / BD-09 and its
routes' vertices into the rider's system without leaving compiled code: numpy spends about a microsecond
per call on tiny arrays, and a request has dozens of them. The formulas are the very same source as the
array versions (:func:`geomap.coords._gcj_offsets`, :func:`geomap.coords._bd09_formula`, compiled here),
the inverse the same fixed-point iteration (:func:`geomap.coords._invert`). Degrees throughout; forward
transform numbers as :data:`geomap.coords.FORWARDS` (1: WGS84 -> GCJ-02, 2: GCJ-02 -> BD-09, 3: WGS84 ->
BD-09; 0: none). Points outside China's box, and NaN, are returned as given. Tested equal to the arrays.
"""

from __future__ import annotations

import math

from numba import njit

from geomap import coords

__all__ = ["forward", "haversine_m", "inverse"]

_W, _S, _E, _N = coords.CHINA_BOX
_R = coords.EARTH_RADIUS_M
_gcj_offsets = njit(cache=True)(coords._gcj_offsets)
_bd09_formula = njit(cache=True)(coords._bd09_formula)


@njit(cache=True, inline="always")
def _inside(lon, lat):  # pragma: no cover (compiled)
    return _W <= lon <= _E and _S <= lat <= _N


@njit(cache=True)
def forward(lon: float, lat: float, which: int) -> tuple[float, float]:  # pragma: no cover (compiled)
    """Forward transform number ``which`` of one point (0: none)."""
    x, y = lon, lat
    if which == 0:
        return x, y
    if which != 2 and _inside(x, y):  # WGS84 -> GCJ-02
        dx, dy = _gcj_offsets(x, y)
        x, y = x + dx, y + dy
    if which != 1 and _inside(x, y):  # GCJ-02 -> BD-09
        x, y = _bd09_formula(x, y)
    return x, y


@njit(cache=True)
def inverse(lon: float, lat: float, which: int) -> tuple[float, float]:  # pragma: no cover (compiled)
    """The point whose forward transform ``which`` is (lon, lat): x <- x - (f(x) - target) until the step is
    under :data:`geomap.coords.INVERSE_TOL_DEG` (at most :data:`~geomap.coords.INVERSE_MAX_ITER` steps)."""
    if which == 0 or not _inside(lon, lat):
        return lon, lat
    x, y = lon, lat
    for _ in range(coords.INVERSE_MAX_ITER):
        fx, fy = forward(x, y, which)
        ex, ey = fx - lon, fy - lat
        x -= ex
        y -= ey
        if abs(ex) < coords.INVERSE_TOL_DEG and abs(ey) < coords.INVERSE_TOL_DEG:
            break
    return x, y


@njit(cache=True, inline="always")
def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:  # pragma: no cover (compiled)
    """Great-circle metres between two WGS84 points (as :func:`geomap.coords.haversine_m`)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2.0) ** 2
    return 2.0 * _R * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))
