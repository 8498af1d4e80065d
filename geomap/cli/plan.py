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


def study_for(args: argparse.Namespace, ws: Workspace) -> Any:
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


def filters(args: argparse.Namespace) -> dict[str, Any]:
    """The station filters, minutes and mode of a planner command."""
    if not (0 < args.minutes <= 120):
        raise CliError("--minutes：服务圈分钟数应在 0 到 120 之间，例如 15")
    return {"minutes": args.minutes, "mode": args.mode, "kind": args.kind, "amenity": args.amenity,
            "open_at": parse_when(args.open_at)}


def _pickup_weight(args: argparse.Namespace) -> float | None:
    w = getattr(args, "pickup_weight", None)
    if w is not None and not (w >= 0):
        raise CliError("--pickup-weight：每个取餐点折合多少名常住人口（不小于 0），例如 500")
    return w


def print_table(df: Any) -> None:
    """A table for people (Chinese headers, rounded values) on standard output."""
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 40):
        print(df.to_string(index=False))


def cmd_coverage(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.planning.tables import coverage_table_zh  # the planning library: loaded by its commands only

    reg = ws.registry
    study = study_for(args, ws)
    res = study.coverage(reg.index, **filters(args))
    people = coverage_table_zh(res)
    if args.json:
        print(json.dumps({"place": ws.name, "publisher": ws.publisher, "summary_zh": res.summary(),
                          "summary_en": res.summary(lang="en"), "absent": res.absent,
                          "missing": {k: res.missing(k) for k in res.demand},
                          "minutes": res.minutes, "mode": res.mode, "n_stations": res.n_stations,
                          "table": json.loads(res.table.to_json(orient="records", force_ascii=False)),
                          "notes": study.notes + res.notes}, ensure_ascii=False, indent=1))
    else:
        print_table(people)
        print(res.summary())
        for note in study.notes + res.notes:
            print(f"  注：{note}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        people.to_csv(out / "coverage.csv", index=False, encoding="utf-8-sig")
        res.table.to_csv(out / "coverage_data.csv", index=False, encoding="utf-8-sig")
        for name, fc in res.layers_geojson().items():
            (out / f"{name}.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
        (out / "summary.txt").write_text(res.summary() + "\n" + "".join(f"注：{n}\n" for n in study.notes + res.notes),
                                         encoding="utf-8")
        print(f"已写入 {out}/coverage.csv（中文表头、取整，给人看）、coverage_data.csv（精确值，给程序用）"
              "及 GeoJSON 图层（WGS84）", file=sys.stderr)
    return 0


def cmd_gaps(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.planning.coverage import mode_label
    from geomap.planning.tables import gaps_table_zh

    reg = ws.registry
    study = study_for(args, ws)
    flt = filters(args)
    result = study.coverage(reg.index, with_area=False, **flt)
    weights = study.weights(pickup_weight=_pickup_weight(args))
    grid = study.gaps(reg.index, resolution=args.resolution, result=result, weights=weights, **flt)
    unc = grid[grid["gap_rank"].notna()].sort_values("gap_rank").head(args.top)
    namer = study.namer()
    places = (namer.describe(np.array([g.centroid.x for g in unc.geometry]),
                             np.array([g.centroid.y for g in unc.geometry])) if namer is not None and len(unc)
              else None)
    n_unc = int((~grid["covered"]).sum())
    print(f"{len(grid)} 个六边形网格（每格约 {_cell_km2(grid):.2f} 平方公里）中，{n_unc} 个的中心在"
          f"{mode_label(result.mode)}{result.minutes:g}分钟内到不了{result.stations_zh}。")
    if not len(unc):
        print("没有需要补的缺口：所有到不了的网格里都没有需求（居民或取餐点）。")
    else:
        print(f"需求最多的 {len(unc)} 个缺口（{weights.explain({k: v.label_zh for k, v in result.demand.items()})}）：")
        print_table(gaps_table_zh(grid, result, top=args.top, places=places))
    if args.out:
        Path(args.out).write_text(grid.to_json(na="null", drop_id=True, ensure_ascii=False), encoding="utf-8")
        print(f"已写入 {args.out}（WGS84 GeoJSON，精确值）", file=sys.stderr)
    return 0


def _cell_km2(grid: Any) -> float:
    import h3

    return float(np.mean([h3.cell_area(c, unit="km^2") for c in grid["h3"].head(20)])) if len(grid) else 0.0


def plan_outputs(out: Path, solvers: list[str]) -> dict[str, Path]:
    """Where ``--out`` puts each solver's answer: the path itself for one solver; ``<stem>_greedy`` and
    ``<stem>_exact`` beside it when both run."""
    if len(solvers) == 1:
        return {solvers[0]: out}
    return {s: out.with_name(f"{out.stem}_{s}{out.suffix or '.geojson'}") for s in solvers}


def cmd_plan(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.planning.siting import compare_plans, host_places, solver_label
    from geomap.planning.tables import describe_new, plan_table_zh

    reg = ws.registry
    if args.add < 1:
        raise CliError("--add：新增站点数至少为 1")
    study = study_for(args, ws)
    flt = filters(args)
    result = study.coverage(reg.index, with_area=False, **flt)
    sources = tuple(s.strip() for s in args.candidates.split(",") if s.strip()) if args.candidates else ()
    bad = set(sources) - {"osm", "h3"}
    if bad:
        raise CliError(f"--candidates：未知的候选来源 {'、'.join(sorted(bad))}；可写 osm、h3（或用 --candidates-file）")
    if not sources and args.candidates_file is None:
        raise CliError("没有候选地点来源：--candidates 写 osm、h3，或用 --candidates-file 给出候选点文件")
    cands = study.candidates(sources=sources, path=args.candidates_file, crs=args.candidates_crs, kind=args.kind,
                             any_host=args.any_host)
    if not len(cands):
        hosts = "、".join(host_places(args.kind, any_host=args.any_host).values())
        raise CliError(f"没有候选地点：研究范围内没有适合设站的场所（{hosts}）。可用 --candidates osm,h3 加入网格中心，"
                       "用 --any-host 允许任何承载场所，或用 --candidates-file 给出候选点文件")
    weights = study.weights(pickup_weight=_pickup_weight(args))
    labels = {k: v.label_zh for k, v in result.demand.items()}
    print(result.summary())
    print(f"选址目标：新增覆盖的需求最多。{weights.explain(labels)}。候选地点 {len(cands):,} 个。")
    solvers = ["greedy", "exact"] if args.solver == "both" else [args.solver]
    plans: dict[str, Any] = {}
    for solver in solvers:
        try:
            plan = study.plan(reg.index, p=args.add, candidates=cands, solver=solver, result=result, weights=weights)
        except ValueError as exc:
            if len(solvers) == 1:
                raise CliError(str(exc)) from None
            print(f"\n【{solver_label(solver)}】未计算：{exc}", file=sys.stderr)
            continue
        plans[solver] = plan
        if not len(plan.table):
            print(f"\n【{plan.label}】没有提出新站点：{plan.notes[-1]}")
            continue
        print(f"\n【{plan.label}】新增 {len(plan.table)} 个站点，新增覆盖{describe_new(plan, result)}：")
        print_table(plan_table_zh(plan, result))
        for note in plan.notes:
            print(f"  注：{note}", file=sys.stderr)
    if len(plans) == 2:
        print("\n两种算法比较：" + compare_plans(plans["greedy"], plans["exact"]))
    if args.out:
        for solver, path in plan_outputs(Path(args.out), list(plans)).items():
            plan = plans[solver]
            path.write_text(json.dumps(plan.to_geojson(), ensure_ascii=False, default=str), encoding="utf-8")
            plan_table_zh(plan, result).to_csv(path.with_suffix(".csv"), index=False, encoding="utf-8-sig")
            print(f"已写入 {path}（WGS84 GeoJSON，{plan.label}）和 {path.with_suffix('.csv').name}（中文表格）",
                  file=sys.stderr)
    return 0


def common_options(p: argparse.ArgumentParser) -> None:
    """The options every planner command takes: minutes, mode, station filters and study inputs."""
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
    common_options(cov)
    cov.add_argument("--out", type=Path, default=None, help="folder for coverage.csv and GeoJSON layers")
    cov.add_argument("--json", action="store_true", help="print JSON")
    cov.set_defaults(func=cmd_coverage)

    gaps = sub.add_parser("gaps", help="H3 gap grid: travel minutes and uncovered demand per cell")
    common_options(gaps)
    gaps.add_argument("--resolution", type=int, default=None, help="H3 resolution (default settings, 9)")
    gaps.add_argument("--top", type=int, default=10, help="how many uncovered cells to print")
    gaps.add_argument("--pickup-weight", type=float, default=None,
                      help="residents one pickup point counts as in the ranking (default: settings.pickup_weight, 500)")
    gaps.add_argument("--out", type=Path, default=None, help="GeoJSON file of the grid (WGS84)")
    gaps.set_defaults(func=cmd_gaps)

    plan = sub.add_parser("plan", help="propose new station sites that cover the most uncovered demand")
    common_options(plan)
    plan.add_argument("--add", type=int, required=True, help="number of new sites")
    plan.add_argument("--candidates", default="osm,h3", help="candidate sources: osm, h3 (comma list)")
    plan.add_argument("--candidates-file", type=Path, default=None, help="user file of candidate sites")
    plan.add_argument("--candidates-crs", default="wgs84", help="its coordinate system")
    plan.add_argument("--any-host", action="store_true",
                      help="propose any host place for any kind (default: only places that fit the kind, e.g. no "
                           "canteen in a bank; see vocab/host_places.toml)")
    plan.add_argument("--pickup-weight", type=float, default=None,
                      help="residents one pickup point counts as (default: settings.pickup_weight, 500)")
    plan.add_argument("--solver", choices=["greedy", "exact", "both"], default="greedy",
                      help="greedy: pick one site at a time (any size); exact: the best set (integer programme); "
                           "both: run both, keep and compare their answers")
    plan.add_argument("--out", type=Path, default=None,
                      help="GeoJSON of the proposed sites (WGS84) and a Chinese CSV beside it; with --solver both "
                           "<stem>_greedy and <stem>_exact")
    plan.set_defaults(func=cmd_plan)
