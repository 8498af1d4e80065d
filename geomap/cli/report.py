"""``geomap report``: the planner's report as PDF or HTML (a thin face over
:func:`geomap.publish.report.workspace_report`). Registered by :func:`add_parsers` from :mod:`geomap.cli.main`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from geomap.cli._common import CliError
from geomap.cli.plan import common_options, filters, study_for
from geomap.workspace import Workspace


def cmd_report(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.publish.report import ReportError, workspace_report

    out = Path(args.out)
    if getattr(args, "pdf", False):
        raise CliError("--pdf 只用于多地区工作区；单个地方的报告用 --out 报告.pdf 写成 PDF")
    if out.suffix.lower() not in (".pdf", ".html", ".htm"):
        raise CliError(f"--out：报告写成 .pdf 或 .html 文件，例如 --out 报告.pdf（不是“{out.name}”）")
    if args.add < 0:
        raise CliError("--add：新增站点数不能是负数（0 表示不做选址）")
    if args.pickup_weight is not None and not args.pickup_weight >= 0:
        raise CliError("--pickup-weight：每个取餐点折合多少名常住人口（不小于 0），例如 500")
    sources = tuple(s.strip() for s in args.candidates.split(",") if s.strip())
    bad = set(sources) - {"osm", "h3"}
    if bad:
        raise CliError(f"--candidates：未知的候选来源 {'、'.join(sorted(bad))}；可写 osm、h3")
    study = study_for(args, ws)
    candidates = None
    if args.candidates_file is not None:
        candidates = study.candidates(sources=sources, path=args.candidates_file, crs=args.candidates_crs,
                                      kind=args.kind, any_host=args.any_host)
    rep = workspace_report(ws, study=study, add=args.add, solver=args.solver, candidates=candidates,
                           candidate_sources=sources, any_host=args.any_host, pickup_weight=args.pickup_weight,
                           top_gaps=args.top, **filters(args))
    try:
        rep.write(out)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    print(rep.before.summary())
    if rep.plan is not None and len(rep.plan.table):
        print(f"建议新增 {len(rep.plan.table)} 处（{rep.plan.label}）：" + "；".join(
            f"{r.rank}. {r.name}" for r in rep.plan.table.itertuples()))
    print(f"已写入报告 {out}", file=sys.stderr)
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``report`` on the ``geomap`` sub-command parser."""
    rp = sub.add_parser("report", help="the planner's report (PDF or HTML, in Chinese): coverage, gaps, proposals")
    common_options(rp)
    rp.add_argument("--out", required=True, help="report file: .pdf (printed by headless Chromium) or .html")
    rp.add_argument("--add", type=int, default=3, help="new sites to propose (default 3; 0: no proposals)")
    rp.add_argument("--solver", choices=["greedy", "exact", "both"], default="both",
                    help="greedy: one site at a time; exact: the best set; both (default): both, compared")
    rp.add_argument("--candidates", default="osm,h3", help="candidate sources: osm, h3 (comma list)")
    rp.add_argument("--candidates-file", type=Path, default=None, help="user file of candidate sites")
    rp.add_argument("--candidates-crs", default="wgs84", help="its coordinate system")
    rp.add_argument("--any-host", action="store_true", help="propose any host place whatever the station kind")
    rp.add_argument("--pickup-weight", type=float, default=None,
                    help="residents one pickup point counts as (default: settings.pickup_weight, 500)")
    rp.add_argument("--top", type=int, default=10, help="how many gaps to list (default 10)")
    rp.set_defaults(func=cmd_report)
