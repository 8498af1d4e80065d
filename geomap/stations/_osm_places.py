"""Private: the named places and house addresses of an OSM extract, and exact / containment matching of a
station's name and address against them (the offline geocoder, :class:`geomap.stations.geocode.OsmGeocoder`).

Read with pyosmium, as :mod:`geomap.network._osm` and :mod:`geomap.planning._osm_features` read the same
extract (``stations`` sits below both, so the few lines of reading are its own). Every position is WGS84
lon/lat degrees: OSM's own system, no conversion.

What is a place: a node, closed way or multipolygon with a ``name`` (``name:zh``, ``official_name``,
``alt_name``, ``short_name`` too) or an ``addr:housenumber`` — shops, offices, amenities, buildings,
landuse areas, parks … — but not streets, railways, transit stops, boundaries, ``place=*`` nodes or
routes: a station placed on a bus stop or a district's centre would be a guess. An area stands at its
``point_on_surface`` with its size (half the diagonal of its bounding box); an area wider than
:data:`MAX_AREA_EXTENT_M` is too coarse to place a station in and is reported as such, not used.

Matching is never fuzzy (see :meth:`OsmPlaces.match`): a name matches when equal after
:func:`normalize` (full-width folded, case folded, spaces and punctuation removed) or when one contains
the other (the shorter at least :data:`MIN_CONTAINED_CHARS` characters); an address matches when its
street (after any 省/市/区/县/镇/街道 in front) and its 弄 and 号 equal an OSM ``addr:street`` +
``addr:housenumber`` (a house-number range ``194-196`` holds 195). Several places far apart are
ambiguous and nothing is placed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geomap import coords

NAME_TAGS: tuple[str, ...] = ("name", "name:zh", "name:zh-Hans", "official_name", "alt_name", "short_name")
"""Tags whose values name a place (``alt_name`` may list several, separated by ``;``)."""
EXCLUDED_KEYS: tuple[str, ...] = ("highway", "railway", "public_transport", "route", "boundary", "place",
                                  "waterway", "power", "barrier")
"""Features with one of these keys are not places a station can be placed at."""
POI_KEYS: tuple[str, ...] = ("amenity", "shop", "office", "tourism", "leisure", "craft", "healthcare", "club",
                             "sport", "emergency")
MIN_CONTAINED_CHARS = 4
"""A name contained in another matches only when it has at least this many characters (after
normalising): 驿站 or 五角场 alone name nothing."""
SAME_PLACE_M = 100.0
"""Candidates closer together than this (metres) are one place (a shop node inside its building)."""
MAX_AREA_EXTENT_M = 300.0
"""An area larger than this (half its bounding box's diagonal, metres) is too coarse to place a station in."""
ADMIN_PREFIX_ENDINGS: tuple[str, ...] = ("省", "市", "区", "县", "镇", "乡", "街道")
"""What may stand in front of a street name in an address (上海市杨浦区淞沪路 → 淞沪路)."""

_STREET = re.compile(r"([\u4e00-\u9fff]+?(?:大道|公路|路|街|巷))(?=\d)")
_NUMBER = re.compile(r"(\d+)(?:-(\d+))?(支弄|弄|号楼|号|栋|幢|室|层|楼)?")
_LATIN_TAIL = re.compile(r"\s+[A-Za-z].*$")


def normalize(text: str | None) -> str:
    """Text for comparing: NFKC (full-width letters and digits folded), lower case, everything that is
    not a letter or digit (spaces, punctuation, brackets, ·) removed. ``None`` gives ``""``."""
    if not text:
        return ""
    t = unicodedata.normalize("NFKC", str(text)).lower()
    return "".join(c for c in t if c.isalnum())


def _normalize_address(text: str | None) -> str:
    """:func:`normalize` keeping number ranges (``194-196``, ``194~196``, ``194—196``)."""
    if not text:
        return ""
    t = unicodedata.normalize("NFKC", str(text)).lower()
    t = re.sub(r"(?<=\d)\s*[~～—–]\s*(?=\d)", "-", t)
    return "".join(c for c in t if c.isalnum() or c == "-")


@dataclass(frozen=True)
class Address:
    """A house address: ``street`` (normalised; for an address read from a list, everything before the
    number, e.g. 上海市杨浦区淞沪路), ``lane`` (the 弄, or None) and ``number`` (号 as an inclusive range,
    or None for a 弄 alone)."""

    street: str
    lane: int | None
    number: tuple[int, int] | None

    def label(self) -> str:
        """As people write it: 密云路454弄12号."""
        lane = f"{self.lane}弄" if self.lane is not None else ""
        if self.number is None:
            num = ""
        elif self.number[0] == self.number[1]:
            num = f"{self.number[0]}号"
        else:
            num = f"{self.number[0]}-{self.number[1]}号"
        return f"{self.street}{lane}{num}"


def parse_address(text: str | None) -> Address | None:
    """The street, 弄 and 号 of an address (None when it has no street followed by a number).

    ``上海市杨浦区密云路454弄12号2楼`` → street ``上海市杨浦区密云路``, lane 454, number (12, 12); a
    number after 号楼 / 栋 / 室 / 层 (a building or room inside) ends the address."""
    t = _normalize_address(text)
    m = _STREET.search(t)
    if m is None:
        return None
    lane: int | None = None
    number: tuple[int, int] | None = None
    pos = m.end()
    while True:
        p = _NUMBER.match(t, pos)
        if p is None:
            break
        lo = int(p.group(1))
        hi = int(p.group(2)) if p.group(2) else lo
        marker = p.group(3)
        if marker == "弄" and lane is None and number is None:
            lane = lo
        elif marker in (None, "号") and number is None:
            number = (min(lo, hi), max(lo, hi))
            if marker is None:
                break
        else:  # 支弄, 号楼, 栋, 室 … : inside the house
            break
        pos = p.end()
    if lane is None and number is None:
        return None
    return Address(street=m.group(1), lane=lane, number=number)


@dataclass(frozen=True)
class Place:
    """A named place or house of the extract: ``osm`` (``node/123``), ``name`` (as written, may be None),
    ``what`` (兴趣点 / 建筑 / 区域 / 门牌), WGS84 ``lon``/``lat`` (degrees), ``extent_m`` (0 for a node) and
    ``address`` (as written: street + house number, or None)."""

    osm: str
    name: str | None
    what: str
    lon: float
    lat: float
    extent_m: float
    address: str | None

    def label(self) -> str:
        return f"{self.what}“{self.name or self.address}”"


@dataclass(frozen=True)
class OsmMatch:
    """What :meth:`OsmPlaces.match` found: the place (None on failure), by ``address`` or ``name``, the
    text matched, the quality (Chinese: 兴趣点 / 门牌号 …), how (名称完全一致 / 名称包含 …), or the
    failure (``no_match`` / ``ambiguous`` / ``imprecise``) and its Chinese reason."""

    place: Place | None
    by: str
    query: str
    quality: str | None = None
    how: str | None = None
    failure: str | None = None
    reason: str | None = None


@dataclass
class _Hit:
    places: list[int]
    how: str
    rank: int  # lower is better: 0 name equal, 1 house number, 2 name contained, 3 lane only


@dataclass
class OsmPlaces:
    """The places of an extract with their look-up tables (build with :func:`read_places`)."""

    places: list[Place]
    name_keys: list[tuple[str, int]] = field(default_factory=list)  # (normalised name, place index)
    addresses: list[tuple[Address, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_name: dict[str, list[int]] = {}
        for key, i in self.name_keys:
            lst = self.by_name.setdefault(key, [])
            if i not in lst:
                lst.append(i)
        self._grams: dict[str, set[int]] = {}
        for j, (key, _) in enumerate(self.name_keys):
            for g in _grams(key):
                self._grams.setdefault(g, set()).add(j)
        self.by_street: dict[str, list[tuple[Address, int]]] = {}
        for a, i in self.addresses:
            self.by_street.setdefault(a.street, []).append((a, i))

    def __len__(self) -> int:
        return len(self.places)

    # --- matching ----------------------------------------------------------------------------------------
    def match(self, *, name: str | None, address: str | None) -> OsmMatch:
        """Place a row by its ``name`` and / or ``address`` (either may be None).

        Each gives a hit or not; when both hit, they must agree (within :data:`SAME_PLACE_M`), else nothing
        is placed (``ambiguous``). The better hit is used, in this order: name equal, house number equal,
        name contained, 弄 equal without the house number. Candidates of one hit farther apart than
        :data:`SAME_PLACE_M` are ``ambiguous``; an area wider than :data:`MAX_AREA_EXTENT_M` is
        ``imprecise``."""
        results: list[tuple[str, str, _Hit | OsmMatch]] = []
        if address:
            results.append(("address", address, self._by_address(address)))
        if name:
            results.append(("name", name, self._by_name(name)))
        hits: list[tuple[str, str, _Hit, Place]] = []
        failures: list[OsmMatch] = []
        for by, query, res in results:
            if isinstance(res, OsmMatch):
                failures.append(res)
                continue
            picked = self._pick(res, by=by, query=query)
            if isinstance(picked, OsmMatch):
                failures.append(picked)
            else:
                hits.append((by, query, res, picked))
        if len(hits) == 2:
            (_, q_a, _, p_a), (_, q_n, _, p_n) = hits
            d = float(coords.haversine_m(p_a.lon, p_a.lat, p_n.lon, p_n.lat))
            if d > SAME_PLACE_M:
                return OsmMatch(None, "name", q_n, failure="ambiguous",
                                reason=f"名称匹配到 OSM {p_n.label()}，地址“{q_a}”却匹配到 {p_a.label()}，"
                                       f"两者相距 {d:,.0f} m：无法确定站点在哪里")
        if hits:
            by, query, hit, place = min(hits, key=lambda h: h[2].rank)
            how = hit.how + ("，名称与地址相符" if len(hits) == 2 else "")
            quality = _quality(place, by=by, how=hit.how)
            return OsmMatch(place, by, query, quality=quality, how=how)
        for code in ("ambiguous", "imprecise"):
            for f in failures:
                if f.failure == code:
                    return f
        reason = "；".join(f.reason or "" for f in failures) or "没有名称也没有地址"
        first = failures[0] if failures else OsmMatch(None, "name", "")
        return OsmMatch(None, first.by, first.query, failure="no_match", reason=reason)

    def _pick(self, hit: _Hit, *, by: str, query: str) -> Place | OsmMatch:
        """One place of a hit's candidates, or why none (far apart; a too large area)."""
        cands = [self.places[i] for i in hit.places]
        lon = np.array([p.lon for p in cands])
        lat = np.array([p.lat for p in cands])
        spread = float(np.max(coords.haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])))
        if spread > SAME_PLACE_M:
            names = "、".join(p.label() for p in cands[:3]) + ("等" if len(cands) > 3 else "")
            what = "名称" if by == "name" else "地址"
            return OsmMatch(None, by, query, failure="ambiguous",
                            reason=f"{what}“{query}”在 OSM 数据里对应 {len(cands)} 处（{names}），最远相距 "
                                   f"{spread:,.0f} m：无法确定是哪一处")
        best = min(cands, key=lambda p: p.extent_m)
        if best.extent_m > MAX_AREA_EXTENT_M:
            return OsmMatch(None, by, query, failure="imprecise",
                            reason=f"匹配到 OSM {best.label()}，但它范围约 {2 * best.extent_m:,.0f} m，"
                                   "无法确定站点在其中何处")
        return best

    def _by_name(self, name: str) -> _Hit | OsmMatch:
        key = normalize(name)
        if len(key) < 2:
            return OsmMatch(None, "name", name, failure="no_match", reason=f"名称“{name}”太短，无法匹配")
        if key in self.by_name:
            return _Hit(list(self.by_name[key]), "名称完全一致", 0)
        found: set[int] = set()
        # an OSM name inside the row's name: the longest such names
        for n in range(len(key) - 1, MIN_CONTAINED_CHARS - 1, -1):
            at_n = {i for s in range(len(key) - n + 1) for i in self.by_name.get(key[s:s + n], ())}
            if at_n:
                found |= at_n
                break
        # the row's name inside OSM names
        if len(key) >= MIN_CONTAINED_CHARS:
            grams = [self._grams.get(g, set()) for g in _grams(key)]
            if grams and all(grams):
                for j in set.intersection(*grams):
                    osm_key, i = self.name_keys[j]
                    if key in osm_key:
                        found.add(i)
        if found:
            return _Hit(sorted(found), "名称包含（非完全一致）", 2)
        return OsmMatch(None, "name", name, failure="no_match", reason=f"OSM 数据里没有名为“{name}”的地点")

    def _by_address(self, address: str) -> _Hit | OsmMatch:
        a = parse_address(address)
        if a is None:
            return OsmMatch(None, "address", address, failure="no_match",
                            reason=f"地址“{address}”里没有“路/街 + 门牌号”，无法按门牌匹配")
        street = self._street_of(a.street)
        if street is None:
            return OsmMatch(None, "address", address, failure="no_match",
                            reason=f"OSM 数据里没有“{_short_street(a.street)}”的门牌")
        want = Address(street, a.lane, a.number)
        entries = self.by_street[street]
        exact = [i for oa, i in entries if oa.lane == a.lane and _within(a.number, oa.number)]
        if exact:
            return _Hit(exact, "门牌一致" if a.number else "弄一致", 1)
        if a.lane is not None and a.number is not None:
            lane_only = [i for oa, i in entries if oa.lane == a.lane and oa.number is None]
            if lane_only:
                return _Hit(lane_only, f"只到弄：OSM 数据里没有{a.number[0]}号", 3)
        return OsmMatch(None, "address", address, failure="no_match",
                        reason=f"OSM 数据里“{street}”有 {len(entries)} 个门牌，没有“{want.label()}”")

    def _street_of(self, street: str) -> str | None:
        """The longest OSM street that the address's street text ends with, after nothing or an
        administrative name (上海市杨浦区 / 五角场街道)."""
        for s in range(len(street) - 1):
            tail, head = street[s:], street[:s]
            if tail in self.by_street and (not head or head.endswith(ADMIN_PREFIX_ENDINGS)):
                return tail
        return None


def _within(want: tuple[int, int] | None, have: tuple[int, int] | None) -> bool:
    if want is None or have is None:
        return want is None and have is None
    return have[0] <= want[0] and want[1] <= have[1]


def _short_street(street: str) -> str:
    for end in ADMIN_PREFIX_ENDINGS:
        i = street.rfind(end)
        if 0 <= i < len(street) - 2:
            return street[i + len(end):]
    return street


def _grams(key: str, n: int = 3) -> set[str]:
    return {key[i:i + n] for i in range(len(key) - n + 1)}


def _quality(place: Place, *, by: str, how: str) -> str:
    if by == "address":
        return "门牌号" if how.startswith("门牌") else "弄"
    return place.what


# --- reading -------------------------------------------------------------------------------------------

def _names(tags: Any) -> list[str]:
    out: list[str] = []
    for k in NAME_TAGS:
        v = tags.get(k)
        if v:
            out.extend(x.strip() for x in str(v).split(";") if x.strip())
    return out


def _what(tags: Any, *, area: bool) -> str:
    if any(k in tags for k in POI_KEYS):
        return "兴趣点"
    if "building" in tags:
        return "建筑"
    return "区域" if area else "兴趣点"


def _address(tags: Any) -> tuple[str | None, Address | None]:
    """The written address of a feature and its parsed form (street's Latin tail dropped:
    ``密云路454弄 Lane 454 of Miyun Road`` → ``密云路454弄``)."""
    full = tags.get("addr:full")
    number = tags.get("addr:housenumber")
    street = _LATIN_TAIL.sub("", tags.get("addr:street") or "").strip()
    written = None
    parsed = None
    if number:
        # a house number that carries its street (武东路198号) stands alone
        written = number if _STREET.search(normalize(number)) else f"{street}{number}"
        parsed = parse_address(written)
    if parsed is None and full:
        written, parsed = full, parse_address(full)
    if parsed is None:
        return None, None
    return written, parsed


def _wanted(tags: Any) -> bool:
    if any(k in tags for k in EXCLUDED_KEYS):
        return False
    return any(k in tags for k in NAME_TAGS) or "addr:housenumber" in tags or "addr:full" in tags


def read_places(path: str | Path) -> OsmPlaces:
    """The named places and house addresses of an OSM PBF / XML extract (one pass of pyosmium)."""
    import osmium
    import shapely

    wkb = osmium.geom.WKBFactory()
    rows: list[dict[str, Any]] = []

    class _Handler(osmium.SimpleHandler):
        def node(self, n: Any) -> None:
            if n.location.valid() and _wanted(n.tags):
                rows.append({"osm": f"node/{n.id}", "tags": {t.k: t.v for t in n.tags},
                             "lon": n.location.lon, "lat": n.location.lat})

        def area(self, a: Any) -> None:
            if not _wanted(a.tags):
                return
            try:
                geom = shapely.from_wkb(wkb.create_multipolygon(a))
            except Exception:  # broken ring in the extract: skip that area, as osmium does
                return
            pt = geom.point_on_surface()
            w, s, e, n = geom.bounds
            rows.append({"osm": f"{'way' if a.from_way() else 'relation'}/{a.orig_id()}",
                         "tags": {t.k: t.v for t in a.tags}, "lon": float(pt.x), "lat": float(pt.y),
                         "extent_m": float(coords.haversine_m(w, s, e, n)) / 2.0, "area": True})

    _Handler().apply_file(str(path), locations=True)
    return places_from(rows)


def places_from(rows: Iterable[dict[str, Any]]) -> OsmPlaces:
    """Places from plain records (``osm`` id, ``tags`` dict, WGS84 ``lon`` / ``lat``, optional ``extent_m``
    in metres and ``area``): the rules of :func:`read_places` without a file."""
    places: list[Place] = []
    name_keys: list[tuple[str, int]] = []
    addresses: list[tuple[Address, int]] = []
    for r in rows:
        tags = r["tags"]
        if not _wanted(tags):
            continue
        names = _names(tags)
        written, parsed = _address(tags)
        if not names and parsed is None:
            continue
        i = len(places)
        places.append(Place(osm=r["osm"], name=names[0] if names else None,
                            what=_what(tags, area=bool(r.get("area"))) if names else "门牌",
                            lon=float(r["lon"]), lat=float(r["lat"]), extent_m=float(r.get("extent_m", 0.0)),
                            address=written))
        name_keys.extend((key, i) for key in dict.fromkeys(normalize(n) for n in names) if len(key) >= 2)
        if parsed is not None:
            addresses.append((parsed, i))
    return OsmPlaces(places=places, name_keys=name_keys, addresses=addresses)
