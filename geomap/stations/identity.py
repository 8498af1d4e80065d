"""Which imported stations are new, which are already in the registry as they are, and which collide with a
stored station: a record whose id exists is compared with the stored one, never written over it silently.

- same content (name, kinds, place within a centimetre, address, hours, services …; not the file's name or
  row) -> unchanged: importing a file twice changes nothing;
- different content, same station (the name matches, or the place is within ``duplicate_radius_m``) ->
  an update, written only when the file says it updates (``--update``), else a conflict on its row;
- different content, different station (name and place both differ) -> a conflict on its row even with
  ``--update`` unless the user confirms with it (then written, with a warning): two lists' ids met by
  accident."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geomap import coords
from geomap.settings import get_settings
from geomap.stations.schema import Station, ValidationReport, _is_missing

CONTENT = ("name", "kinds", "address", "district", "subdistrict", "operator", "phone", "opening_hours",
           "opening_hours_raw", "amenities", "services_raw", "meal_price_yuan", "note")
"""The fields compared (with lon/lat): what a station is, not where its record came from."""
SAME_PLACE_DEG = 1e-7
"""Coordinates this close (degrees, ~1 cm) are the same place."""


def _norm(v: Any) -> Any:
    if isinstance(v, list | tuple | np.ndarray):
        return tuple(v)
    return None if _is_missing(v) else v


def _same_place(new: dict[str, Any], old: Station) -> bool:
    return (math.isclose(float(new["lon"]), old.lon, abs_tol=SAME_PLACE_DEG)
            and math.isclose(float(new["lat"]), old.lat, abs_tol=SAME_PLACE_DEG))


def same_content(new: dict[str, Any], old: Station) -> bool:
    """True when ``new`` (a validated record, WGS84) says nothing different from the stored ``old``."""
    return _same_place(new, old) and all(_norm(new.get(f)) == _norm(getattr(old, f)) for f in CONTENT)


def _differences(new: dict[str, Any], old: Station) -> list[str]:
    from geomap.stations.readers import FIELD_ZH

    zh = {**FIELD_ZH, "kinds": "类型", "opening_hours_raw": "开放时间", "services_raw": "服务内容",
          "amenities": "设施"}
    out = [zh.get(f, f) for f in CONTENT if _norm(new.get(f)) != _norm(getattr(old, f))]
    if not _same_place(new, old):
        out.append("位置")
    return list(dict.fromkeys(out))


def plan_import(stations: pd.DataFrame, existing: Sequence[Station | None], report: ValidationReport, *,
                update: bool) -> npt.NDArray[np.bool_]:
    """Classify validated ``stations`` against the stored ``existing`` (same order; None: id not stored),
    count them in ``report`` (added / updated / unchanged), report conflicts on their rows, and return
    which rows to write."""
    from geomap.stations.validate import _names_match

    radius_m = float(get_settings().duplicate_radius_m)
    rows = report.station_rows or [0] * len(stations)
    write = np.zeros(len(stations), dtype=bool)
    for i, (rec, old) in enumerate(zip(stations.to_dict("records"), existing, strict=True)):
        if old is None:
            write[i] = True
            report.added += 1
            continue
        if same_content(rec, old):
            report.unchanged += 1
            continue
        dist = float(coords.haversine_m(float(rec["lon"]), float(rec["lat"]), old.lon, old.lat))
        same_station = _names_match(str(rec["name"]), old.name) or dist <= radius_m
        what = "、".join(_differences(rec, old))
        if update:
            write[i] = True
            report.updated += 1
            if not same_station:
                report.add("warning", rows[i], "id", "id_reused",
                           f"编号 {rec['id']!r} 原是“{old.name}”（相距 {dist:,.0f} m），按 --update 改为本行的站点",
                           str(rec["name"]))
            continue
        if same_station:
            report.add("error", rows[i], "id", "exists_changed",
                       f"站点库中已有编号 {rec['id']!r} 的“{old.name}”，本行改了{what}：未更新。"
                       "确认是更新就加 --update",
                       str(rec["name"]))
        else:
            report.add("error", rows[i], "id", "id_conflict",
                       f"编号 {rec['id']!r} 在站点库中是另一个站点“{old.name}”（名称不同，相距 {dist:,.0f} m）："
                       "未导入。请给本名单的站点不同的编号（或去掉编号列，按名称和地址生成）", str(rec["name"]))
        report.skipped_rows = sorted({*report.skipped_rows, rows[i]})
    return write
