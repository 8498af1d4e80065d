"""The registry's history (issue 18): every write is one change set holding each station's full row before and
after, written in the same transaction; undo puts the rows back exactly. "Exactly" is checked row by row with
direct SQL over every stored column (``fid``, the geometry blob, the values and ``updated_at``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from geomap.stations import registry as registry_module
from geomap.stations.registry import CHANGES, CHANGESETS, Registry, UndoRefusedError, UnknownChangeSetError

V1 = [
    {"编号": "A1", "名称": "五角场工会驿站", "类型": "工会驿站", "经度": 121.5140, "纬度": 31.3010,
     "开放时间": "24小时", "服务内容": "饮水、热饭、手机充电"},
    {"编号": "A2", "名称": "国定路司机之家", "类型": "司机之家", "经度": 121.5100, "纬度": 31.3050,
     "开放时间": "22:00-06:00", "服务内容": "货车停车、洗澡"},
]
# the next version of the same list: A1 renamed and moved, A2 as it was, A3 new
V2 = [
    {**V1[0], "名称": "五角场工会驿站（新址）", "经度": 121.5150, "纬度": 31.3020},
    V1[1],
    {"编号": "A3", "名称": "政立路爱心接力站", "类型": "爱心接力站", "经度": 121.5200, "纬度": 31.3000,
     "开放时间": "9:00-18:00", "服务内容": "饮水"},
]


def _write(folder: Path, rows: list[dict], name: str = "list.csv") -> Path:
    """The list as a CSV named ``name`` in its own folder (the file name is the stations' ``source``)."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / name, index=False, encoding="utf-8-sig")
    return folder / name


def _rows(reg: Registry) -> list[tuple]:
    """Every stored column of every station (fid, geometry blob, values, updated_at) in fid order, read with
    SQL directly (``Registry.frame`` leaves out fid and updated_at)."""
    with sqlite3.connect(reg.path) as con:
        return con.execute("SELECT * FROM stations ORDER BY fid").fetchall()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """A clock that moves one second per write, so that every write has its own ``updated_at`` and an undo
    that wrote a fresh time (instead of the old one) would be caught."""
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    ticks = iter(range(10**6))
    monkeypatch.setattr(registry_module, "_now",
                        lambda: (t0 + timedelta(seconds=next(ticks))).isoformat(timespec="seconds"))


def test_undo_of_imports_gives_back_the_registry_row_by_row(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write(tmp_path / "v1", V1), crs="wgs84")
    rows1, frame1 = _rows(reg), reg.frame()
    idx = reg.index
    reg.import_file(_write(tmp_path / "v2", V2), crs="wgs84", update=True)
    rows2 = _rows(reg)
    assert [r[2] for r in rows2] == ["A1", "A2", "A3"]
    assert rows2[1] == rows1[1]  # A2 unchanged: not written (same updated_at), not recorded
    assert rows2[0][0] == rows1[0][0] and rows2[0][-1] != rows1[0][-1]  # A1 updated in place, new time

    second, first = reg.history()
    assert (first.action, first.source, first.added, first.changed, first.deleted) == ("import", "list.csv", 2, 0, 0)
    assert (second.action, second.source, second.added, second.changed, second.deleted) == (
        "import", "list.csv", 1, 1, 0)
    assert second.who == first.who == registry_module.default_who() and second.id > first.id
    assert first.time < second.time and second.summary == "导入 list.csv：新增 1，修改 1"
    changes = {c.station_id: c for c in reg.changes(second.id)}
    assert set(changes) == {"A1", "A3"}
    assert changes["A1"].before["fid"] == rows1[0][0] and changes["A1"].before["updated_at"] == rows1[0][-1]
    assert changes["A1"].before["name"] == "五角场工会驿站" and changes["A1"].after["name"] == "五角场工会驿站（新址）"
    assert set(changes["A1"].fields) == {"name", "lon", "lat"}
    assert changes["A3"].kind == "added" and changes["A3"].before is None

    undo2 = reg.undo(second.id)
    assert _rows(reg) == rows1  # every column of every row, fid and updated_at included
    pd.testing.assert_frame_equal(reg.frame(), frame1)
    assert (undo2.action, undo2.undoes, undo2.added, undo2.changed, undo2.deleted) == ("undo", second.id, 0, 1, 1)
    assert reg.changeset(second.id).undone_by == undo2.id
    # the live index follows the undo: A3 is gone, A1 is back at its old place
    assert reg.index is not idx and "A3" not in reg.index.slot_of
    _, slot = reg.index.query(121.5140, 31.3010, k=1)
    assert reg.index.ids[slot[0, 0]] == "A1"

    reg.undo(first.id)
    assert _rows(reg) == [] and len(reg) == 0 and len(reg.index) == 0
    assert [cs.action for cs in reg.history()] == ["undo", "undo", "import", "import"]


def test_reimporting_the_same_file_records_nothing(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    csv = _write(tmp_path, V1)
    stations, _ = reg.import_file(csv, crs="wgs84")
    rows = _rows(reg)
    reg.import_file(csv, crs="wgs84")
    assert _rows(reg) == rows  # nothing written: same updated_at
    assert len(reg.history()) == 1 and len(reg.imports()) == 2  # the import itself is still logged
    assert reg.upsert(stations) == 0
    changed = stations.copy()
    changed.loc[1, "phone"] = "021-12345678"
    assert reg.upsert(changed) == 1
    assert reg.history()[0].action == "update" and reg.history()[0].changed == 1
    assert reg.upsert(changed.assign(id=["B1", "B2"])) == 2 and reg.history()[0].action == "create"
    assert _rows(reg)[0] == rows[0]


def test_undo_refused_when_a_later_change_set_touched_the_station(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write(tmp_path, V1), crs="wgs84")
    imported = reg.history()[0].id
    after_import = _rows(reg)
    reg.update("A1", name="改名的驿站", who="张三")
    edit = reg.history()[0]
    assert (edit.who, edit.action, edit.changed) == ("张三", "update", 1) and "A1" in edit.summary
    rows = _rows(reg)

    with pytest.raises(UndoRefusedError) as err:
        reg.undo(imported)
    assert err.value.later == [edit.id] and err.value.station_ids == ["A1"]
    assert f"#{edit.id}" in str(err.value) and "A1" in str(err.value) and "撤销" in str(err.value)
    assert _rows(reg) == rows and len(reg.history()) == 2  # refused: nothing written, nothing recorded

    # undo the later change first, then the import goes
    reg.undo(edit.id)
    assert _rows(reg) == after_import
    reg.undo(imported)
    assert _rows(reg) == []
    with pytest.raises(UndoRefusedError, match="已经撤销过了") as err:
        reg.undo(imported, force=True)
    assert err.value.undone_by == reg.history()[0].id
    # an undo can be undone (a redo): the import's rows come back exactly
    reg.undo(reg.history()[0].id)
    assert _rows(reg) == after_import

    with pytest.raises(UnknownChangeSetError, match="没有编号为 #999 的变更记录"):
        reg.undo(999)
    with pytest.raises(UnknownChangeSetError):
        reg.changes(999)


def test_forced_undo_and_what_it_leaves_in_the_way(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write(tmp_path, V1), crs="wgs84")
    imported = reg.history()[0].id
    a2 = _rows(reg)[1]
    reg.update("A1", note="门口有充电桩")
    edit = reg.history()[0]
    reg.delete(["A2"], who="李四")
    deleted = reg.history()[0]
    assert (deleted.action, deleted.who, deleted.deleted) == ("delete", "李四", 1)
    assert deleted.summary == "删除站点 A2（国定路司机之家）"
    assert reg.delete(["A2", "nope"]) == 0 and reg.history()[0].id == deleted.id  # nothing there: no record
    with pytest.raises(UndoRefusedError) as err:
        reg.undo(imported)
    assert err.value.later == [deleted.id, edit.id]  # newest first
    forced = reg.undo(imported, force=True)
    assert _rows(reg) == [] and (forced.deleted, forced.added) == (1, 0)  # A2 was already gone
    # the forced undo now stands in the way of undoing the edit of A1 ...
    with pytest.raises(UndoRefusedError) as err:
        reg.undo(edit.id)
    assert err.value.later == [forced.id]
    # ... not of the delete: A2 is still as the delete left it, and comes back with its own fid
    reg.undo(deleted.id)
    assert _rows(reg) == [a2]


def test_an_edit_outside_the_history_is_named(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write(tmp_path, V1), crs="wgs84")
    with sqlite3.connect(reg.path) as con:  # e.g. an edit in QGIS
        con.execute("UPDATE stations SET phone='110' WHERE id='A2'")
    with pytest.raises(UndoRefusedError, match="变更记录之外") as err:
        reg.undo(reg.history()[0].id)
    assert err.value.later == [] and err.value.station_ids == ["A2"]


def test_who_defaults_to_the_os_user(tmp_path, monkeypatch):
    reg = Registry(tmp_path / "r.gpkg")
    monkeypatch.setattr(registry_module.getpass, "getuser", lambda: "zhangsan")
    reg.import_file(_write(tmp_path, V1), crs="wgs84")
    assert reg.history()[0].who == "zhangsan"

    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(registry_module.getpass, "getuser", no_user)
    reg.update("A1", phone="021-1")
    assert reg.history()[0].who == "unknown"
    reg.update("A1", phone="021-1")  # no value changes: nothing recorded
    assert len(reg.history()) == 2


@pytest.mark.parametrize("write", ["import", "update", "delete", "undo"])
def test_history_is_written_in_the_same_transaction(tmp_path, write):
    """A failure while recording the change set rolls the station write back with it."""
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write(tmp_path, V1), crs="wgs84")
    rows, history = _rows(reg), reg.history()
    with sqlite3.connect(reg.path) as con:
        con.execute(f"CREATE TRIGGER fail BEFORE INSERT ON {CHANGES} BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(sqlite3.DatabaseError, match="no"):
        {"import": lambda: reg.import_file(_write(tmp_path / "v2", V2), crs="wgs84", update=True),
         "update": lambda: reg.update("A1", name="x"),
         "delete": lambda: reg.delete(["A1"]),
         "undo": lambda: reg.undo(history[0].id)}[write]()
    assert _rows(reg) == rows and reg.history() == history


def test_a_registry_without_history_tables_is_upgraded_in_place(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write(tmp_path, V1), crs="wgs84")
    with sqlite3.connect(reg.path) as con:  # as a registry written before history existed
        con.execute(f"DROP TABLE {CHANGES}")
        con.execute(f"DROP TABLE {CHANGESETS}")
        con.execute(f"DELETE FROM gpkg_contents WHERE table_name IN ('{CHANGES}', '{CHANGESETS}')")
    rows = _rows(reg)
    old = Registry(reg.path)
    assert _rows(old) == rows and old.history() == []
    with sqlite3.connect(reg.path) as con:
        kinds = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert kinds == {"stations": "features", "geomap_imports": "attributes", CHANGESETS: "attributes",
                     CHANGES: "attributes"}
    old.update("A1", name="升级后改名")
    assert old.history()[0].changed == 1
    old.undo(old.history()[0].id)
    assert _rows(old) == rows
    # GDAL sees the history tables as the GeoPackage's attribute tables
    layers = dict(pyogrio.list_layers(reg.path))
    assert layers["stations"] == "Point" and layers[CHANGESETS] is None and layers[CHANGES] is None
    log = pyogrio.read_dataframe(reg.path, layer=CHANGESETS)
    assert list(log["action"]) == ["update", "undo"]
    assert np.array_equal(pyogrio.read_dataframe(reg.path, layer=CHANGES)["changeset_id"], [1, 2])
