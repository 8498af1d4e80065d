"""The planner's report (服务圈规划报告): coverage, gaps and site proposals of one station set, in Chinese for
a reader who is not a GIS person, as one self-contained HTML file or a PDF printed from it.

:func:`make_report` computes everything once from a planning :class:`~geomap.planning.study.Study` (coverage
before, the gap grid, both solvers' proposals, coverage after the recommended ones) into a
:class:`PlannerReport`; :meth:`PlannerReport.write` renders it. The figures come from the library's tables
for people (:mod:`geomap.planning.tables`: whole people, percentages to one decimal, 无数据 with the reason
where a figure was not measured), so the report says what ``coverage.csv`` says.

- **HTML** from a Jinja2 template (``publish/templates/report.html``), maps as PNG images inside it (no file
  beside it, no network request), A4 print styles.
- **PDF**: that HTML printed by headless Chromium (``chromium --headless --print-to-pdf``). Decision:
  Chromium, not WeasyPrint — Chromium is already what the project's browser tests and published maps rely on
  (``make sysdeps``), prints CSS paged media with page numbers in the margin boxes, and shapes Chinese text
  with the same fontconfig fonts as the screen; WeasyPrint would add a second layout engine (with Pango and
  its own CSS support) to keep in step for one output.
- **Maps** (matplotlib + geopandas, drawn in a local metric frame centred on the study area: north up, a
  scale bar in metres): the service circle with the stations, the gap grid by minutes to the nearest
  station with the largest gaps numbered, and the proposals numbered with the area they newly cover.

Coordinates are WGS84 lon/lat degrees on input; the maps are drawn in an azimuthal equidistant frame (metres).
"""

from __future__ import annotations

import base64
import io
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geomap.planning.coverage import TOTAL_ROW, CoverageResult, Stations, filter_stations, mode_label, pct
from geomap.planning.siting import Candidates, SitePlan, compare_plans, host_places, solver_label
from geomap.planning.tables import (
    MISSING,
    count,
    coverage_table_zh,
    describe_new,
    gaps_table_zh,
    layer_units,
    plan_table_zh,
)
from geomap.planning.weights import DemandWeights
from geomap.settings import get_settings

__all__ = ["CJK_FONT", "PlannerReport", "ReportError", "chromium_path", "make_report", "print_pdf",
           "workspace_report"]

CJK_FONT = "Noto Sans CJK SC"
"""The report's Chinese font (Debian ``fonts-noto-cjk``, installed by ``make sysdeps``), in the maps and the page."""
TEMPLATE = Path(__file__).resolve().parent / "templates" / "report.html"

# gap map classes: minutes to the nearest station (upper bounds), colour, legend text
_BLUES = ("#08519c", "#4292c6", "#9ecae1")
_ORANGES = ("#fdae6b", "#e6550d", "#a63603")
_NO_NETWORK = "#d9d9d9"
_COVERED = "#6baed6"
_NEW = "#fd8d3c"
_STATION = "#b2182b"
_SITE = "#54278f"


class ReportError(RuntimeError):
    """The report could not be written (no Chromium for the PDF, an unknown file type …); Chinese message."""


@dataclass
class PlannerReport:
    """Everything the report says, computed once (see the module docstring). ``plans``: solver -> its
    answer (both kept when both ran); ``recommended``: the solver whose sites the maps and the before/after
    show; ``after``: coverage with those sites added; ``sources``: label -> text of the data it rests on."""

    place: str
    publisher: str
    made: datetime
    before: CoverageResult
    grid: Any
    gap_places: list[str | None]
    weights: DemandWeights
    stations: Stations
    study: Any = field(repr=False)
    plans: dict[str, SitePlan] = field(default_factory=dict)
    plan_errors: dict[str, str] = field(default_factory=dict)
    recommended: str | None = None
    after: CoverageResult | None = None
    comparison: str | None = None
    candidates_text: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    top_gaps: int = 10
    area_label: str = ""
    """Where the data reaches, in words (a workspace's ``area_label``: 杨浦区五角场一带), under the title."""
    own_stations: int | None = None
    """A region's report (docs/regions.md): how many of ``stations`` the region counts as its own; the others
    are its neighbours', near the border, which serve it but are counted in theirs. None for a place."""
    overview: str | None = None
    """A region's report: the link (relative) to the overview of all regions, shown under the title."""

    # --- words --------------------------------------------------------------------------------------
    @property
    def travel(self) -> str:
        """"步行15分钟" — the service circle in words."""
        return f"{mode_label(self.before.mode)}{self.before.minutes:g}分钟"

    @property
    def title(self) -> str:
        return f"{self.place}{self.before.stations_zh}{self.travel}服务圈规划报告"

    @property
    def plan(self) -> SitePlan | None:
        return self.plans.get(self.recommended) if self.recommended else None

    def headline(self) -> list[dict[str, Any]]:
        """The headline figures: one card per measure (value, what it counts, and why when not measured)."""
        res = self.before
        total = res.table[res.table["subdistrict"] == TOTAL_ROW].iloc[0]
        cards: list[dict[str, Any]] = [{
            "label": f"现有{res.stations_zh}", "value": f"{res.n_stations:,} 个", "missing": False,
            "detail": f"{self.travel}服务圈按真实道路计算"}]
        if self.own_stations is not None:
            cards[0].update(label=f"本地区{res.stations_zh}", value=f"{self.own_stations:,} 个", detail=(
                f"另有邻区 {res.n_stations - self.own_stations:,} 个在边界附近，也计入服务圈"
                if res.n_stations > self.own_stations else cards[0]["detail"]))
        for name, lay in res.demand.items():
            unit = layer_units(name)[0]
            covered, tot = count(total[f"{name}_covered"]), count(total[name])
            detail = f"{covered:,} / {tot:,} {unit}在{self.travel}内".replace("  ", " ")
            if lay.missing:
                detail += f"；不含没有数字的{'、'.join(lay.missing)}"
            cards.append({"label": lay.label_zh, "value": pct(res.share(name), missing=MISSING),
                          "detail": detail, "missing": False})
        for label, why in res.absent.items():
            cards.append({"label": label, "value": MISSING, "detail": f"未计算：{why}", "missing": True})
        cards.append({"label": "道路", "value": pct(res.street_share(), missing=MISSING),
                      "detail": f"{total['street_covered_km']:,.1f} / {total['street_km']:,.1f} 公里在{self.travel}内",
                      "missing": False})
        if self.plan is not None and self.after is not None and len(self.plan.table):
            parts = [f"{lay.label_zh} {pct(self.after.share(n), missing=MISSING)}" for n, lay in res.demand.items()]
            cards.append({"label": f"新增 {len(self.plan.table)} 处后", "value": "、".join(parts) or "—",
                          "detail": f"按“{self.plan.label}”的选址", "missing": False, "wide": True})
        return cards

    # --- output -------------------------------------------------------------------------------------
    def html(self) -> str:
        """The report as one self-contained HTML page (maps inlined as PNG)."""
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        env = Environment(loader=FileSystemLoader(str(TEMPLATE.parent)), autoescape=select_autoescape(["html"]))
        return env.get_template(TEMPLATE.name).render(**_context(self))

    def write(self, path: str | Path, *, chromium: str | None = None) -> Path:
        """Write the report to ``path``: ``.html`` (self-contained) or ``.pdf`` (printed by headless Chromium,
        ``chromium``: its path, default :func:`chromium_path`). Returns the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".html", ".htm", ".pdf"):
            raise ReportError(f"报告只能写成 .html 或 .pdf 文件，不能写成“{path.name}”")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.html()
        if suffix != ".pdf":
            path.write_text(text, encoding="utf-8")
            return path
        with tempfile.TemporaryDirectory(prefix="geomap-report-") as tmp:
            page = Path(tmp) / "report.html"
            page.write_text(text, encoding="utf-8")
            print_pdf(page, path, chromium=chromium)
        return path


# --- computing ----------------------------------------------------------------------------------------

def make_report(study: Any, index: Any, *, place: str | None = None, publisher: str = "",
                minutes: float | None = None, mode: str | None = None, kind: Any = None, amenity: Any = None,
                open_at: Any = None, add: int = 3, solver: str = "both", candidates: Candidates | None = None,
                candidate_sources: tuple[str, ...] = ("osm", "h3"), any_host: bool = False,
                pickup_weight: float | None = None, top_gaps: int = 10,
                sources: dict[str, str] | None = None, area_label: str = "") -> PlannerReport:
    """Compute the report of the stations of ``index`` (a StationIndex) matching kind / amenity / open-at
    filters, by ``mode`` within ``minutes`` (defaults: the settings'), over ``study``.

    ``add``: how many new sites to propose (0: none); ``solver``: ``greedy``, ``exact`` or ``both`` (both
    answers kept and compared; the exact one is refused on instances too large for it, which the report
    says); ``candidates`` (default: ``candidate_sources`` — host places fitting ``kind``, every host place
    with ``any_host``, and grid-cell centres); ``pickup_weight``: residents one pickup point counts as (default
    ``settings.pickup_weight``); ``top_gaps``: how many gaps to list; ``sources``: label -> text of the data
    and ``area_label``: where the data reaches (:func:`workspace_report` fills both from a workspace).
    """
    if add < 0:
        raise ValueError("add must be 0 or more")
    if solver not in ("greedy", "exact", "both"):
        raise ValueError("solver must be 'greedy', 'exact' or 'both'")
    flt = {"minutes": minutes, "mode": mode, "kind": kind, "amenity": amenity, "open_at": open_at}
    before = study.coverage(index, **flt)
    weights = study.weights(pickup_weight=pickup_weight)
    grid = study.gaps(index, result=before, weights=weights, **flt)
    unc = grid[grid["gap_rank"].notna()].sort_values("gap_rank").head(top_gaps)
    namer = study.namer()
    places: list[str | None] = [None] * len(unc)
    if namer is not None and len(unc):
        c = shapely.centroid(unc.geometry.values)
        places = namer.describe(shapely.get_x(c), shapely.get_y(c))
    with study._in_force():
        stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
    report = PlannerReport(place=place if place is not None else study.place, publisher=publisher,
                           made=datetime.now(_tz()), before=before, grid=grid, gap_places=places,
                           weights=weights, stations=stations, study=study, sources=dict(sources or {}),
                           top_gaps=top_gaps, area_label=area_label)
    if add == 0:
        return report
    cands = candidates if candidates is not None else study.candidates(
        sources=candidate_sources, kind=kind, any_host=any_host)
    report.candidates_text = _candidates_text(cands, kind=kind, any_host=any_host, sources=candidate_sources,
                                              given=candidates is not None)
    for s in (["greedy", "exact"] if solver == "both" else [solver]):
        try:
            report.plans[s] = study.plan(index, p=add, candidates=cands, solver=s, result=before, weights=weights,
                                         **flt)
        except ValueError as exc:
            report.plan_errors[s] = str(exc)
    if not report.plans:
        return report
    report.recommended = "exact" if "exact" in report.plans else "greedy"
    if len(report.plans) == 2:
        report.comparison = compare_plans(report.plans["greedy"], report.plans["exact"])
    chosen = report.plans[report.recommended]
    if len(chosen.table):
        report.after = study.coverage_after(index, chosen, **flt)
    return report


def workspace_report(ws: Any, *, study: Any = None, **options: Any) -> PlannerReport:
    """:func:`make_report` for a workspace: its study (or ``study``), registry, place, publisher and the
    sources of its data (station registry and its last change, OSM extract and its newest edit, census)."""
    study = study if study is not None else ws.study()
    reg = ws.registry
    sources = workspace_sources(ws, study)
    options.setdefault("area_label", ws.area_label if ws.area_label != ws.name else "")
    return make_report(study, reg.index, place=ws.name, publisher=ws.publisher, sources=sources, **options)


def workspace_sources(ws: Any, study: Any) -> dict[str, str]:
    """The data a workspace's report rests on, in Chinese: label -> where it comes from and how recent."""
    out: dict[str, str] = {}
    reg = ws.registry
    history = reg.history(limit=1)
    when = f"，最近一次更新 {history[0].time[:10]}" if history else ""
    out["站点"] = f"{ws.publisher or ws.name}的站点库（{ws.registry_path.name}），共 {len(reg):,} 个站点{when}"
    if study.osm_path is not None:
        newest = getattr(study.features, "newest_edit", None) if study.features is not None else None
        date = f"，数据中最新的编辑为 {newest:%Y-%m-%d}" if newest is not None else ""
        out["道路、建筑、餐馆"] = (f"OpenStreetMap（© OpenStreetMap contributors，ODbL 1.0 许可），文件 "
                             f"{study.osm_path.name}{date}")
    if study.census:
        year = study.census.get("year")
        census = (f"{year}年人口普查" + ("（第七次全国人口普查）" if year == 2020 else "")) if year else \
            "人口普查（年份未注明）"
        out["常住人口"] = f"{census}各街道常住人口，文件 {study.census['file']}"
    else:
        out["常住人口"] = "无：工作区没有人口普查表，报告不含常住人口"
    sds = study.subdistricts
    if len(sds):
        src = str(sds["source"].iloc[0])
        how = {"osm": "OpenStreetMap 中完整的街道边界",
               "osm-partial": "由 OpenStreetMap 中现有的街道边界线拼出（近似）"}
        out["街道边界"] = how.get(src, "用户提供的边界文件") + f"，{len(sds)} 个街道"
    else:
        out["街道边界"] = "无：数据中没有街道边界，只给出全区合计"
    import geomap

    out["计算"] = f"geomap {geomap.__version__}（开源），{datetime.now(_tz()):%Y-%m-%d}"
    return out


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(get_settings().timezone)


def _candidates_text(cands: Candidates, *, kind: Any, any_host: bool, sources: tuple[str, ...], given: bool) -> str:
    """Where the candidate sites came from, in words."""
    if given:
        return f"候选地点由规划者给出，共 {len(cands):,} 处。"
    parts = []
    if "osm" in sources:
        labels = "、".join(host_places(kind, any_host=any_host).values())
        n = int(np.sum(cands.source != "网格中心"))
        rule = "不论站点类型" if any_host else "适合这类站点的"
        parts.append(f"地图上{rule}现有场所（{labels}）{n:,} 处")
    if "h3" in sources:
        n = int(np.sum(cands.source == "网格中心"))
        parts.append(f"把研究范围分成约 0.1 平方公里的六边形网格后各格的中心 {n:,} 处（选中后需在周边另找具体场所）")
    return "候选地点：" + "；".join(parts) + "。"


# --- rendering ----------------------------------------------------------------------------------------

_NAME_COLUMNS = frozenset({"街道", "位置", "名称", "类型", "所在街道", "主要服务街道"})


def _table(df: Any, *, first_text: int = 1) -> dict[str, Any]:
    """A DataFrame as template rows: every cell as text (people and points with thousands separators,
    other numbers as the table rounded them), numbers right-aligned (``num``), names kept on one line
    (``name``)."""
    rows = []
    names = [str(c) in _NAME_COLUMNS for c in df.columns]
    for rec in df.itertuples(index=False):
        cells = []
        for i, v in enumerate(rec):
            if isinstance(v, bool | np.bool_):
                cells.append({"text": "是" if v else "否", "num": False})
            elif isinstance(v, int | np.integer):
                cells.append({"text": f"{int(v):,}", "num": True})
            elif isinstance(v, float | np.floating):
                one = math.isfinite(v) and abs(v * 10 - round(v * 10)) < 1e-6
                cells.append({"text": (f"{v:,.1f}" if one else f"{v:,.2f}") if math.isfinite(v) else MISSING,
                              "num": True})
            else:
                text = "" if v is None else str(v)
                cells.append({"text": text, "num": i >= first_text and _looks_numeric(text),
                              "name": names[i] and len(text) <= 14})
        rows.append(cells)
    return {"columns": [str(c) for c in df.columns], "rows": rows}


def _looks_numeric(text: str) -> bool:
    t = text.strip().lstrip("<>").rstrip("%").replace(",", "")
    try:
        float(t)
    except ValueError:
        return text in (MISSING, "—")
    return True


def _context(rep: PlannerReport) -> dict[str, Any]:
    res = rep.before
    labels = {k: v.label_zh for k, v in res.demand.items()}
    cov = coverage_table_zh(res)
    area_col = next((c for c in cov.columns if c.endswith("面积（平方公里）")), None)
    cov_show = cov.drop(columns=[c for c in cov.columns if c == area_col or c.endswith("（公里）")])
    gaps, gaps_note = _gaps_for_page(gaps_table_zh(rep.grid, res, top=rep.top_gaps, places=rep.gap_places))
    n_cells = len(rep.grid)
    n_unc = int((~rep.grid["covered"].astype(bool)).sum())
    ctx: dict[str, Any] = {
        "title": rep.title, "place": rep.place, "publisher": rep.publisher, "area_label": rep.area_label,
        "made": f"{rep.made:%Y年%m月%d日}".replace("年0", "年").replace("月0", "月"),
        "travel": rep.travel, "stations_zh": res.stations_zh, "summary": _summary(rep), "overview": rep.overview,
        "headline": rep.headline(), "coverage": _table(cov_show), "gaps": _table(gaps, first_text=3),
        "n_cells": n_cells, "n_unc": n_unc, "has_gaps": bool(len(gaps)), "gaps_note": gaps_note,
        "weights": rep.weights.explain(labels), "weights_default": not rep.weights.stated,
        "pickup_weight": f"{rep.weights.pickup_weight:,.6g}", "has_pickups": "restaurants" in res.demand,
        "demand_labels": "、".join(labels.values()), "no_demand": not res.demand,
        "maps": {"coverage": _png(_map(rep, "coverage")), "gaps": _png(_map(rep, "gaps"))},
        "method": _method(rep), "caveats": _caveats(rep), "sources": list(rep.sources.items()),
        "plans": [], "plan_errors": [f"{solver_label(s)}未计算：{e}" for s, e in rep.plan_errors.items()],
        "comparison": rep.comparison, "candidates_text": rep.candidates_text, "asked": bool(rep.plans or
                                                                                       rep.plan_errors),
    }
    order = [rep.recommended] + [s for s in rep.plans if s != rep.recommended] if rep.recommended else []
    for s in order:
        plan = rep.plans[s]
        entry: dict[str, Any] = {"label": plan.label, "recommended": s == rep.recommended, "n": len(plan.table),
                                 "note": plan.notes[-1] if plan.notes and not len(plan.table) else ""}
        if len(plan.table):
            entry["new"] = describe_new(plan, res)
            entry["table"] = _table(_plan_for_page(plan_table_zh(plan, res)), first_text=4)
            entry["same_as_recommended"] = (s != rep.recommended and rep.plan is not None
                                            and plan.site_ids() == rep.plan.site_ids())
        ctx["plans"].append(entry)
    if rep.plans and all(not len(p.table) for p in rep.plans.values()):  # one sentence, not one per solver
        ctx["no_sites"] = next(iter(rep.plans.values())).notes[-1]
        ctx["plans"], ctx["comparison"] = [], None
    if rep.plan is not None and rep.after is not None:
        ctx["maps"]["plan"] = _png(_map(rep, "plan"))
        ctx["before_after"] = _table(_before_after(rep), first_text=1)
    return ctx


def _summary(rep: PlannerReport) -> str:
    """The summary sentence; a region's says how many of the stations are its own."""
    res = rep.before
    text = res.summary()
    if rep.own_stations is None or res.n_stations == rep.own_stations:
        return text
    return text.replace(f"（共 {res.n_stations} 个）", f"（本地区 {rep.own_stations:,} 个，另有邻区 "
                        f"{res.n_stations - rep.own_stations:,} 个在边界附近）", 1)


def _gaps_for_page(df: Any) -> tuple[Any, str]:
    """The gap table for a page: a 说明 becomes a mark (＊) on the row and one footnote under the table."""
    if "说明" not in df.columns:
        return df, ""
    notes = [n for n in dict.fromkeys(df["说明"]) if n]
    df = df.copy()
    if notes:
        marks = {n: "＊" * (i + 1) for i, n in enumerate(notes)}
        df["位置"] = [f"{p}{marks[n]}" if n else p for p, n in zip(df["位置"], df["说明"], strict=True)]
    return df.drop(columns=["说明"]), "；".join(f"{'＊' * (i + 1)} {n}" for i, n in enumerate(notes))


def _plan_for_page(df: Any) -> Any:
    """The plan table narrowed to a portrait page: the kind of place after its name, no resident-equivalent
    column (the sentence above the table gives the total)."""
    df = df.copy()
    df["名称"] = [f"{n}（{k}）" if k != "网格中心" else n for n, k in zip(df["名称"], df["类型"], strict=True)]
    return df.drop(columns=["类型", "新增需求（折合人数）"])


def _before_after(rep: PlannerReport) -> Any:
    """Per 街道 and 合计: each layer's covered share now and after the recommended sites."""
    import pandas as pd

    before, after = rep.before.table, rep.after.table  # type: ignore[union-attr]
    rows = []
    for (_, b), (_, a) in zip(before.iterrows(), after.iterrows(), strict=True):
        row: dict[str, Any] = {"街道": b["subdistrict"]}
        for name, lay in rep.before.demand.items():
            row[f"{lay.label_zh}覆盖率（现状）"] = _share_cell(b, name)
            row[f"{lay.label_zh}覆盖率（新增后）"] = _share_cell(a, name)
            unit = layer_units(name)[0]
            gain = a[f"{name}_covered"] - b[f"{name}_covered"]
            row[f"新增覆盖{lay.label_zh}{f'（{unit}）' if unit else ''}"] = count(gain)
        row["道路覆盖率（现状）"] = pct(b["street_share"], missing=MISSING)
        row["道路覆盖率（新增后）"] = pct(a["street_share"], missing=MISSING)
        rows.append(row)
    return pd.DataFrame(rows)


def _share_cell(row: Any, name: str) -> str:
    tot = row[name]
    if not math.isfinite(tot):
        return MISSING
    return pct(row[f"{name}_share"]) if tot > 0 else "—"


def _method(rep: PlannerReport) -> list[str]:
    """How the figures were made, in plain Chinese."""
    s = get_settings()
    res = rep.before
    mode = res.mode
    speed = {"walk": f"按每小时 {s.walk_speed_kmh:g} 公里步行",
             "ebike": f"按每小时 {s.ebike_speed_kmh:g} 公里骑电动自行车，遵守单行道",
             "drive": "按各条道路的限速（没有标限速的按道路等级）开车，遵守单行道",
             "truck": "按各条道路的限速开货车，避开禁行货车的道路，遵守单行道"}.get(mode, mode_label(mode))
    out = [f"“{rep.travel}内可到达”是沿真实道路走的时间，不是直线距离：从居民楼、取餐点或道路上的一点出发，"
           f"{speed}，到最近的{res.stations_zh}不超过 {res.minutes:g} 分钟。道路来自 OpenStreetMap 地图数据。"]
    if "residents" in res.demand:
        year = rep.study.census.get("year") if rep.study.census else None
        out.append(f"常住人口来自{f'{year}年' if year else ''}人口普查的街道人口。普查只给出每个街道的总人数，"
                   "报告按住宅楼的占地面积把它分到街道内的各栋楼；楼层数地图上大多没有，所以同样占地的高楼和"
                   "低楼算作同样多的人。街道只有一部分在研究范围内时，按面积比例折算人数。")
    if "restaurants" in res.demand:
        out.append("餐饮取餐点是地图上标出的餐馆、快餐店和咖啡馆，骑手在这些地方等餐取餐。")
    explained = rep.weights.explain({k: v.label_zh for k, v in res.demand.items()})
    out.append(f"缺口：把研究范围分成约 0.1 平方公里的六边形网格，量出每格中心到最近站点的时间；"
               f"超过 {res.minutes:g} 分钟的格子按格内需求排序。{explained}。"
               + (f"取餐点折合的人数是规划上的取舍，不是测量值：默认值 {rep.weights.pickup_weight:,.6g} 让一条餐馆街"
                  "和一片住宅楼有同样分量，又不至于一两家餐馆就排在上万居民前面；可在命令中用 --pickup-weight 或在"
                  "工作区设置 pickup_weight 调整。" if "restaurants" in res.demand else ""))
    if rep.plans or rep.plan_errors:
        out.append("选址：在候选地点中挑出新增覆盖需求最多的几处（保留现有站点）。“逐个挑选”每次选能新增覆盖最多的"
                   "一处，再在剩下的需求上选下一处，规模再大也算得快；“整体最优”把所有组合一起比较（整数规划），"
                   "保证选出的一组新增覆盖最多，规模太大时算不动。两种都算时，两组答案都列出并比较。")
    return out


def _caveats(rep: PlannerReport) -> list[str]:
    """What the data does not hold, in plain Chinese: the study's and the coverage's notes, and the usual
    limits of a map extract."""
    out = list(dict.fromkeys([*rep.study.notes, *rep.before.notes]))
    feats = rep.study.features
    if feats is not None and "residents" in rep.before.demand:
        n_res = int(_residential_count(feats.buildings))
        out.append(f"地图数据中有 {len(feats.buildings):,} 栋建筑，其中住宅 {n_res:,} 栋；没有画出的楼不会分到人口，"
                   "画出的楼少的街道，人口会集中在少数楼上。")
    if "restaurants" in rep.before.demand:
        out.append(f"地图上的餐饮取餐点共 {len(rep.before.demand['restaurants']):,} 个，远少于外卖平台上实际的商户，"
                   "只能说明取餐点大致在哪里。")
    out.append("站点的位置、类型和开放时间以站点库为准；报告不考虑站点是否开门、容量大小和骑手的实际路线。")
    return out


def _residential_count(buildings: Any) -> int:
    from geomap.planning.demand import _is_residential

    return int(_is_residential(buildings).sum()) if len(buildings) else 0


# --- maps ---------------------------------------------------------------------------------------------

def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=170)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class _Frame:
    """The maps' local metric frame (azimuthal equidistant on the study area's centre, metres, north up)."""

    def __init__(self, area: shapely.Geometry) -> None:
        from pyproj import Transformer

        from geomap.coords import local_metric_crs

        c = area.centroid
        self.crs = local_metric_crs(c.x, c.y)
        self.tr = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)

    def xy(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.tr.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x), np.asarray(y)

    def geom(self, g: Any) -> Any:
        return shapely.transform(g, lambda a: np.column_stack(self.xy(a[:, 0], a[:, 1])))


def _map(rep: PlannerReport, which: str) -> Any:
    """One map of the report: ``coverage``, ``gaps`` or ``plan`` (a matplotlib figure)."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects as pe
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt.rcParams["font.family"] = [CJK_FONT, "DejaVu Sans"]
    study = rep.study
    fr = _Frame(study.study_area)
    area = fr.geom(study.study_area)
    x0, y0, x1, y1 = shapely.bounds(area)
    pad = 0.03 * max(x1 - x0, y1 - y0)
    w_in = 7.0
    h_in = min(9.0, max(4.5, w_in * (y1 - y0 + 2 * pad) / (x1 - x0 + 2 * pad)))
    fig, ax = plt.subplots(figsize=(w_in, h_in))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    handles: list[Any] = []

    graph = study.graph(rep.before.mode)
    segs = _street_segments(graph, fr)
    if which == "gaps":
        _gap_cells(ax, rep, fr, handles)
    else:
        cov = rep.before.covered_area
        if cov is not None and not cov.is_empty:
            gpd.GeoSeries([fr.geom(cov)]).plot(ax=ax, color=_COVERED, alpha=0.45, linewidth=0, zorder=1)
            handles.append(Patch(color=_COVERED, alpha=0.45, label=f"{rep.travel}内可到达（现有站点）"))
        if which == "plan" and rep.after is not None and rep.after.covered_area is not None:
            new = shapely.difference(rep.after.covered_area, cov) if cov is not None else rep.after.covered_area
            if not new.is_empty:
                gpd.GeoSeries([fr.geom(new)]).plot(ax=ax, color=_NEW, alpha=0.6, linewidth=0, zorder=1)
                handles.append(Patch(color=_NEW, alpha=0.6, label="新增站点后新覆盖的范围"))
    ax.add_collection(LineCollection(segs, colors="#737373", linewidths=0.35, zorder=2))
    gpd.GeoSeries([area]).boundary.plot(ax=ax, color="#252525", linewidth=0.8, zorder=3)
    sds = study.subdistricts
    if len(sds):
        geoms = [fr.geom(g) for g in sds.geometry.values]
        gpd.GeoSeries(geoms).boundary.plot(ax=ax, color="#6a51a3", linewidth=1.0, linestyle=(0, (5, 3)), zorder=3)
        for name, g in zip(sds["name"], geoms, strict=True):
            p = g.representative_point()
            ax.annotate(name, (p.x, p.y), ha="center", va="center", fontsize=9, color="#3f007d", zorder=6,
                        path_effects=halo)
        handles.append(Line2D([], [], color="#6a51a3", linestyle=(0, (5, 3)), label="街道界线（近似）"
                              if str(sds["source"].iloc[0]) == "osm-partial" else "街道界线"))
    _street_names(ax, rep, fr, halo)
    sx, sy = fr.xy(rep.stations.lon, rep.stations.lat)
    ax.scatter(sx, sy, marker="^", s=46, color=_STATION, edgecolor="white", linewidth=0.8, zorder=7)
    handles.append(Line2D([], [], marker="^", color="none", markerfacecolor=_STATION, markeredgecolor="white",
                          markersize=8, label=f"现有{rep.before.stations_zh}（{len(rep.stations)} 个）"))
    if which == "plan" and rep.plan is not None:
        t = rep.plan.table
        px, py = fr.xy(t["lon"].to_numpy(float), t["lat"].to_numpy(float))
        ax.scatter(px, py, marker="o", s=230, color=_SITE, edgecolor="white", linewidth=1.2, zorder=8)
        for r, x, y in zip(t["rank"], px, py, strict=True):
            ax.annotate(str(r), (x, y), ha="center", va="center", fontsize=9, color="white", weight="bold",
                        zorder=9)
        handles.append(Line2D([], [], marker="o", color="none", markerfacecolor=_SITE, markeredgecolor="white",
                              markersize=11, label="建议新增站点（编号同上表）"))
    ax.legend(handles=handles, loc="upper left", fontsize=7.5, framealpha=0.92, borderpad=0.6)
    _scale_bar(ax, x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    _north_arrow(ax, x1 + pad, y1 + pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    ax.annotate("底图与道路：© OpenStreetMap contributors", (0.99, 0.005), xycoords="axes fraction", ha="right",
                va="bottom", fontsize=6.5, color="#525252")
    return fig


def _street_segments(graph: Any, fr: _Frame) -> list[np.ndarray]:
    off = graph.geom_offsets
    x, y = fr.xy(graph.geom_lon, graph.geom_lat)
    xy = np.column_stack([x, y])
    return [xy[off[i]:off[i + 1]] for i in range(graph.n_streets)]


def _street_names(ax: Any, rep: PlannerReport, fr: _Frame, halo: Any, *, n: int = 10) -> None:
    """The names of the longest named roads, once each, along their longest stretch."""
    feats = rep.study.features
    if feats is None or not feats.street_names:
        return
    graph = rep.study.graph("walk")
    names = np.array([feats.street_names.get(int(w)) for w in graph.street_way_id], dtype=object)
    named = np.flatnonzero(names != None)  # noqa: E711
    if not len(named):
        return
    length: dict[str, float] = {}
    for nm, ln in zip(names[named].tolist(), graph.street_length_m[named].tolist(), strict=True):
        length[nm] = length.get(nm, 0.0) + ln
    off = graph.geom_offsets
    gx, gy = fr.xy(graph.geom_lon, graph.geom_lat)
    placed: list[tuple[float, float]] = []
    for nm in sorted(length, key=lambda k: -length[k])[:n]:
        idx = named[names[named] == nm]
        lines = [shapely.LineString(np.column_stack([gx[off[i]:off[i + 1]], gy[off[i]:off[i + 1]]])) for i in idx]
        merged = shapely.line_merge(shapely.union_all(lines))
        parts = list(getattr(merged, "geoms", [merged]))
        best = max(parts, key=lambda g: g.length)
        if best.length < 300:
            continue
        mid = best.interpolate(0.5, normalized=True)
        if any(math.hypot(mid.x - a, mid.y - b) < 400 for a, b in placed):
            continue
        a, b = best.interpolate(0.45, normalized=True), best.interpolate(0.55, normalized=True)
        angle = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
        angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle
        ax.annotate(nm, (mid.x, mid.y), ha="center", va="center", fontsize=7, rotation=angle,
                    rotation_mode="anchor", color="#252525", zorder=5, path_effects=halo)
        placed.append((mid.x, mid.y))


def _gap_cells(ax: Any, rep: PlannerReport, fr: _Frame, handles: list[Any]) -> None:
    import geopandas as gpd
    from matplotlib import patheffects as pe
    from matplotlib.patches import Patch

    m = rep.before.minutes
    grid = rep.grid
    t = grid["travel_min"].to_numpy(float)
    bounds = [m / 3, 2 * m / 3, m, m + m / 3, 2 * m]
    colours = np.full(len(grid), _NO_NETWORK, dtype=object)
    labels = [f"{0:g}–{bounds[0]:g} 分钟", f"{bounds[0]:g}–{bounds[1]:g} 分钟", f"{bounds[1]:g}–{m:g} 分钟",
              f"{m:g}–{bounds[3]:g} 分钟（缺口）", f"{bounds[3]:g}–{bounds[4]:g} 分钟（缺口）",
              f"{bounds[4]:g} 分钟以上或到不了（缺口）"]
    palette = [*_BLUES, *_ORANGES]
    fin = np.isfinite(t)
    cls = np.searchsorted(np.array(bounds), t[fin], side="left")
    colours[fin] = np.array(palette, dtype=object)[np.minimum(cls, 5)]
    # a centre on the network that reaches no station is a gap too (the darkest class)
    centre_ok = ~fin & ~grid["covered"].to_numpy(bool)
    on_net = _centres_on_network(rep, grid)
    colours[centre_ok & on_net] = _ORANGES[2]
    geoms = [fr.geom(g) for g in grid.geometry.values]
    gpd.GeoSeries(geoms).plot(ax=ax, color=list(colours), edgecolor="white", linewidth=0.4, zorder=1)
    for col, lab in zip(palette, labels, strict=True):
        handles.append(Patch(color=col, label=lab))
    handles.append(Patch(color=_NO_NETWORK, label="格子中心离道路太远"))
    unc = grid[grid["gap_rank"].notna()].sort_values("gap_rank").head(rep.top_gaps)
    halo = [pe.withStroke(linewidth=2.8, foreground="white")]
    for r, g in zip(unc["gap_rank"], unc.geometry.values, strict=True):
        c = fr.geom(g).centroid
        ax.annotate(str(int(r)), (c.x, c.y), ha="center", va="center", fontsize=10, weight="bold", color="black",
                    zorder=9, path_effects=halo)


def _centres_on_network(rep: PlannerReport, grid: Any) -> np.ndarray:
    """Whether each cell's centre is within the snapping distance of a street (else 'too far from streets')."""
    from geomap.network.routing import snap_points

    c = shapely.centroid(grid.geometry.values)
    snapped = snap_points(rep.study.graph(rep.before.mode), shapely.get_x(c), shapely.get_y(c), errors="ignore")
    return np.asarray(snapped.ok, bool)


def _scale_bar(ax: Any, x: float, y: float, w: float, h: float) -> None:
    """A scale bar of a round length (about a fifth of the width) in the lower left."""
    target = w / 5
    length = max(v for v in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000) if v <= target) \
        if target >= 50 else target
    bx, by = x + 0.03 * w, y + 0.035 * h
    for k in range(2):
        ax.add_patch(__import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle(
            (bx + k * length / 2, by), length / 2, 0.008 * h, facecolor="black" if k == 0 else "white",
            edgecolor="black", linewidth=0.6, zorder=10))
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    ax.annotate("0", (bx, by + 0.012 * h), ha="center", va="bottom", fontsize=7, zorder=10)
    ax.annotate(label, (bx + length, by + 0.012 * h), ha="center", va="bottom", fontsize=7, zorder=10)


def _north_arrow(ax: Any, x1: float, y1: float, w: float, h: float) -> None:
    """"北" with an arrow pointing up (the frame is centred on the area: north is up) in the upper right."""
    ax.annotate("北", xy=(x1 - 0.04 * w, y1 - 0.025 * h), xytext=(x1 - 0.04 * w, y1 - 0.10 * h), ha="center",
                va="center", fontsize=9, weight="bold", zorder=10,
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2})


# --- PDF ----------------------------------------------------------------------------------------------

def chromium_path() -> str | None:
    """Headless Chromium for printing: ``GEOMAP_CHROMIUM``, else ``chromium`` / ``chromium-browser`` /
    ``google-chrome`` on the PATH, else Debian's ``/usr/bin/chromium``; None when there is none."""
    env = os.environ.get("GEOMAP_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def print_pdf(html: str | Path, pdf: str | Path, *, chromium: str | None = None, timeout_s: float = 180.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (A4 and margins from the page's CSS ``@page``; no
    browser header or footer). Raises :class:`ReportError` (Chinese) when Chromium is missing or fails."""
    exe = chromium or chromium_path()
    if exe is None:
        raise ReportError("生成 PDF 需要 Chromium 浏览器：请运行 `make sysdeps`（Debian：apt-get install chromium），"
                          "或改用 --out report.html")
    pdf = Path(pdf).resolve()
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="geomap-chromium-") as profile:
        cmd = [exe, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", f"--user-data-dir={profile}", "--no-pdf-header-footer",
               "--run-all-compositor-stages-before-draw", f"--print-to-pdf={pdf}", Path(html).resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"Chromium 打印 PDF 失败：{exc}") from None
    if not pdf.exists() or pdf.stat().st_size == 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise ReportError(f"Chromium 没有写出 PDF（退出码 {proc.returncode}）：{' / '.join(tail)}")
    return pdf
