"""The GeoPackage registry: standard format, transactional imports and edits, a killed import."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from geomap.stations.registry import Registry
from geomap.stations.schema import StationImportError
from geomap.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[2]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    return path


GOOD = [
    {"编号": "A1", "名称": "五角场工会驿站", "类型": "工会驿站", "经度": 121.5140, "纬度": 31.3010,
     "开放时间": "24小时", "服务内容": "饮水、热饭、手机充电"},
    {"编号": "A2", "名称": "国定路司机之家", "类型": "司机之家", "经度": 121.5100, "纬度": 31.3050,
     "开放时间": "22:00-06:00", "服务内容": "货车停车、洗澡"},
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_registry_is_a_standard_geopackage(tmp_path, anting_json):
    reg = Registry(tmp_path / "r.gpkg")
    stations, _ = reg.import_file(anting_json, profile="anting_miniprogram")
    # read back with GDAL (pyogrio): an independent reader of the GeoPackage format
    gdf = pyogrio.read_dataframe(reg.path, layer="stations")
    assert gdf.crs.to_epsg() == 4326
    assert len(gdf) == len(stations) == 24
    np.testing.assert_allclose(gdf.geometry.x.to_numpy(), gdf["lon"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(gdf.geometry.y.to_numpy(), gdf["lat"].to_numpy(), atol=1e-12)
    got = gdf.set_index("id").loc[stations["id"]]
    np.testing.assert_allclose(got["lon"].to_numpy(), stations["lon"].to_numpy(), atol=1e-12)
    info = pyogrio.read_info(reg.path, layer="stations")
    assert info["geometry_type"] == "Point"
    with sqlite3.connect(reg.path) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_reimport_is_an_upsert_not_a_copy(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    csv = _write_csv(tmp_path / "a.csv", GOOD)
    reg.import_file(csv, crs="wgs84")
    reg.import_file(csv, crs="wgs84")
    assert len(reg) == 2
    assert len(reg.imports()) == 2


def test_failed_import_leaves_registry_exactly_as_it_was(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write_csv(tmp_path / "a.csv", GOOD), crs="wgs84")
    before = _digest(reg.path)
    bad = [*GOOD, {"编号": "A3", "名称": "", "类型": "工会驿站", "经度": 121.5, "纬度": 31.3}]
    bad[0] = {**bad[0], "名称": "改了名字的驿站"}
    with pytest.raises(StationImportError) as err:
        reg.import_file(_write_csv(tmp_path / "b.csv", bad), crs="wgs84")
    assert [(p.row, p.code) for p in err.value.report.errors] == [(4, "missing_name")]
    assert _digest(reg.path) == before
    assert reg.get("A1").name == "五角场工会驿站"


def test_database_error_mid_write_rolls_back(tmp_path):
    """An error raised inside the write transaction (here: a NOT NULL violation) rolls everything back."""
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write_csv(tmp_path / "a.csv", GOOD), crs="wgs84")
    frame = reg.frame()
    new = frame.copy()
    new["id"] = ["B1", "B2"]
    new.loc[1, "name"] = None  # passes pandas, violates the table's NOT NULL at the second row
    with pytest.raises(sqlite3.IntegrityError):
        reg.upsert(new)
    pd.testing.assert_frame_equal(reg.frame(), frame)
    assert len(reg.index) == 2


def test_killed_import_leaves_registry_intact(tmp_path):
    """SIGKILL a real `geomap import` process while it writes; the registry must be unchanged and sound."""
    ws = init_workspace(tmp_path / "w", name="测试区")
    reg_path = ws.registry_path
    reg = Registry(reg_path)
    reg.import_file(_write_csv(tmp_path / "a.csv", GOOD), crs="wgs84")
    before = reg.frame()
    rng = np.random.default_rng(7)
    n = 150_000
    big = pd.DataFrame({
        "编号": [f"N{i}" for i in range(n)], "名称": [f"驿站{i}" for i in range(n)], "类型": "工会驿站",
        "经度": rng.uniform(110, 122, n).round(6), "纬度": rng.uniform(25, 35, n).round(6),
        "开放时间": "24小时", "服务内容": "饮水",
    })
    big_csv = tmp_path / "big.csv"
    big.to_csv(big_csv, index=False)
    journal = Path(str(reg_path) + "-journal")
    proc = subprocess.Popen([sys.executable, "-m", "geomap.cli", "--workspace", str(ws.root), "import",
                             str(big_csv), "--crs", "wgs84", "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, "the import finished before it could be killed; make the file bigger"
    assert journal.exists(), "the import never started writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = Registry(reg_path)  # opening rolls the hot journal back
    pd.testing.assert_frame_equal(after.frame(), before)
    with sqlite3.connect(reg_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(after.imports()) == 1


def test_edits_are_transactional_and_follow_the_index(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(_write_csv(tmp_path / "a.csv", GOOD), crs="wgs84")
    idx = reg.index
    n_base = idx._n_base
    moved = reg.update("A2", lon=121.5300, lat=31.2900)
    assert moved.lon == 121.53
    assert reg.get("A2").lon == pytest.approx(121.53)
    d, slot = idx.query(121.5300, 31.2900, k=1)
    assert idx.ids[slot[0, 0]] == "A2" and d[0, 0] < 1e-6
    assert idx._n_base == n_base  # the edit did not rebuild the base tree
    reg.update("A1", opening_hours_raw="周一至周五8:30-17:00")
    assert reg.get("A1").opening_hours == "Mo-Fr 08:30-17:00"
    assert reg.delete(["A1", "nope"]) == 1
    assert reg.get("A1") is None and len(reg) == 1
    _, slot = idx.query(121.5140, 31.3010, k=2)
    assert [idx.ids[s] if s >= 0 else None for s in slot[0]] == ["A2", None]
    with pytest.raises(KeyError):
        reg.update("A1", name="x")
    with pytest.raises(ValueError, match="unknown station fields"):
        reg.update("A2", colour="red")


def test_index_matches_a_fresh_registry_after_edits(tmp_path, anting_json):
    """After edits through the registry, its live index answers like an index built from scratch."""
    reg = Registry(tmp_path / "r.gpkg")
    reg.import_file(anting_json, profile="anting_miniprogram")
    idx = reg.index
    reg.delete(["anting:toilet_1", "anting:warm_3"])
    reg.update("anting:relay_1", lon=121.25, lat=31.30)
    reg.import_file(_write_csv(tmp_path / "a.csv", GOOD), crs="wgs84")
    fresh = Registry(reg.path).index
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(121.1, 121.6, 500), rng.uniform(31.0, 31.35, 500)
    d1, s1 = idx.query(lon, lat, k=4)
    d2, s2 = fresh.query(lon, lat, k=4)
    np.testing.assert_allclose(d1, d2)
    assert (np.array(idx.ids)[s1] == np.array(fresh.ids)[s2]).all()
