"""Numbers and coordinates as people write them in station lists: full-width digits (``１２１．５２１``),
degrees-minutes-seconds (``121°31′15.6″E``, ``北纬31度16分``), both coordinates in one cell
(``121.521,31.272``), prices with their unit (``15元``).

Everything here works on one cell's text and returns plain floats; which coordinate system the numbers
are in is decided elsewhere (:mod:`geomap.stations.crs_guess`)."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

_DMS = re.compile(
    r"(?P<pre>[NSEWnsew东西南北]|东经|西经|南纬|北纬)?\s*"
    r"(?P<deg>\d+(?:\.\d+)?)\s*(?:°|度)\s*"
    r"(?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|’|分)\s*)?"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*(?:\"|″|”|''|′′|秒)\s*)?"
    r"(?P<post>[NSEWnsew东西南北])?")
_SOUTH_WEST = ("S", "W", "s", "w", "西", "南", "西经", "南纬")
_UNITS = re.compile(r"[元¥￥]|人民币|rmb", flags=re.I)


def normalize_text(text: str) -> str:
    """Full-width digits, letters and punctuation made ASCII (Unicode NFKC): ``１２１．５`` -> ``121.5``,
    ``，`` -> ``,``. Only for cells read as numbers; names and addresses keep what the list wrote."""
    return unicodedata.normalize("NFKC", text).strip()


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _dms_value(m: re.Match[str]) -> float:
    value = float(m["deg"]) + float(m["min"] or 0) / 60 + float(m["sec"] or 0) / 3600
    hemi = m["pre"] or m["post"]
    return -value if hemi in _SOUTH_WEST else value


def parse_number(v: Any) -> float | None:
    """A coordinate or price from one cell: None when the cell is empty; raises ValueError when it is not a
    number. Reads full-width digits, a decimal comma (``121,52``), degrees-minutes-seconds and a unit."""
    if _is_missing(v):
        return None
    if isinstance(v, bool):
        raise ValueError(f"not a number: {v!r}")
    if isinstance(v, int | float):
        return float(v)
    t = normalize_text(str(v))
    if "°" in t or "度" in t:
        m = _DMS.fullmatch(t)
        if m is None:
            raise ValueError(f"not a number: {v!r}")
        return _dms_value(m)
    t = _UNITS.sub("", t).strip()
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    return float(t)


def split_lonlat(v: Any) -> tuple[Any, Any]:
    """Both coordinates from one cell (``经纬度``): ``121.52,31.27``, ``121.52 31.27``, ``[121.52, 31.27]``,
    ``E121°31′ N31°16′``. Returns the two parts in the order written (a latitude written first is found
    later as a probable swap), or ``(None, None)`` for an empty cell; raises ValueError when the cell does
    not hold two numbers."""
    if _is_missing(v):
        return None, None
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise ValueError(f"expected two numbers, got {v!r}")
        return v[0], v[1]
    t = normalize_text(str(v)).strip("[]()")
    if "°" in t or "度" in t:
        found = [m for m in _DMS.finditer(t) if m["deg"]]
        if len(found) != 2:
            raise ValueError(f"expected two coordinates, got {v!r}")
        a, b = (_dms_value(m) for m in found)
        hemis = [(m["pre"] or m["post"] or "") for m in found]
        if hemis[0] in ("N", "S", "n", "s", "北", "南", "北纬", "南纬"):  # written latitude first
            a, b = b, a
        return a, b
    parts = [p for p in re.split(r"[,;/\s]+", t) if p]
    if len(parts) != 2:
        raise ValueError(f"expected two numbers, got {v!r}")
    return parts[0], parts[1]
