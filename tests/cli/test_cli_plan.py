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
    table = pd.read_csv(out / "coverage.csv", encoding="utf-8-sig")
    assert table["subdistrict"].iloc[-1] == "合计"
    assert 0 < table["residents_share"].iloc[-1] < 1
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
    assert "贪心算法" in printed and "精确解" in printed and "贪心 / 精确" in printed
    sites = json.loads(plan.read_text(encoding="utf-8"))["features"]
    assert len(sites) == 2 and all(s["properties"]["serves"] for s in sites)


@pytest.mark.realdata
@pytest.mark.parametrize("argv,needle", [
    (["coverage", "--minutes", "0"], "--minutes"),
    (["plan", "--add", "0"], "--add"),
    (["plan", "--add", "1", "--candidates", "banks"], "unknown source"),
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
