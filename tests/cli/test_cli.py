"""The `geomap` command on real files, in workspaces: import, stations list/show, nearest, network build,
isochrone; errors exit 2 with a message."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geomap.cli.main import main
from geomap.workspace import init_workspace
from tests._workspaces import sample_workspace


@pytest.fixture
def reg(tmp_path, sample_csv):
    """A copy of the sample workspace whose registry this command imported; the workspace folder."""
    ws = sample_workspace(tmp_path / "yangpu", registry=False)
    assert main(["--workspace", str(ws.root), "import", str(sample_csv), "--crs", "gcj02", "--quiet"]) == 0
    return ws.root


@pytest.fixture
def bare(tmp_path):
    """A workspace with nothing but its name (no street network, no stations)."""
    return init_workspace(tmp_path / "anting", name="嘉定区安亭镇").root


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_anting_with_profile_and_report(tmp_path, capsys, anting_json):
    rep = tmp_path / "report.csv"
    ws = init_workspace(tmp_path / "anting", name="嘉定区安亭镇").root
    code, out, _ = run(capsys, "--workspace", ws, "import", anting_json, "--profile", "anting_miniprogram",
                       "--report", rep)
    assert code == 0
    assert "duplicate_place" in out and "far_outlier" in out and "新增 24 个" in out
    table = pd.read_csv(rep, encoding="utf-8-sig")
    assert set(table["code"]) >= {"duplicate_place", "far_outlier", "unmapped_service"}
    assert table.loc[table["code"] == "far_outlier", "feature"].tolist() == [12]


def test_import_without_profile_says_which(bare, capsys, anting_json):
    code, _, err = run(capsys, "--workspace", bare, "import", anting_json)
    assert code == 2 and "--profile anting_miniprogram" in err


def test_failed_import_prints_rows_and_changes_nothing(reg, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame([{"名称": "甲", "类型": "工会驿站", "经度": "abc", "纬度": 31.3},
                  {"名称": "乙", "类型": "太空站", "经度": 121.5, "纬度": 31.3}]).to_csv(bad, index=False)
    before = (reg / "registry.gpkg").read_bytes()
    code, _, err = run(capsys, "--workspace", reg, "import", bad, "--report", tmp_path / "r.csv")
    assert code == 2
    assert "第 2 行" in err and "bad_coordinate" in err and "第 3 行" in err and "unknown_kind" in err
    assert (reg / "registry.gpkg").read_bytes() == before
    code, _, err = run(capsys, "--workspace", reg, "import", bad, "--skip-invalid")
    assert code == 2 and "没有可导入的站点" in err
    assert (reg / "registry.gpkg").read_bytes() == before


def test_stations_list_and_show(reg, capsys):
    code, out, _ = run(capsys, "--workspace", reg, "stations", "list", "--kind", "司机之家")
    assert code == 0 and "司机之家" in out
    code, out, _ = run(capsys, "--workspace", reg, "stations", "show", "YP001", "--json", "--crs", "gcj02")
    d = json.loads(out)
    assert d["id"] == "YP001" and d["crs"] == "gcj02"
    code, _, err = run(capsys, "--workspace", reg, "stations", "show", "NOPE")
    assert code == 2 and "NOPE" in err


def test_show_gives_back_the_source_gcj02_coordinates(reg, capsys, sample_csv):
    raw = pd.read_csv(sample_csv, encoding="utf-8-sig").set_index("编号")
    _, out, _ = run(capsys, "--workspace", reg, "stations", "show", "YP001", "--json", "--crs", "gcj02")
    d = json.loads(out)
    assert d["lon"] == pytest.approx(raw.loc["YP001", "经度"], abs=1e-7)
    assert d["lat"] == pytest.approx(raw.loc["YP001", "纬度"], abs=1e-7)


def test_nearest_json_and_text(reg, capsys):
    code, out, _ = run(capsys, "--workspace", reg, "nearest", "--lon", 121.514, "--lat", 31.3005, "--crs", "gcj02",
                       "--k", 3, "--kind", "canteen", "--json")
    assert code == 0
    d = json.loads(out)
    dists = [r["distance_m"] for r in d["results"]]
    assert len(dists) == 3 and dists == sorted(dists)
    assert all("canteen" in r["station"]["kinds"] for r in d["results"])
    code, out, _ = run(capsys, "--workspace", reg, "nearest", "--lon", 121.514, "--lat", 31.3005, "--k", 1)
    assert code == 0 and "最近 1 个站点" in out


@pytest.mark.parametrize(("args", "needle"), [
    (["--lon", "121.5", "--lat", "95"], "latitude"),
    (["--lon", "121.5", "--lat", "31.3", "--kind", "spaceport"], "unknown kind"),
    (["--lon", "121.5", "--lat", "31.3", "--open-at", "tomorrowish"], "--open-at"),
    (["--lon", "121.5", "--lat", "31.3", "--crs", "utm"], "wgs84, gcj02, bd09"),
    (["--lon", "121.5", "--lat", "31.3", "--k", "0"], "--k"),
])
def test_nearest_bad_input_is_a_clear_error(reg, capsys, args, needle):
    code, _, err = run(capsys, "--workspace", reg, "nearest", *args)
    assert code == 2 and needle in err and "Traceback" not in err


def test_network_build_and_nearest_by_walking(bare, capsys, tmp_path, sample_csv):
    pbf = tmp_path / "none.pbf"
    code, _, err = run(capsys, "--workspace", bare, "network", "build", "--osm", pbf, "--modes", "walk")
    assert code == 2 and "none.pbf" in err
    from tests.conftest import DATA
    osm = DATA / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
    if not osm.exists():
        pytest.skip("run `make data`")
    # a workspace without a network: nearest says so and answers by straight line
    assert run(capsys, "--workspace", bare, "import", sample_csv, "--crs", "gcj02", "--quiet")[0] == 0
    code, out, err = run(capsys, "--workspace", bare, "nearest", "--lon", 121.50, "--lat", 31.29, "--k", 1)
    assert code == 0 and "没有路网，按直线距离" in err and "直线距离" in out
    # --osm makes the file the workspace's network (written into its geomap.toml), cached in the workspace
    code, out, err = run(capsys, "--workspace", bare, "network", "build", "--osm", osm, "--modes", "walk,ebike",
                         "--quiet")
    assert code == 0 and "walk" in out and "(built)" in out and "geomap.toml" in err
    assert "osm_path" in (bare / "geomap.toml").read_text(encoding="utf-8")
    assert sorted(p.name.split("_")[1] for p in (bare / "cache").glob("network_*")) == ["ebike", "walk"]
    code, out, _ = run(capsys, "--workspace", bare, "network", "build", "--modes", "walk", "--quiet")
    assert "(cache)" in out
    reg = bare
    code, out, _ = run(capsys, "--workspace", reg, "nearest", "--lon", 121.50, "--lat", 31.29, "--crs", "gcj02",
                       "--mode", "walk", "--k", 3, "--json")
    assert code == 0
    d = json.loads(out)
    assert d["mode"] == "walk" and len(d["results"]) == 3
    times = [r["travel_s"] for r in d["results"]]
    assert times == sorted(times)
    for r in d["results"]:
        line = r["route"]["coordinates"]
        # the route runs from (near) the query point to (near) the station, in the query's GCJ-02
        assert abs(line[0][0] - 121.50) < 0.004 and abs(line[0][1] - 31.29) < 0.004
        st = r["station"]
        assert abs(line[-1][0] - st["lon"]) < 0.004 and abs(line[-1][1] - st["lat"]) < 0.004
        # walking at 5 km/h: time and network distance agree, and the network is never shorter than the crow
        assert r["distance_m"] / r["travel_s"] == pytest.approx(5 / 3.6, rel=0.35)
    code, out, _ = run(capsys, "--workspace", reg, "nearest", "--lon", 121.50, "--lat", 31.29, "--crs", "gcj02",
                       "--straight", "--k", 3, "--json")
    straight = json.loads(out)["results"]
    assert straight[0]["distance_m"] <= min(r["distance_m"] for r in d["results"]) + 1e-6


def test_isochrone_command_writes_nested_geojson(reg, capsys, tmp_path):
    from tests.conftest import DATA
    if not (DATA / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf").exists():
        pytest.skip("run `make data`")
    out = tmp_path / "c.geojson"
    code, _, err = run(capsys, "--workspace", reg, "isochrone", "--station", "YP001", "--minutes", "5,10,15",
                       "--mode", "walk", "--out", out)
    assert code == 0 and "15 分钟步行服务圈" in err
    import shapely.geometry
    fc = json.loads(out.read_text(encoding="utf-8"))
    feats = sorted(fc["features"], key=lambda f: f["properties"]["minutes"])
    assert [f["properties"]["minutes"] for f in feats] == [5, 10, 15]
    geoms = [shapely.geometry.shape(f["geometry"]) for f in feats]
    areas = [f["properties"]["area_km2"] for f in feats]
    assert areas == sorted(areas) and areas[0] > 0
    assert geoms[0].difference(geoms[1]).area < 0.01 * geoms[0].area  # 5 min lies within 10 min
    assert geoms[1].difference(geoms[2]).area < 0.01 * geoms[1].area
    code, _, err = run(capsys, "--workspace", reg, "isochrone", "--minutes", "15")
    assert code == 2 and "--station" in err
    code, _, err = run(capsys, "--workspace", reg, "isochrone", "--station", "YP001", "--minutes", "0")
    assert code == 2 and "--minutes" in err


def test_network_errors_are_clear(reg, capsys):
    from tests.conftest import DATA
    if not (DATA / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf").exists():
        pytest.skip("run `make data`")
    code, _, err = run(capsys, "--workspace", reg, "nearest", "--lon", 121.5, "--lat", 31.3, "--mode", "walk",
                       "--straight")
    assert code == 2 and "--straight" in err
    # far out in the Huangpu river mouth, outside the area the sample's streets cover: said so, by name
    code, _, err = run(capsys, "--workspace", reg, "nearest", "--lon", 121.60, "--lat", 31.40, "--mode", "walk")
    assert code == 2 and "不在本服务范围" in err and "Traceback" not in err
