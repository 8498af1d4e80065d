"""`geomap coverage / gaps / plan` on the sample registry and the real extract."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geomap.cli.main import main
from tests._workspaces import sample_workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample workspace whose registry this command imported; the workspace folder."""
    ws = sample_workspace(tmp_path_factory.mktemp("cli"), registry=False)
    assert main(["--workspace", str(ws.root), "import", str(ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv"),
                 "--crs", "gcj02"]) == 0
    return ws.root


@pytest.mark.realdata
def test_coverage_command_table_summary_and_files(reg_path: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cov"
    rc = main(["--workspace", str(reg_path), "coverage", "--mode", "walk", "--kind", "司机之家",
               "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "五角场街道" in printed and "合计" in printed
    assert "在步行15分钟内可到达司机之家" in printed
    table = pd.read_csv(out / "coverage_data.csv", encoding="utf-8-sig")  # exact values, for programs
    assert table["subdistrict"].iloc[-1] == "合计"
    assert 0 < table["residents_share"].iloc[-1] < 1
    # coverage.csv is for people: Chinese headers, whole people, percentages to one decimal, 无数据 + why
    people = pd.read_csv(out / "coverage.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(people.columns[:4]) == ["街道", "道路总长（公里）", "15分钟内道路（公里）", "道路覆盖率"]
    assert people["街道"].tolist() == table["subdistrict"].tolist()
    for (_, want), (_, got) in zip(table.iterrows(), people.iterrows(), strict=True):
        if pd.isna(want["residents"]):
            assert got["常住人口（人）"] == got["常住人口覆盖率"] == "无数据" and "普查" in got["说明"]
            continue
        assert got["常住人口（人）"] == str(round(want["residents"]))
        assert got["15分钟内常住人口（人）"] == str(round(want["residents_covered"]))
        assert got["常住人口覆盖率"] in (f"{100 * want['residents_share']:.1f}%", ">99.9%", "<0.1%")
    assert people["街道"].iloc[-1] == "合计" and "不含曲阳路街道、江湾镇街道" in people["说明"].iloc[-1]
    area = json.loads((out / "covered_area.geojson").read_text(encoding="utf-8"))
    assert area["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    rest = json.loads((out / "restaurants.geojson").read_text(encoding="utf-8"))
    assert {"travel_min", "covered"} <= set(rest["features"][0]["properties"])
    # --json gives the same shares
    assert main(["--workspace", str(reg_path), "coverage", "--mode", "walk", "--kind", "driver_home", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"][-1]["residents_share"] == pytest.approx(table["residents_share"].iloc[-1])


@pytest.mark.realdata
def test_gaps_and_plan_commands(reg_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gaps = tmp_path / "gaps.geojson"
    assert main(["--workspace", str(reg_path), "gaps", "--mode", "walk", "--kind", "driver_home",
                 "--out", str(gaps)]) == 0
    fc = json.loads(gaps.read_text(encoding="utf-8"))
    ranks = sorted(f["properties"]["gap_rank"] for f in fc["features"] if f["properties"]["gap_rank"] is not None)
    assert ranks == list(range(1, len(ranks) + 1)) and ranks
    capsys.readouterr()
    plan = tmp_path / "plan.geojson"
    assert main(["--workspace", str(reg_path), "plan", "--add", "2", "--mode", "walk", "--kind", "driver_home",
                 "--solver", "both", "--out", str(plan)]) == 0
    printed = capsys.readouterr().out
    assert "【逐个挑选】" in printed and "【整体最优】" in printed and "两种算法比较：" in printed
    for jargon in ("目标值", "1 − 1/e", "Empty DataFrame", "greedy", "objective"):
        assert jargon not in printed
    # both answers kept, each as GeoJSON (exact values) and a Chinese CSV
    answers = {}
    for solver in ("greedy", "exact"):
        fc = json.loads((tmp_path / f"plan_{solver}.geojson").read_text(encoding="utf-8"))
        assert fc["solver"] == solver
        sites = fc["features"]
        assert len(sites) == 2 and all(s["properties"]["serves"] and s["properties"]["address"] for s in sites)
        answers[solver] = sites
        people = pd.read_csv(tmp_path / f"plan_{solver}.csv", encoding="utf-8-sig", dtype=str)
        assert people["名称"].tolist() == [s["properties"]["name"] for s in sites]
        want = [str(round(s["properties"]["residents_new"])) for s in sites]
        assert people["新增覆盖常住人口（人）"].tolist() == want
    assert not plan.exists()


@pytest.mark.realdata
def test_plan_candidates_fit_the_kind_and_none_is_said_in_chinese(reg_path: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Canteens are not proposed in banks unless the planner allows it; no candidate is one Chinese line."""
    out = tmp_path / "canteens.geojson"
    assert main(["--workspace", str(reg_path), "plan", "--add", "3", "--mode", "walk", "--kind", "canteen",
                 "--candidates", "osm", "--out", str(out)]) == 0
    sources = {f["properties"]["source"] for f in json.loads(out.read_text(encoding="utf-8"))["features"]}
    assert sources and sources <= {"社区中心", "社区服务设施", "餐馆", "快餐店", "美食广场"}
    from geomap.workspace import open_workspace

    study = open_workspace(reg_path).study()
    fit = study.candidates(sources=("osm",), kind="canteen")
    anyhost = study.candidates(sources=("osm",), kind="canteen", any_host=True)
    assert "银行网点" not in set(fit.source) and "银行网点" in set(anyhost.source)
    assert set(fit.ids) < set(anyhost.ids)
    # a study area holding no host place: no candidates, said in one Chinese line
    capsys.readouterr()
    rc = main(["--workspace", str(reg_path), "plan", "--add", "1", "--mode", "walk", "--kind", "canteen",
               "--candidates", "osm", "--study-area", str(_tiny_area(tmp_path))])
    captured = capsys.readouterr()
    assert rc == 2 and "Empty DataFrame" not in captured.out + captured.err
    assert "error: 没有候选地点：研究范围内没有适合设站的场所（社区中心" in captured.err


@pytest.mark.realdata
@pytest.mark.parametrize("argv,needle", [
    (["coverage", "--minutes", "0"], "--minutes"),
    (["plan", "--add", "0"], "--add"),
    (["plan", "--add", "1", "--candidates", "banks"], "未知的候选来源 banks"),
    (["report", "--add", "1", "--candidates", "banks", "--out", "r.pdf"], "未知的候选来源 banks"),
    (["gaps", "--pickup-weight", "-1"], "--pickup-weight"),
    (["coverage", "--kind", "飞船"], "飞船"),
])
def test_planner_commands_reject_bad_input(reg_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                           needle: str) -> None:
    rc = main(["--workspace", str(reg_path), *argv])
    assert rc == 2
    assert needle in capsys.readouterr().err


@pytest.mark.realdata
def test_real_gaps_output_draws_on_the_map(reg_path: Path, tmp_path: Path) -> None:
    """The gap grid `geomap gaps --out` writes is what `geomap map --gaps` reads (the agreed contract)."""
    from geomap.publish.maps import gap_payload, load_gaps

    gaps = tmp_path / "gaps.geojson"
    assert main(["--workspace", str(reg_path), "gaps", "--mode", "walk", "--kind", "canteen",
                 "--out", str(gaps)]) == 0
    written = json.loads(gaps.read_text(encoding="utf-8"))["features"]
    fc = gap_payload(load_gaps(gaps))
    assert len(fc["features"]) == len(written)
    by_h3 = {f["properties"]["h3"]: f["properties"] for f in written}
    for f in fc["features"]:
        src = by_h3[f["properties"]["h3"]]
        assert f["properties"]["gap_rank"] == src["gap_rank"]
        assert f["properties"]["covered"] == src["covered"]
    html = tmp_path / "map.html"
    assert main(["--workspace", str(reg_path), "map", "--out", str(html), "--tiles", "none", "--mode", "walk",
                 "--layers", "stations,gaps", "--gaps", str(gaps)]) == 0
    assert html.stat().st_size > 0


def _tiny_area(folder: Path) -> Path:
    """A 40 m square in the sample's north-west corner, where the extract holds no place to host a station."""
    path = folder / "tiny.geojson"
    lon, lat = 121.4800, 31.3290
    d = 0.0002
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}),
        encoding="utf-8")
    return path
