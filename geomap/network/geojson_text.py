"""GeoJSON LineString text written by compiled code, for routes answered one point at a time.

A ``/nearest`` answer carries a few hundred route coordinates. Handed to orjson as numbers, each costs
about 50 ns to format (shortest round-trip float text), the biggest single item of the answer's
serialisation. Route coordinates are already rounded to a fixed number of decimals (``np.round``:
``rint(x * 10**d) / 10**d``), so their text is the integer ``rint(x * 10**d)`` with a decimal point put
in: :func:`write_linestrings` writes it with integer arithmetic inside the compiled route walk
(:mod:`geomap.network.routing_one`), copying the text of street vertices from a table written once per graph
(:func:`point_texts`), and the service splices the text into its answer (``orjson.Fragment``).

The text parses to exactly the rounded floats: the decimal string is ``n / 10**d`` exactly, and both
reading it and the division ``n / 10**d`` round that same quotient correctly to the nearest double.
Numbers are written as orjson writes a float with a short representation: trailing zeros stripped,
at least one decimal (``121.0``), ``-`` for negatives, ``null`` for NaN and infinities. Coordinates are
degrees (any system); the writer takes ``|x| < 1e6`` and 0–9 decimals (so that ``x * 10**d`` stays below
2**50 and its integer and fractional parts are exact).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["MAX_ABS", "MAX_DECIMALS", "check_decimals", "linestring_json", "point_texts", "write_linestrings"]

MAX_DECIMALS = 9
"""Most decimals the writer takes (with :data:`MAX_ABS`, ``|x| * 10**d`` stays below 2**50)."""
MAX_ABS = 1e6
"""Numbers the writer takes are below this in absolute value (coordinates in degrees are)."""

_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode("ascii"), dtype=np.uint8).copy()
"""The two ASCII digits of 0–99, one after the other (two digits per division by 100)."""
_POW10 = 10 ** np.arange(MAX_DECIMALS + 1, dtype=np.uint64)
_PREFIX = np.frombuffer(b'{"type":"LineString","coordinates":[', dtype=np.uint8).copy()


_ZERO_U, _ONE = np.uint64(0), np.uint64(1)
_U10, _U100, _U1E4, _U1E6, _U1E8 = (np.uint64(10), np.uint64(100), np.uint64(10_000), np.uint64(1_000_000),
                                    np.uint64(100_000_000))
_ZERO = np.uint8(48)  # '0'


@njit(cache=True, inline="always")
def _digits(out, end, v, pairs):  # pragma: no cover (compiled)
    """Write the integer ``v`` (uint64) so that it ends just before ``end``, at least one digit."""
    p = end
    while v >= _U100:
        q = v // _U100
        r = v - q * _U100
        out[p - 2] = pairs[r + r]
        out[p - 1] = pairs[r + r + _ONE]
        p -= 2
        v = q
    if v >= _U10:
        out[p - 2] = pairs[v + v]
        out[p - 1] = pairs[v + v + _ONE]
    else:
        out[p - 1] = np.uint8(v) + _ZERO


@njit(cache=True, inline="always")
def _number(out, p, x, scale, decimals, pairs, pow10):  # pragma: no cover (compiled)
    """Write ``x`` rounded to ``decimals`` (``scale`` = 10**decimals, ``pow10[i]`` = 10**i as uint64)
    at ``p``; returns the end. Unsigned arithmetic: signed division and indexing cost a third more."""
    if not np.isfinite(x):
        out[p:p + 4] = np.array([110, 117, 108, 108], dtype=np.uint8)  # null
        return p + 4
    v = np.rint(x * scale)
    if v < 0.0:
        out[p] = 45  # '-'
        p += 1
        v = -v
    whole = np.floor(v / scale)  # exact: v < 2**50 is an integer, v / scale is ≥ 1/scale from the next integer
    frac = np.uint64(v - whole * scale)
    w = np.uint64(whole)
    if w < _U10:  # degrees: up to three digits, written directly
        out[p] = np.uint8(w) + _ZERO
        p += 1
    elif w < _U100:
        out[p] = pairs[w + w]
        out[p + 1] = pairs[w + w + _ONE]
        p += 2
    else:
        n = 3 + (w >= np.uint64(1000)) + (w >= _U1E4) + (w >= np.uint64(100_000)) + (w >= _U1E6)  # ≤ 1e6 rounded
        _digits(out, p + n, w, pairs)
        p += n
    out[p] = 46  # '.'
    if frac == _ZERO_U:
        out[p + 1] = _ZERO
        return p + 2
    # the fraction as nine digits (leading zeros included): one digit and four pairs from independent
    # divisions by constants; then cut to ``decimals`` and its trailing zeros
    f9 = frac * pow10[MAX_DECIMALS - decimals]
    d0 = f9 // _U1E8
    r8 = f9 - d0 * _U1E8
    hi = r8 // _U1E4
    lo = r8 - hi * _U1E4
    a = hi // _U100
    b = hi - a * _U100
    c = lo // _U100
    d = lo - c * _U100
    out[p + 1] = np.uint8(d0) + _ZERO
    out[p + 2] = pairs[a + a]
    out[p + 3] = pairs[a + a + _ONE]
    out[p + 4] = pairs[b + b]
    out[p + 5] = pairs[b + b + _ONE]
    out[p + 6] = pairs[c + c]
    out[p + 7] = pairs[c + c + _ONE]
    out[p + 8] = pairs[d + d]
    out[p + 9] = pairs[d + d + _ONE]
    end = p + 1 + decimals
    while out[end - 1] == 48:  # trailing zeros (the fraction is not 0, so a digit stays)
        end -= 1
    return end


_POINT_MAX = 2 * 18 + 3
"""Bytes of one ``[x,y]`` at most: per number a sign, seven whole digits (1e6 once rounded), the point and
nine decimals."""


@njit(cache=True)
def text_size(n_points, n_lines):  # pragma: no cover (compiled)
    """Bytes that ``n_lines`` LineStrings of ``n_points`` points in all may take at most (with room for the
    writer's scratch digits)."""
    return n_lines * (len(_PREFIX) + 2) + n_points * (_POINT_MAX + 1) + 16


@njit(cache=True, inline="always")
def _point(out, p, x, y, scale, decimals, pairs, pow10):  # pragma: no cover (compiled)
    out[p] = 91  # '['
    p = _number(out, p + 1, x, scale, decimals, pairs, pow10)
    out[p] = 44  # ','
    p = _number(out, p + 1, y, scale, decimals, pairs, pow10)
    out[p] = 93  # ']'
    return p + 1


@njit(cache=True)
def _point_texts(x, y, scale, decimals, pairs, pow10):  # pragma: no cover (compiled)
    n = len(x)
    rows = np.zeros((n, _POINT_MAX + 16), dtype=np.uint8)
    lens = np.zeros(n, dtype=np.uint8)
    for i in range(n):
        lens[i] = _point(rows[i], 0, x[i], y[i], scale, decimals, pairs, pow10)
    width = lens.max() if n else 0
    return rows[:, :width].copy(), lens


@njit(cache=True)
def write_linestrings(pts, ends, vrows, vlens, scale, decimals):  # pragma: no cover (compiled)
    """The GeoJSON LineStrings of the consecutive pieces of ``pts`` that end at ``ends`` (rows), one after
    the other in one uint8 array, and where each ends in it. ``pts`` rows are (x, y, vertex number): a
    vertex's ``[x,y]`` is copied from its row of ``vrows`` (:func:`point_texts`, ``vlens`` bytes long),
    a point with number -1 is written from x and y."""
    pairs, pow10 = _PAIRS, _POW10
    out = np.empty(text_size(pts.shape[0], len(ends)), dtype=np.uint8)
    text_ends = np.empty(len(ends), dtype=np.int64)
    p, a = 0, 0
    n_prefix = len(_PREFIX)
    for i in range(len(ends)):
        out[p:p + n_prefix] = _PREFIX
        p += n_prefix
        for j in range(a, ends[i]):
            if j > a:
                out[p] = 44  # ','
                p += 1
            v = np.int64(pts[j, 2])
            if v >= 0:
                w = vlens[v]
                out[p:p + w] = vrows[v, :w]
                p += w
            else:
                p = _point(out, p, pts[j, 0], pts[j, 1], scale, decimals, pairs, pow10)
        out[p] = 93  # ']'
        out[p + 1] = 125  # '}'
        p += 2
        text_ends[i] = p
        a = ends[i]
    return out[:p], text_ends


def check_decimals(decimals: int) -> float:
    """``10**decimals`` for the writer; ValueError outside 0–:data:`MAX_DECIMALS`."""
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be between 0 and {MAX_DECIMALS}, not {decimals}")
    return 10.0 ** decimals


def point_texts(x: np.ndarray, y: np.ndarray, *, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """The text ``[x,y]`` of each point (degrees, any coordinate system, rounded to ``decimals``): an
    ``(n, width)`` uint8 array, one row per point, and each row's length. A graph's vertices are written
    once, so that a route copies their text (:func:`write_linestrings`)."""
    scale = check_decimals(decimals)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    _check_range(x, y)
    return _point_texts(x, y, scale, decimals, _PAIRS, _POW10)


def _check_range(*arrays: np.ndarray) -> None:
    for arr in arrays:
        if not np.all(np.abs(arr[np.isfinite(arr)]) < MAX_ABS):
            raise ValueError(f"coordinates must be below {MAX_ABS:g} in absolute value")


def linestring_json(xy: np.ndarray, *, decimals: int) -> bytes:
    """The GeoJSON LineString ``{"type":"LineString","coordinates":[[x,y],…]}`` of an ``(m, 2)`` array
    of degrees (any coordinate system), each number rounded to ``decimals`` as ``np.round`` does."""
    scale = check_decimals(decimals)
    arr = np.ascontiguousarray(xy, dtype=np.float64).reshape(-1, 2)
    _check_range(arr)
    pts = np.column_stack([arr, np.full(len(arr), -1.0)])
    text, _ = write_linestrings(pts, np.array([len(arr)]), np.zeros((0, 0), dtype=np.uint8),
                                np.zeros(0, dtype=np.uint8), scale, decimals)
    return text.tobytes()
