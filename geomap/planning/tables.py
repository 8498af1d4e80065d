"""Planner tables for people: Chinese headers, numbers rounded as people write them, missing figures said.

The library's tables (:attr:`geomap.planning.coverage.CoverageResult.table`, the gap grid,
:attr:`geomap.planning.siting.SitePlan.table`) keep exact values and English field names for programs
(``coverage_data.csv``, GeoJSON, the API). The tables here are what a planner hands on (``coverage.csv``,
the command's printout, the report): whole people and points, percentages to one decimal (never 100.0% or
0.0% for a share that is neither: :func:`geomap.planning.coverage.pct`), kilometres to one decimal, and a
figure that was not measured reads ``无数据`` with the reason in the ``说明`` column — never 0.

Cells hold text where a figure may be missing (so a CSV opened in a spreadsheet shows ``无数据``, not an
empty cell), and numbers otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from geomap.planning.coverage import TOTAL_ROW, CoverageResult, pct
from geomap.planning.siting import H3_SOURCE

__all__ = ["CELL_ADDRESS", "MISSING", "NOTHING", "count", "coverage_table_zh", "gaps_table_zh", "layer_units",
           "plan_table_zh"]

MISSING = "无数据"
"""A figure that was not measured."""
CELL_ADDRESS = "待定（周边约 200 米内选址）"
"""The address of a proposal that is a grid cell's centre (a place on the map, not yet a building)."""
NOTHING = "—"
"""A share of nothing (a 街道 with no pickup point has no pickup-point coverage to speak of)."""

_UNITS = {"residents": ("人", "名"), "restaurants": ("个", "个")}


def layer_units(name: str) -> tuple[str, str]:
    """The counting word of a demand layer: (unit for headers, measure word), e.g. ("人", "名")."""
    return _UNITS.get(name, ("", ""))


def count(value: float) -> int | str:
    """A number of people or points, whole (``无数据`` for NaN)."""
    return MISSING if value is None or not math.isfinite(value) else round(value)


def _share(value: float, total: float) -> str:
    if total is None or not math.isfinite(total):
        return MISSING
    if total <= 0:
        return NOTHING
    return pct(value / total)


def coverage_table_zh(result: CoverageResult) -> Any:
    """The per-街道 coverage table for people (one row per 街道 and 合计): 街道, street km and covered share,
    per demand layer its total, covered amount (whole) and share, covered area (km², 2 decimals), 说明 (why a
    figure is missing). Built from ``result.table``; the totals are over the 街道 each layer has figures for."""
    import pandas as pd

    m = f"{result.minutes:g}"
    rows = []
    for rec in result.table.to_dict("records"):
        sd = rec["subdistrict"]
        row: dict[str, Any] = {"街道": sd}
        row["道路总长（公里）"] = round(float(rec["street_km"]), 1)
        row[f"{m}分钟内道路（公里）"] = round(float(rec["street_covered_km"]), 1)
        row["道路覆盖率"] = _share(rec["street_covered_km"], rec["street_km"])
        why: list[str] = []
        for name, lay in result.demand.items():
            unit = layer_units(name)[0]
            head = f"（{unit}）" if unit else ""
            total = rec.get(name, math.nan)
            row[f"{lay.label_zh}{head}"] = count(total)
            row[f"{m}分钟内{lay.label_zh}{head}"] = count(rec.get(f"{name}_covered", math.nan))
            row[f"{lay.label_zh}覆盖率"] = _share(rec.get(f"{name}_covered", math.nan), total)
            if sd in lay.missing:
                why.append(f"{lay.label_zh}：{lay.missing[sd]}")
            elif sd == TOTAL_ROW and lay.missing:
                why.append(f"{lay.label_zh}不含{'、'.join(lay.missing)}")
        if "covered_area_km2" in rec:
            a = rec["covered_area_km2"]
            row[f"{m}分钟内面积（平方公里）"] = round(float(a), 2) if a is not None and math.isfinite(a) else MISSING
        row["说明"] = "；".join(why)
        rows.append(row)
    return pd.DataFrame(rows)


def gaps_table_zh(grid: Any, result: CoverageResult, *, top: int = 10, places: list[str | None] | None = None
                  ) -> Any:
    """The ``top`` uncovered cells with most demand, for people: 排名, 位置 (``places``: the cells' names by
    their streets, in rank order; else the H3 id), 街道, minutes to the nearest station (1 decimal, 无法到达
    when none), each layer's amount (whole), 需求（折合人数） (resident equivalents, whole; only when several
    layers are added), 说明 (a layer with no figure for the cell's 街道)."""
    import pandas as pd

    unc = grid[grid["gap_rank"].notna()].sort_values("gap_rank").head(top)
    rows = []
    for i, rec in enumerate(unc.to_dict("records")):
        t = rec["travel_min"]
        row: dict[str, Any] = {"排名": int(rec["gap_rank"]),
                               "位置": (places[i] if places and places[i] else rec["h3"]),
                               "街道": rec["subdistrict"] or "",
                               "到最近站点（分钟）": round(float(t), 1) if t is not None and math.isfinite(t)
                               else "无法到达"}
        unmeasured = str(rec.get("unmeasured") or "")
        for name, lay in result.demand.items():
            unit = layer_units(name)[0]
            amount = rec[name]
            row[f"{lay.label_zh}{f'（{unit}）' if unit else ''}"] = (
                MISSING if lay.label_zh in unmeasured.split("、") and amount == 0 else count(amount))
        if len(result.demand) > 1:
            row["需求（折合人数）"] = count(rec["demand"])
        row["说明"] = (f"所在街道没有{unmeasured}数字，只计入了邻近街道的部分" if unmeasured else "")
        rows.append(row)
    return pd.DataFrame(rows)


def plan_table_zh(plan: Any, result: CoverageResult) -> Any:
    """A site plan for people: 序号, 名称 (a grid cell's: its nearest named streets), 地址 (a grid cell's:
    :data:`CELL_ADDRESS`), 类型, 所在街道, per layer what it newly covers (whole) and the
    covered share after it (cumulative), 新增需求（折合人数）, 主要服务街道."""
    import pandas as pd

    rows = []
    for rec in plan.table.to_dict("records"):
        cell = rec["source"] == H3_SOURCE
        row: dict[str, Any] = {"序号": int(rec["rank"]), "名称": rec["name"],
                               "地址": CELL_ADDRESS if cell else (rec["address"] or MISSING),
                               "类型": rec["source"], "所在街道": rec["subdistrict"] or ""}
        for name, lay in result.demand.items():
            unit = layer_units(name)[0]
            row[f"新增覆盖{lay.label_zh}{f'（{unit}）' if unit else ''}"] = count(rec[f"{name}_new"])
        for name, lay in result.demand.items():
            row[f"累计{lay.label_zh}覆盖率"] = pct(rec[f"{name}_share_after"], missing=MISSING)
        row["新增需求（折合人数）"] = count(rec["score_new"])
        row["主要服务街道"] = rec["serves"]
        rows.append(row)
    return pd.DataFrame(rows)


def describe_new(plan: Any, result: Any) -> str:
    """What a site plan newly covers, in words for people, each demand layer in its own unit and, when
    the layers are several (or not residents), their sum in resident equivalents: "常住人口 25,683 人、餐饮取餐点
    2 个（合计折合 26,683 人）". ``plan``: a :class:`~geomap.planning.siting.SitePlan`; ``result``: the
    coverage it was made against."""
    parts = []
    for name, lay in result.demand.items():
        unit = layer_units(name)[0]
        parts.append(f"{lay.label_zh} {count(float(plan.table[f'{name}_new'].sum())):,} {unit}".rstrip())
    text = "、".join(parts)
    if len(result.demand) > 1 or "residents" not in result.demand:
        text += f"（合计折合 {count(plan.objective):,} 人）"
    return text
