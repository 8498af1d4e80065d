"""The planner's report (geomap.publish.report): printed to PDF by headless Chromium and read back with poppler
(``pdftotext`` for its words, ``pdftoppm`` for its pages): its figures equal the library's coverage table, a
place without census data shows no residents figure and says why, proposals are named by their streets. The
pages are written to test-artifacts/ to look at."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import shapely

from geomap.cli.main import main
from tests._workspaces import made_up_place, sample_workspace

JARGON = ("目标值", "1 − 1/e", "1-1/e", "Empty DataFrame", "NaN", "nan%", "greedy", "objective", "H3网格")


def _poppler() -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.fail("poppler-utils missing (pdftotext, pdftoppm): run `make sysdeps`")


def pdf_text(pdf: Path) -> str:
    _poppler()
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_pages(pdf: Path, folder: Path, *, dpi: int = 60) -> list[Path]:
    _poppler()
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"))


def pct(x: float) -> str:
    """A share as the report should print it (independent of the library's formatting)."""
    return f"{100 * x:.1f}%"


def people(x: float) -> str:
    return f"{math.floor(x + 0.5):,}"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> tuple:  # type: ignore[type-arg]
    """The sample workspace's report for canteens on foot, 2 new sites, both solvers, made by the command."""
    folder = tmp_path_factory.mktemp("report")
    ws = sample_workspace(folder / "ws")
    pdf = folder / "报告.pdf"
    assert main(["--workspace", str(ws.root), "report", "--mode", "walk", "--kind", "canteen", "--add", "2",
                 "--out", str(pdf)]) == 0
    return ws, pdf, pdf_text(pdf)


@pytest.mark.realdata
def test_report_figures_equal_the_coverage_table(sample_report: tuple) -> None:  # type: ignore[type-arg]
    ws, _, text = sample_report
    study = ws.study()
    res = study.coverage(ws.registry.index, mode="walk", kind="canteen", minutes=15)
    assert "杨浦区爱心食堂步行15分钟服务圈规划报告" in text
    # headline: the share over the 街道 with census figures, naming the others
    assert f"{pct(res.share('residents'))}（不含没有常住人口数字的曲阳路街道、江湾镇街道）" in text
    assert pct(res.share("restaurants")) in text
    # the per-街道 table, row by row, against the library's exact table
    table = text[text.index("二、各街道覆盖情况"):text.index("图 1")]
    for rec in res.table.to_dict("records"):
        line = next(ln for ln in table.splitlines() if ln.split()[:1] == [rec["subdistrict"]])
        want = [rec["subdistrict"], pct(rec["street_share"])]
        if math.isnan(rec["residents"]):
            want += ["无数据"] * 3
        else:
            want += [people(rec["residents"]), people(rec["residents_covered"]), pct(rec["residents_share"])]
        want += [people(rec["restaurants"]), people(rec["restaurants_covered"]),
                 "—" if rec["restaurants"] == 0 else pct(rec["restaurants_share"])]
        assert line.split()[:len(want)] == want, line
    for word in JARGON:
        assert word not in text, word


@pytest.mark.realdata
def test_report_proposals_are_named_by_streets_and_both_answers_compared(sample_report: tuple) -> None:  # type: ignore[type-arg]
    ws, _, text = sample_report
    study = ws.study()
    res = study.coverage(ws.registry.index, mode="walk", kind="canteen", minutes=15, with_area=False)
    roads = set(study.features.street_names.values())
    walk = study.graph("walk")
    for solver in ("exact", "greedy"):
        plan = study.plan(ws.registry.index, p=2, mode="walk", kind="canteen", solver=solver, result=res)
        assert len(plan.table) == 2
        for row in plan.table.itertuples():
            assert row.name in text
            m = re.fullmatch(r"(.+?)与(.+?)交叉口附近|(.+?)附近", row.address)
            assert m, row.address
            named = [g for g in m.groups() if g]
            assert set(named) <= roads
            for road in named:  # each named road really passes near the site (≤ 200 m junction / 400 m road)
                assert _distance_to_road_m(walk, study.features.street_names, road, row.lon, row.lat) <= 400
            if row.source == "网格中心":
                assert row.name == row.address
            else:
                assert row.address in text
    assert "整体最优的答案" in text and "逐个挑选的答案" in text and "两种算法比较：" in text
    # before / after: the 合计 row of the after table equals the plan's cumulative shares
    exact = study.plan(ws.registry.index, p=2, mode="walk", kind="canteen", solver="exact", result=res)
    last = exact.table.iloc[-1]
    after = text[text.index("新增前后对比"):]
    total = next(ln for ln in after.splitlines() if ln.split()[:1] == ["合计"]).split()
    assert total[1:4] == [pct(res.share("residents")), pct(last["residents_share_after"]),
                          people(exact.table["residents_new"].sum())]


def _distance_to_road_m(graph, names: dict[int, str], road: str, lon: float, lat: float) -> float:  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    from geomap.coords import local_metric_crs

    tr = Transformer.from_crs("EPSG:4326", local_metric_crs(lon, lat), always_xy=True)
    ids = [i for i, w in enumerate(graph.street_way_id.tolist()) if names.get(w) == road]
    off = graph.geom_offsets
    lines = []
    for i in ids:
        x, y = tr.transform(graph.geom_lon[off[i]:off[i + 1]], graph.geom_lat[off[i]:off[i + 1]])
        lines.append(shapely.LineString(np.column_stack([x, y])))
    return float(shapely.distance(shapely.Point(0.0, 0.0), shapely.union_all(lines)))


@pytest.mark.realdata
def test_report_pages_show_the_maps(sample_report: tuple, tmp_path: Path, artifacts_dir: Path) -> None:  # type: ignore[type-arg]
    from PIL import Image

    _, pdf, text = sample_report
    pages = pdf_pages(pdf, tmp_path)
    n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                                                        check=True).stdout).group(1))
    assert len(pages) == n and f"第 1 页，共 {n} 页" in text and f"第 {n} 页，共 {n} 页" in text
    colours = {"gap (20–30 min)": (0xE6, 0x55, 0x0D), "covered now": (0x6B, 0xAE, 0xD6)}
    seen = {k: 0 for k in colours}
    for i, page in enumerate(pages):
        with Image.open(page) as im:
            px = np.asarray(im.convert("RGB")).astype(int)
            assert im.size[0] < im.size[1]  # A4 portrait
        for key, rgb in colours.items():
            seen[key] += int((np.abs(px - np.array(rgb)).sum(axis=2) < 40).sum())
        shutil.copy(page, artifacts_dir / f"report_sample_{i + 1}.png")
    assert all(v > 500 for v in seen.values()), seen


def test_report_without_census_shows_no_residents_figure_and_says_why(tmp_path: Path, artifacts_dir: Path) -> None:
    from geomap.publish.report import workspace_report

    ws, city = made_up_place(tmp_path / "place", restaurants=40)
    rep = workspace_report(ws, mode="walk", minutes=5, add=2, solver="exact")
    pdf = rep.write(tmp_path / "report.pdf")
    text = pdf_text(pdf)
    head = text[:text.index("二、各街道覆盖情况")]
    flat = re.sub(r"\s+", "", head)  # words as read, whatever the line breaks
    assert "未计算常住人口（没有人口普查数据）" in flat  # the headline sentence
    assert "无数据" in head and "未计算：没有人口普查数据" in flat  # the residents card: no figure, and why
    assert not re.search(r"常住人口[^\n]{0,8}\d+(\.\d)?%", text)  # no residents share anywhere
    assert "常住人口（人）" not in text  # no residents column in any table
    assert "无：工作区没有人口普查表，报告不含常住人口" in " ".join(text.split())
    # the restaurants are measured: their share equals the library's
    assert f"餐饮取餐点的{pct(rep.before.share('restaurants'))}" in flat
    # proposals (grid-cell centres: the place has no host places) named by the nearest lattice corner's streets
    x0, y0, x1, y1 = city.bbox_wgs84
    dlon, dlat = (x1 - x0) / (city.nx - 1), (y1 - y0) / (city.ny - 1)
    plan = rep.plans["exact"].table
    assert len(plan) == 2
    for row in plan.itertuples():
        i = int(np.clip(round((row.lon - x0) / dlon), 0, city.nx - 1))
        j = int(np.clip(round((row.lat - y0) / dlat), 0, city.ny - 1))
        assert row.name in {f"经{i + 1}路与纬{j + 1}路交叉口附近", f"纬{j + 1}路与经{i + 1}路交叉口附近"}
        assert row.name in text
    for i, page in enumerate(pdf_pages(pdf, tmp_path / "pages")):
        shutil.copy(page, artifacts_dir / f"report_no_census_{i + 1}.png")


def test_report_html_is_self_contained_and_bad_outputs_are_refused(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ws, _ = made_up_place(tmp_path / "place", restaurants=10)
    html = tmp_path / "report.html"
    assert main(["--workspace", str(ws.root), "report", "--mode", "walk", "--minutes", "5", "--add", "0",
                 "--out", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2  # coverage and gap maps; no proposals asked
    assert "<script" not in page and not re.search(r"""(?:src|href)=["']https?:""", page)
    assert "选址建议" not in page
    capsys.readouterr()
    assert main(["--workspace", str(ws.root), "report", "--out", str(tmp_path / "report.docx")]) == 2
    assert "报告写成 .pdf 或 .html" in capsys.readouterr().err


def test_headline_json_of_the_report_matches_its_coverage(tmp_path: Path) -> None:
    """The headline cards read the same coverage result the tables do (a library-level check, no browser)."""
    from geomap.publish.report import workspace_report

    ws, _ = made_up_place(tmp_path / "place", restaurants=20)
    rep = workspace_report(ws, mode="walk", minutes=5, add=0)
    cards = {c["label"]: c for c in rep.headline()}
    assert cards["餐饮取餐点"]["value"] == pct(rep.before.share("restaurants"))
    assert cards["常住人口"]["value"] == "无数据" and cards["常住人口"]["missing"]
    assert cards["道路"]["value"] == pct(rep.before.street_share())
    json.dumps(cards, ensure_ascii=False)  # plain data
