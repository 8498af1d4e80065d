"""Workspaces: one folder per place, found from the folder you stand in, never reading another place's files.

Two places side by side in temporary folders: a copy of the Yangpu sample (its OSM extract and census) and a
made-up place of its own (a generated street lattice and station list, no census). Each runs import,
nearest, coverage, map and serve, from inside its folder and from a subfolder, in a process that records
every file it opens (tests/_audited.py); neither may touch the other's files.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from geomap.api._process import free_port
from geomap.workspace import (
    WORKSPACE_ENV,
    WorkspaceError,
    init_workspace,
    locate_workspace,
    open_workspace,
    read_workspace_settings,
)
from tests._workspaces import made_up_place, need_sample, sample_workspace

ROOT = Path(__file__).resolve().parent.parent
AUDITED = ROOT / "tests" / "_audited.py"
SAMPLE_CSV = ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv"
ZERO_PERCENT = re.compile(r"(?<![\d.])0(\.0)?\s*%")


# --- finding and opening -------------------------------------------------------------------------------

def test_init_then_found_from_the_folder_its_subfolders_and_the_variable(tmp_path, monkeypatch):
    ws_dir = tmp_path / "海淀"
    osm = tmp_path / "src" / "x.osm.pbf"
    with pytest.raises(FileNotFoundError, match=str(osm)):  # a path given but missing is named
        init_workspace(ws_dir, name="北京市海淀区", osm=osm)
    assert not (ws_dir / "geomap.toml").exists()
    osm.parent.mkdir()
    osm.write_bytes(b"not really osm")
    ws = init_workspace(ws_dir, name="北京市海淀区", publisher="海淀区总工会", osm=osm, lists_crs="GCJ-02", copy=True)
    text = (ws_dir / "geomap.toml").read_text(encoding="utf-8")
    assert 'osm_path = "osm/x.osm.pbf"' in text and 'lists_crs = "gcj02"' in text  # copied: relative path
    assert ws.osm_path == (ws_dir / "osm" / "x.osm.pbf").resolve() and ws.osm_path.exists()
    assert ws.registry_path == ws_dir.resolve() / "registry.gpkg" and ws.cache_dir == ws_dir.resolve() / "cache"
    with pytest.raises(WorkspaceError, match="已经存在"):
        init_workspace(ws_dir, name="again")

    deep = ws_dir / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    monkeypatch.chdir(deep)
    assert locate_workspace() == ws_dir.resolve()  # as git finds its repository
    assert open_workspace().name == "北京市海淀区"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(WorkspaceError, match="geomap init"):
        locate_workspace()
    monkeypatch.setenv(WORKSPACE_ENV, str(ws_dir))
    assert locate_workspace() == ws_dir.resolve()
    assert locate_workspace(ws_dir / "geomap.toml") == ws_dir.resolve()  # --workspace wins over the variable
    with pytest.raises(WorkspaceError, match=str(elsewhere)):
        locate_workspace(elsewhere)
    monkeypatch.setenv(WORKSPACE_ENV, str(tmp_path / "gone"))
    with pytest.raises(WorkspaceError, match="gone"):
        locate_workspace()


def test_settings_come_from_geomap_toml_and_variables_override(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "w", name="测试区")
    toml = ws.root / "geomap.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + 'ebike_speed_kmh = 12.0\npopulation_path = "p/census.csv"\n'
                    '[[demand]]\npath = "orders.csv"\nweight_column = "orders"\n', encoding="utf-8")
    s = read_workspace_settings(ws.root)
    assert s.ebike_speed_kmh == 12.0
    assert s.population_path == ws.root / "p" / "census.csv"  # relative to the workspace folder
    assert s.demand[0].path == ws.root / "orders.csv" and s.demand[0].weight_column == "orders"
    monkeypatch.setenv("GEOMAP_EBIKE_SPEED_KMH", "10")
    monkeypatch.setenv("GEOMAP_POPULATION_PATH", "elsewhere.csv")
    monkeypatch.chdir(tmp_path)
    s = read_workspace_settings(ws.root)
    assert s.ebike_speed_kmh == 10.0 and s.population_path == tmp_path / "elsewhere.csv"  # env: relative to cwd
    toml.write_text('name = "x"\nebike_sped_kmh = 3\n', encoding="utf-8")
    with pytest.raises(WorkspaceError, match="ebike_sped_kmh"):
        open_workspace(ws.root)
    toml.write_text('name = "x"\nebike_speed_kmh = 99\n', encoding="utf-8")  # GB 17761: at most 25 km/h
    monkeypatch.delenv("GEOMAP_EBIKE_SPEED_KMH")
    with pytest.raises(WorkspaceError, match="ebike_speed_kmh"):
        open_workspace(ws.root)


def test_two_places_in_one_process_keep_their_own_data(tmp_path):
    """The Python API: two workspaces open at once answer from their own registry, graphs, census and
    settings; a workspace's speeds reach its own graphs only."""
    a = sample_workspace(tmp_path / "yangpu")
    b, city = made_up_place(tmp_path / "haidian")
    ra = a.nearest(121.5145, 31.3005, crs="gcj02", k=3, mode="walk")
    lon0, lat0, lon1, lat1 = city.bbox_wgs84
    rb = b.nearest((lon0 + lon1) / 2, (lat0 + lat1) / 2, k=3, mode="walk")
    ids_a, ids_b = set(a.registry.frame()["id"]), set(b.registry.frame()["id"])
    assert not ids_a & ids_b
    assert set(ra.station_id[0]) <= ids_a and set(rb.station_id[0]) <= ids_b and rb.station_id[0, 0] is not None
    assert a.graph("walk") is not b.graph("walk") and a.graph("walk").n_nodes != b.graph("walk").n_nodes
    assert len(list(a.cache_dir.glob("network_walk_*"))) == 1 and len(list(b.cache_dir.glob("network_walk_*"))) == 1
    # the census is the sample's alone: the made-up place has no residents layer and says why
    sa, sb = a.study(), b.study()
    assert [lay.name for lay in sa.demand] == ["residents", "restaurants"]
    assert [lay.name for lay in sb.demand] == [] and set(sb.absent) == {"常住人口", "餐饮取餐点"}
    cov = sb.coverage(b.registry.index, minutes=15, mode="walk")
    assert "residents_share" not in cov.table.columns and not ZERO_PERCENT.search(cov.summary())
    assert cov.summary().startswith("北京市海淀区：") and "未计算常住人口（没有人口普查数据）" in cov.summary()
    # a slower walker (this workspace only): on the streets and on the access legs every walking time
    # doubles, the other place is untouched
    slow = a.with_settings(walk_speed_kmh=a.settings.walk_speed_kmh / 2,
                           access_speed_kmh=a.settings.access_speed_kmh / 2)
    rs = slow.nearest(121.5145, 31.3005, crs="gcj02", k=3, mode="walk")
    np.testing.assert_allclose(rs.travel_s, 2 * ra.travel_s, rtol=1e-5)
    np.testing.assert_allclose(a.nearest(121.5145, 31.3005, crs="gcj02", k=3, mode="walk").travel_s, ra.travel_s)


def test_a_missing_path_is_an_error_naming_it(tmp_path):

    b, _ = made_up_place(tmp_path / "p")
    for argv, needle in ((["coverage", "--population", str(tmp_path / "nope.csv")], "nope.csv"),
                         (["gaps", "--study-area", str(tmp_path / "area.geojson")], "area.geojson"),
                         (["import", str(tmp_path / "list.xlsx")], "list.xlsx"),
                         (["network", "build", "--osm", str(tmp_path / "x.osm.pbf")], "x.osm.pbf")):
        proc = subprocess.run([sys.executable, "-m", "geomap.cli", "--workspace", str(b.root), *argv],
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "geomap.cli", "--workspace", str(tmp_path / "nowhere"), "info"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "nowhere" in proc.stderr


def test_graph_cache_written_by_two_processes_at_once(tmp_path):
    """Workers of a service starting on a new workspace build and save the same graph together."""
    from geomap.network.graph import StreetGraph, build_network

    need_sample()
    g = build_network(ROOT / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf", modes=["walk"],
                      progress=False, cache=False)["walk"]
    path = tmp_path / "network_walk"
    errors: list[BaseException] = []

    def save() -> None:
        try:
            for _ in range(5):
                g.save(path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert StreetGraph.load(path).n_nodes == g.n_nodes and list(tmp_path.glob("*.tmp")) == []


# --- two places side by side, each through the command line and the service -------------------------------

def _audited(log: Path, steps: list[dict]) -> tuple[list[int], str, str]:
    proc = subprocess.run([sys.executable, str(AUDITED), str(log), json.dumps(steps)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout, proc.stderr


def _serve_audited(log: Path, cwd: Path, tmp: Path) -> dict:
    """`geomap serve` started in ``cwd`` (no --workspace: found from the folder); what it answers."""
    port = free_port()
    out = open(tmp / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, str(AUDITED), str(log),
                             json.dumps([{"cwd": str(cwd), "argv": ["serve", "--port", str(port)]}])],
                            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp / f"serve-{port}.log").read_text(errors="replace")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "geomap serve did not answer"
                time.sleep(0.3)
        with urllib.request.urlopen(url + "/place", timeout=5) as r:
            place = json.loads(r.read())
        with urllib.request.urlopen(url + "/stations", timeout=5) as r:
            ids = {f["id"] for f in json.loads(r.read())["features"]}
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            page = r.read().decode("utf-8")
        return {"health": health, "place": place, "ids": ids, "page": page}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def _opened(log: Path) -> set[Path]:
    paths = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        _, _, p = line.partition("\t")
        paths.add(Path(p).resolve())
    return paths


def _inside(paths: set[Path], folder: Path) -> list[Path]:
    folder = folder.resolve()
    return sorted(p for p in paths if p == folder or folder in p.parents)


@pytest.mark.realdata
def test_two_places_side_by_side_never_read_each_other(tmp_path):
    a = sample_workspace(tmp_path / "yangpu", registry=False)
    b, city = made_up_place(tmp_path / "haidian", restaurants=0)
    b_csv = city.stations_path
    sample_files = ROOT / "data" / "yangpu"
    lon0, lat0, lon1, lat1 = city.bbox_wgs84
    b_lon, b_lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    (a.root / "sub").mkdir()
    (b.root / "sub" / "deeper").mkdir(parents=True)
    b.registry_path.unlink()  # B imports again below, through the command

    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    codes, out_a, err_a = _audited(log_a, [
        {"cwd": str(a.root), "argv": ["import", str(SAMPLE_CSV)]},  # lists_crs of the workspace: gcj02
        {"cwd": str(a.root / "sub"), "argv": ["nearest", "--lon", "121.5145", "--lat", "31.3005", "--crs", "gcj02",
                                             "--json", "--k", "2"]},
        {"cwd": str(a.root / "sub"), "argv": ["coverage", "--mode", "walk", "--json"]},
        {"cwd": str(a.root), "argv": ["map", "--out", str(tmp_path / "a.html"), "--layers", "stations"]},
    ])
    assert codes == [0, 0, 0, 0], err_a
    codes, out_b, err_b = _audited(log_b, [
        {"cwd": str(b.root / "sub"), "argv": ["import", str(b_csv)]},
        {"cwd": str(b.root / "sub" / "deeper"), "argv": ["nearest", "--lon", str(b_lon), "--lat", str(b_lat),
                                                        "--json", "--k", "2", "--mode", "walk"]},
        {"cwd": str(b.root), "argv": ["coverage", "--mode", "walk", "--json"]},
        {"cwd": str(b.root / "sub"), "argv": ["map", "--out", str(tmp_path / "b.html"), "--layers", "stations"]},
    ])
    assert codes == [0, 0, 0, 0], err_b

    # what each says is about its own place
    docs_a = [json.loads(d) for d in _json_blocks(out_a)]
    docs_b = [json.loads(d) for d in _json_blocks(out_b)]
    near_a, cov_a = docs_a
    near_b, cov_b = docs_b
    assert near_a["place"] == "杨浦区" and near_a["results"][0]["station"]["id"].startswith("YP")
    assert near_b["place"] == "北京市海淀区" and near_b["results"][0]["station"]["name"].startswith("北京市")
    assert cov_a["place"] == "杨浦区" and "residents_share" in cov_a["table"][-1]
    assert cov_b["place"] == "北京市海淀区" and cov_b["publisher"] == "海淀区总工会"
    assert "residents" not in cov_b["table"][-1] and not ZERO_PERCENT.search(cov_b["summary_zh"])
    assert cov_b["absent"]["常住人口"] == "没有人口普查数据" and "未计算常住人口" in cov_b["summary_zh"]
    assert "杨浦区的站点库：新增 46 个" in out_a and f"北京市海淀区的站点库：新增 {city.n_stations} 个" in out_b

    # and reads only its own files
    opened_a, opened_b = _opened(log_a), _opened(log_b)
    assert _inside(opened_a, b.root) == [] and _inside(opened_a, b.root.parent / "haidian-src") == []
    assert _inside(opened_b, a.root) == [] and _inside(opened_b, sample_files) == []
    assert _inside(opened_b, ROOT / "data") == []  # nothing of the install's data folder either
    assert a.registry_path.resolve() in opened_a and b.registry_path.resolve() in opened_b
    assert a.osm_path.resolve() in opened_a and b.osm_path.resolve() in opened_b  # fingerprinted before routing
    assert a.settings.population_path.resolve() in opened_a
    assert _inside(opened_a, a.cache_dir) and _inside(opened_b, b.cache_dir)

    # the services, started from inside each folder, serve their own place
    sa = _serve_audited(log_a, a.root / "sub", tmp_path)
    sb = _serve_audited(log_b, b.root, tmp_path)
    assert sa["health"]["place"] == "杨浦区" and sa["place"]["area_label"] == "杨浦区五角场一带"
    assert sb["health"]["place"] == "北京市海淀区" and sb["health"]["publisher"] == "海淀区总工会"
    assert sb["place"]["area_label"] == "北京市海淀区"  # no area label: the name
    assert sa["ids"] == set(a.registry.frame()["id"]) and sb["ids"] == set(b.registry.frame()["id"])
    assert not sa["ids"] & sb["ids"] and 'id="place"' in sb["page"]
    opened_a, opened_b = _opened(log_a), _opened(log_b)
    assert _inside(opened_a, b.root) == [] and _inside(opened_b, a.root) == []
    assert _inside(opened_b, ROOT / "data") == []


def _json_blocks(text: str) -> list[str]:
    """The JSON documents a run printed (each starts with a line "{" and ends with a line "}")."""
    blocks, cur = [], None
    for line in text.splitlines():
        if line == "{":
            cur = [line]
        elif cur is not None:
            cur.append(line)
            if line == "}":
                blocks.append("\n".join(cur))
                cur = None
    return blocks


def test_init_command_prints_the_next_steps_and_info_describes_the_place(tmp_path, capsys):
    from geomap.cli.main import main

    _, city = made_up_place(tmp_path / "first")
    target = tmp_path / "朝阳"
    assert main(["init", str(target), "--name", "北京市朝阳区", "--osm", str(city.osm_path), "--publisher",
                 "朝阳区总工会", "--lists-crs", "gcj02"]) == 0
    out = capsys.readouterr().out
    assert "已创建工作区“北京市朝阳区”" in out and "未给人口普查数据" in out
    assert "geomap import" in out and "geomap network build" in out and "geomap serve" in out
    assert main(["init", str(target), "--name", "again"]) == 2 and "已经存在" in capsys.readouterr().err
    assert main(["--workspace", str(target), "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "北京市朝阳区" and info["publisher"] == "朝阳区总工会" and info["lists_crs"] == "gcj02"
    assert info["files"]["osm_path"] == {"path": str(city.osm_path.resolve()), "exists": True}
    assert info["files"]["population_path"] is None and info["stations"] == 0


def test_docs_name_every_setting():
    from geomap.settings import Settings

    text = (ROOT / "docs" / "workspace.md").read_text(encoding="utf-8")
    assert [k for k in Settings.model_fields if f"`{k}`" not in text] == []
