"""RegistryWatch (how a worker notices registry commits) against SQLite's own answer, PRAGMA data_version."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geomap.api.state import RegistryWatch
from geomap.stations.registry import Registry
from geomap.stations.schema import StationImportError

ROOT = Path(__file__).resolve().parents[2]


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"编号": f"W{i}", "名称": f"测试驿站{i}", "类型": "工会驿站", "经度": 121.50 + i * 1e-3,
             "纬度": 31.30, "开放时间": "24小时", "服务内容": "饮水"} for i in range(start, start + n)]


def _import(reg: Registry, path: Path, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    reg.import_file(path, crs="wgs84")


def test_watch_agrees_with_data_version(tmp_path: Path) -> None:
    """A random mix of reads and writes (imports, renames, deletes, a failed import): the watch says
    'changed' exactly when SQLite's data_version (seen from a separate connection) says so."""
    reg = Registry(tmp_path / "r.gpkg")
    watch = RegistryWatch(reg.path)
    oracle = sqlite3.connect(reg.path, isolation_level=None)

    def version() -> int:
        return int(oracle.execute("PRAGMA data_version").fetchone()[0])

    assert watch.changed()  # the first look
    seen = version()
    rng = np.random.default_rng(7)
    n_added, changes, alive = 0, 0, []
    for step in range(60):
        op = rng.choice(["read", "read", "import", "rename", "delete", "bad"])
        if op == "read":
            reg.frame()
            reg.get("W0")
        elif op == "import":
            _import(reg, tmp_path / f"in{step}.csv", _rows(2, n_added))
            alive += [f"W{n_added}", f"W{n_added + 1}"]
            n_added += 2
        elif op == "rename" and alive:
            reg.update(alive[rng.integers(len(alive))], name=f"改名{step}")
        elif op == "delete" and alive:
            reg.delete([alive.pop(rng.integers(len(alive)))])
        elif op == "bad":  # a file with a bad row is refused whole: nothing committed
            bad = _rows(1, 1000)
            bad[0]["经度"] = "not a number"
            pd.DataFrame(bad).to_csv(tmp_path / "bad.csv", index=False, encoding="utf-8-sig")
            with pytest.raises(StationImportError):
                reg.import_file(tmp_path / "bad.csv", crs="wgs84")
        now = version()
        want = now != seen
        seen = now
        changes += want
        assert watch.changed() is want, f"step {step} ({op})"
    assert changes >= 10  # the mix did commit often


def test_watch_sees_another_process(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.gpkg")
    _import(reg, tmp_path / "a.csv", _rows(1))
    watch = RegistryWatch(reg.path)
    assert watch.changed()
    assert not watch.changed()
    code = ("import sys; from geomap.stations.registry import Registry; "
            "Registry(sys.argv[1]).update('W0', name='别的进程改的')")
    subprocess.run([sys.executable, "-c", code, str(reg.path)], check=True, cwd=ROOT)
    assert watch.changed()
    assert not watch.changed()


def test_watch_in_wal_mode_asks_sqlite(tmp_path: Path) -> None:
    """In WAL mode the header counter is not kept up to date: the watch must still see every commit."""
    reg = Registry(tmp_path / "r.gpkg")
    _import(reg, tmp_path / "a.csv", _rows(3))
    with sqlite3.connect(reg.path) as con:
        assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    watch = RegistryWatch(reg.path)
    assert watch.changed()
    reg.frame()
    assert not watch.changed()
    for i in range(3):
        reg.update(f"W{i}", name=f"改名{i}")
        assert watch.changed()
        assert not watch.changed()


def test_watch_closes_its_descriptor(tmp_path: Path) -> None:
    """The descriptor is closed by close() (after which the watch refuses to answer) and when a watch is
    dropped without it; the process's open descriptors go back to what they were."""
    import gc
    import os

    reg = Registry(tmp_path / "r.gpkg")
    fds = set(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").exists() else None
    watch = RegistryWatch(reg.path)
    assert watch.changed() is True and watch.changed() is False
    watch.close()
    with pytest.raises(RuntimeError, match="closed"):
        watch.changed()
    watch.close()  # twice is fine
    dropped = RegistryWatch(reg.path)
    dropped.changed()
    del dropped
    gc.collect()
    if fds is not None:
        assert set(os.listdir("/proc/self/fd")) <= fds


def test_the_follower_reads_an_edit_in_before_any_request(tmp_path: Path) -> None:
    """`ServiceState.follow`: an edit committed by another process is read into a new snapshot by the
    worker's own thread, with no request asking; the new snapshot holds the edit."""
    import time

    from geomap.api.state import ServiceState
    from geomap.nearest import nearest
    from tests._workspaces import sample_workspace

    ws = sample_workspace(tmp_path / "w")
    state = ServiceState.load(ws, modes=["ebike", "walk"])  # e-bike (the riders' default) first, walk after
    try:
        version, n0 = state.snapshot.version, len(state.snapshot.stations)
        state.follow()
        _import(Registry(ws.registry_path), tmp_path / "more.csv", _rows(2))
        deadline = time.monotonic() + 60
        while state.snapshot.version == version and time.monotonic() < deadline:  # no current(): no request
            time.sleep(0.02)
        assert state.snapshot.version == version + 1
        assert len(state.snapshot.stations) == n0 + 2 and {"W0", "W1"} <= set(state.snapshot.stations)
        snap = state.snapshot
        w0 = snap.stations["W0"]
        for mode in ("ebike", "walk"):  # both modes answer from the new stations
            res = nearest(snap.index, w0.lon, w0.lat, k=1, mode=mode, graph=state.graphs[mode], return_routes=False)
            assert res.station_id[0, 0] == "W0", mode
    finally:
        state.close()
    assert state.watch is None
