"""The planner's report over all regions (``geomap report`` on a regions workspace): each region's own report,
made inside a Dask worker by the ``report`` batch task (:func:`region_report`), and an overview page of all
regions (:func:`write_overview`), both in Chinese and printable as the place report (:mod:`geomap.publish.report`).

**A region's report** is the place report of the region's study (:func:`geomap.regions.planning.region_study`:
its clipped networks, its 街道 cut to its outline, only the residents and pickup points it counts), with the
stations its routes reach (its own and its neighbours' near the border); the headline says how many are its
own. Its totals are the sums of its 街道 rows, as ``geomap coverage`` gives them (the buffer's streets carry
routes, never counts), so the region's figures equal the ``coverage`` batch's and add up across regions.

**Files.** The task writes ``<key>.html`` (and ``<key>.pdf`` when asked) into the output folder, and a copy
of each beside its cached answer (``cache/batch/report/<key>-<hash>.html``). The output folder is no part of
the cache key: on a cache hit the cached copy is copied to the output folder (whatever folder it is this
time); a cached answer whose copy is gone is computed again; a PDF asked for now but not then is printed
here from the HTML. No file of older inputs is left beside the new ones: a region that fails has its
``<key>.html`` / ``<key>.pdf`` removed from the output folder, and a run without ``pdf`` keeps a region's
``<key>.pdf`` only when it is the cached PDF of the same inputs (the overview's ``index.pdf`` is removed).

**The overview** (``index.html``, optionally ``index.pdf``): one row per region with its figures and a link
to its report, the totals (counts summed, shares recomputed from the sums, never averaged), the regions that
failed with their error, and every figure not measured as "—" with the reason.

Coordinates WGS84; times in minutes; lengths km.
"""

from __future__ import annotations

import filecmp
import math
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geomap.regions.workspace import RegionsWorkspace

__all__ = ["OVERVIEW", "RegionsReport", "overview_figures", "region_report", "run_reports", "write_overview"]

OVERVIEW = "index.html"
"""The overview page's file name in the output folder."""
TEMPLATE = Path(__file__).resolve().parents[1] / "publish" / "templates" / "overview.html"
LABELS = {"residents": "常住人口", "restaurants": "餐饮取餐点"}
"""The demand layers' Chinese names when no region measured them (as :mod:`geomap.planning.demand` names them)."""
DASH = "—"


# --- inside the worker -------------------------------------------------------------------------------------

def region_report(rws: RegionsWorkspace, i: int, *, out_dir: str, pdf: bool = False, cache_file: str | None = None,
                  minutes: float | None = None, mode: str | None = None, kind: Any = None, amenity: Any = None,
                  open_at: Any = None, add: int = 3, solver: str = "both",
                  candidate_sources: tuple[str, ...] | list[str] = ("osm", "h3"), any_host: bool = False,
                  pickup_weight: float | None = None, top_gaps: int = 10,
                  frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Region ``i``'s planner report (see the module docstring), written to ``out_dir/<key>.html`` (and
    ``.pdf`` with ``pdf``), copied beside ``cache_file`` when given. Returns the coverage batch's answer for
    the region (:func:`geomap.regions.planning.coverage_payload`) with, in ``region``, ``proposed`` (new
    sites proposed; None when none were asked or the solvers could not answer) and each layer's
    ``<layer>_covered_after`` / ``<layer>_share_after`` and ``street_*_after``; and ``file``, ``pdf_file``,
    ``cache_stem``, ``labels`` (layer → Chinese name), ``missing`` (layer → 街道 without figures),
    ``stations_zh``, ``plan_note``."""
    from geomap.planning.coverage import TOTAL_ROW
    from geomap.publish.report import make_report, print_pdf, workspace_sources
    from geomap.regions.planning import coverage_payload, region_study, totals

    spec = rws.specs[i]
    ws = rws.region(i)
    with ws.in_force():
        rs = region_study(rws, i, frame=frame)
        sources = workspace_sources(ws, rs.study)
        sources["站点"] = (f"{rws.publisher or rws.name}的站点库（{rws.registry_path.name}），本地区 "
                         f"{len(rs.owned_ids):,} 个站点，另有邻区 {len(rs.index) - len(rs.owned_ids):,} 个在边界外"
                         f" {rws.buffer_m / 1000:g} 公里内（也计入本地区的服务圈）")
        osm = "道路、建筑、餐馆"
        if osm in sources and rs.study.osm_path is not None:  # the source file, not the cache's clipped copy
            sources[osm] = sources[osm].replace(rs.study.osm_path.name, f"{spec.osm_path.name}（地区边界外 "
                                                f"{rws.buffer_m / 1000:g} 公里以内的部分）")
        sources["地区划分"] = (f"{rws.name}共 {len(rws.specs)} 个地区，本报告是其中之一。边界上的站点、居民、"
                           "取餐点只算入 geomap.toml 中先列出的地区，跨界道路按中点归属，各地区的数字可以相加")
        rep = make_report(rs.study, rs.index, place=spec.name, publisher=ws.publisher, minutes=minutes, mode=mode,
                          kind=kind, amenity=amenity, open_at=open_at, add=add, solver=solver,
                          candidate_sources=tuple(candidate_sources), any_host=any_host,
                          pickup_weight=pickup_weight, top_gaps=top_gaps, sources=sources,
                          area_label=f"{spec.area_label or spec.name}（{rws.name}）")
        layers = list(rep.before.demand)
        for res in (rep.before, rep.after):
            if res is not None:  # the 合计 row: the region's 街道 only, not the buffer's streets
                rows = res.table["subdistrict"] != TOTAL_ROW
                for col, v in totals(res.table[rows], layers=layers).items():
                    res.table.loc[~rows, col] = v
        rep.own_stations = int(sum(str(s) in rs.owned_ids for s in rep.stations.ids))
        rep.overview = OVERVIEW
        html = rep.html()
    payload = coverage_payload(rs, rep.before, rep.stations)
    region = payload["region"]
    if rep.plans or rep.plan_errors:
        region["proposed"] = len(rep.plan.table) if rep.plan is not None else None
    if rep.after is not None:
        after = totals(rep.after.table[rep.after.table["subdistrict"] != TOTAL_ROW], layers=layers)
        for key in ("street_covered_km", "street_share", *(f"{n}_{w}" for n in layers for w in ("covered", "share"))):
            region[f"{key}_after"] = after.get(key, np.nan)
    plan_note = None
    if rep.plan_errors and rep.plan is None:
        plan_note = "；".join(rep.plan_errors.values())
    elif rep.plan is not None and not len(rep.plan.table):
        plan_note = rep.plan.notes[-1] if rep.plan.notes else "没有能新增覆盖的候选地点"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{spec.key}.html"
    _write_text(page, html)
    kept = Path(cache_file) if cache_file else None
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        _copy(page, kept.with_suffix(".html"))
    if pdf:
        print_pdf(page, out / f"{spec.key}.pdf")
        if kept is not None:
            _copy(out / f"{spec.key}.pdf", kept.with_suffix(".pdf"))
    payload.update(file=page.name, pdf_file=f"{spec.key}.pdf" if pdf else None,
                   cache_stem=kept.stem if kept is not None else None,
                   labels={n: lay.label_zh for n, lay in rep.before.demand.items()},
                   missing={n: list(lay.missing) for n, lay in rep.before.demand.items() if lay.missing},
                   stations_zh=rep.before.stations_zh, plan_note=plan_note)
    return payload


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _copy(src: Path, dst: Path) -> None:
    """Copy under a temporary name, then rename: a reader never sees half a file."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


# --- on the client ------------------------------------------------------------------------------------------

@dataclass
class RegionsReport:
    """What :func:`run_reports` wrote: the output folder, the overview (and its PDF), the batch's merged
    result (``regions``: one row per finished region with its figures and ``file``; ``subdistricts``;
    ``failed``; ``cached``; ``computed``)."""

    out: Path
    overview: Path
    overview_pdf: Path | None
    batch: Any


def run_reports(rws: RegionsWorkspace, out: str | Path, *, keys: list[str] | None = None, workers: int | None = None,
                scheduler: str | None = None, use_cache: bool = True, progress: bool = True, pdf: bool = False,
                **options: Any) -> RegionsReport:
    """Every region's report (or those of ``keys``) into the folder ``out``, one task per region on Dask (as
    :func:`geomap.regions.batch.run_batch`: ``workers=0`` in this process, else a local cluster of
    ``workers`` processes or the cluster at ``scheduler``), then the overview ``index.html`` (and PDFs with
    ``pdf``). ``options``: :func:`region_report`'s (``minutes``, ``mode``, ``kind``, ``amenity``,
    ``open_at``, ``add``, ``solver``, ``candidate_sources``, ``any_host``, ``pickup_weight``, ``top_gaps``).
    On a remote cluster the workers must be able to write ``out`` (a shared folder), as they read the
    workspace; a report they wrote where this machine cannot see it is reported as failed."""
    from geomap.regions.batch import run_batch

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    options = _with_defaults(options)
    params = {**options, "out_dir": str(out), "pdf": pdf}
    run = {"workers": workers, "scheduler": scheduler, "use_cache": use_cache, "progress": progress}
    res = run_batch(rws, "report", params=params, keys=keys, **run)
    stale = _place_files(rws, res, out, pdf=pdf)
    if stale:  # cached answers whose report copy is gone: computed again
        again = run_batch(rws, "report", params=params, keys=stale, **run)
        again_stale = _place_files(rws, again, out, pdf=pdf)
        for key in again_stale:
            again.failed[key] = "缓存中的报告副本写入后又丢失"
            again.payloads.pop(key, None)
        res = _merged(rws, res, again, stale, keys)
    for key in res.failed:  # no report of older inputs beside an overview that says it failed
        for suffix in (".html", ".pdf"):
            (out / f"{key}{suffix}").unlink(missing_ok=True)
    page = write_overview(rws, res, out, options=options)
    page_pdf = None
    (out / "index.pdf").unlink(missing_ok=True)  # the overview's PDF of an earlier run
    if pdf:
        from geomap.publish.report import print_pdf

        page_pdf = print_pdf(page, out / "index.pdf")
    return RegionsReport(out=out, overview=page, overview_pdf=page_pdf, batch=res)


def _with_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """Every option of :func:`region_report` spelled out (its defaults for those not given), so that the same
    report asked for with or without its defaults (by the command or in Python) has one cache key."""
    import inspect

    skip = {"rws", "i", "out_dir", "pdf", "cache_file", "frame"}
    params = inspect.signature(region_report).parameters
    unknown = set(options) - set(params) - skip
    if unknown:
        raise TypeError(f"unknown report options: {', '.join(sorted(unknown))}")
    full = {k: options.get(k, p.default) for k, p in params.items() if k not in skip}
    full["candidate_sources"] = list(full["candidate_sources"])
    if full["minutes"] is not None:
        full["minutes"] = float(full["minutes"])
    return full


def _place_files(rws: RegionsWorkspace, res: Any, out: Path, *, pdf: bool) -> list[str]:
    """Put each finished region's report in ``out``: a cached one copied from the cache, a computed one
    checked (copied from the cache when the worker wrote elsewhere). Returns the cached regions whose copy is
    gone (to compute again); a computed region whose file is nowhere becomes a failure."""
    from geomap.publish.report import ReportError, print_pdf

    stale = []
    for key in list(res.payloads):
        p = res.payloads[key]
        kept = rws.cache_dir / "batch" / "report" / f"{p['cache_stem']}.html" if p.get("cache_stem") else None
        page = out / f"{key}.html"
        if key in res.cached:
            if kept is None or not kept.exists():
                stale.append(key)
                if kept is not None:
                    kept.with_suffix(".json").unlink(missing_ok=True)
                continue
            _copy(kept, page)
        elif not page.exists():
            if kept is not None and kept.exists():
                _copy(kept, page)
            else:
                res.failed[key] = (f"工作进程写的报告不在输出文件夹 {out}：远程集群的工作进程需能写入这个文件夹"
                                   "（共享文件夹）")
                _drop(res, key)
                continue
        p["file"] = page.name
        p["pdf_file"] = None
        if not pdf:  # a PDF of other inputs is not left beside the new page; the same one is linked
            old, kept_pdf = out / f"{key}.pdf", kept.with_suffix(".pdf") if kept is not None else None
            if old.exists():
                if kept_pdf is not None and kept_pdf.exists() and filecmp.cmp(old, kept_pdf, shallow=False):
                    p["pdf_file"] = old.name
                else:
                    old.unlink()
        if pdf:
            target = out / f"{key}.pdf"
            kept_pdf = kept.with_suffix(".pdf") if kept is not None else None
            if key in res.cached or not target.exists():
                if kept_pdf is not None and kept_pdf.exists():
                    _copy(kept_pdf, target)
                else:
                    try:
                        print_pdf(page, target)
                    except ReportError as exc:
                        res.failed[key] = str(exc)
                        _drop(res, key)
                        continue
                    if kept_pdf is not None:
                        _copy(target, kept_pdf)
            p["pdf_file"] = target.name
    if res.failed or stale:
        _remerge(rws, res, [k for k in res.payloads if k not in stale])
    return stale


def _drop(res: Any, key: str) -> None:
    res.payloads.pop(key, None)
    for lst in (res.cached, res.computed):
        if key in lst:
            lst.remove(key)


def _remerge(rws: RegionsWorkspace, res: Any, keys: list[str]) -> None:
    from geomap.regions.batch import _merge

    order = [k for k in rws.keys if k in keys]
    res.regions, res.subdistricts, res.cells = _merge("report", [res.payloads[k] for k in order])


def _merged(rws: RegionsWorkspace, first: Any, again: Any, stale: list[str], keys: list[str] | None) -> Any:
    """``first`` with the regions of ``stale`` taken from ``again`` (their second run)."""
    first.cached = [k for k in first.cached if k not in stale]
    first.computed = first.computed + [k for k in again.computed if k in stale]
    first.failed.update({k: v for k, v in again.failed.items() if k in stale})
    for k in stale:
        first.payloads.pop(k, None)
        if k in again.payloads and k not in first.failed:
            first.payloads[k] = again.payloads[k]
    first.seconds += again.seconds
    wanted = keys or rws.keys
    _remerge(rws, first, [k for k in wanted if k in first.payloads])
    return first


# --- the overview -------------------------------------------------------------------------------------------

def overview_figures(regions: pd.DataFrame, *, layers: list[str]) -> dict[str, float]:
    """The totals row of the overview: stations, street length and every layer's amount summed over the
    regions (those with figures), shares recomputed from the sums (NaN when nothing was measured), proposed
    new sites summed, and the shares after them from the summed counts after."""
    from geomap.regions.planning import totals

    row = totals(regions, layers=layers)
    for col in ("stations", "proposed"):
        if col in regions.columns and regions[col].notna().any():
            row[col] = float(np.nansum(regions[col].to_numpy(float)))
    for n in layers:
        if n in regions.columns and not regions[n].notna().any():
            row[n] = row[f"{n}_covered"] = np.nan
            row[f"{n}_share"] = np.nan
    if "proposed" in regions.columns and regions["proposed"].notna().any():
        for n in layers:  # a region with no proposals keeps its coverage: its "after" is its "now"
            col = f"{n}_covered_after"
            if col in regions.columns:
                after = regions[col].where(regions[col].notna(), regions[f"{n}_covered"])
                cov = float(np.nansum(after.to_numpy(float)))
                row[col] = cov
                row[f"{n}_share_after"] = cov / row[n] if row.get(n, 0) and row[n] > 0 else np.nan
    return row


def write_overview(rws: RegionsWorkspace, res: Any, out: Path, *, options: dict[str, Any]) -> Path:
    """Write the overview page ``out/index.html`` of a report batch ``res`` (see the module docstring)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATE.parent)), autoescape=select_autoescape(["html"]))
    with _workspace_settings(rws):
        text = env.get_template(TEMPLATE.name).render(**_overview_context(rws, res, options))
    path = out / OVERVIEW
    _write_text(path, text)
    return path


def _workspace_settings(rws: RegionsWorkspace) -> Any:
    from geomap.settings import settings_in_force

    return settings_in_force(rws.settings)


class _Notes:
    """Footnotes of the table: one mark per distinct reason (①, ②, …), naming every row it is for."""

    MARKS = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

    def __init__(self) -> None:
        self.who: dict[str, list[str]] = {}

    def mark(self, text: str, who: str) -> str:
        rows = self.who.setdefault(text, [])
        if who not in rows:
            rows.append(who)
        k = list(self.who).index(text)
        return self.MARKS[k] if k < len(self.MARKS) else f"[{k + 1}]"

    def items(self) -> list[tuple[str, str]]:
        return [(self.mark(t, w[0]), f"{'、'.join(w)}：{t}") for t, w in self.who.items()]


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, int | float | np.integer | np.floating) and math.isfinite(float(v))


def _people(v: float) -> str:
    return f"{math.floor(float(v) + 0.5):,}"


def _cell(text: str, *, num: bool = True, note: str = "", cls: str = "") -> dict[str, Any]:
    return {"text": text, "num": num, "note": note, "cls": cls}


def _share_cells(row: dict[str, Any], name: str, why: str | None, notes: _Notes, who: str, *,
                 partial: str | None = None) -> list[dict[str, Any]]:
    """Amount and share of a layer, or "—" with the reason's mark."""
    from geomap.planning.coverage import pct

    unit_fmt = _people
    total, share = row.get(name), row.get(f"{name}_share")
    if not _finite(total):
        mark = notes.mark(why or "没有测量", who)
        return [_cell(DASH, note=mark), _cell(DASH, note=mark)]
    cells = [_cell(unit_fmt(total))]
    if _finite(share):
        cells.append(_cell(pct(float(share)), note=notes.mark(partial, who) if partial else ""))
    else:
        cells.append(_cell(DASH, note=notes.mark(why or "没有可计的对象", who)))
    return cells


def _overview_context(rws: RegionsWorkspace, res: Any, options: dict[str, Any]) -> dict[str, Any]:
    from geomap.planning.coverage import mode_label, pct
    from geomap.publish.report import _tz
    from geomap.settings import get_settings

    payloads = [res.payloads[k] for k in rws.keys if k in res.payloads]
    regions = res.regions.copy()
    # the two standard layers always have their columns, first (a region may lack one: "—" and why)
    layers = list(dict.fromkeys(["residents", "restaurants", *(n for p in payloads for n in p.get("layers", []))]))
    labels = {**LABELS, **{n: lab for p in payloads for n, lab in p.get("labels", {}).items()}}
    for n in layers:
        for col in (n, f"{n}_covered", f"{n}_share"):
            if col not in regions.columns:
                regions[col] = np.nan
    first = payloads[0] if payloads else {}
    minutes = first.get("minutes", options.get("minutes") or get_settings().default_minutes)
    mode = first.get("mode", options.get("mode") or get_settings().default_mode)
    travel = f"{mode_label(mode)}{float(minutes):g}分钟"
    stations_zh = first.get("stations_zh", "站点")
    asked = bool(options.get("add", 3))
    notes = _Notes()
    label_of = {lab: n for n, lab in labels.items()}

    def why_missing(p: dict[str, Any], n: str) -> str:
        for lab, why in (p.get("absent") or {}).items():
            if label_of.get(lab) == n:
                return str(why)
        return f"地区内没有{labels.get(n, n)}数字"

    table_rows: list[dict[str, Any]] = []
    by_key = {p["key"]: p for p in payloads}
    recs = {r["region"]: r for r in regions.to_dict("records")}
    for spec in rws.specs:
        key = spec.key
        if key in res.failed:
            table_rows.append({"name": spec.name, "key": key, "failed": True, "cells": []})
            continue
        if key not in by_key:
            continue
        p, r = by_key[key], recs[key]
        cells = [_cell(f"{int(r['stations']):,}")]
        for n in layers:
            miss = (p.get("missing") or {}).get(n)
            partial = f"不含没有{labels.get(n, n)}数字的{'、'.join(miss)}" if miss else None
            why = why_missing(p, n) if not _finite(r.get(n)) else f"地区内没有{labels.get(n, n)}"
            cells += _share_cells(r, n, why, notes, p["name"], partial=partial)
        cells.append(_cell(f"{float(r['street_km']):,.1f}"))
        cells.append(_cell(pct(float(r["street_share"])) if _finite(r.get("street_share")) else DASH,
                           note="" if _finite(r.get("street_share")) else notes.mark("地区内没有道路", p["name"])))
        if asked:
            why = p.get("plan_note")
            if _finite(r.get("proposed")):
                cells.append(_cell(f"{int(r['proposed']):,}", note=notes.mark(why, p["name"]) if why else ""))
            else:
                cells.append(_cell(DASH, note=notes.mark(why or "没有做选址", p["name"])))
        table_rows.append({"name": p["name"], "key": key, "failed": False, "cells": cells, "file": p["file"],
                           "pdf": p.get("pdf_file")})

    done = regions[regions["region"].isin(list(by_key))] if len(regions) else regions
    tot = overview_figures(done, layers=layers) if len(done) else {}
    nothing = notes.mark("没有完成的地区", "合计") if not len(done) else ""
    tot_cells = [_cell(f"{int(tot['stations']):,}") if len(done) else _cell(DASH, note=nothing)]
    for n in layers:
        has = done[n].notna() if len(done) else pd.Series([], dtype=bool)
        if not len(done) or not has.any():
            m = notes.mark(f"没有一个地区有{labels.get(n, n)}数字", "合计")
            tot_cells += [_cell(DASH, note=m), _cell(DASH, note=m)]
            continue
        left_out = [by_key[k]["name"] for k in done.loc[~has, "region"]]
        part = [by_key[k]["name"] for k in done.loc[has, "region"] if (by_key[k].get("missing") or {}).get(n)]
        why_parts = []
        if left_out:
            why_parts.append(f"不含没有{labels.get(n, n)}数字的{'、'.join(left_out)}")
        if part:
            why_parts.append(f"{'、'.join(part)}只含有数字的街道")
        mark = notes.mark("；".join(why_parts), f"合计{labels.get(n, n)}") if why_parts else ""
        tot_cells.append(_cell(_people(tot[n])))
        share = tot.get(f"{n}_share")
        tot_cells.append(_cell(pct(share), note=mark) if _finite(share)
                         else _cell(DASH, note=notes.mark(f"各地区都没有{labels.get(n, n)}", "合计")))
    if len(done):
        tot_cells.append(_cell(f"{tot['street_km']:,.1f}"))
        tot_cells.append(_cell(pct(tot["street_share"]) if _finite(tot.get("street_share")) else DASH))
    else:
        tot_cells += [_cell(DASH, note=nothing), _cell(DASH, note=nothing)]
    if asked:
        tot_cells.append(_cell(f"{int(tot['proposed']):,}") if _finite(tot.get("proposed"))
                         else _cell(DASH, note=nothing))

    columns = ["地区", f"本地区{stations_zh}（个）"]
    for n in layers:
        unit = {"residents": "人", "restaurants": "个"}.get(n, "")
        columns += [f"{labels.get(n, n)}{f'（{unit}）' if unit else ''}", "覆盖率"]
    columns += ["道路（公里）", "覆盖率"] + (["建议新增（处）"] if asked else []) + ["报告"]

    # headline cards and the summary sentence, from the totals
    n_done, n_all = len(by_key), len(by_key) + len(res.failed)
    cards = [{"label": "完成的地区", "value": f"{n_done} / {n_all} 个", "missing": False,
              "detail": f"{len(res.failed)} 个未完成，见第三节"}] if res.failed else []
    if len(done):
        cards.append({"label": f"本地区{stations_zh}合计", "value": f"{int(tot['stations']):,} 个", "missing": False,
                      "detail": "每个站点只计入一个地区"})
    parts = []
    for n in layers:
        share = tot.get(f"{n}_share", np.nan)
        lab = labels.get(n, n)
        if _finite(share):
            unit = {"residents": "人", "restaurants": "个"}.get(n, "")
            cards.append({"label": lab, "value": pct(share), "missing": False,
                          "detail": f"{_people(tot[f'{n}_covered'])} / {_people(tot[n])} {unit}在{travel}内"})
            parts.append(f"{lab}的 {pct(share)}")
        else:
            cards.append({"label": lab, "value": DASH, "missing": True,
                          "detail": f"未计算：没有一个地区有{lab}数字" if len(done) else "未计算：没有完成的地区"})
    if _finite(tot.get("street_share")):
        cards.append({"label": "道路", "value": pct(tot["street_share"]), "missing": False,
                      "detail": f"{tot['street_covered_km']:,.1f} / {tot['street_km']:,.1f} 公里在{travel}内"})
    if asked and _finite(tot.get("proposed")) and tot["proposed"] > 0:
        after = [f"{labels.get(n, n)} {pct(tot[f'{n}_share_after'])}" for n in layers
                 if _finite(tot.get(f"{n}_share_after"))]
        cards.append({"label": f"各地区建议新增共 {int(tot['proposed'])} 处后", "wide": True, "missing": False,
                      "value": "、".join(after) or DASH, "detail": "按各地区报告中采用的选址"})
    summary = (f"{rws.name}已完成的 {n_done} 个地区合计：" + ("、".join(parts) if parts else "（没有人口和取餐点数字）")
               + f" 在{travel}内可到达{stations_zh}（{stations_zh}合计 {int(tot.get('stations', 0)):,} 个）"
               if n_done else f"{rws.name}：没有完成的地区")
    made = datetime.now(_tz())
    return {
        "title": f"{rws.name}{stations_zh}{travel}服务圈规划报告（各地区总览）", "publisher": rws.publisher,
        "heading": f"{rws.name}{stations_zh}{travel}服务圈规划报告", "subheading": "（各地区总览）",
        "made": f"{made:%Y年%m月%d日}".replace("年0", "年").replace("月0", "月"), "n_all": n_all,
        "summary": summary, "headline": cards, "columns": columns, "rows": table_rows, "total": tot_cells,
        "notes": notes.items(), "failed": [{"key": k, "name": rws.specs[rws.index_of(k)].name, "error": e}
                                           for k, e in res.failed.items()],
        "travel": travel, "stations_zh": stations_zh, "asked": asked, "buffer_km": f"{rws.buffer_m / 1000:g}",
        "pdf": any(r.get("pdf") for r in table_rows),
    }
