"""The print poster (geomap.publish.poster): CJK font coverage of every label, the page size and resolution, and a
rendered sample poster (written to test-artifacts/ to look at)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_maps import grid_graph, stations_frame

from geomap import vocab
from geomap.cli.main import main as cli_main
from geomap.publish.poster import CJK_FAMILY, PosterError, cjk_font, make_poster, missing_glyphs
from geomap.stations.registry import Registry
from tests._workspaces import sample_workspace

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "data" / "yangpu" / "registry.gpkg"
PBF = ROOT / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"


def test_cjk_font_is_noto_sans_sc_and_has_every_vocabulary_label() -> None:
    from fontTools.ttLib import TTFont

    path, index = cjk_font()
    font = TTFont(path, fontNumber=index, lazy=True)
    families = {r.toUnicode() for r in font["name"].names if r.nameID in (1, 16)}
    assert CJK_FAMILY in families  # the Simplified Chinese face of the collection, not JP / KR
    labels = [t.label for voc in (vocab.kinds(), vocab.amenities()) for t in voc.terms.values()]
    assert missing_glyphs(labels) == frozenset()
    # the check can fail: a font without CJK glyphs misses them
    from matplotlib import font_manager as fm

    dejavu = fm.findfont("DejaVu Sans")
    assert set("服务站") <= missing_glyphs(["服务站"], font=(dejavu, 0))


def test_poster_png_a4_without_network(tmp_path: Path, artifacts_dir: Path) -> None:
    from PIL import Image

    df = stations_frame(25)
    out = tmp_path / "poster.png"
    s = make_poster(df, out, title="测试海报 · 五角场", paper="A4", dpi=100, graph=grid_graph(), streets=False)
    assert s.missing_glyphs == frozenset()
    assert s.stations == 25 and s.dpi == 100
    with Image.open(out) as im:
        w, h = im.size
        assert abs(w - 210 / 25.4 * 100) <= 2 and abs(h - 297 / 25.4 * 100) <= 2
        px = np.asarray(im.convert("RGB"))
    for key, term in vocab.kinds().terms.items():  # every kind's colour appears (its markers are drawn)
        if any(key in k for k in df.kinds):
            rgb = np.array([int(term.color[i:i + 2], 16) for i in (1, 3, 5)])
            assert (np.abs(px.astype(int) - rgb).sum(axis=2) < 12).sum() > 20, key
    assert any("服务圈" in t for t in s.texts) and "北" in s.texts
    (artifacts_dir / "poster_synthetic_a4.png").write_bytes(out.read_bytes())


def test_poster_errors_are_actionable(tmp_path: Path) -> None:
    df = stations_frame(5)
    with pytest.raises(PosterError, match=r"\.png 或 \.pdf"):
        make_poster(df, tmp_path / "x.jpg", circles=False, streets=False)
    with pytest.raises(PosterError, match="未知的纸张"):
        make_poster(df, tmp_path / "x.png", paper="B5", circles=False, streets=False)
    with pytest.raises(PosterError, match="空的"):
        make_poster(df.iloc[:0], tmp_path / "x.png", circles=False, streets=False)


@pytest.mark.realdata
def test_sample_poster_a3_300dpi_and_pdf(tmp_path: Path, artifacts_dir: Path) -> None:
    if not REGISTRY.exists() or not PBF.exists():
        pytest.skip("sample registry / OSM extract missing: run `make data`")
    from PIL import Image

    out = artifacts_dir / "poster_sample_a3.png"
    ws = sample_workspace(tmp_path / "yangpu")
    assert cli_main(["--workspace", str(ws.root), "poster", "--out", str(out)]) == 0
    with Image.open(out) as im:
        w, h = im.size  # A3 at 300 dpi (matplotlib truncates to whole pixels)
        assert abs(w - 297 / 25.4 * 300) <= 1 and abs(h - 420 / 25.4 * 300) <= 1
    pdf = tmp_path / "poster.pdf"
    s = make_poster(Registry(REGISTRY), pdf, circles=False, place=ws.name, publisher=ws.publisher)
    head = pdf.read_bytes()[:5]
    assert head == b"%PDF-" and s.dpi is None and s.missing_glyphs == frozenset()
    # the place heads the title and the publisher is credited
    assert s.texts[0] == "杨浦区新就业形态劳动者服务站点地图"
    assert any(t.startswith(f"发布：{ws.publisher}") for t in s.texts)
