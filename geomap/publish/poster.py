"""The print poster: a printable directory of the place's stations (matplotlib, PDF of one or more pages, or PNG).

Page 1 holds the header (title naming the place, the publisher, the data date, a QR code to the online map when
the workspace gives its address), the map and the start of the station index; the index goes on over further
pages when it is long (编号、名称、地址、开放时间、电话、主要服务). Every page ends with the credit line (publisher,
station data and its date, OpenStreetMap) and its page number.

The map is drawn in the local metric frame of the stations (``geomap.coords.local_metric_crs``: azimuthal
equidistant around their centre, metres, north up): streets of the OSM extract by class, the names of the main
streets (primary / secondary … with a name, along the longest piece inside the map, upright, N–S streets written
top to bottom as Chinese maps do, none over another label or a marker), service-circle bands
(:func:`geomap.publish.maps.service_bands`) in one hue with distinct lightness (readable in grey print and for
colour-blind readers), one numbered marker per station in its main kind's colour and shape
(:func:`geomap.publish.maps.main_kinds`: a station of two kinds is one marker and is counted once), markers
moved apart where they would cover each other (a thin line to the true place), a legend whose counts add up
to the total, a scale bar and a north arrow.

Layout is in millimetres on the paper (A0–A4, portrait or landscape); type sizes follow the paper (A3 is the
reference) with floors that stay legible on A4. Text is set in Noto Sans CJK SC (Debian ``fonts-noto-cjk``,
installed by ``make sysdeps``); :func:`missing_glyphs` checks that the font has every character a poster uses,
and widths are measured from the font's own advance widths (fontTools) to wrap table cells.
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

__all__ = [
    "CJK_FAMILY", "INDEX_COLUMNS", "PAPER_MM", "PosterError", "PosterSummary", "cjk_font", "make_poster",
    "missing_glyphs", "station_index", "text_width_mm",
]

CJK_FAMILY = "Noto Sans CJK SC"
PAPER_MM: dict[str, tuple[float, float]] = {
    "A0": (841, 1189), "A1": (594, 841), "A2": (420, 594), "A3": (297, 420), "A4": (210, 297),
}
"""Paper sizes (width, height) in millimetres, portrait."""

KIND_MARKERS = ("o", "s", "h", "D", "p", "8", "^", "v")
"""Marker shape per station kind, by the kind's position in ``vocab/kinds.toml`` (shapes a number fits in)."""
MARKER_AREA = {"D": 1.1, "h": 1.1, "^": 1.6, "v": 1.6}
"""Shapes drawn larger so that a number still fits inside (area factor)."""

DEFAULT_TITLE = "新就业形态劳动者服务站点地图"
ATTRIBUTION = "底图数据 © OpenStreetMap 贡献者（ODbL）"
INDEX_COLUMNS: tuple[str, ...] = ("编号", "名称", "地址", "开放时间", "电话", "主要服务")
"""The index table's columns, as printed."""
_COLUMN_SHARE = (0.05, 0.19, 0.15, 0.165, 0.115, 0.33)
_COLUMN_LINES = (1, 3, 3, 2, 2, 2)
"""Most lines a cell may take (names and addresses are never cut; services end with 等 when cut)."""
LABEL_HIGHWAYS: dict[str, int] = {"motorway": 0, "trunk": 0, "primary": 0, "secondary": 1, "tertiary": 2}
"""Street classes whose names are written on the map, by priority (0 first)."""
PT_MM = 25.4 / 72.0
MISSING = "—"


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
    pages: int = 1
    paths: tuple[Path, ...] = ()
    """Every file written: the PDF, or one PNG per page (``name.png``, ``name-2.png`` …)."""
    index: pd.DataFrame | None = field(default=None, repr=False)
    """The index as printed (:data:`INDEX_COLUMNS`, plus ``id`` and ``main_kind``), in number order."""
    legend: dict[str, int] = field(default_factory=dict)
    """Station count per kind label in the legend (main kinds: they add up to ``stations``)."""
    street_labels: tuple[str, ...] = ()
    qr_url: str | None = None
    data_date: date | None = None
    moved: int = 0
    """Markers moved off their station (tied to it by a thin line) so as not to cover another."""


# --- the font -------------------------------------------------------------------------------------------

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


@cache
def _advances(path: str, index: int) -> tuple[dict[int, float], float]:
    """Advance width of every character of the font in em, and the width used for characters it lacks."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=index, lazy=True)
    upem = float(font["head"].unitsPerEm)
    hmtx = font["hmtx"]
    out = {cp: hmtx[g][0] / upem for cp, g in font.getBestCmap().items()}
    return out, 1.0


def text_width_mm(text: str, size_pt: float, *, bold: bool = False) -> float:
    """Width of ``text`` set in the CJK font at ``size_pt`` points, in millimetres (from the font's advance
    widths; bold is taken 3 % wider)."""
    adv, fallback = _advances(*cjk_font())
    em = sum(adv.get(ord(ch), fallback) for ch in text)
    return em * size_pt * PT_MM * (1.03 if bold else 1.0)


def missing_glyphs(texts: Iterable[str], *, font: tuple[str, int] | None = None) -> frozenset[str]:
    """Characters of ``texts`` (whitespace aside) that the CJK font (or ``font``: path, face index) lacks."""
    path, index = font or cjk_font()
    cmap = _cmap(path, index)
    return frozenset(ch for t in texts for ch in t if not ch.isspace() and ord(ch) not in cmap)


_BREAK_AFTER = set("、，,；;/）) ")


def _wrap(text: str, width_mm: float, size_pt: float, *, max_lines: int, more: str = "…") -> list[str]:
    """``text`` in lines no wider than ``width_mm`` (a line breaks after 、，；/ or a space when one is near
    the end, else between any two characters); beyond ``max_lines`` the last line ends with ``more``."""
    lines: list[str] = []
    rest = text.strip()
    while rest:
        if text_width_mm(rest, size_pt) <= width_mm:
            lines.append(rest)
            break
        cut = 1
        while cut < len(rest) and text_width_mm(rest[:cut + 1], size_pt) <= width_mm:
            cut += 1
        soft = max((i + 1 for i in range(max(1, cut // 2), cut) if rest[i] in _BREAK_AFTER), default=0)
        if soft:
            cut = soft
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width_mm(last + more, size_pt) > width_mm:
            last = last[:-1]
        lines = [*lines[:max_lines - 1], last.rstrip("、，,；; ") + more]
    return lines or [""]


# --- the index ------------------------------------------------------------------------------------------

def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, str):
        return v.strip()
    try:
        return "" if pd.isna(v) else str(v).strip()
    except (TypeError, ValueError):
        return str(v).strip()


def _as_list(v: Any) -> list[str]:
    if isinstance(v, list | tuple | np.ndarray):
        return [str(x) for x in v]
    t = _text(v)
    return [s for s in t.replace("，", ",").replace("、", ",").split(",") if s.strip()] if t else []


def _services(kinds: list[str], main: str, amenities: list[str], raw: str, price: Any) -> str:
    kv, av = vocab.kinds(), vocab.amenities()
    parts = []
    also = [kv.terms[k].label for k in kinds if k != main and k in kv.terms]
    if also:
        parts.append("兼" + "、".join(also))
    labels = [av.terms[a].label for a in amenities if a in av.terms]
    if labels:
        parts.append("、".join(labels))
    elif raw:
        parts.append(raw)
    try:
        p = float(price)
    except (TypeError, ValueError):
        p = math.nan
    if math.isfinite(p):
        parts.append(f"套餐 {p:g} 元")
    return "；".join(parts) or MISSING


def _reading_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Station order for numbering: rows of the map from north to south, west to east within a row (so that
    numbers rise like lines of text and a number is found near its neighbours). ``x`` / ``y`` metres."""
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = max(1, round(math.sqrt(n) / 1.6))
    span = float(y.max() - y.min()) or 1.0
    band = np.minimum(((y.max() - y) / span * rows).astype(np.int64), rows - 1)
    return np.lexsort((x, band))


def station_index(df: pd.DataFrame, order: np.ndarray, main: Sequence[str]) -> pd.DataFrame:
    """The index table as printed, one row per station in ``order`` (numbered from 1): :data:`INDEX_COLUMNS`
    plus ``id`` and ``main_kind``. Missing hours read 未公布, other missing cells —."""
    rows = []
    for no, i in enumerate(order, start=1):
        r = df.iloc[int(i)]
        kinds = _as_list(r.get("kinds"))
        hours = _text(r.get("opening_hours_raw")) or _text(r.get("opening_hours"))
        rows.append({
            "编号": no,
            "名称": _text(r.get("name")) or MISSING,
            "地址": _text(r.get("address")) or MISSING,
            "开放时间": hours or "未公布",
            "电话": _text(r.get("phone")) or MISSING,
            "主要服务": _services(kinds, main[int(i)], _as_list(r.get("amenities")), _text(r.get("services_raw")),
                              r.get("meal_price_yuan")),
            "id": _text(r.get("id")),
            "main_kind": main[int(i)],
        })
    return pd.DataFrame(rows, columns=[*INDEX_COLUMNS, "id", "main_kind"])


# --- layout helpers ---------------------------------------------------------------------------------------

@dataclass
class _Style:
    """Type sizes (points) and lengths (mm) for one paper size; A3 is the reference."""

    s: float

    def pt(self, a3: float, floor: float) -> float:
        return max(floor, a3 * self.s)

    @property
    def margin(self) -> float:
        return 12.0 * self.s

    @property
    def title(self) -> float:
        return self.pt(30, 17)

    @property
    def sub(self) -> float:
        return self.pt(12, 8)

    @property
    def table(self) -> float:
        return self.pt(8.5, 7)

    @property
    def legend(self) -> float:
        return self.pt(10, 7)

    @property
    def street(self) -> float:
        return self.pt(8, 6)

    @property
    def number(self) -> float:
        return self.pt(7, 5.5)

    @property
    def number_table(self) -> float:
        return self.pt(7, 5.5)

    @property
    def foot(self) -> float:
        return self.pt(8, 6.5)

    @property
    def qr(self) -> float:
        return max(24.0, 34.0 * self.s)


class _Page:
    """A figure addressed in millimetres from the top-left corner of the paper."""

    def __init__(self, plt: Any, w_mm: float, h_mm: float) -> None:
        self.w, self.h = w_mm, h_mm
        self.fig = plt.figure(figsize=(w_mm / 25.4, h_mm / 25.4))
        self.texts: list[str] = []

    def text(self, x: float, y: float, s: str, *, size: float, **kw: Any) -> Any:
        self.texts.append(s)
        kw.setdefault("va", "top")
        return self.fig.text(x / self.w, 1 - y / self.h, s, fontsize=size, **kw)

    def rect(self, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        from matplotlib.patches import Rectangle

        self.fig.add_artist(Rectangle((x / self.w, 1 - (y + h) / self.h), w / self.w, h / self.h,
                                      transform=self.fig.transFigure, **kw))

    def line(self, x0: float, y0: float, x1: float, y1: float, **kw: Any) -> None:
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D([x0 / self.w, x1 / self.w], [1 - y0 / self.h, 1 - y1 / self.h],
                                   transform=self.fig.transFigure, **kw))

    def marker(self, x: float, y: float, marker: str, *, size_mm: float, color: str, edge: str = "white",
               edge_pt: float = 0.6) -> None:
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D([x / self.w], [1 - y / self.h], marker=marker, markersize=size_mm / PT_MM,
                                   markerfacecolor=color, markeredgecolor=edge, markeredgewidth=edge_pt,
                                   linestyle="none", transform=self.fig.transFigure))

    def axes(self, x: float, y: float, w: float, h: float) -> Any:
        return self.fig.add_axes((x / self.w, 1 - (y + h) / self.h, w / self.w, h / self.h))


# --- markers, street names, QR -------------------------------------------------------------------------------

def _spread(p: np.ndarray, d: float, *, lo: np.ndarray, hi: np.ndarray, iterations: int = 300) -> np.ndarray:
    """Marker centres (mm) moved apart until no two are closer than ``d`` (or the iterations run out), pulled
    lightly back to their stations and kept inside [lo, hi]."""
    from scipy.spatial import cKDTree

    anchor = p.copy()
    q = p.copy()
    rng = np.random.default_rng(0)
    for it in range(iterations):
        pairs = cKDTree(q).query_pairs(d * 1.03, output_type="ndarray")
        if not len(pairs):
            break
        i, j = pairs[:, 0], pairs[:, 1]
        v = q[j] - q[i]
        dist = np.hypot(v[:, 0], v[:, 1])
        same = dist < 1e-6
        if same.any():  # stations at one spot: part them in a random direction
            ang = rng.uniform(0, 2 * np.pi, int(same.sum()))
            v[same] = np.column_stack([np.cos(ang), np.sin(ang)]) * 1e-3
            dist[same] = 1e-3
        u = v / dist[:, None]
        push = (d * 1.06 - dist)[:, None] / 2
        delta = np.zeros_like(q)
        np.add.at(delta, i, -u * push)
        np.add.at(delta, j, u * push)
        q += 0.6 * delta + 0.03 * max(0.0, 1.0 - 2.0 * it / iterations) * (anchor - q)  # pull ends half-way
        q = np.clip(q, lo, hi)
    return q


def _label_box(cx: float, cy: float, length: float, height: float, angle_deg: float) -> shapely.Polygon:
    a = math.radians(angle_deg)
    ux, uy = math.cos(a), math.sin(a)
    vx, vy = -uy, ux
    hl, hh = length / 2, height / 2
    pts = [(cx + sx * hl * ux + sy * hh * vx, cy + sx * hl * uy + sy * hh * vy)
           for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return shapely.Polygon(pts)


def _street_labels(ways: Any, wx: np.ndarray, wy: np.ndarray, *, to_mm: Any, box_mm: tuple[float, float],
                   size_pt: float, obstacles: list[shapely.Geometry], most: int = 60
                   ) -> list[tuple[str, float, float, float, bool]]:
    """Where to write the names of the main streets: (name, x mm, y mm, angle °, vertical) per label.

    Streets of :data:`LABEL_HIGHWAYS` with a ``name`` tag, grouped by name; each name once, on the longest
    continuous piece inside the map (pieces merged with ``shapely.line_merge``), at the first of a few places
    along it where the label covers neither another label nor an obstacle (markers, legend …). Steep streets
    (over 55°) get their name written top to bottom, upright."""
    from shapely import STRtree

    tags = ways.tags
    off = ways.offsets
    by_name: dict[str, list[int]] = {}
    rank: dict[str, int] = {}
    for i, t in enumerate(tags):
        hw = t.get("highway", "")
        name = (t.get("name") or "").strip()
        if hw in LABEL_HIGHWAYS and name and off[i + 1] - off[i] >= 2:
            by_name.setdefault(name, []).append(i)
            rank[name] = min(rank.get(name, 9), LABEL_HIGHWAYS[hw])
    w_mm, h_mm = box_mm
    inner = shapely.box(1.5, 1.5, w_mm - 1.5, h_mm - 1.5)
    pieces: list[tuple[int, float, str, shapely.LineString]] = []
    for name, idx in by_name.items():
        lines = []
        for i in idx:
            xs, ys = to_mm(wx[off[i]:off[i + 1]], wy[off[i]:off[i + 1]])
            lines.append(shapely.LineString(np.column_stack([xs, ys])))
        merged = shapely.line_merge(shapely.intersection(shapely.union_all(lines), inner))
        parts = [g for g in shapely.get_parts(merged) if g.geom_type == "LineString" and not g.is_empty]
        if parts:
            best = max(parts, key=lambda g: g.length)
            pieces.append((rank[name], -best.length, name, best))
    pieces.sort()
    placed: list[tuple[str, float, float, float, bool]] = []
    blocked = list(obstacles)
    char_h = size_pt * PT_MM
    for _, _, name, line in pieces:
        if len(placed) >= most:
            break
        length = text_width_mm(name, size_pt) + 1.5
        if line.length < length * 1.15:
            continue
        tree = STRtree(blocked) if blocked else None
        for frac in (0.5, 0.35, 0.65, 0.2, 0.8):
            at = frac * line.length
            if at - length / 2 < 0 or at + length / 2 > line.length:
                continue
            p0, p1 = line.interpolate(at - length / 2), line.interpolate(at + length / 2)
            c = line.interpolate(at)
            ang = math.degrees(math.atan2(p1.y - p0.y, p1.x - p0.x))
            if ang > 90:
                ang -= 180
            elif ang <= -90:
                ang += 180
            vertical = abs(ang) > 55
            if vertical:
                box = shapely.box(c.x - char_h * 0.7, c.y - len(name) * char_h * 0.55 - 0.5,
                                  c.x + char_h * 0.7, c.y + len(name) * char_h * 0.55 + 0.5)
            else:
                box = _label_box(c.x, c.y, length, char_h * 1.4, ang)
            if not inner.contains(box):
                continue
            if tree is not None and len(tree.query(box, predicate="intersects")):
                continue
            placed.append((name, c.x, c.y, 0.0 if vertical else ang, vertical))
            blocked.append(box)
            break
    return placed


def _draw_qr(page: _Page, url: str, *, x: float, y: float, size: float) -> None:
    """The QR code of ``url`` (segno, error correction M, 4-module quiet zone; non-ASCII characters
    percent-encoded) as vector squares, ``size`` mm wide
    with its top-left corner at (x, y) mm."""
    from urllib.parse import quote

    import segno
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    # an address with Chinese in it goes in as a URI (percent-encoded UTF-8): QR byte mode has no agreed text
    # encoding, and readers guess (zbar reads raw UTF-8 as Shift-JIS)
    qr = segno.make(quote(url, safe=":/?#[]@!$&'()*+,;=%~"), error="m", micro=False)
    m = np.array([list(r) for r in qr.matrix_iter(scale=1, border=4)], dtype=bool)
    n = m.shape[0]
    ax = page.axes(x, y, size, size)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)
    ax.axis("off")
    ax.add_patch(Rectangle((0, 0), n, n, facecolor="white", edgecolor="none"))
    verts: list[tuple[float, float]] = []
    codes: list[int] = []
    for r in range(n):
        row = np.concatenate([[False], m[r], [False]])
        edges = np.flatnonzero(row[1:] != row[:-1])
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            verts += [(a, r - 0.01), (b, r - 0.01), (b, r + 1.01), (a, r + 1.01), (a, r - 0.01)]
            codes += [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY]
    ax.add_patch(PathPatch(MplPath(verts, codes), facecolor="black", edgecolor="none", antialiased=False))


def _item_width(item: tuple[str, dict[str, Any], str], size: float) -> float:
    kind, _, label = item
    sym = 0.0 if kind in ("title", "text") else size * PT_MM * (2.6 if kind == "leader" else 1.6)
    return sym + text_width_mm(label, size, bold=kind == "title") + size * PT_MM * 1.6


def _flow(items: list[tuple[str, dict[str, Any], str]], *, width: float, size: float
          ) -> list[list[tuple[str, dict[str, Any], str]]]:
    """Legend items in rows no wider than ``width`` mm (a title starts its row)."""
    rows: list[list[tuple[str, dict[str, Any], str]]] = []
    used = 0.0
    for it in items:
        w = _item_width(it, size)
        if not rows or used + w > width:
            rows.append([])
            used = 0.0
        rows[-1].append(it)
        used += w
    return rows


def _draw_legend(page: _Page, rows: list[list[tuple[str, dict[str, Any], str]]], *, x: float, y: float, size: float,
                 row_h: float) -> None:
    """The legend strip: each row's symbols and labels, left to right, from (x, y) mm (top of the first row)."""
    em = size * PT_MM
    for r, row in enumerate(rows):
        cy = y + r * row_h + row_h / 2
        cx = x
        for kind, style, label in row:
            if kind == "marker":
                page.marker(cx + em * 0.55, cy, style["marker"], size_mm=em * 1.15 * math.sqrt(
                    MARKER_AREA.get(style["marker"], 1.0)), color=style["color"])
                cx += em * 1.6
            elif kind == "patch":
                page.rect(cx, cy - em * 0.45, em * 1.3, em * 0.9, facecolor=style["color"],
                          edgecolor=_darker(style["color"]), linewidth=0.6)
                cx += em * 1.6
            elif kind == "leader":
                page.line(cx, cy, cx + em * 2.0, cy, color="#333333", linewidth=0.6)
                page.marker(cx, cy, "o", size_mm=1.1, color="#222222", edge="none", edge_pt=0)
                page.marker(cx + em * 2.0, cy, "o", size_mm=em * 0.9, color="#888888")
                cx += em * 2.6
            page.text(cx, cy, label, size=size, va="center", fontweight="bold" if kind == "title" else "normal",
                      color="#222222")
            cx += text_width_mm(label, size, bold=kind == "title") + em * 1.6


def _nice_length_m(span_m: float) -> float:
    target = span_m / 5.0
    steps = [m * 10**e for e in range(0, 7) for m in (1, 2, 2.5, 5)]
    return max(s for s in steps if s <= max(target, 1.0))


def _length_label(m: float) -> str:
    return f"{m / 1000:g} 公里" if m >= 1000 else f"{m:g} 米"


# --- the poster -----------------------------------------------------------------------------------------------

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
    street_names: bool = True,
    graph: StreetGraph | None = None,
    paper: str = "A3",
    landscape: bool = False,
    dpi: int | None = None,
    place: str = "",
    publisher: str = "",
    qr_url: str | None = None,
    data_date: date | None = None,
) -> PosterSummary:
    """Draw the poster and write it to ``out``: ``.pdf`` (vector, all pages in one file) or ``.png`` at ``dpi``
    (default ``settings.poster_dpi``; page 2 on is written beside it as ``name-2.png`` …).

    ``stations``: a Registry or a station table (WGS84 ``lon`` / ``lat``, ``name``, ``kinds`` and the registry's
    other columns). Service circles for ``mode`` (default ``settings.default_mode``) and ``minutes`` need the
    street graph of that mode (``graph``); streets and their names come from the OSM extract ``osm_path`` (none
    without it). ``place`` and ``publisher`` (the workspace's name and publisher) head the title (default
    ``{place}{DEFAULT_TITLE}``) and the credit line. ``qr_url`` (default ``settings.public_url``): the address
    printed as a QR code (none when unset). ``data_date``: the date the list is true on (default
    :func:`geomap.publish.maps.data_date`: ``settings.data_date``, else the registry's last change).
    ``paper``: A0–A4, portrait unless ``landscape``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.font_manager import FontProperties
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
    from pyproj import Transformer

    from geomap.publish import maps as maps_mod
    from geomap.publish.maps import (
        BAND_COLORS,
        STREET_CLASSES,
        MapError,
        _mode_label,
        _read_ways,
        _station_frame,
        date_zh,
        main_kinds,
        service_bands,
    )

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
    qr_url = (qr_url if qr_url is not None else settings.public_url) or None
    try:
        df = _station_frame(stations).reset_index(drop=True)
        mode = (mode or settings.default_mode).strip().lower()
        mode_label = _mode_label(mode)
    except MapError as exc:
        raise PosterError(str(exc)) from exc
    if len(df) == 0:
        raise PosterError("站点库是空的：请先用 `geomap import` 导入站点")
    when = data_date if data_date is not None else maps_mod.data_date(stations, settings=settings)
    font_file, font_index = cjk_font()
    plt.rcParams["font.family"] = [CJK_FAMILY, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["pdf.fonttype"] = 3

    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if bad.any():
        names = "、".join(_text(v) for v in df["name"][bad][:5])
        raise PosterError(f"{int(bad.sum())} 个站点没有有效坐标（{names}），请先在站点库中补上坐标")
    n = len(df)
    kind_lists = [_as_list(k) for k in df["kinds"]] if "kinds" in df.columns else [[] for _ in range(n)]
    main = main_kinds(kind_lists, list(df["name"]))
    metric = coords.local_metric_crs(float(np.mean(lon)), float(np.mean(lat)))
    to_m = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    sx, sy = (np.asarray(a, dtype=np.float64) for a in to_m.transform(lon, lat))

    bands = None
    if circles:
        if graph is None:
            raise PosterError("画服务圈需要路网（工作区的 osm_path）；或用 --no-circles 不画服务圈")
        try:
            bands = service_bands(graph, lon, lat, minutes=minutes).to_crs(metric)
        except (MapError, ValueError) as exc:
            raise PosterError(f"画服务圈需要路网：{exc}；或用 --no-circles 不画服务圈") from exc
    x0, x1, y0, y1 = float(sx.min()), float(sx.max()), float(sy.min()), float(sy.max())
    if bands is not None and not bands.geometry.is_empty.all():
        bx0, by0, bx1, by1 = bands.total_bounds
        x0, x1, y0, y1 = min(x0, bx0), max(x1, bx1), min(y0, by0), max(y1, by1)
    pad = 0.05 * max(x1 - x0, y1 - y0, 500.0)
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    for lo_, hi_ in ((0, 1), (2, 3)):  # at least 800 m across: a few stations on one street still show their streets
        ext = [x0, x1, y0, y1]
        grow = max(0.0, 800.0 - (ext[hi_] - ext[lo_])) / 2
        ext[lo_] -= grow
        ext[hi_] += grow
        x0, x1, y0, y1 = ext

    order = _reading_order(sx, sy)
    number = np.empty(n, dtype=np.int64)
    number[order] = np.arange(1, n + 1)
    index = station_index(df, order, main)

    # --- the legend (a strip between the header and the map: it never covers a station) ---
    kv = vocab.kinds()
    kind_pos = {key: pos for pos, key in enumerate(kv.terms)}
    legend_counts = {t.label: sum(1 for mk in main if mk == key) for key, t in kv.terms.items()}
    items: list[tuple[str, dict[str, Any], str]] = [("title", {}, "图例")]
    for key, term in kv.terms.items():
        items.append(("marker", {"marker": KIND_MARKERS[kind_pos[key] % len(KIND_MARKERS)], "color": term.color},
                      f"{term.label}（{legend_counts[term.label]} 个）"))
    items.append(("text", {}, f"合计 {n} 个站点（兼有两种类型的站点按主要类型计一次）"))
    band_items: list[tuple[str, dict[str, Any], str]] = []
    if bands is not None:
        band_items.append(("title", {}, f"服务圈（{mode_label}到最近站点，沿街道计算）"))
        for bi, row in enumerate(bands.itertuples(index=False)):
            lo, hi = float(row.minutes_lo), float(row.minutes)
            band_items.append(("patch", {"color": BAND_COLORS[min(bi, len(BAND_COLORS) - 1)]},
                               f"{hi:g} 分钟内" if lo == 0 else f"{lo:g}–{hi:g} 分钟"))
    band_items.append(("leader", {}, "细线连到站点实际位置（编号挤在一起时移开）"))

    # --- page geometry (mm) ---
    w_mm, h_mm = PAPER_MM[paper_key]
    if landscape:
        w_mm, h_mm = h_mm, w_mm
    st = _Style(math.sqrt(w_mm * h_mm / (297 * 420)))
    m = st.margin
    content_w = w_mm - 2 * m
    qr_size = st.qr if qr_url else 0.0
    header_h = max(st.title * PT_MM * 1.5 + 2 * st.sub * PT_MM * 1.6 + 2, qr_size + st.sub * PT_MM * 2 if qr_url
                   else 0.0)
    foot_h = st.foot * PT_MM * 3.6
    gap = 4.0 * st.s
    legend_row_h = st.legend * PT_MM * 1.9
    legend_rows_all = _flow(items, width=content_w, size=st.legend) + _flow(band_items, width=content_w,
                                                                             size=st.legend)
    legend_top = m + header_h + gap * 0.5
    body_top = legend_top + len(legend_rows_all) * legend_row_h + gap * 0.5
    body_h = h_mm - m - foot_h - gap - body_top
    aspect = (y1 - y0) / (x1 - x0)
    if landscape:
        map_box = (m, body_top, content_w * 0.62, body_h)
        table_box = (m + content_w * 0.62 + gap, body_top, content_w * 0.38 - gap, body_h)
    else:
        map_h = float(np.clip(content_w * aspect, 0.5 * body_h, 0.72 * body_h))
        map_box = (m, body_top, content_w, map_h)
        table_box = (m, body_top + map_h + gap, content_w, body_h - map_h - gap)

    # extent fitted to the map box (equal scale in x and y)
    bw, bh = map_box[2], map_box[3]
    cx, cy, ew, eh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if eh / ew < bh / bw:
        eh = ew * bh / bw
    else:
        ew = eh * bw / bh
    x0, x1, y0, y1 = cx - ew / 2, cx + ew / 2, cy - eh / 2, cy + eh / 2
    k = bw / ew  # mm per metre

    def to_mm(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(x) - x0) * k, (np.asarray(y) - y0) * k

    def from_mm(px: Any, py: Any) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(px) / k + x0, np.asarray(py) / k + y0

    # --- pages of the index ---
    lh = st.table * PT_MM * 1.35
    cpad = 1.0 * st.s + 0.6

    def layout_rows(width: float) -> list[tuple[list[list[str]], float]]:
        widths = [width * f for f in _COLUMN_SHARE]
        rows = []
        for rec in index[list(INDEX_COLUMNS)].itertuples(index=False):
            cells = [_wrap(str(v), w - 2 * cpad, st.table, max_lines=most, more=("等" if c == "主要服务" else "…"))
                     if c != "编号" else [str(v)]
                     for v, w, c, most in zip(rec, widths, INDEX_COLUMNS, _COLUMN_LINES, strict=True)]
            rows.append((cells, max(len(c) for c in cells) * lh + 2 * cpad))
        return rows

    head_h = lh + 2 * cpad
    pages_rows: list[tuple[tuple[float, float, float, float], list[int]]] = []
    rows1 = layout_rows(table_box[2])
    label_h = st.sub * PT_MM * 1.8
    avail1 = table_box[3] - label_h - head_h
    i = 0
    taken: list[int] = []
    while i < n and sum(rows1[j][1] for j in taken) + rows1[i][1] <= avail1:
        taken.append(i)
        i += 1
    if taken:
        pages_rows.append((table_box, taken))
    cont_top = m + st.sub * PT_MM * 4
    cont_box = (m, cont_top, content_w, h_mm - m - foot_h - gap - cont_top)
    rows_c = layout_rows(content_w)
    while i < n:
        taken = []
        used = 0.0
        while i < n and (not taken or used + rows_c[i][1] <= cont_box[3] - label_h - head_h):
            taken.append(i)
            used += rows_c[i][1]
            i += 1
        pages_rows.append((cont_box, taken))
    total_pages = 1 + sum(1 for box, _ in pages_rows if box is cont_box)
    first_page_table = bool(pages_rows) and pages_rows[0][0] is table_box

    texts: list[str] = []
    credit_parts = [f"发布：{publisher}"] if publisher else []
    credit_parts.append(f"站点数据：{publisher + '整理' if publisher else '工作区站点库'}，截至 {date_zh(when)}")
    credit_parts.append(ATTRIBUTION)
    if bands is not None:
        credit_parts.append("服务圈沿街道网络计算")
    credit_parts.append("制图：geomap")
    credit = "　".join(credit_parts)

    def footer(page: _Page, no: int) -> None:
        y = h_mm - m - foot_h
        page.line(m, y - 1.0, w_mm - m, y - 1.0, color="#999999", linewidth=0.5)
        pages_label = f"第 {no} 页 / 共 {total_pages} 页"
        room = content_w - text_width_mm(pages_label, st.foot) - 4
        lines = [credit] if text_width_mm(credit, st.foot) <= room else [
            "　".join(credit_parts[:len(credit_parts) // 2 + 1]), "　".join(credit_parts[len(credit_parts) // 2 + 1:])]
        page.text(m, y, "\n".join(lines), size=st.foot, color="#444444", linespacing=1.4)
        page.text(w_mm - m, y, pages_label, size=st.foot, color="#444444", ha="right")

    def draw_table(page: _Page, box: tuple[float, float, float, float], rows: list[tuple[list[list[str]], float]],
                   which: list[int], label: str) -> None:
        tx, ty, tw, _ = box
        badge = max(text_width_mm("8" * len(str(n)), st.number_table, bold=True) + 1.2, lh * 1.05)
        page.text(tx, ty, label, size=st.sub, fontweight="bold")
        y = ty + label_h
        widths = [tw * f for f in _COLUMN_SHARE]
        xs = np.concatenate([[tx], tx + np.cumsum(widths)])
        page.rect(tx, y, tw, head_h, facecolor="#e3e3e3", edgecolor="none")
        for c, name in enumerate(INDEX_COLUMNS):
            page.text(xs[c] + cpad, y + cpad, name, size=st.table, fontweight="bold")
        y += head_h
        for r_no, j in enumerate(which):
            cells, rh = rows[j]
            if r_no % 2:
                page.rect(tx, y, tw, rh, facecolor="#f4f4f4", edgecolor="none")
            rec = index.iloc[j]
            key = rec["main_kind"]
            term = kv.terms.get(key)
            shape = KIND_MARKERS[kind_pos.get(key, 0) % len(KIND_MARKERS)]
            bx = xs[0] + cpad + badge / 2
            page.marker(bx, y + cpad + st.table * PT_MM * 0.62, shape,
                        size_mm=badge * math.sqrt(MARKER_AREA.get(shape, 1.0)), color=term.color if term else "#555555")
            # on the row's first line (set like the other cells, so that the number and the name share a line)
            page.text(bx, y + cpad + (st.table - st.number_table) * PT_MM * 0.55, str(rec["编号"]),
                      size=st.number_table, fontweight="bold", color="white", ha="center")
            for c in range(1, len(INDEX_COLUMNS)):
                page.text(xs[c] + cpad, y + cpad, "\n".join(cells[c]), size=st.table, linespacing=1.35)
            y += rh
            page.line(tx, y, tx + tw, y, color="#cccccc", linewidth=0.4)

    # --- page 1: header ---
    pages: list[_Page] = []
    p1 = _Page(plt, w_mm, h_mm)
    pages.append(p1)
    title_w = content_w - (qr_size + 6 if qr_url else 0)
    tsize = st.title
    while tsize > 10 and text_width_mm(title, tsize, bold=True) > title_w:
        tsize -= 0.5
    p1.text(m, m, title, size=tsize, fontweight="bold")
    line2 = "　".join(([f"{publisher} 发布"] if publisher else [])
                     + [f"数据截至 {date_zh(when)}", f"共 {n} 个服务站点"])
    mins = sorted({float(v) for v in minutes})
    if subtitle is not None:
        line3 = subtitle
    else:
        parts3 = []
        if bands is not None:
            parts3.append(f"彩色范围：{mode_label} {'/'.join(f'{v:g}' for v in mins)} 分钟内可到最近站点（沿街道计算）")
        parts3.append(("地图上的编号见右侧“站点一览”" if landscape else "地图上的编号见下方“站点一览”")
                      + (f"（共 {total_pages} 页）" if total_pages > 1 else ""))
        line3 = "　".join(parts3)
    y_line = m + tsize * PT_MM * 1.45
    p1.text(m, y_line, line2, size=st.sub, color="#222222")
    p1.text(m, y_line + st.sub * PT_MM * 1.6, line3, size=st.sub, color="#444444")
    if qr_url:
        qx = w_mm - m - qr_size
        _draw_qr(p1, qr_url, x=qx, y=m, size=qr_size)
        p1.text(qx + qr_size / 2, m + qr_size + 0.5, "扫码打开在线地图", size=st.sub * 0.85, ha="center",
                color="#222222")

    # --- page 1: the map ---
    ax = p1.axes(*map_box)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("auto")
    ax.set_facecolor("#ffffff")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor("#444444")
        s.set_linewidth(1.0)
    if bands is not None:
        for bi, row in reversed(list(enumerate(bands.itertuples(index=False)))):
            if row.geometry is None or row.geometry.is_empty:
                continue
            _fill(ax, row.geometry, color=BAND_COLORS[min(bi, len(BAND_COLORS) - 1)], alpha=1.0, zorder=1,
                  edge=_darker(BAND_COLORS[min(bi, len(BAND_COLORS) - 1)]))
    ways = wx = wy = None
    if streets and osm_path is not None:
        ways = _read_ways(osm_path)
        highway = np.array([t.get("highway", "") for t in ways.tags], dtype=object)
        wx, wy = to_m.transform(ways.lon, ways.lat)
        wx, wy = np.asarray(wx), np.asarray(wy)
        widths = {"path": 0.3, "minor": 0.8, "secondary": 1.5, "major": 2.2}
        casing = {"path": None, "minor": "#9a9a9a", "secondary": "#8c7a45", "major": "#9a6a2a"}
        off = ways.offsets
        for spec in STREET_CLASSES:
            sel = np.flatnonzero(np.isin(highway, list(spec["highway"])))
            segs = [np.column_stack([wx[off[i]:off[i + 1]], wy[off[i]:off[i + 1]]]) for i in sel
                    if off[i + 1] - off[i] >= 2]
            if not segs:
                continue
            lw = widths[spec["key"]] * st.s ** 0.5
            if casing[spec["key"]]:
                ax.add_collection(LineCollection(segs, colors=casing[spec["key"]], linewidths=lw + 0.7,
                                                 capstyle="round", joinstyle="round", zorder=2))
            style = (0, (2, 2)) if spec.get("dash") else "solid"
            ax.add_collection(LineCollection(segs, colors=spec["color"] if spec["key"] != "path" else "#b0b0b0",
                                             linewidths=lw, capstyle="round", joinstyle="round",
                                             linestyles=style, zorder=3))

    # markers: positions in mm inside the box, moved apart where they would cover each other
    digits = len(str(n))
    d = max(3.4 * st.s + 1.2, text_width_mm("8" * digits, st.number, bold=True) + 1.4)
    px, py = to_mm(sx, sy)
    placed = _spread(np.column_stack([px, py]), d, lo=np.array([d / 2, d / 2]), hi=np.array([bw - d / 2, bh - d / 2]))
    moved = np.hypot(placed[:, 0] - px, placed[:, 1] - py) > 0.35 * d
    mx, my = from_mm(placed[:, 0], placed[:, 1])
    if moved.any():
        segs = [np.array([[sx[i], sy[i]], [mx[i], my[i]]]) for i in np.flatnonzero(moved)]
        ax.add_collection(LineCollection(segs, colors="#333333", linewidths=0.5, zorder=6))
        ax.scatter(sx[moved], sy[moved], s=(1.1 / PT_MM) ** 2, c="#222222", linewidths=0, zorder=6)
    d_pt = d / PT_MM
    for key, term in kv.terms.items():
        sel = np.array([mk == key for mk in main])
        marker = KIND_MARKERS[kind_pos[key] % len(KIND_MARKERS)]
        area = d_pt ** 2 * MARKER_AREA.get(marker, 1.0)
        if sel.any():
            ax.scatter(mx[sel], my[sel], s=area, marker=marker, c=term.color, edgecolors="white",
                       linewidths=0.8, zorder=7)
    for i in range(n):
        ax.text(mx[i], my[i], str(number[i]), fontsize=st.number, fontweight="bold", color="white", ha="center",
                va="center_baseline", zorder=8)
    if moved.any():
        legend_rows = legend_rows_all
    else:
        legend_rows = [[it for it in row if it[0] != "leader"] for row in legend_rows_all]
    _draw_legend(p1, legend_rows, x=m, y=legend_top, size=st.legend, row_h=legend_row_h)
    texts += [it[2] for row in legend_rows for it in row]
    # scale bar, north arrow
    length = _nice_length_m(x1 - x0)
    bar_label = _length_label(length)
    texts.append(bar_label)
    ax.add_artist(AnchoredSizeBar(ax.transData, length, bar_label, loc="lower right", pad=0.6, sep=3,
                                  size_vertical=(y1 - y0) * 0.004, color="#222222", frameon=True,
                                  fontproperties=FontProperties(family=CJK_FAMILY, size=st.legend)))
    ax.annotate("北", xy=(0.955, 0.975), xytext=(0.955, 0.905), xycoords="axes fraction", ha="center", va="center",
                fontsize=st.legend * 1.4, fontweight="bold",
                arrowprops={"facecolor": "#222222", "edgecolor": "#222222", "width": 4 * st.s + 1,
                            "headwidth": 12 * st.s + 3, "headlength": 11 * st.s + 3}, zorder=11)
    texts.append("北")

    # street names: around markers, legend, scale bar and north arrow
    label_names: list[str] = []
    if street_names and ways is not None:
        renderer = p1.fig.canvas.get_renderer()
        obstacles: list[shapely.Geometry] = [shapely.Point(a, b).buffer(d * 0.6) for a, b in placed]
        ax_bb = ax.get_window_extent(renderer)
        for art in ax.artists:
            bb = art.get_window_extent(renderer)
            obstacles.append(shapely.box((bb.x0 - ax_bb.x0) / ax_bb.width * bw, (bb.y0 - ax_bb.y0) / ax_bb.height * bh,
                                         (bb.x1 - ax_bb.x0) / ax_bb.width * bw, (bb.y1 - ax_bb.y0) / ax_bb.height * bh))
        obstacles.append(shapely.box(bw * 0.9, bh * 0.85, bw, bh))  # the north arrow
        halo = [pe.Stroke(linewidth=2.2, foreground="white")]
        for name, lx, ly, ang, vertical in _street_labels(ways, wx, wy, to_mm=to_mm, box_mm=(bw, bh),
                                                            size_pt=st.street, obstacles=obstacles):
            gx, gy = from_mm(lx, ly)
            label = "\n".join(name) if vertical else name
            kw = {"fontsize": st.street, "ha": "center", "va": "center", "rotation": ang, "rotation_mode": "anchor",
                  "linespacing": 1.0, "zorder": 5}
            # the white halo as a stroked outline, the name over it as real text (found, copied and read aloud)
            ax.text(float(gx), float(gy), label, color="white", path_effects=halo, **kw)
            ax.text(float(gx), float(gy), label, color="#303030", **kw)
            label_names.append(name)
    texts += label_names

    if first_page_table:
        box, which = pages_rows[0]
        draw_table(p1, box, rows1, which, "站点一览" + ("（下页续）" if len(pages_rows) > 1 else ""))
    footer(p1, 1)
    texts += p1.texts

    for no, (box, which) in enumerate(pages_rows[1:] if first_page_table else pages_rows, start=2):
        pg = _Page(plt, w_mm, h_mm)
        pages.append(pg)
        pg.text(m, m, title, size=st.sub * 1.5, fontweight="bold")
        pg.text(m, m + st.sub * 1.5 * PT_MM * 1.5, "　".join(([f"{publisher} 发布"] if publisher else [])
                                                           + [f"数据截至 {date_zh(when)}"]), size=st.sub,
                color="#333333")
        last = index.iloc[which[-1]]["编号"]
        draw_table(pg, box, rows_c, which, f"站点一览（续，第 {index.iloc[which[0]]['编号']}–{last} 号）")
        footer(pg, no)
        texts += pg.texts

    out.parent.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if fmt == "pdf":
        from matplotlib.backends.backend_pdf import PdfPages

        meta = {"Title": title, "Author": publisher or "geomap", "Subject": f"{place}服务站点一览",
                "Creator": "geomap"}
        with PdfPages(out, metadata=meta) as pdf:
            for pg in pages:
                pdf.savefig(pg.fig, facecolor="white")
        paths.append(out)
    else:
        for no, pg in enumerate(pages, start=1):
            path = out if no == 1 else out.with_name(f"{out.stem}-{no}{out.suffix}")
            pg.fig.savefig(path, dpi=dpi, format="png", facecolor="white")
            paths.append(path)
    for pg in pages:
        plt.close(pg.fig)
    texts_t = tuple(dict.fromkeys([title, *texts]))
    return PosterSummary(path=out, paper=paper_key + (" landscape" if landscape else ""),
                         dpi=dpi if fmt == "png" else None, stations=n, font_file=f"{font_file}#{font_index}",
                         texts=texts_t, missing_glyphs=missing_glyphs(texts_t), pages=len(pages), paths=tuple(paths),
                         index=index, legend=legend_counts, street_labels=tuple(label_names), qr_url=qr_url,
                         data_date=when, moved=int(moved.sum()))


def _darker(color: str, f: float = 0.72) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c * f) for c in (r, g, b)))


def _fill(ax: Any, geom: shapely.Geometry, *, color: str, alpha: float, zorder: int, edge: str | None = None) -> None:
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
    ax.add_patch(PathPatch(path, facecolor=color, edgecolor=edge or color, alpha=alpha, linewidth=0.5,
                           zorder=zorder))
