"""The batch over all regions on Dask: the same tables sequentially, on a local cluster of 2 workers, on a
scheduler and workers started as separate processes, and with a worker killed in the middle; failures
reported while the rest completes, and a rerun doing only what is missing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from geomap.regions.batch import run_batch
from geomap.regions.workspace import write_regions_workspace

BIN = Path(sys.executable).parent


def _same(a, b) -> None:
    assert not a.failed and not b.failed
    pd.testing.assert_frame_equal(a.regions, b.regions)
    pd.testing.assert_frame_equal(a.subdistricts, b.subdistricts)
    assert len(a.regions) == 3 and len(a.subdistricts) > 3


@pytest.fixture(scope="module")
def sequential(three_regions):
    rws, _ = three_regions
    return run_batch(rws, workers=0, use_cache=False, progress=False)


def test_local_cluster_of_two_workers_equals_the_sequential_run(three_regions, sequential):
    rws, _ = three_regions
    on_two = run_batch(rws, workers=2, use_cache=False, progress=False)
    _same(sequential, on_two)
    assert os.getpid() not in on_two.worker_peak_mb  # the work ran in the workers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A Dask scheduler and two workers started as separate processes with the `dask` command."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--scheduler-file", str(info), "--port", "0",
                               "--host", "127.0.0.1", "--no-dashboard"], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not info.exists() and time.time() < deadline:
            time.sleep(0.1)
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(info), "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], cwd=folder,
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = json.loads(info.read_text())["address"]
        from dask.distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_scheduler_and_workers_as_separate_processes_equal_the_sequential_run(three_regions, sequential, cluster):
    rws, _ = three_regions
    assert cluster.startswith("tcp://127.0.0.1:")
    _same(sequential, run_batch(rws, scheduler=cluster, use_cache=False, progress=False))


def test_a_worker_killed_in_the_middle_does_not_change_the_result(three_regions, sequential, cluster):
    rws, _ = three_regions
    from dask.distributed import Client

    killed: list[int] = []
    with Client(cluster) as watcher:
        pids = watcher.run(os.getpid)  # worker address -> its process id

        def kill_a_busy_worker() -> None:
            deadline = time.time() + 60
            while time.time() < deadline and not killed:
                busy = [w for w, tasks in watcher.processing().items() if tasks]
                if busy and busy[0] in pids:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                time.sleep(0.02)

        t = threading.Thread(target=kill_a_busy_worker)
        t.start()
        result = run_batch(rws, scheduler=cluster, use_cache=False, progress=False)
        t.join()
        assert killed, "no worker was busy to be killed"
        _same(sequential, result)
        # the scheduler saw the worker die and its nanny started a fresh one
        dead = next(w for w, pid in pids.items() if pid == killed[0])
        deadline = time.time() + 60
        while time.time() < deadline:
            now = set(watcher.scheduler_info()["workers"])
            if dead not in now and len(now) == 2:
                break
            time.sleep(0.2)
        assert dead not in now and len(now) == 2
        assert killed[0] not in watcher.run(os.getpid).values()


def test_failed_region_is_reported_and_a_rerun_does_only_what_is_missing(three_regions, tmp_path: Path):
    _, city = three_regions
    good = tmp_path / "good.osm.pbf"
    bad = tmp_path / "other.osm.pbf"
    shutil.copyfile(city.osm_path, good)
    bad.write_bytes(b"not an OSM file")
    outline_path = city.osm_path.parent / "outline.geojson"
    rws = write_regions_workspace(tmp_path / "ws", name="两地", buffer_m=500, regions=[
        {"key": "good", "name": "甲市", "osm_path": good, "boundary_path": outline_path},
        {"key": "broken", "name": "乙市", "osm_path": bad, "boundary_path": outline_path}])
    rws.registry.import_file(city.stations_path, crs="gcj02")
    first = run_batch(rws, workers=2, progress=False)
    assert list(first.failed) == ["broken"] and first.computed == ["good"]
    assert first.regions["region"].tolist() == ["good"]
    shutil.copyfile(city.osm_path, bad)  # the data fixed
    second = run_batch(rws, workers=0, progress=False)
    assert not second.failed and second.cached == ["good"] and second.computed == ["broken"]
    pd.testing.assert_frame_equal(second.regions.iloc[:1], first.regions)
    third = run_batch(rws, workers=0, progress=False)
    assert third.computed == [] and third.cached == ["good", "broken"]
    pd.testing.assert_frame_equal(third.regions, second.regions)
    # a changed station is a changed input: only the regions routing to it run again (both share one outline)
    rws.registry.delete([rws.registry.frame()["id"].iloc[0]])
    fourth = run_batch(rws, workers=0, progress=False)
    assert sorted(fourth.computed) == ["broken", "good"]
    assert (fourth.regions["stations"] == second.regions["stations"] - [1, 0]).all()


def test_command_on_a_regions_workspace(three_regions, capsys):
    rws, _ = three_regions
    from geomap.cli.main import main

    assert main(["-w", str(rws.root), "coverage", "--workers", "0", "--region", "gen", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["region"] for r in out["regions"]] == ["gen"] and out["failed"] == {}
    assert main(["-w", str(rws.root), "isochrone", "--lon", "1", "--lat", "1"]) == 2
    assert "多地区工作区" in capsys.readouterr().err


def test_gap_grid_of_regions_covers_each_outline_once(three_regions):
    import h3
    import shapely

    rws, _ = three_regions
    res = run_batch(rws, "gaps", keys=["gen", "hongkou"], workers=0, use_cache=False, progress=False,
                    params={"resolution": 9})
    assert not res.failed and set(res.cells["region"]) == {"gen", "hongkou"}
    for key in ("gen", "hongkou"):
        cells = res.cells[res.cells["region"] == key]
        want = set(h3.geo_to_cells(shapely.geometry.mapping(rws.boundaries[rws.index_of(key)]), 9))
        assert set(cells["h3"]) == want and cells["h3"].is_unique


def test_national_map_has_every_station(three_regions, tmp_path: Path, capsys):
    rws, _ = three_regions
    from geomap.cli.main import main
    from geomap.publish.maps import _extract_data

    out = tmp_path / "map.html"
    assert main(["-w", str(rws.root), "map", "--out", str(out), "--tiles", "amap"]) == 0
    assert _extract_data(out.read_text(encoding="utf-8"))["stations"]["n"] == len(rws.registry)
    assert main(["-w", str(rws.root), "map", "--out", str(out)]) == 2  # no one extract for an offline base map
    assert "--tiles" in capsys.readouterr().err
