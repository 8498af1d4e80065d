"""The print poster: a static service map as PNG or PDF (matplotlib), A3 at 300 dpi by default.

Drawn in the local metric frame of the map (``geomap.coords.local_metric_crs``: azimuthal equidistant
around the centre, metres, north up): streets of the OSM extract by class, service-circle bands
(:func:`geomap.publish.maps.service_bands`), stations by kind with the vocabulary's colours (one marker shape per
kind, in vocabulary order), title, legend, scale bar, north arrow and the attribution
"© OpenStreetMap contributors". Text is set in Noto Sans CJK SC (Debian ``fonts-noto-cjk``, installed by
``make sysdeps``); :func:`missing_glyphs` checks that the font has every character a poster uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geomap import coords, vocab
from geomap.settings import get_settings

if TYPE_CHECKING:
    from geomap.network.graph import StreetGraph
    from geomap.stations.registry import Registry

__all__ = ["CJK_FAMILY", "PAPER_MM", "PosterError", "PosterSummary", "cjk_font", "make_poster", "missing_glyphs"]

CJK_FAMILY = "Noto Sans CJK SC"
PAPER_MM: dict[str, tuple[float, float]] = {
    "A0": (841, 1189), "A1": (594, 841), "A2": (420, 594), "A3": (297, 420), "A4": (210, 297),
}
"""Paper sizes (width, height) in millimetres, portrait."""

KIND_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
"""Marker shape per station kind, by the kind's position in ``vocab/kinds.toml``."""

DEFAULT_TITLE = "新就业形态劳动者服务站点地图"
ATTRIBUTION = "底图数据 © OpenStreetMap contributors（ODbL）"


class PosterError(ValueError):
    """A poster request that cannot be met, with what to do (Chinese)."""


@dataclass(frozen=True)
class PosterSummary:
    """What :func:`make_poster` wrote."""

    path: Path
    paper: str
    dpi: int | None
    stations: int
    font_file: str
    texts: tuple[str, ...] = field(repr=False)
    missing_glyphs: frozenset[str] = frozenset()


@cache
def cjk_font() -> tuple[str, int]:
    """Path and face index (inside a .ttc collection) of the CJK font, as matplotlib resolves it."""
    from matplotlib import font_manager as fm

    for entry in fm.fontManager.ttflist:
        if entry.name == CJK_FAMILY and entry.weight in (400, "normal", "regular"):
            return entry.fname, int(getattr(entry, "index", 0) or 0)
    for entry in fm.fontManager.ttflist:
        if entry.name == CJK_FAMILY:
            return entry.fname, int(getattr(entry, "index", 0) or 0)
    raise PosterError(f"未找到中文字体 {CJK_FAMILY}：请运行 `make sysdeps`（安装 Debian 软件包 fonts-noto-cjk），"
                      "然后删除 matplotlib 字体缓存（~/.cache/matplotlib）后重试")


@cache
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=index, lazy=True)
    return frozenset(font.getBestCmap())


def missing_glyphs(texts: Iterable[str], *, font: tuple[str, int] | None = None) -> frozenset[str]:
    """Characters of ``texts`` (whitespace aside) that the CJK font (or ``font``: path, face index) lacks."""
    path, index = font or cjk_font()
    cmap = _cmap(path, index)
    return frozenset(ch for t in texts for ch in t if not ch.isspace() and ord(ch) not in cmap)


def _nice_length_m(span_m: float) -> float:
    target = span_m / 5.0
    steps = [m * 10**e for e in range(0, 7) for m in (1, 2, 2.5, 5)]
    return max(s for s in steps if s <= max(target, 1.0))


def _length_label(m: float) -> str:
    return f"{m / 1000:g} 公里" if m >= 1000 else f"{m:g} 米"


def make_poster(
    stations: pd.DataFrame | Registry,
    out: str | Path,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    mode: str | None = None,
    minutes: Sequence[float] = (5, 10, 15),
    circles: bool = True,
    osm_path: str | Path | None = None,
    streets: bool = True,
    graph: StreetGraph | None = None,
    paper: str = "A3",
    landscape: bool = False,
    dpi: int | None = None,
    place: str = "",
    publisher: str = "",
) -> PosterSummary:
    """Draw the poster and write it to ``out`` (``.png`` at ``dpi``, default ``settings.poster_dpi``, or
    ``.pdf``, vector). ``stations``: a Registry or a station table (WGS84 ``lon`` / ``lat``, ``kinds``).
    Service circles for ``mode`` (default ``settings.default_mode``) and ``minutes`` need the street graph
    of that mode (``graph``); streets are drawn from the OSM extract ``osm_path`` (none without it).
    ``place`` and ``publisher`` (a workspace's name and publisher) head the title (default
    ``{place}{DEFAULT_TITLE}``) and the credit line. ``paper``: A0–A4, portrait unless ``landscape``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
    from pyproj import Transformer

    from geomap.publish.maps import STREET_CLASSES, MapError, _mode_label, _read_ways, _station_frame, service_bands

    settings = get_settings()
    title = title or f"{place}{DEFAULT_TITLE}"
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf"):
        raise PosterError(f"海报文件应以 .png 或 .pdf 结尾：{out}")
    paper_key = paper.strip().upper()
    if paper_key not in PAPER_MM:
        raise PosterError(f"未知的纸张 {paper!r}：可选 {', '.join(PAPER_MM)}")
    dpi = int(dpi or settings.poster_dpi)
    if not 72 <= dpi <= 1200:
        raise PosterError("分辨率 dpi 应在 72 到 1200 之间")
    try:
        df = _station_frame(stations)
        mode = (mode or settings.default_mode).strip().lower()
        mode_label = _mode_label(mode)
    except MapError as exc:
        raise PosterError(str(exc)) from exc
    if len(df) == 0:
        raise PosterError("站点库是空的：请先用 `geomap import` 导入站点")
    font_file, font_index = cjk_font()
    fp = FontProperties(family=CJK_FAMILY)
    plt.rcParams["font.family"] = [CJK_FAMILY, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False

    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise PosterError("站点都没有有效坐标，无法绘制海报")
    lon, lat = lon[ok], lat[ok]
    kind_lists = [list(k) if isinstance(k, list | tuple | np.ndarray) else [] for k in df["kinds"][ok]] \
        if "kinds" in df.columns else [[] for _ in range(len(lon))]
    metric = coords.local_metric_crs(float(np.mean(lon)), float(np.mean(lat)))
    to_m = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    sx, sy = to_m.transform(lon, lat)

    # extent: the stations (and their service circles), padded
    bands = None
    if circles:
        if graph is None:
            raise PosterError("画服务圈需要路网（工作区的 osm_path）；或用 --no-circles 不画服务圈")
        try:
            bands = service_bands(graph, lon, lat, minutes=minutes).to_crs(metric)
        except (MapError, ValueError) as exc:
            raise PosterError(f"画服务圈需要路网：{exc}；或用 --no-circles 不画服务圈") from exc
    x0, x1, y0, y1 = float(np.min(sx)), float(np.max(sx)), float(np.min(sy)), float(np.max(sy))
    if bands is not None and not bands.geometry.is_empty.all():
        bx0, by0, bx1, by1 = bands.total_bounds
        x0, x1, y0, y1 = min(x0, bx0), max(x1, bx1), min(y0, by0), max(y1, by1)
    pad = 0.06 * max(x1 - x0, y1 - y0, 500.0)
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad

    w_mm, h_mm = PAPER_MM[paper_key]
    if landscape:
        w_mm, h_mm = h_mm, w_mm
    fig_w, fig_h = w_mm / 25.4, h_mm / 25.4
    scale_pt = math.sqrt(w_mm * h_mm / (297 * 420))  # type sizes relative to A3
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax_rect = (0.04, 0.09, 0.92, 0.81)
    ax = fig.add_axes(ax_rect)
    # fit the extent to the axes' shape (equal scale in x and y)
    ax_ratio = (ax_rect[3] * fig_h) / (ax_rect[2] * fig_w)
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if h / w < ax_ratio:
        h = w * ax_ratio
    else:
        w = h / ax_ratio
    ax.set_xlim(cx - w / 2, cx + w / 2)
    ax.set_ylim(cy - h / 2, cy + h / 2)
    ax.set_aspect("equal", adjustable="box")
    ax.set_facecolor("#f2efe9")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor("#444444")
        s.set_linewidth(1.2)

    texts: list[str] = [title, ATTRIBUTION]
    # streets
    if streets:
        src = osm_path
        if src is not None:
            ways = _read_ways(src)
            highway = np.array([t.get("highway", "") for t in ways.tags], dtype=object)
            wx, wy = to_m.transform(ways.lon, ways.lat)
            widths = {"path": 0.4, "minor": 1.0, "secondary": 1.8, "major": 2.6}
            for spec in STREET_CLASSES:
                sel = np.flatnonzero(np.isin(highway, list(spec["highway"])))
                off = ways.offsets
                spans = [(off[i], off[i + 1]) for i in sel if off[i + 1] - off[i] >= 2]
                segs = [np.column_stack([wx[a:b], wy[a:b]]) for a, b in spans]
                if not segs:
                    continue
                lw = widths[spec["key"]] * scale_pt
                if spec["casing"]:
                    ax.add_collection(LineCollection(segs, colors=spec["casing"], linewidths=lw + 0.8 * scale_pt,
                                                     capstyle="round", joinstyle="round", zorder=1))
                style = (0, (2, 2)) if spec.get("dash") else "solid"
                ax.add_collection(LineCollection(segs, colors=spec["color"], linewidths=lw, capstyle="round",
                                                 joinstyle="round", linestyles=style, zorder=2))
    # service circles
    handles: list[Any] = []
    if bands is not None:
        from geomap.publish.maps import BAND_COLORS

        for i, row in reversed(list(enumerate(bands.itertuples(index=False)))):
            if row.geometry is None or row.geometry.is_empty:
                continue
            color = BAND_COLORS[min(i, len(BAND_COLORS) - 1)]
            _fill(ax, row.geometry, color=color, alpha=0.38, zorder=3)
        for i, row in enumerate(bands.itertuples(index=False)):
            lo, hi = float(row.minutes_lo), float(row.minutes)
            label = f"{hi:g} 分钟内" if lo == 0 else f"{lo:g}–{hi:g} 分钟"
            handles.append(Patch(facecolor=BAND_COLORS[min(i, len(BAND_COLORS) - 1)], alpha=0.6, edgecolor="#555",
                                 label=f"服务圈 {label}"))
            texts.append(handles[-1].get_label())
    # stations by primary kind
    kv = vocab.kinds()
    primary = np.array([next((k for k in kl if k in kv.terms), kv.keys()[0]) for kl in kind_lists], dtype=object)
    kind_handles = []
    for pos, (key, term) in enumerate(kv.terms.items()):
        sel = primary == key
        marker = KIND_MARKERS[pos % len(KIND_MARKERS)]
        label = f"{term.label}（{sum(key in kl for kl in kind_lists)}）"
        texts.append(label)
        if sel.any():
            ax.scatter(sx[sel], sy[sel], s=150 * scale_pt**2, marker=marker, c=term.color, edgecolors="white",
                       linewidths=1.4 * scale_pt, zorder=5)
        kind_handles.append(Line2D([], [], linestyle="none", marker=marker, markersize=13 * scale_pt,
                                   markerfacecolor=term.color, markeredgecolor="white", label=label))
    legend_title = "图例"
    texts.append(legend_title)
    leg = ax.legend(handles=kind_handles + handles, loc="lower left", prop=FontProperties(family=CJK_FAMILY,
                    size=13 * scale_pt), title=legend_title, title_fontproperties=FontProperties(
                    family=CJK_FAMILY, size=15 * scale_pt, weight="bold"), framealpha=0.92, borderpad=0.9,
                    labelspacing=0.7, facecolor="white", edgecolor="#888")
    leg.set_zorder(10)
    # scale bar and north arrow
    length = _nice_length_m(ax.get_xlim()[1] - ax.get_xlim()[0])
    bar_label = _length_label(length)
    texts.append(bar_label)
    ax.add_artist(AnchoredSizeBar(ax.transData, length, bar_label, loc="lower right", pad=0.8, sep=6 * scale_pt,
                                  size_vertical=(ax.get_ylim()[1] - ax.get_ylim()[0]) * 0.004, color="#222",
                                  frameon=True, fontproperties=FontProperties(family=CJK_FAMILY, size=13 * scale_pt)))
    texts.append("北")
    ax.annotate("北", xy=(0.94, 0.965), xytext=(0.94, 0.885), xycoords="axes fraction", ha="center", va="center",
                fontsize=18 * scale_pt, fontproperties=FontProperties(family=CJK_FAMILY, weight="bold"),
                arrowprops={"facecolor": "#222", "edgecolor": "#222", "width": 6 * scale_pt,
                            "headwidth": 20 * scale_pt, "headlength": 18 * scale_pt}, zorder=11)
    # title, subtitle, attribution
    mins_txt = "/".join(f"{m:g}" for m in sorted({float(m) for m in minutes}))
    if subtitle is None:
        subtitle = f"共 {len(lon)} 个服务站点"
        if circles:
            subtitle += f" · {mode_label} {mins_txt} 分钟服务圈（沿街道网络计算）"
        subtitle += f" · {date.today():%Y年%m月%d日}"
    texts += [subtitle]
    fig.text(0.5, 0.955, title, ha="center", va="center", fontsize=34 * scale_pt,
             fontproperties=FontProperties(family=CJK_FAMILY, weight="bold"))
    fig.text(0.5, 0.922, subtitle, ha="center", va="center", fontsize=15 * scale_pt, color="#333",
             fontproperties=fp)
    sources = [str(v) for v in pd.unique(df["source"].dropna())][:3] if "source" in df.columns else []
    note = " · ".join(([f"发布：{publisher}"] if publisher else []) + (["站点数据：" + "、".join(sources)] if sources
                                                                   else []) + ["制图：geomap"])
    texts.append(note)
    fig.text(0.04, 0.065, ATTRIBUTION, ha="left", va="center", fontsize=11 * scale_pt, color="#333",
             fontproperties=fp)
    fig.text(0.04, 0.045, note, ha="left", va="center", fontsize=10 * scale_pt, color="#666", fontproperties=fp)
    fig.text(0.96, 0.065, "坐标系：WGS84（投影：以地图中心为原点的等距方位投影）", ha="right", va="center",
             fontsize=10 * scale_pt, color="#666", fontproperties=fp)
    texts.append("坐标系：WGS84（投影：以地图中心为原点的等距方位投影）")

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi if fmt == "png" else None, format=fmt, facecolor="white")
    plt.close(fig)
    texts_t = tuple(texts)
    return PosterSummary(path=out, paper=paper_key + (" landscape" if landscape else ""),
                         dpi=dpi if fmt == "png" else None, stations=len(lon), font_file=f"{font_file}#{font_index}",
                         texts=texts_t, missing_glyphs=missing_glyphs(texts_t))


def _fill(ax: Any, geom: shapely.Geometry, *, color: str, alpha: float, zorder: int) -> None:
    """Fill a (multi)polygon with holes on ``ax`` (coordinates already in the axes' frame)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in shapely.get_parts(geom):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            if len(xy) < 3:
                continue
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0] = MplPath.MOVETO
            c[-1] = MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return
    path = MplPath(np.concatenate(verts), np.concatenate(codes))
    ax.add_patch(PathPatch(path, facecolor=color, edgecolor=color, alpha=alpha, linewidth=0.6, zorder=zorder))
