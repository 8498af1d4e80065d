"""``geomap report`` over a regions workspace (geomap.regions.report): one planner report per region written by
the ``report`` batch task, and an overview page whose figures are the ``coverage`` batch's per region and the
sums of their counts in total; a failed region listed with its error while the others are written; a rerun
reading the cache and still leaving every file; the same reports from a local Dask cluster of 2 workers."""

from __future__ import annotations

import html
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geomap.cli.main import main
from geomap.regions.batch import run_batch
from geomap.regions.report import run_reports
from geomap.regions.workspace import write_regions_workspace

OPTIONS = {"minutes": 5.0, "mode": "walk", "add": 1, "solver": "greedy"}
COVERAGE_COLUMNS = ["region", "region_name", "stations", "stations_routed", "street_km", "street_covered_km",
                    "covered_area_km2", "residents", "restaurants", "residents_covered", "restaurants_covered",
                    "street_share", "residents_share", "restaurants_share"]


def pct(x: float) -> str:
    """A share as a page should print it (independent of the library's formatting)."""
    return f"{100 * x:.1f}%"


def people(x: float) -> str:
    return f"{math.floor(x + 0.5):,}"


def overview_rows(page: str) -> dict[str, list[str]]:
    """The overview table's rows: first cell (region or 合计) -> the other cells' text, footnote marks dropped."""
    table = page[page.index('<table class="overview">'):]
    table = table[:table.index("</table>")]
    rows = {}
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<sup>.*?</sup>", "", c, flags=re.S))).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def card(page: str, label: str) -> str:
    m = re.search(rf'<div class="label">{re.escape(label)}</div>\s*<div class="value">(.*?)</div>', page)
    assert m, label
    return html.unescape(m.group(1))


@pytest.fixture(scope="module")
def reports(three_regions, tmp_path_factory: pytest.TempPathFactory):
    rws, _ = three_regions
    out = tmp_path_factory.mktemp("reports") / "报告"
    rr = run_reports(rws, out, workers=0, progress=False, **OPTIONS)
    coverage = run_batch(rws, "coverage", workers=0, use_cache=False, progress=False,
                         params={"minutes": OPTIONS["minutes"], "mode": OPTIONS["mode"]})
    return rws, rr, coverage


def test_one_report_per_region_and_an_overview_with_the_coverage_figures(reports) -> None:
    rws, rr, coverage = reports
    res = rr.batch
    assert not res.failed and sorted(res.computed) == sorted(rws.keys)
    # the task's figures are the coverage batch's, region by region
    pd.testing.assert_frame_equal(res.regions[COVERAGE_COLUMNS], coverage.regions[COVERAGE_COLUMNS])
    pd.testing.assert_frame_equal(res.subdistricts, coverage.subdistricts)
    assert (res.regions["proposed"] == 1).all()
    page = rr.overview.read_text(encoding="utf-8")
    rows = overview_rows(page)
    for r in coverage.regions.itertuples():
        report = (rr.out / f"{r.region}.html").read_text(encoding="utf-8")
        assert f"<h1>{r.region_name}站点步行5分钟服务圈规划报告</h1>" in report and 'href="index.html"' in report
        # the region's own report says the same: its own stations, its shares (totals of its 街道 only)
        assert card(report, "本地区站点") == f"{r.stations} 个"
        assert card(report, "餐饮取餐点") == pct(r.restaurants_share)
        assert card(report, "道路") == pct(r.street_share)
        if np.isfinite(r.residents_share):
            assert card(report, "常住人口") == pct(r.residents_share)
        else:
            assert card(report, "常住人口") == "无数据"
        # its row in the overview, a missing figure as — (never 0 %), the link to its report
        residents = ([people(r.residents), pct(r.residents_share)] if np.isfinite(r.residents) else ["—", "—"])
        assert rows[r.region_name] == [str(r.stations), *residents, people(r.restaurants), pct(r.restaurants_share),
                                       f"{r.street_km:,.1f}", pct(r.street_share), "1", f"{r.region}.html"]
        assert f'<a href="{r.region}.html">{r.region_name}</a>' in page
    # the totals: counts summed, shares recomputed from the sums (not the mean of the regions' shares)
    c = coverage.regions
    rest = c["restaurants_covered"].sum() / c["restaurants"].sum()
    assert pct(rest) != pct(c["restaurants_share"].mean())
    res_share = np.nansum(c["residents_covered"]) / np.nansum(c["residents"])
    street = c["street_covered_km"].sum() / c["street_km"].sum()
    assert rows["合计"] == [str(c["stations"].sum()), people(np.nansum(c["residents"])), pct(res_share),
                          people(c["restaurants"].sum()), pct(rest), f"{c['street_km'].sum():,.1f}", pct(street),
                          str(len(c)), ""]
    assert card(page, "餐饮取餐点") == pct(rest) and card(page, "道路") == pct(street)
    # why residents are missing: 虹口区 and 合成市 have no census in geomap.toml; the total leaves them out
    text = re.sub(r"<[^>]+>", "", page)
    assert "虹口区、合成市：没有人口普查数据" in text  # one note for both
    assert "不含没有常住人口数字的虹口区、合成市" in text
    assert "所有地区都已完成" in text
    for word in ("nan", "NaN", "None"):
        assert word not in text, word
    assert not any(cell in ("0.0%", "0") for cells in rows.values() for cell in cells)


def test_a_failed_region_is_listed_the_others_written_and_a_rerun_uses_the_cache(three_regions, tmp_path: Path,
                                                                                capsys) -> None:
    _, city = three_regions
    good, bad = tmp_path / "good.osm.pbf", tmp_path / "other.osm.pbf"
    shutil.copyfile(city.osm_path, good)
    bad.write_bytes(b"not an OSM file")
    outline = city.osm_path.parent / "outline.geojson"
    rws = write_regions_workspace(tmp_path / "ws", name="两地", publisher="某市总工会", buffer_m=500, regions=[
        {"key": "good", "name": "甲市", "osm_path": good, "boundary_path": outline},
        {"key": "broken", "name": "乙市", "osm_path": bad, "boundary_path": outline}])
    rws.registry.import_file(city.stations_path, crs="gcj02")
    out = tmp_path / "out"
    out.mkdir()
    (out / "broken.html").write_text("an older report", encoding="utf-8")  # of other inputs: not left beside
    args = ["-w", str(rws.root), "report", "--out", str(out), "--workers", "0", "--minutes", "5", "--mode", "walk",
            "--add", "0"]
    assert main([*args, "--region", "broken"]) == 1  # nothing finished: an overview all the same, no figure
    rows = overview_rows((out / "index.html").read_text(encoding="utf-8"))
    assert rows == {"乙市": ["未完成，原因见第三节"], "合计": ["—"] * 7 + [""]}
    assert main(args) == 1  # a region failed
    err = capsys.readouterr().err
    assert "地区 broken 未完成" in err
    assert (out / "good.html").exists() and not (out / "broken.html").exists()
    page = (out / "index.html").read_text(encoding="utf-8")
    rows = overview_rows(page)
    assert rows["乙市"] == ["未完成，原因见第三节"]
    failed = page[page.index("三、未完成的地区"):page.index("四、说明")]
    error = re.search(r"地区 broken 未完成：(.+)", err).group(1)  # the batch's error, as the command said it
    assert "乙市" in failed and f"<code>{html.escape(error, quote=False)}</code>" in failed
    assert "发布：某市总工会" in page
    assert rows["合计"] == [*rows["甲市"][:-1], ""]  # the total is the one finished region's
    assert pd.read_csv(out / "regions.csv")["地区代码"].tolist() == ["good"]

    shutil.copyfile(city.osm_path, bad)  # the data fixed: only the failed region runs again
    params = {"minutes": 5, "mode": "walk", "add": 0}  # the command's, its defaults left out: the same cache key
    second = run_reports(rws, out, workers=0, progress=False, **params)
    assert not second.batch.failed and second.batch.cached == ["good"] and second.batch.computed == ["broken"]
    first_page = (out / "good.html").read_bytes()
    # a rerun reads everything from the cache, and still leaves the files, here or in another folder
    shutil.rmtree(out)
    third = run_reports(rws, out, workers=0, progress=False, **params)
    assert third.batch.computed == [] and third.batch.cached == ["good", "broken"]
    assert (out / "good.html").read_bytes() == first_page and (out / "broken.html").exists()
    assert set(overview_rows(third.overview.read_text(encoding="utf-8"))) == {"甲市", "乙市", "合计"}
    pd.testing.assert_frame_equal(third.batch.regions, second.batch.regions)
    elsewhere = run_reports(rws, tmp_path / "elsewhere", workers=0, progress=False, **params)
    assert elsewhere.batch.computed == [] and (tmp_path / "elsewhere" / "broken.html").exists()
    # a cached answer whose report copy is gone is computed again
    for kept in (rws.cache_dir / "batch" / "report").glob("good-*.html"):
        kept.unlink()
    fourth = run_reports(rws, out, workers=0, progress=False, **params)
    assert fourth.batch.computed == ["good"] and fourth.batch.cached == ["broken"] and not fourth.batch.failed
    assert list(fourth.batch.regions["region"]) == ["good", "broken"]
    assert (out / "good.html").exists()


def test_a_local_cluster_of_two_workers_writes_the_same_reports(reports, tmp_path: Path) -> None:
    rws, sequential, _ = reports
    on_two = run_reports(rws, tmp_path / "two", workers=2, use_cache=False, progress=False, **OPTIONS)
    assert not on_two.batch.failed and sorted(on_two.batch.computed) == sorted(rws.keys)
    pd.testing.assert_frame_equal(on_two.batch.regions, sequential.batch.regions)
    assert overview_rows(on_two.overview.read_text(encoding="utf-8")) == \
        overview_rows(sequential.overview.read_text(encoding="utf-8"))
    for key in rws.keys:
        assert (tmp_path / "two" / f"{key}.html").stat().st_size > 10_000


def test_pdfs_of_a_region_and_the_overview(three_regions, tmp_path: Path, capsys) -> None:
    rws, _ = three_regions
    from tests.publish.test_report import pdf_text

    assert main(["-w", str(rws.root), "report", "--out", str(tmp_path), "--workers", "0", "--region", "gen",
                 "--minutes", "5", "--mode", "walk", "--add", "0", "--pdf"]) == 0
    assert "合成市站点步行5分钟服务圈规划报告" in pdf_text(tmp_path / "gen.pdf")
    overview = " ".join(pdf_text(tmp_path / "index.pdf").split())
    assert "测试省站点步行5分钟服务圈规划报告（各地区总览）" in overview and "合成市" in overview
    # without --pdf: the region's PDF of the same inputs stays (linked), the overview's goes; of others, both go
    args = ["-w", str(rws.root), "report", "--out", str(tmp_path), "--workers", "0", "--region", "gen", "--mode",
            "walk", "--add", "0"]
    assert main([*args, "--minutes", "5"]) == 0
    assert (tmp_path / "gen.pdf").exists() and not (tmp_path / "index.pdf").exists()
    assert 'href="gen.pdf"' in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert main([*args, "--minutes", "6"]) == 0
    assert not (tmp_path / "gen.pdf").exists() and "步行6分钟" in (tmp_path / "gen.html").read_text(encoding="utf-8")
    assert main(["-w", str(rws.root), "report", "--out", str(tmp_path / "r.pdf")]) == 2
    assert "写进一个文件夹" in capsys.readouterr().err
