"""The registry's history on the command line: ``geomap history`` (the change sets, newest first) and
``geomap undo CHANGESET`` (put back the stations as they were before it). Thin faces over
:meth:`Registry.history <geomap.stations.registry.Registry.history>` and
:meth:`~geomap.stations.registry.Registry.undo`; registered by :func:`add_parsers` from :mod:`geomap.cli.main`.
The command line records its writes as made by the operating system's user."""

from __future__ import annotations

import argparse
import json
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from geomap.cli._common import CliError
from geomap.settings import get_settings
from geomap.stations.registry import ChangeSet, StationChange, UndoRefusedError, UnknownChangeSetError
from geomap.workspace import Workspace

ACTION_ZH = {"import": "导入", "create": "新增", "update": "修改", "delete": "删除", "undo": "撤销"}
CLI_SOURCE = "cli"


def _width(text: str) -> int:
    """Columns the text takes in a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _local_time(iso: str) -> str:
    """A change set's UTC time as local wall-clock time (settings.timezone, Asia/Shanghai)."""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return when.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M:%S")


def _action(cs: ChangeSet) -> str:
    label = ACTION_ZH.get(cs.action, cs.action)
    if cs.undoes is not None:
        label += f" #{cs.undoes}"
    if cs.undone_by is not None:
        label += f"（已被 #{cs.undone_by} 撤销）"
    return label


def cmd_history(args: argparse.Namespace, ws: Workspace) -> int:
    """`geomap history`: the registry's change sets, newest first."""
    if args.limit < 1:
        raise CliError("--limit 至少为 1")
    sets = ws.registry.history(limit=args.limit)
    if args.json:
        print(json.dumps([cs.to_dict() for cs in sets], ensure_ascii=False, indent=2))
        return 0
    if not sets:
        print(f"{ws.name}的站点库还没有变更记录（{ws.registry.path}）")
        return 0
    head = ["编号", "时间", "操作人", "操作", "来源", "新增", "修改", "删除", "摘要"]
    rows = [[f"#{cs.id}", _local_time(cs.time), cs.who, _action(cs), cs.source or "", str(cs.added),
             str(cs.changed), str(cs.deleted), cs.summary] for cs in sets]
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        print("  ".join(_pad(cell, w) for cell, w in zip(r, widths, strict=False)) + "  " + r[-1])
    print(f"{ws.name}：最近 {len(sets)} 条变更（时间为 {get_settings().timezone}）；"
          "撤销一条：geomap undo 编号")
    return 0


def _restored_line(change: StationChange) -> str:
    """One station of an undo, in words: what the undo did to it."""
    name = f"{change.station_id}（{change.name}）" if change.name else change.station_id
    if change.kind == "added":
        return f"  恢复 {name}：重新加入已删除的站点"
    if change.kind == "deleted":
        return f"  移除 {name}：该站点是被撤销的变更新增的"
    return f"  还原 {name}：{'、'.join(change.fields)}"


def cmd_undo(args: argparse.Namespace, ws: Workspace) -> int:
    """`geomap undo CHANGESET [--force]`: put the stations back as they were before that change set."""
    reg = ws.registry
    try:
        target = reg.changeset(args.changeset)
        done = reg.undo(args.changeset, source=CLI_SOURCE, force=args.force)
    except UnknownChangeSetError as exc:
        raise CliError(f"{exc}（用 geomap history 查看变更编号）") from None
    except UndoRefusedError as exc:
        hint = "" if exc.undone_by is not None else "。确认要强制撤销，请加 --force"
        raise CliError(f"{exc}{hint}") from None
    changes = reg.changes(done.id)
    if args.json:
        out: dict[str, Any] = {"undone": target.id, "changeset": done.to_dict(),
                               "changes": [c.to_dict() for c in changes], "stations": len(reg)}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"已撤销变更 #{target.id}（{target.summary}），本次撤销记为变更 #{done.id}：")
    for change in changes:
        print(_restored_line(change))
    if not changes:
        print("  站点已是该变更之前的样子，没有需要恢复的内容")
    print(f"{ws.name}的站点库现有 {len(reg)} 个站点（{reg.path}）")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``history`` and ``undo`` on the ``geomap`` sub-command parser."""
    hi = sub.add_parser("history", help="the registry's change sets (imports, edits, undos), newest first")
    hi.add_argument("--limit", type=int, default=20, help="how many change sets to show (default 20)")
    hi.add_argument("--json", action="store_true")
    hi.set_defaults(func=cmd_history)

    un = sub.add_parser("undo", help="undo a change set: its stations get back their rows from before it")
    un.add_argument("changeset", type=int, help="change set number (see `geomap history`)")
    un.add_argument("--force", action="store_true",
                    help="undo even when later change sets touched the same stations (their changes are lost)")
    un.add_argument("--json", action="store_true")
    un.set_defaults(func=cmd_undo)
