"""`geomap history` and `geomap undo` on a workspace of their own: imports listed in Chinese, an undo that
gives back the registry row by row, refusals and unknown numbers exit 2 with one Chinese line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from geomap.cli.main import main
from geomap.stations.registry import default_who
from geomap.workspace import init_workspace

V1 = [
    {"编号": "C1", "名称": "控江路工会驿站", "类型": "工会驿站", "经度": 121.5340, "纬度": 31.2710,
     "开放时间": "24小时", "服务内容": "饮水、热饭"},
    {"编号": "C2", "名称": "江浦路司机之家", "类型": "司机之家", "经度": 121.5230, "纬度": 31.2650,
     "开放时间": "8:00-20:00", "服务内容": "货车停车"},
]
V2 = [{**V1[0], "名称": "控江路工会驿站（二楼）"}, V1[1],
      {"编号": "C3", "名称": "黄兴公园爱心接力站", "类型": "爱心接力站", "经度": 121.5400, "纬度": 31.2850,
       "开放时间": "9:00-17:00", "服务内容": "饮水"}]


@pytest.fixture
def ws(tmp_path) -> Path:
    """A workspace of its own, no street network, stations in WGS84."""
    return init_workspace(tmp_path / "w", name="杨浦区测试", lists_crs="wgs84").root


def _csv(folder: Path, rows: list[dict], name: str) -> Path:
    pd.DataFrame(rows).to_csv(folder / name, index=False, encoding="utf-8-sig")
    return folder / name


def _rows(ws: Path) -> list[tuple]:
    with sqlite3.connect(ws / "registry.gpkg") as con:
        return con.execute("SELECT * FROM stations ORDER BY fid").fetchall()


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_history_lists_imports_and_undo_restores(ws, tmp_path, capsys):
    code, out, _ = run(capsys, "--workspace", ws, "history")
    assert code == 0 and "还没有变更记录" in out
    assert run(capsys, "--workspace", ws, "import", _csv(tmp_path, V1, "一月名单.csv"), "--crs", "wgs84",
               "--quiet")[0] == 0
    before = _rows(ws)
    assert run(capsys, "--workspace", ws, "import", _csv(tmp_path, V2, "二月名单.csv"), "--crs", "wgs84",
               "--update", "--quiet")[0] == 0

    code, out, _ = run(capsys, "--workspace", ws, "history")
    assert code == 0
    head, second, first = out.splitlines()[:3]
    assert head.split() == ["编号", "时间", "操作人", "操作", "来源", "新增", "修改", "删除", "摘要"]
    # 编号, 时间 (date and time), 操作人, 操作, 来源, 新增, 修改, 删除, 摘要
    assert second.split()[0] == "#2" and second.split()[4:6] == ["导入", "二月名单.csv"]
    assert second.split()[6:9] == ["1", "1", "0"]  # C3 new; C1 renamed; C2 as it was (not rewritten)
    assert first.split()[0] == "#1" and first.split()[5:9] == ["一月名单.csv", "2", "0", "0"]
    assert default_who() in second

    code, out, _ = run(capsys, "--workspace", ws, "history", "--json", "--limit", "1")
    (latest,) = json.loads(out)
    assert (latest["id"], latest["action"], latest["source"], latest["who"]) == (2, "import", "二月名单.csv",
                                                                                  default_who())

    code, out, _ = run(capsys, "--workspace", ws, "undo", "2")
    assert code == 0
    assert "已撤销变更 #2" in out and "本次撤销记为变更 #3" in out
    assert "移除 C3（黄兴公园爱心接力站）" in out and "还原 C1（控江路工会驿站）：name、source" in out
    assert "现有 2 个站点" in out
    assert _rows(ws) == before
    code, out, _ = run(capsys, "--workspace", ws, "history", "--limit", "2")
    assert "撤销 #2" in out.splitlines()[1] and "（已被 #3 撤销）" in out.splitlines()[2]

    code, _, err = run(capsys, "--workspace", ws, "undo", "2")
    assert code == 2 and "已经撤销过了" in err and "Traceback" not in err
    code, _, err = run(capsys, "--workspace", ws, "undo", "42")
    assert code == 2 and "没有编号为 #42 的变更记录" in err and "geomap history" in err

    assert run(capsys, "--workspace", ws, "undo", "1")[0] == 0
    assert _rows(ws) == []


def test_undo_refused_names_the_later_change_and_force_overrides(ws, tmp_path, capsys):
    assert run(capsys, "--workspace", ws, "import", _csv(tmp_path, V1, "一月名单.csv"), "--crs", "wgs84",
               "--quiet")[0] == 0
    assert run(capsys, "--workspace", ws, "import", _csv(tmp_path, V2, "二月名单.csv"), "--crs", "wgs84",
               "--update", "--quiet")[0] == 0
    rows = _rows(ws)
    code, _, err = run(capsys, "--workspace", ws, "undo", "1")
    assert code == 2 and "之后的变更 #2" in err and "--force" in err
    assert _rows(ws) == rows
    code, out, _ = run(capsys, "--workspace", ws, "undo", "1", "--force", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["undone"] == 1 and body["changeset"]["action"] == "undo" and body["stations"] == 1
    assert {c["station_id"]: c["kind"] for c in body["changes"]} == {"C1": "deleted", "C2": "deleted"}
    assert [r[2] for r in _rows(ws)] == ["C3"]
    code, _, _ = run(capsys, "--workspace", ws, "undo", "0")
    assert code == 2
