"""The planner commands of ``geomap``: ``coverage``, ``gaps`` and ``plan`` (thin faces over
:class:`geomap.planning.study.Study`). Registered by :func:`add_parsers` from :mod:`geomap.cli.main`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from geomap.cli._common import CliError, parse_when
from geomap.network.graph import MODES
from geomap.workspace import Workspace

COLUMNS_ZH = {
    "subdistrict": "街道", "street_km": "路网km", "street_share": "路网覆盖率", "residents": "常住人口",
    "residents_covered": "覆盖人口", "residents_share": "人口覆盖率", "restaurants": "餐饮点",
    "restaurants_covered": "覆盖餐饮点", "restaurants_share": "餐饮覆盖率", "covered_area_km2": "覆盖面积km²",
}


def _study(args: argparse.Namespace, ws: Workspace) -> Any:
    """The workspace's study; the command's --population / --subdistricts / --study-area / --demand replace the
    workspace's own (a path given but missing is an error naming it)."""
    overrides: dict[str, Any] = {}
    if args.demand:
        overrides["demand_files"] = [*[d.model_dump() for d in ws.settings.demand],
                                     *({"path": path, "crs": args.demand_crs, "weight_column": args.weight_column}
                                       for path in args.demand)]
    for flag, key, crs_key in (("population", "population", None), ("subdistricts", "subdistricts", "subdistricts_crs"),
                               ("study_area", "study_area", "study_area_crs")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
            if crs_key is not None:
                overrides[crs_key] = getattr(args, crs_key)
    return ws.study(**overrides)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    if not (0 < args.minutes <= 120):
        raise CliError("--minutes: give a value between 0 and 120, e.g. 15")
    return {"minutes": args.minutes, "mode": args.mode, "kind": args.kind, "amenity": args.amenity,
            "open_at": parse_when(args.open_at)}


def _print_table(df: Any) -> None:
    import pandas as pd

    show = df.copy()
    for c in show.columns:
        if c.endswith("_share"):
            show[c] = [("—" if not np.isfinite(v) else f"{100 * v:.1f}%") for v in show[c]]
    show = show[[c for c in COLUMNS_ZH if c in show.columns] + [c for c in show.columns if c not in COLUMNS_ZH
                                                                and not c.endswith("_covered_km")]]
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.float_format", "{:,.1f}".format):
        print(show.rename(columns=COLUMNS_ZH).to_string(index=False))


def cmd_coverage(args: argparse.Namespace, ws: Workspace) -> int:
    reg = ws.registry
    study = _study(args, ws)
    res = study.coverage(reg.index, **_filters(args))
    if args.json:
        print(json.dumps({"place": ws.name, "publisher": ws.publisher, "summary_zh": res.summary(),
                          "summary_en": res.summary(lang="en"), "absent": res.absent,
                          "minutes": res.minutes, "mode": res.mode, "n_stations": res.n_stations,
                          "table": json.loads(res.table.to_json(orient="records", force_ascii=False)),
                          "notes": study.notes + res.notes}, ensure_ascii=False, indent=1))
    else:
        _print_table(res.table)
        print(res.summary())
        for note in study.notes + res.notes:
            print(f"  注：{note}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res.table.to_csv(out / "coverage.csv", index=False, encoding="utf-8-sig")
        for name, fc in res.layers_geojson().items():
            (out / f"{name}.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
        (out / "summary.txt").write_text(res.summary() + "\n" + res.summary(lang="en") + "\n", encoding="utf-8")
        print(f"已写入 {out}/coverage.csv 及 GeoJSON 图层（WGS84）", file=sys.stderr)
    return 0


def cmd_gaps(args: argparse.Namespace, ws: Workspace) -> int:
    reg = ws.registry
    study = _study(args, ws)
    grid = study.gaps(reg.index, resolution=args.resolution, **_filters(args))
    unc = grid[~grid["covered"]].sort_values("gap_rank", na_position="last")
    print(f"H3 网格 {len(grid)} 个（分辨率 {args.resolution or 'default'}），{args.minutes:g} 分钟内未覆盖 "
          f"{len(unc)} 个；需求最多的未覆盖网格：")
    cols = ["gap_rank", "h3", "subdistrict", "travel_min", *[lay.name for lay in study.demand], "demand"]
    with __import__("pandas").option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
        print(unc[cols].head(args.top).to_string(index=False))
    if args.out:
        Path(args.out).write_text(grid.to_json(na="null", drop_id=True, ensure_ascii=False), encoding="utf-8")
        print(f"已写入 {args.out}（WGS84 GeoJSON）", file=sys.stderr)
    return 0


def cmd_plan(args: argparse.Namespace, ws: Workspace) -> int:
    reg = ws.registry
    if args.add < 1:
        raise CliError("--add: give the number of new sites, at least 1")
    study = _study(args, ws)
    flt = _filters(args)
    result = study.coverage(reg.index, with_area=False, **flt)
    sources = tuple(s.strip() for s in args.candidates.split(",") if s.strip()) if args.candidates else ()
    bad = set(sources) - {"osm", "h3"}
    if bad:
        raise CliError(f"--candidates: unknown source(s) {', '.join(sorted(bad))}; use osm, h3 (or --candidates-file)")
    cands = study.candidates(sources=sources, path=args.candidates_file, crs=args.candidates_crs)
    print(result.summary())
    solvers = ["greedy", "exact"] if args.solver == "both" else [args.solver]
    plans = []
    for solver in solvers:
        plan = study.plan(reg.index, p=args.add, candidates=cands, solver=solver, result=result)
        plans.append(plan)
        print(f"\n{'贪心算法' if solver == 'greedy' else '精确解（整数规划 CBC）'}：新增 {args.add} 个站点，目标值 "
              f"{plan.objective:.4f}")
        cols = ["rank", "name", "source", "subdistrict", "serves"]
        for lay in result.demand.values():
            cols += [f"{lay.name}_new", f"{lay.name}_share_after"]
        with __import__("pandas").option_context("display.width", 250, "display.max_columns", 30,
                                                 "display.float_format", "{:,.3f}".format):
            print(plan.table[cols].to_string(index=False))
        for note in plan.notes:
            print(f"  注：{note}", file=sys.stderr)
    if len(plans) == 2 and plans[1].objective > 0:
        print(f"\n贪心 / 精确 = {plans[0].objective / plans[1].objective:.4f}（理论下限 1 − 1/e ≈ 0.632）")
    if args.out:
        fc = plans[-1].to_geojson()
        Path(args.out).write_text(json.dumps(fc, ensure_ascii=False, default=str), encoding="utf-8")
        print(f"已写入 {args.out}（WGS84 GeoJSON，{plans[-1].solver}）", file=sys.stderr)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=float, default=15.0, help="service-circle size in minutes (default 15)")
    p.add_argument("--mode", choices=MODES, default=None, help="travel mode (default: settings.default_mode)")
    p.add_argument("--kind", default=None, help="only stations of this kind (key or Chinese, comma list)")
    p.add_argument("--amenity", default=None, help="only stations with all these amenities (comma list)")
    p.add_argument("--open-at", default=None, help="only stations open then: 'now' or '2026-11-23 12:30'")
    p.add_argument("--study-area", type=Path, default=None,
                   help="boundary file of the study area (default: the workspace's study_area_path)")
    p.add_argument("--study-area-crs", default="wgs84", help="its coordinate system: wgs84, gcj02, bd09")
    p.add_argument("--subdistricts", type=Path, default=None,
                   help="街道 boundary file, name column (default: the workspace's subdistricts_path)")
    p.add_argument("--subdistricts-crs", default="wgs84", help="its coordinate system")
    p.add_argument("--population", type=Path, default=None,
                   help="census CSV: subdistrict_name, population… (default: the workspace's population_path)")
    p.add_argument("--demand", action="append", type=Path, help="extra demand points file (CSV/GeoJSON)")
    p.add_argument("--demand-crs", default="wgs84", help="coordinate system of --demand files")
    p.add_argument("--weight-column", default=None, help="weight column of --demand files (e.g. orders)")


def add_parsers(sub: Any) -> None:
    """Register ``coverage``, ``gaps`` and ``plan`` on the ``geomap`` sub-command parser."""
    cov = sub.add_parser("coverage", help="15-minute coverage by 街道: residents, restaurants, streets, area")
    _common(cov)
    cov.add_argument("--out", type=Path, default=None, help="folder for coverage.csv and GeoJSON layers")
    cov.add_argument("--json", action="store_true", help="print JSON")
    cov.set_defaults(func=cmd_coverage)

    gaps = sub.add_parser("gaps", help="H3 gap grid: travel minutes and uncovered demand per cell")
    _common(gaps)
    gaps.add_argument("--resolution", type=int, default=None, help="H3 resolution (default settings, 9)")
    gaps.add_argument("--top", type=int, default=10, help="how many uncovered cells to print")
    gaps.add_argument("--out", type=Path, default=None, help="GeoJSON file of the grid (WGS84)")
    gaps.set_defaults(func=cmd_gaps)

    plan = sub.add_parser("plan", help="propose new station sites that cover the most uncovered demand")
    _common(plan)
    plan.add_argument("--add", type=int, required=True, help="number of new sites")
    plan.add_argument("--candidates", default="osm,h3", help="candidate sources: osm, h3 (comma list)")
    plan.add_argument("--candidates-file", type=Path, default=None, help="user file of candidate sites")
    plan.add_argument("--candidates-crs", default="wgs84", help="its coordinate system")
    plan.add_argument("--solver", choices=["greedy", "exact", "both"], default="greedy")
    plan.add_argument("--out", type=Path, default=None, help="GeoJSON of the proposed sites (WGS84)")
    plan.set_defaults(func=cmd_plan)
