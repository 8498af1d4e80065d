"""The service as a real process (`geomap serve` under uvicorn on a free loopback port).

* A server killed with SIGKILL in the middle of an import leaves the registry exactly as before.
* While an import of many stations is applied, concurrent readers see the station set either wholly
  before or wholly after it, never a part.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from geomap.api._process import start_server
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
DATA = Path(__file__).resolve().parents[2] / "data"
TOKEN = "server-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _registry(tmp: Path) -> Path:
    """A private copy of the sample workspace in ``tmp``; its registry file."""
    return sample_workspace(tmp).registry_path


def big_csv(n: int, *, prefix: str) -> bytes:
    """n distinct stations (GCJ-02) made from the sample rows: new ids, names and jittered positions."""
    sample = pd.read_csv(DATA / "sample" / "yangpu_stations_gcj02.csv", encoding="utf-8-sig", dtype=str)
    rows = sample.iloc[np.arange(n) % len(sample)].reset_index(drop=True)
    rng = np.random.default_rng(7)
    rows["编号"] = [f"{prefix}{i:06d}" for i in range(n)]
    rows["名称"] = [f"{name}-{i}" for i, name in enumerate(rows["名称"])]
    rows["地址"] = [f"测试路{i}号" for i in range(n)]
    rows["经度"] = [f"{v:.6f}" for v in 121.48 + rng.random(n) * 0.06]
    rows["纬度"] = [f"{v:.6f}" for v in 31.27 + rng.random(n) * 0.06]
    return rows.to_csv(index=False).encode("utf-8")


def test_sigkill_during_import_leaves_registry_as_before(tmp_path):
    from geomap.stations.registry import Registry

    reg = _registry(tmp_path)
    before = Registry(reg).frame()
    imports_before = len(Registry(reg).imports())
    payload = big_csv(60_000, prefix="KILL")
    journal = Path(str(reg) + "-journal")
    srv = start_server(workspace=reg.parent, log_path=tmp_path / "server.log", admin_token=TOKEN)
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            r = httpx.post(srv.url + "/stations/import", files={"file": ("big.csv", payload, "text/csv")},
                           data={"crs": "gcj02"}, headers=AUTH, timeout=300)
            outcome["status"] = r.status_code
        except httpx.HTTPError as exc:
            outcome["error"] = repr(exc)

    t = threading.Thread(target=upload)
    killed_in_transaction = False
    try:
        t.start()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and t.is_alive():
            if journal.exists():  # SQLite's rollback journal: the import transaction is writing
                os.kill(srv.proc.pid, signal.SIGKILL)
                killed_in_transaction = True
                break
            time.sleep(0.0005)
        t.join(60)
    finally:
        if srv.proc.poll() is None:
            os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
    assert killed_in_transaction, f"the import finished before it could be killed: {outcome}"
    assert "status" not in outcome  # the client saw the connection die, not an answer
    after = Registry(reg)  # opening it rolls the hot journal back
    pd.testing.assert_frame_equal(after.frame(), before)
    assert len(after.imports()) == imports_before
    assert after.get("KILL000000") is None


def test_readers_never_see_half_an_import(tmp_path):
    reg = _registry(tmp_path)
    srv = start_server(workspace=reg.parent, log_path=tmp_path / "server.log", admin_token=TOKEN)
    try:
        n0 = httpx.get(srv.url + "/healthz").json()["stations"]
        n_new = 2_000
        seen: list[int] = []
        stop = threading.Event()

        def read() -> None:
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                while not stop.is_set():
                    fc = c.get("/stations", params={"bbox": "121.0,31.0,122.0,32.0"}).json()
                    seen.append(fc["count"])
                    ids = {f["id"] for f in fc["features"]}
                    seen.append(len(ids))

        readers = [threading.Thread(target=read) for _ in range(3)]
        for r in readers:
            r.start()
        time.sleep(0.3)
        r = httpx.post(srv.url + "/stations/import", files={"file": ("more.csv", big_csv(n_new, prefix="R"),
                       "text/csv")}, data={"crs": "gcj02"}, headers=AUTH, timeout=300)
        time.sleep(0.5)
        stop.set()
        for t in readers:
            t.join(60)
        assert r.status_code == 200, r.text
        assert r.json()["imported"] == n_new
        assert set(seen) == {n0, n0 + n_new}, sorted(set(seen))
        near = httpx.get(srv.url + "/nearest", params={"lon": 121.5145, "lat": 31.3005, "crs": "gcj02", "k": 5})
        assert near.status_code == 200 and any(f["id"].startswith("R") for f in near.json()["features"])
        assert '"GET /nearest?' in srv.log()  # the access log is on by default
    finally:
        srv.stop()


def test_two_workers_serve_every_edit(tmp_path):
    """`geomap serve --workers 2`: an edit made through whichever worker takes the POST is served by
    both, on fresh connections (the kernel spreads them over the workers)."""
    reg = _registry(tmp_path)
    srv = start_server(workspace=reg.parent, log_path=tmp_path / "server.log", admin_token=TOKEN, workers=2,
                       access_log=False)
    try:
        n0 = httpx.get(srv.url + "/healthz").json()["stations"]
        q = {"lon": 121.5035, "lat": 31.2985, "crs": "gcj02", "k": 1}
        for i in range(3):
            new = {"id": f"W2-{i}", "name": f"双进程{i}", "kinds": ["爱心驿站"], "lon": q["lon"], "lat": q["lat"],
                   "crs": "gcj02", "opening_hours_raw": "24小时"}
            r = httpx.post(srv.url + "/stations", json=new, headers=AUTH, timeout=60)
            assert r.status_code == 201, r.text
            pids, answers = set(), set()
            for _ in range(12):  # a new connection each time
                h = httpx.get(srv.url + "/healthz", headers={"Connection": "close"}, timeout=60).json()
                pids.add(h["worker_pid"])
                assert h["stations"] == n0 + i + 1
                near = httpx.get(srv.url + "/nearest", params=q, headers={"Connection": "close"}, timeout=60)
                answers.add(near.json()["features"][0]["id"])
            assert answers == {"W2-0"}  # the first one added stays the nearest (same position, lower id)
        assert len(pids) == 2, "both workers answered"
        assert "GET /nearest" not in srv.log() and "registry changed" in srv.log()  # --no-access-log
        # an edit made outside the service (as `geomap import`): read in by each worker's follower
        from geomap.stations.registry import Registry

        Registry(reg).delete(["W2-0"], who="test", source="test")
        deadline, seen = time.monotonic() + 10, set()
        while time.monotonic() < deadline and len(seen) < 2:
            h = httpx.get(srv.url + "/healthz", headers={"Connection": "close"}, timeout=60).json()
            if h["stations"] == n0 + 2:
                seen.add(h["worker_pid"])
        assert seen == pids, "both workers serve the outside edit"
    finally:
        srv.stop()


def test_over_share_by_hand():
    """A worker closes a kept-alive connection only while it holds more than the total / workers, rounded up."""
    from geomap.api._http import over_share

    assert over_share([38, 26], 0) and not over_share([38, 26], 1)  # fair: 32
    assert over_share([33, 31], 0) and not over_share([32, 32], 0)
    assert not over_share([33, 32], 0)  # 65 / 2 rounded up: 33
    assert over_share([3, 0], 0) and not over_share([2, 1], 0) and not over_share([1, 0], 0)
    assert not over_share([36, 28], 0, closing=4)  # the 4 it asked to close are on their way
    assert over_share([12, 10, 10, 0], 1) and not over_share([8, 10, 10, 4], 0)  # fair: 8


def test_two_workers_even_out_kept_alive_connections(tmp_path):
    """`geomap serve --workers 2`: 12 kept-alive connections end up 6 and 6 on the two workers, however the
    kernel first spread them: the fuller worker closes connections (``connection: close``) until even."""
    import http.client

    reg = _registry(tmp_path)
    srv = start_server(workspace=reg.parent, log_path=tmp_path / "server.log", workers=2, access_log=False)
    try:
        port = int(srv.url.rsplit(":", 1)[1])
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(12)]
        closes = 0
        for _ in range(60):  # rounds of one request per connection, until a round closes none
            pids, closed = [], 0
            for c in conns:  # http.client opens a new connection after one was closed
                c.request("GET", "/healthz")
                r = c.getresponse()
                body = r.read()
                assert r.status == 200
                closed += r.getheader("connection", "").lower() == "close"
                pids.append(httpx.Response(200, content=body).json()["worker_pid"])
            closes += closed
            if not closed:
                break
        assert closed == 0, "the connections kept moving"
        counts = sorted(pids.count(p) for p in set(pids))
        assert counts == [6, 6], counts
        for c in conns:
            c.close()
    finally:
        srv.stop()
