"""The published HTML map as a union hands it out (issue 20): heading with title, publisher and data date, the
OpenStreetMap credit in Chinese, the proposed sites of `geomap plan` with their before / after (the command
`geomap map --gaps sites.geojson` that failed), a print button whose page hides the controls; screenshots at
desktop and phone size and the printed page go to test-artifacts/."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_maps_browser import _open, _shot

from geomap.cli.main import main as cli_main
from geomap.publish.maps import _extract_data
from geomap.stations.registry import Registry
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The sample workspace (publisher 杨浦区总工会), its plan of 2 sites within 5 minutes, and the map made with
    that plan given as --gaps, as a user tried it."""
    tmp = tmp_path_factory.mktemp("publish")
    ws = sample_workspace(tmp / "yangpu")
    toml = ws.root / "geomap.toml"
    toml.write_text(re.sub(r"(?m)^publisher = .*$", 'publisher = "杨浦区总工会"', toml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    sites = tmp / "sites.geojson"
    assert cli_main(["--workspace", str(ws.root), "plan", "--add", "2", "--minutes", "5", "--out", str(sites)]) == 0
    page = tmp / "service_map.html"
    assert cli_main(["--workspace", str(ws.root), "map", "--out", str(page), "--gaps", str(sites),
                     "--sites-minutes", "5"]) == 0
    return {"ws": ws, "sites": sites, "page": page, "data": _extract_data(page.read_text(encoding="utf-8"))}


def _registry_day(path: Path) -> str:
    """The day of the registry's last change in Shanghai (UTC+8), read from its table with sqlite3."""
    with sqlite3.connect(path) as con:
        (last,) = con.execute("SELECT max(created_at) FROM geomap_changesets").fetchone()
        if last is None:  # a registry filled before change sets were kept: its last import
            (last,) = con.execute("SELECT max(finished_at) FROM geomap_imports").fetchone()
    d = (datetime.fromisoformat(last).astimezone(UTC) + timedelta(hours=8)).date()
    return f"{d.year}年{d.month}月{d.day}日"


def test_page_carries_title_publisher_date_and_chinese_credit(published: dict) -> None:
    data = published["data"]
    assert data["title"] == "杨浦区新就业形态劳动者服务站点地图" and data["publisher"] == "杨浦区总工会"
    assert data["dataDate"] == _registry_day(published["ws"].registry_path)
    assert "OpenStreetMap 贡献者" in data["attribution"] and "contributors" not in data["attribution"]
    assert "站点数据：杨浦区总工会" in data["attribution"]
    # the legend's counts are by main kind and add up to the stations
    assert sum(k["main"] for k in data["kinds"]) == data["total"] == len(Registry(published["ws"].registry_path))


def test_proposed_sites_layer_with_before_and_after(published: dict) -> None:
    plan = json.loads(published["sites"].read_text(encoding="utf-8"))["features"]
    sd = published["data"]["sites"]
    assert sd is not None and len(sd["features"]) == len(plan) == 2
    assert [f["name"] for f in sd["features"]] == [f["properties"]["name"] for f in sorted(
        plan, key=lambda f: f["properties"]["rank"])]
    # before -> after per layer, residents in whole people
    res = next(line for line in sd["lines"] if line.startswith("常住人口"))
    before, after, gain = re.fullmatch(r"常住人口：([\d.]+%) → ([\d.]+%)（新增 ([\d,]+) 人）", res).groups()
    assert float(before.rstrip("%")) < float(after.rstrip("%"))
    # what each site newly covers, measured by the map with the coverage library, agrees with the plan's own
    # cover matrix (another computation) to a person
    for f, p in zip(sd["features"], sorted(plan, key=lambda f: f["properties"]["rank"]), strict=True):
        if "residents_new" in p["properties"]:
            got = int(re.search(r"常住人口 ([\d,]+) 人", f["newText"]).group(1).replace(",", ""))
            assert abs(got - p["properties"]["residents_new"]) <= 1
    parts = [int(re.search(r"常住人口 ([\d,]+) 人", f["newText"]).group(1).replace(",", "")) for f in sd["features"]]
    assert abs(int(gain.replace(",", "")) - sum(parts)) <= len(parts)  # each part rounded on its own
    assert sd["newArea"] is not None and sd["newAreaKm2"] > 0


def test_map_in_chromium_desktop_phone_and_print(chromium, published: dict, artifacts_dir: Path,
                                                 tmp_path: Path) -> None:
    for name, (w, h) in {"desktop": (1280, 860), "phone": (390, 800)}.items():
        lo = _open(chromium, published["page"], width=w, height=h)
        lo.page.wait_for_timeout(300)
        _shot(lo, artifacts_dir, f"published_{name}")
        head = lo.page.locator(".gm-title").inner_text()
        assert "杨浦区新就业形态劳动者服务站点地图" in head and "杨浦区总工会" in head and "数据截至" in head
        assert "OpenStreetMap 贡献者" in lo.page.locator(".leaflet-control-attribution").inner_text()
        # the heading does not sit under the layer switcher
        t = lo.page.locator(".gm-title").bounding_box()
        s = lo.page.locator(".leaflet-control-layers").bounding_box()
        assert t["x"] + t["width"] <= s["x"] or t["y"] + t["height"] <= s["y"]
        # the scale bar is not under the credit line (on a phone the credit spans the width)
        sc = lo.page.locator(".leaflet-control-scale").bounding_box()
        at = lo.page.locator(".leaflet-control-attribution").bounding_box()
        assert sc["y"] + sc["height"] <= at["y"] or sc["x"] + sc["width"] <= at["x"], (sc, at)
        # clusters are dark on the light bands, not green on green
        if lo.page.locator(".gm-cluster span").count():
            rgb = lo.page.evaluate("getComputedStyle(document.querySelector('.gm-cluster span')).backgroundColor")
            r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
            assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 80
        assert lo.console == []
        lo.page.context.close()

    lo = _open(chromium, published["page"], width=1280, height=860)
    # the sites layer is drawn: two rank markers; a site's popup says what it newly covers
    assert lo.page.locator(".gm-site").count() == 2
    legend = lo.page.locator(".gm-legend").inner_text()
    assert "建设前 → 建设后" in legend and re.search(r"常住人口：[\d.]+% → [\d.]+%", legend)
    lo.page.locator(".gm-site").first.click()
    pop = lo.page.locator(".gm-site-pop").inner_text()
    assert "新增覆盖" in pop and re.search(r"常住人口 [\d,]+ 人", pop)
    _shot(lo, artifacts_dir, "published_site_popup")
    lo.page.keyboard.press("Escape")
    lo.page.evaluate("geomap.state.map.closePopup()")
    # print: the print button is there; in print the controls are gone, heading and legend stay
    assert lo.page.locator(".gm-print a[title='打印地图']").count() == 1
    lo.page.emulate_media(media="print")
    for sel in (".leaflet-control-zoom", ".leaflet-control-layers", ".gm-search", ".gm-locate", ".gm-print"):
        assert lo.page.evaluate(f"getComputedStyle(document.querySelector('{sel}')).display") == "none", sel
    assert lo.page.locator(".gm-title").is_visible() and lo.page.locator(".gm-legend").is_visible()
    _shot(lo, artifacts_dir, "published_print")
    pdf = tmp_path / "printed.pdf"
    lo.page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "80", "-f", "1", "-l", "1", "-singlefile", "-png", str(pdf),
                        str(artifacts_dir / "map_published_printed_a4")], check=True)
        text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "杨浦区新就业形态劳动者服务站点地图" in text and "搜索站点名称" not in text
    assert lo.console == []


def test_openstreetmap_is_credited_once_on_osm_tiles(published: dict, tmp_path: Path) -> None:
    """On OpenStreetMap's own tiles the tile layer credits OSM; the page's credit line adds only the
    publisher (it named OSM a second time before). Without tiles the page credits OSM for the streets."""
    from geomap.publish.maps import write_map

    reg = Registry(published["ws"].registry_path)
    for tiles in ("osm", "amap"):
        page = tmp_path / f"{tiles}.html"
        write_map(page, reg, tiles=tiles, layers="stations", publisher="杨浦区总工会")
        text = page.read_text(encoding="utf-8")
        credit = _extract_data(text)["attribution"]
        assert "站点数据：杨浦区总工会" in credit
        if tiles == "osm":  # the tile layer's own credit names OpenStreetMap
            assert "OpenStreetMap" not in credit and "tile.openstreetmap.org" in text
        else:
            assert "OpenStreetMap 贡献者" in credit
