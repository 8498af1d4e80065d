"""The ``geomap`` command on a regions workspace (a province or the country, :mod:`geomap.regions`).

When the workspace found is a regions workspace, :func:`geomap.cli.main.main` hands the command here:
``info``, ``import`` (into the one registry), ``regions list|build``, ``coverage`` and ``gaps`` over all
regions on Dask (``--workers N`` for a local cluster, ``--scheduler tcp://…`` for an existing one,
``--region KEY`` for some), and ``serve`` (one service for all regions, ``--memory-mb``). Thin faces over
:mod:`geomap.regions.batch` and :mod:`geomap.regions.service`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geomap.cli._common import CliError, parse_when
from geomap.regions.workspace import RegionsWorkspace, is_regions_workspace, open_regions
from geomap.workspace import WorkspaceError, locate_workspace

__all__ = ["add_options", "regions_root", "run"]

COLUMNS_ZH = {"region": "地区代码", "region_name": "地区", "subdistrict": "街道", "stations": "本地区站点",
              "stations_routed": "可达站点（含邻区）", "street_km": "路网km",
              "street_covered_km": "覆盖路网km", "street_share": "路网覆盖率",
              "residents": "常住人口", "residents_covered": "覆盖人口", "residents_share": "人口覆盖率",
              "restaurants": "餐饮点", "restaurants_covered": "覆盖餐饮点", "restaurants_share": "餐饮覆盖率",
              "covered_area_km2": "覆盖面积km²"}


def regions_root(path: Path | None) -> Path | None:
    """The workspace folder when the workspace found (as every command finds it) lists regions, else None."""
    try:
        root = locate_workspace(path)
    except WorkspaceError:
        return None
    return root if is_regions_workspace(root) else None


def add_options(sub: Any) -> None:
    """Add the regions options to ``coverage``, ``gaps`` and ``serve``, and the ``regions`` command."""
    for name in ("coverage", "gaps", "report"):
        p = sub.choices[name]
        p.add_argument("--workers", type=int, default=None,
                       help="regions workspace: Dask worker processes of the local cluster (default: the cores; "
                       "0: one region after the other in this process)")
        p.add_argument("--scheduler", default=None, help="regions workspace: an existing Dask cluster's scheduler "
                       "address, e.g. tcp://10.0.0.5:8786 (instead of a local cluster)")
        p.add_argument("--region", action="append", default=None, help="regions workspace: only this region "
                       "(key; repeat for several)")
        p.add_argument("--no-cache", action="store_true", help="regions workspace: compute every region again")
    mp = sub.choices["map"]  # the national map's service circles: the batch's circles task
    mp.add_argument("--workers", type=int, default=None, help="regions workspace: Dask worker processes computing "
                    "the service circles (default: the cores; 0: in this process)")
    mp.add_argument("--scheduler", default=None, help="regions workspace: an existing Dask cluster's scheduler address")
    mp.add_argument("--no-cache", action="store_true", help="regions workspace: compute every region's circles again")
    sub.choices["report"].add_argument("--pdf", action="store_true", help="regions workspace: also print each "
                                       "region's report and the overview to PDF (headless Chromium)")
    sub.choices["serve"].add_argument("--memory-mb", type=float, default=4096.0,
                                      help="regions workspace: resident budget for regional graphs and labels "
                                      "(MB); the least used regions are unloaded beyond it")
    rg = sub.add_parser("regions", help="a regions workspace: list its regions, or build every region's networks")
    rg.add_argument("action", choices=["list", "build"])
    rg.add_argument("--modes", default="walk,ebike,drive,truck")
    rg.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: the cores)")
    rg.add_argument("--scheduler", default=None, help="an existing Dask cluster's scheduler address")
    rg.add_argument("--json", action="store_true")
    rg.set_defaults(func=None)


def run(args: argparse.Namespace, root: Path) -> int:
    """Run ``args.command`` on the regions workspace at ``root``."""
    rws = open_regions(root)
    commands = {"info": _info, "import": _import, "regions": _regions, "coverage": _coverage, "gaps": _gaps,
                "serve": _serve, "map": _map, "report": _report}
    if args.command not in commands:
        raise CliError(f"“{rws.name}”是多地区工作区：geomap {args.command} 请在单个地方的工作区里运行；"
                       f"这里可用：{', '.join(commands)}（见 docs/regions.md）")
    return commands[args.command](args, rws)


def _info(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    d = rws.describe()
    counts = rws.stations()["region"].value_counts().to_dict() if rws.registry_path.exists() else {}
    for n, r in enumerate(d["regions"]):
        r["stations"] = int(counts.get(n, 0))
    d["stations_outside"] = int(counts.get(-1, 0))
    if getattr(args, "json", False):
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    print(f"多地区工作区：{rws.name}（{rws.root}）  发布单位：{rws.publisher or '（未设置）'}")
    print(f"缓冲带：{rws.buffer_m / 1000:,.1f} 公里（{d['buffer_from']}）")
    for r in d["regions"]:
        print(f"  {r['key']:<16} {r['name']:<12} 站点 {r['stations']:,} 个")
    if d["stations_outside"]:
        print(f"  另有 {d['stations_outside']:,} 个站点不在任何地区的边界内")
    return 0


def _import(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    from geomap.stations.schema import StationImportError

    crs = args.crs or rws.settings.lists_crs
    if crs is None:
        raise CliError("多地区工作区导入名单需给出坐标系：--crs gcj02（或在 geomap.toml 设置 lists_crs）")
    try:
        _, report = rws.registry.import_file(args.file, crs=crs, update=args.update, kind=args.kind,
                                             skip_invalid=args.skip_invalid, profile=args.profile)
    except StationImportError as exc:
        print(exc.report.format(), file=sys.stderr)
        print(f"导入失败，站点库未改动：{exc}", file=sys.stderr)
        return 2
    counts = rws.stations()["region"].value_counts().to_dict()
    print(report.format())
    print(f"{rws.name}的站点库：新增 {report.added:,} 个、更新 {report.updated:,} 个、未变 {report.unchanged:,} 个；"
          + "、".join(f"{s.name} {counts.get(n, 0):,}" for n, s in enumerate(rws.specs))
          + (f"；不在任何地区 {counts.get(-1, 0):,}" if counts.get(-1) else ""))
    return 0


def _regions(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    if args.action == "list":
        return _info(args, rws)
    from geomap.regions.batch import run_batch

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    res = run_batch(rws, "build", params={"modes": modes}, workers=args.workers, scheduler=args.scheduler,
                    use_cache=False)
    print(res.regions.rename(columns=COLUMNS_ZH).to_string(index=False))
    return _failures(res)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    if not (0 < args.minutes <= 120):
        raise CliError("--minutes: give a value between 0 and 120, e.g. 15")
    for flag in ("study_area", "subdistricts", "population", "demand"):
        if getattr(args, flag, None):
            raise CliError(f"--{flag.replace('_', '-')}: 多地区工作区的这些文件写在 geomap.toml 的各 [[regions]] 里")
    when = parse_when(args.open_at)
    return {"minutes": args.minutes, "mode": args.mode, "kind": args.kind, "amenity": args.amenity,
            "open_at": when.isoformat() if when is not None else None}


def _failures(res: Any) -> int:
    for key, why in res.failed.items():
        print(f"地区 {key} 未完成：{why}", file=sys.stderr)
    if res.failed:
        print(f"{len(res.failed)} 个地区未完成，其余已完成并存入缓存；再运行一次只会计算未完成的地区", file=sys.stderr)
    return 1 if res.failed else 0


def _pct(v: Any) -> str:
    return "—" if v is None or not np.isfinite(float(v)) else f"{100 * float(v):.1f}%"


def _coverage(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    from geomap.regions.batch import run_batch

    params = _params(args)
    res = run_batch(rws, "coverage", params=_task_params(params), keys=args.region, workers=args.workers,
                    scheduler=args.scheduler, use_cache=not args.no_cache)
    if args.json:
        print(json.dumps({"workspace": rws.name, "regions": json.loads(res.regions.to_json(orient="records")),
                          "subdistricts": json.loads(res.subdistricts.to_json(orient="records", force_ascii=False)),
                          "failed": res.failed, "cached": res.cached, "computed": res.computed},
                         ensure_ascii=False, indent=1))
    elif len(res.regions):
        show = res.regions.copy()
        for c in show.columns:
            if c.endswith("_share"):
                show[c] = [_pct(v) for v in show[c]]
        cols = [c for c in COLUMNS_ZH if c in show.columns and c not in ("region", "street_covered_km")]
        with pd.option_context("display.width", 200, "display.max_columns", 40, "display.float_format",
                               "{:,.1f}".format):
            print(show[cols].rename(columns=COLUMNS_ZH).to_string(index=False, na_rep="—"))
        print(f"{rws.name}：{len(res.regions)} 个地区，{args.minutes:g} 分钟服务圈；本次计算 {len(res.computed)} 个，"
              f"读缓存 {len(res.cached)} 个")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res.regions.rename(columns=COLUMNS_ZH).to_csv(out / "regions.csv", index=False, encoding="utf-8-sig")
        res.subdistricts.rename(columns=COLUMNS_ZH).to_csv(out / "subdistricts.csv", index=False, encoding="utf-8-sig")
        print(f"已写入 {out}/regions.csv、subdistricts.csv", file=sys.stderr)
    return _failures(res)


def _task_params(params: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    out = dict(params)
    if out.get("open_at"):
        out["open_at"] = datetime.fromisoformat(out["open_at"])
    return out


def _gaps(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    from geomap.regions.batch import run_batch

    params = {**_task_params(_params(args)), "resolution": args.resolution}
    res = run_batch(rws, "gaps", params=params, keys=args.region, workers=args.workers, scheduler=args.scheduler,
                    use_cache=not args.no_cache)
    cells = res.cells
    if len(cells):
        for key, part in cells.groupby("region", sort=False):
            unc = int((~part["covered"].astype(bool)).sum())
            print(f"{part['region_name'].iloc[0]}（{key}）：H3 网格 {len(part):,} 个，"
                  f"{args.minutes:g} 分钟内未覆盖 {unc:,} 个")
    if args.out:
        Path(args.out).write_text(cells.to_json(na="null", drop_id=True, ensure_ascii=False), encoding="utf-8")
        print(f"已写入 {args.out}（WGS84 GeoJSON）", file=sys.stderr)
    return _failures(res)


def _report(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    """``geomap report`` on a regions workspace: each region's planner report and the overview ``index.html``
    in the folder ``--out``, one task per region on Dask (:func:`geomap.regions.report.run_reports`)."""
    from geomap.publish.report import ReportError
    from geomap.regions.report import run_reports

    out = Path(args.out)
    if out.suffix.lower() in (".pdf", ".html", ".htm"):
        raise CliError(f"多地区的报告写进一个文件夹（每个地区一份，另有总览 index.html）：--out 报告/"
                       f"（不是“{out.name}”）；要 PDF 请加 --pdf")
    if out.exists() and not out.is_dir():
        raise CliError(f"--out：{out} 已是一个文件，请给一个文件夹")
    if args.add < 0:
        raise CliError("--add：新增站点数不能是负数（0 表示不做选址）")
    if args.pickup_weight is not None and not args.pickup_weight >= 0:
        raise CliError("--pickup-weight：每个取餐点折合多少名常住人口（不小于 0），例如 500")
    if args.candidates_file is not None:
        raise CliError("--candidates-file：多地区的报告暂不支持候选地点文件；请用 --candidates osm,h3，"
                       "或在单个地区的工作区里运行")
    sources = [s.strip() for s in args.candidates.split(",") if s.strip()]
    bad = set(sources) - {"osm", "h3"}
    if bad or (args.add and not sources):
        raise CliError(f"--candidates：未知的候选来源 {'、'.join(sorted(bad)) or '（空）'}；可写 osm、h3")
    params = _task_params(_params(args))
    try:
        rr = run_reports(rws, out, keys=args.region, workers=args.workers, scheduler=args.scheduler,
                         use_cache=not args.no_cache, pdf=args.pdf, add=args.add, solver=args.solver,
                         candidate_sources=sources, any_host=args.any_host, pickup_weight=args.pickup_weight,
                         top_gaps=args.top, **params)
    except ReportError as exc:  # the overview's PDF: no Chromium
        raise CliError(str(exc)) from None
    res = rr.batch
    after = {f"{k}_after": f"新增后{v}" for k, v in COLUMNS_ZH.items() if k.endswith(("_covered", "_share"))
             or k == "street_covered_km"}
    table = res.regions.drop(columns=["file"], errors="ignore").rename(columns={**COLUMNS_ZH, **after,
                                                                                "proposed": "建议新增站点"})
    table.to_csv(rr.out / "regions.csv", index=False, encoding="utf-8-sig")
    res.subdistricts.rename(columns=COLUMNS_ZH).to_csv(rr.out / "subdistricts.csv", index=False, encoding="utf-8-sig")
    for r in res.regions.itertuples():
        proposed = getattr(r, "proposed", None)
        extra = f"，建议新增 {int(proposed)} 处" if proposed is not None and np.isfinite(proposed) else ""
        print(f"{r.region_name}（{r.region}）：{r.file}，人口覆盖 {_pct(getattr(r, 'residents_share', None))}，"
              f"餐饮覆盖 {_pct(getattr(r, 'restaurants_share', None))}，道路覆盖 {_pct(r.street_share)}{extra}")
    print(f"已写入 {rr.out}：总览 {rr.overview.name}" + (f"（及 {rr.overview_pdf.name}）" if rr.overview_pdf else "")
          + f"，{len(res.regions)} 个地区的报告，regions.csv、subdistricts.csv；本次计算 {len(res.computed)} 个，"
          f"读缓存 {len(res.cached)} 个", file=sys.stderr)
    return _failures(res)


def _map(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    """``geomap map`` on a regions workspace: every station of every region on one page (online tiles: there
    is no one extract to draw the streets from), with a gap grid of ``geomap gaps --out`` when given, and the
    service circles of every region (``--layers …,circles``: the batch's ``circles`` task, merged)."""
    from geomap.cli.main import _minutes_list
    from geomap.publish.maps import write_map

    tiles = args.tiles or rws.settings.map_tiles
    if tiles == "none":
        raise CliError("多地区的地图没有统一的离线街道底图：请加 --tiles amap（或 osm / tianditu）")
    layers = args.layers or ("stations,gaps" if args.gaps else "stations")
    if args.gaps and not Path(args.gaps).exists():
        raise CliError(f"找不到空白网格文件：{args.gaps}")
    if args.sites:
        raise CliError("多地区的地图暂不画拟建站点（--sites）：请在单个地方的工作区里运行 geomap map --sites")
    bands, res = None, None
    mode = args.mode or rws.settings.default_mode
    if "circles" in [x.strip().lower() for x in layers.split(",")]:
        from geomap.regions.batch import run_batch
        from geomap.regions.circles import circle_params

        res = run_batch(rws, "circles", params=circle_params(rws, minutes=_minutes_list(args.minutes), mode=mode),
                        workers=args.workers, scheduler=args.scheduler, use_cache=not args.no_cache)
        bands = res.cells
    s = write_map(args.out, rws.registry, tiles=tiles, layers=layers, gaps=args.gaps, title=args.title,
                  place=rws.name, publisher=rws.publisher, mode=mode, bands=bands)
    print(f"已写入{rws.name}服务地图 {s.path}：{s.stations:,} 个站点（{len(rws.specs)} 个地区），图层 "
          f"{', '.join(s.layers)}，底图 {s.tiles}（{s.coord_system}），{s.size_bytes / 1e6:.2f} MB")
    if res is not None:
        print(f"服务圈：{len(res.regions)} 个地区（本次计算 {len(res.computed)} 个，读缓存 {len(res.cached)} 个）",
              file=sys.stderr)
        return _failures(res)
    return 0


def _serve(args: argparse.Namespace, rws: RegionsWorkspace) -> int:
    from geomap.regions.service import serve_regions

    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: use 1–65535")
    if args.workers != 1:
        raise CliError("多地区服务只用一个进程（--workers 1）：各地区的路网按需载入、按内存预算卸载")
    serve_regions(rws, host=args.host, port=args.port, memory_mb=args.memory_mb, access_log=not args.no_access_log)
    return 0
