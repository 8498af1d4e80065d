"""The poster as a printable directory (issue 20), checked on what was printed: the PDF's pages read back with
poppler (``pdftotext -raw``, ``pdftoppm``) and the QR code read with zbar's ``zbarimg`` (an independent decoder),
on the sample workspace (A4 and A3) and on a generated city with more stations than one index page holds.
Every station is in the index with its number, the legend's counts add up to the total, the title names the
place and the publisher, the QR code decodes to the workspace's ``public_url``. Pages go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from test_maps import grid_graph, stations_frame

from geomap import vocab
from geomap.cli.main import main as cli_main
from geomap.publish.maps import BAND_COLORS
from geomap.publish.poster import _spread, make_poster
from geomap.stations.registry import Registry
from tests._workspaces import made_up_place, sample_workspace

URL = "https://map.example.org/杨浦/rider?from=poster"
KIND_LABELS = [t.label for t in vocab.kinds().terms.values()]


def _tools() -> None:
    missing = [t for t in ("pdftotext", "pdftoppm", "pdfinfo", "zbarimg") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make sysdeps` (poppler-utils, zbar-tools)")


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def page_text(pdf: Path, page: int) -> str:
    """The page's text in drawing order (poppler's -raw)."""
    return subprocess.run(["pdftotext", "-raw", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def page_png(pdf: Path, page: int, out: Path, *, dpi: int = 150) -> Path:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", "-png", str(pdf),
                    str(out.with_suffix(""))], check=True)
    return out.with_suffix(".png")


def qr_codes(png: Path) -> list[str]:
    res = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
                         capture_output=True, text=True)
    return [line for line in res.stdout.splitlines() if line.strip()]


def check_directory(pdf: Path, stations: pd.DataFrame, *, place: str, publisher: str, url: str | None,
                    tmp: Path, artifacts: Path, tag: str) -> dict[str, int]:
    """What every poster must show, read from the PDF; returns the legend's counts."""
    n_pages = pdf_pages(pdf)
    texts = [page_text(pdf, p) for p in range(1, n_pages + 1)]
    for p in range(1, n_pages + 1):
        png = page_png(pdf, p, tmp / f"{tag}-{p}", dpi=100)
        shutil.copy(png, artifacts / f"poster_{tag}_page{p}.png")
    lines = [re.sub(r"\s+", "", t) for t in texts[0].splitlines()]
    # the title names the place; the line under it the publisher and the data date
    at = lines.index(f"{place}新就业形态劳动者服务站点地图")
    assert lines[at + 1].startswith(f"{publisher}发布".replace(" ", "")) and "数据截至" in lines[at + 1]
    # every station in the index with its number: "<number><name>" once, numbers 1..N each once
    flat = re.sub(r"\s+", "", "".join(texts))
    numbers = {}
    for name in stations["name"]:
        hits = re.findall(r"(\d+)" + re.escape(re.sub(r"\s+", "", name)), flat)
        assert len(hits) == 1, f"{name}: {hits}"
        numbers[name] = int(hits[0])
    assert sorted(numbers.values()) == list(range(1, len(stations) + 1)), numbers
    # the legend's counts add up to the total, and to the stations printed
    legend = {label: int(c) for label, c in re.findall(r"(" + "|".join(KIND_LABELS) + r")（(\d+)个）",
                                                       re.sub(r"[ \t]+", "", texts[0]))}
    total = int(re.search(r"合计(\d+)个站点", re.sub(r"\s+", "", texts[0])).group(1))
    assert set(legend) == set(KIND_LABELS)
    assert sum(legend.values()) == total == len(stations)
    # a station counts under one of its own kinds: each kind's count lies between the stations having only that
    # kind and the stations having it
    kv = vocab.kinds()
    for key, t in kv.terms.items():
        having = sum(key in list(k) for k in stations["kinds"])
        only = sum(list(k) == [key] for k in stations["kinds"])
        assert only <= legend[t.label] <= having, t.label
    # the credit names the publisher and OpenStreetMap, never a file name
    assert f"发布：{publisher}".replace(" ", "") in flat and "OpenStreetMap贡献者" in flat
    assert not re.search(r"\.(csv|xlsx|json|gpkg)", flat, re.I)
    assert f"第1页/共{n_pages}页" in flat and f"第{n_pages}页/共{n_pages}页" in flat
    # the QR code, read from the printed page by an independent decoder
    codes = qr_codes(page_png(pdf, 1, tmp / f"{tag}-qr", dpi=150))
    assert [unquote(c) for c in codes] == ([url] if url else [])  # Chinese in the address goes in percent-encoded
    assert all(c.isascii() for c in codes)
    return legend


@pytest.mark.realdata
@pytest.mark.parametrize("size", ["a4", "a3"])
def test_sample_poster_is_a_printable_directory(size: str, tmp_path: Path, artifacts_dir: Path) -> None:
    _tools()
    ws = sample_workspace(tmp_path / "yangpu")
    toml = ws.root / "geomap.toml"
    text = re.sub(r"(?m)^publisher = .*$", 'publisher = "杨浦区总工会"', toml.read_text(encoding="utf-8"))
    toml.write_text(text + f'public_url = "{URL}"\n', encoding="utf-8")
    pdf = tmp_path / f"poster_{size}.pdf"
    assert cli_main(["--workspace", str(ws.root), "poster", "--out", str(pdf), "--size", size]) == 0
    reg = Registry(ws.registry_path)
    stations = reg.frame()
    legend = check_directory(pdf, stations, place="杨浦区", publisher="杨浦区总工会", url=URL, tmp=tmp_path,
                             artifacts=artifacts_dir, tag=f"sample_{size}")
    # the sample's 久事公交逸仙路停车场司机之家 is a driver home and an outdoor station: counted once, as 司机之家
    assert legend["司机之家"] == 5 and sum(legend.values()) == 46
    # paper size: A4 / A3 portrait in points
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    w, h = (float(v) for v in re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    mm = {"a4": (210, 297), "a3": (297, 420)}[size]
    assert abs(w - mm[0] / 25.4 * 72) < 1 and abs(h - mm[1] / 25.4 * 72) < 1
    # main street names of the extract are written on the map
    text1 = re.sub(r"\s+", "", page_text(pdf, 1))
    assert sum(name in text1 for name in ("中环路", "邯郸路", "四平路", "黄兴路", "国权路", "政立路")) >= 5


def test_generated_city_index_runs_over_pages(tmp_path: Path, artifacts_dir: Path) -> None:
    """A made-up place with 130 stations: the index continues over further A4 pages, the city's main streets
    (经N路 / 纬N路, primary and secondary) are named, and without public_url there is no QR code."""
    _tools()
    ws, _city = made_up_place(tmp_path / "city", name="北京市合成区", publisher="合成区总工会", nodes=900,
                             stations=130)
    pdf = tmp_path / "poster.pdf"
    assert cli_main(["--workspace", str(ws.root), "poster", "--out", str(pdf), "--size", "a4"]) == 0
    stations = Registry(ws.registry_path).frame()
    assert len(stations) == 130
    n_pages = pdf_pages(pdf)
    assert n_pages >= 3  # page 1 and at least two pages of index
    check_directory(pdf, stations, place="北京市合成区", publisher="合成区总工会", url=None, tmp=tmp_path,
                    artifacts=artifacts_dir, tag="city_a4")
    text1 = re.sub(r"\s+", "", page_text(pdf, 1))
    named = [f"{p}{k}路" for p in "经纬" for k in (1, 6, 11, 16, 21, 26) if k <= 30]
    assert sum(name in text1 for name in named) >= 4


def test_png_pages_and_qr(tmp_path: Path) -> None:
    """PNG output: one file per page, the QR code on page 1 decodes to the address given."""
    _tools()
    df = stations_frame(70)
    out = tmp_path / "poster.png"
    s = make_poster(df, out, paper="A4", dpi=150, graph=grid_graph(), streets=False, place="测试区",
                    publisher="测试工会", qr_url="https://example.org/q")
    assert s.pages == len(s.paths) >= 2 and s.paths[0] == out and s.paths[1].name == "poster-2.png"
    assert all(p.exists() for p in s.paths)
    assert qr_codes(out) == ["https://example.org/q"]
    assert qr_codes(s.paths[1]) == []
    assert s.data_date is None and any("数据截至 未知" in t for t in s.texts)  # a plain table does not know its date


def test_markers_of_one_spot_are_moved_apart(tmp_path: Path) -> None:
    """Ten stations within a few metres: their markers no longer cover each other (no two centres closer
    than a marker), each tied to its place by a line."""
    rng = np.random.default_rng(4)
    p = np.column_stack([50 + rng.normal(0, 0.3, 10), 40 + rng.normal(0, 0.3, 10)])
    q = _spread(p, 4.0, lo=np.array([2.0, 2.0]), hi=np.array([98.0, 78.0]))
    d = np.hypot(*(q[:, None, :] - q[None, :, :]).transpose(2, 0, 1))
    assert d[np.triu_indices(10, 1)].min() >= 4.0 * 0.98
    assert np.abs(q - p).max() < 15  # they stay near their place
    df = stations_frame(10)
    df["lon"] = 121.50 + rng.normal(0, 2e-5, 10)
    df["lat"] = 31.30 + rng.normal(0, 2e-5, 10)
    s = make_poster(df, tmp_path / "p.pdf", paper="A4", circles=False, streets=False)
    assert s.moved >= 8 and any("细线连到站点实际位置" in t for t in s.texts)


def _lightness(hex_color: str) -> float:
    """CIE L* of an sRGB colour (D65), written out here from the CIE formulas."""
    rgb = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else 24389 / 27 * y


def test_band_colours_differ_in_lightness() -> None:
    """The first three service-circle bands and the white paper differ by at least 9 L* from one another (grey
    print, colour-blind readers), nearest darkest; and they are one hue (blue-violet), apart from the kinds."""
    light = [_lightness(c) for c in BAND_COLORS[:3]] + [100.0]
    assert all(b - a >= 9 for a, b in pairwise(light)), light
    for c in BAND_COLORS[:3]:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        assert b > r > g - 8 and b > g
