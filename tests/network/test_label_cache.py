"""Label sets kept in the workspace's cache: read back after a restart, derived from it after an edit, and
built once when several service workers start together."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from geomap.network import nearest as nn
from geomap.workspace import open_workspace
from tests._workspaces import made_up_place


@pytest.fixture()
def place(tmp_path: Path):
    ws, _ = made_up_place(tmp_path / "p", nodes=900, stations=15)
    ws.graphs(["ebike"])
    return ws


def _stations(ws):
    f = ws.registry.frame()
    return f["lon"].to_numpy(), f["lat"].to_numpy(), f["id"].to_numpy(dtype=object)


def _fresh_graph(ws):
    """The graph as a restarted service loads it: a new object from the workspace's cache, no memory."""
    return open_workspace(ws.root).graph("ebike")


def _count_builds(monkeypatch, delay_s: float = 0.0) -> list[int]:
    calls: list[int] = []
    real = nn.build_labels

    def counting(*a, **kw):
        calls.append(1)
        threading.Event().wait(delay_s)
        return real(*a, **kw)

    monkeypatch.setattr(nn, "build_labels", counting)
    return calls


def _same(a: nn.StationLabels, b: nn.StationLabels) -> None:
    la, lb = a.labels, b.labels
    pa, pb = a.position, b.position  # slots may differ after derivation: compare by station
    for x in range(la.graph.n_nodes):
        ja = [pa[s] for s in np.asarray(la.station[x]) if s >= 0]
        jb = [pb[s] for s in np.asarray(lb.station[x]) if s >= 0]
        assert ja == jb
    np.testing.assert_array_equal(np.asarray(la.time_s), np.asarray(lb.time_s))


def test_a_restart_reads_the_set_from_disk(place, monkeypatch):
    lon, lat, ids = _stations(place)
    built = nn.station_labels(_fresh_graph(place), station_lon=lon, station_lat=lat, station_ids=ids, k=3,
                              persist=True)
    calls = _count_builds(monkeypatch)
    again = nn.station_labels(_fresh_graph(place), station_lon=lon, station_lat=lat, station_ids=ids, k=3,
                              persist=True)
    assert calls == [] and again is not built
    _same(again, built)


def test_after_an_edit_a_restart_derives_from_disk(place, monkeypatch):
    lon, lat, ids = _stations(place)
    nn.station_labels(_fresh_graph(place), station_lon=lon, station_lat=lat, station_ids=ids, k=3, persist=True)
    lon2, lat2 = lon.copy(), lat.copy()
    lon2[4] += 0.002  # a station moved
    keep = np.arange(len(ids)) != 7  # one deleted
    lon2, lat2, ids2 = lon2[keep], lat2[keep], ids[keep]
    calls = _count_builds(monkeypatch)
    derived = nn.station_labels(_fresh_graph(place), station_lon=lon2, station_lat=lat2, station_ids=ids2, k=3,
                                persist=True)
    assert calls == []  # derived from the set on disk, not built
    monkeypatch.undo()
    fresh = nn.station_labels(_fresh_graph(place), station_lon=lon2, station_lat=lat2, station_ids=ids2, k=3)
    _same(derived, fresh)


def test_workers_starting_together_build_once(place, monkeypatch):
    lon, lat, ids = _stations(place)
    graphs = [_fresh_graph(place), _fresh_graph(place)]  # two workers' graphs, no shared memory
    calls = _count_builds(monkeypatch, delay_s=0.5)  # the second asks while the first is building
    got: list[nn.StationLabels] = []
    threads = [threading.Thread(target=lambda g=g: got.append(nn.station_labels(
        g, station_lon=lon, station_lat=lat, station_ids=ids, k=3, persist=True))) for g in graphs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 2 and calls == [1]
    _same(got[0], got[1])
