"""The published GCJ-02 and BD-09 formulas and the constants of their inverses, written once with numpy functions.

:mod:`geomap.coords` runs them on arrays; :mod:`geomap.coords_one` compiles the very same source with numba
for one point. Degrees throughout. This module imports nothing of geomap, so both can import it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
"""West, south, east, north (degrees) of the rough box inside which the GCJ-02 offset is applied."""

INVERSE_TOL_DEG = 1e-12
"""The inverses (array and one-point) stop when a step is smaller than this, in degrees."""
INVERSE_MAX_ITER = 30
"""The inverses stop after this many steps at most."""


def _gcj_offsets(lon: Any, lat: Any) -> tuple[Any, Any]:
    """The published GCJ-02 offset formula (degrees to add to WGS84). Written once with numpy functions:
    it runs on arrays here and, compiled by numba, on one point in :mod:`geomap.coords_one`."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    pi = math.pi
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
        + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
        + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def _bd09_formula(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 -> BD-09 (Baidu's published formula); numpy functions, for arrays and (compiled) one point."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006
