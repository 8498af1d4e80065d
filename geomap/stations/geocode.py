"""Geocoding of station rows that give an address or a name but no coordinates (issue 18).

A :class:`Geocoder` takes a batch of :class:`GeocodeQuery` (address, name, district hint) and answers, for
each, a :class:`GeocodeResult`: a WGS84 lon/lat (degrees) with the text it matched, the match's quality in
Chinese (门牌号 / 兴趣点 / 道路 / 区县 …) and the service, or a failure with its reason. Three of them:

- :class:`AmapGeocoder`: 高德 web service geocoding (``GET https://restapi.amap.com/v3/geocode/geo`` with
  ``address``, ``city``, ``key``; https://lbs.amap.com/api/webservice/guide/api/georegeo). The answer is
  ``status`` "1" / "0", ``info``, ``infocode`` (10000 OK; 10001 INVALID_USER_KEY, 10003
  DAILY_QUERY_OVER_LIMIT … https://lbs.amap.com/api/webservice/guide/tools/info), ``count`` and
  ``geocodes`` with ``formatted_address``, ``location`` "lng,lat" in **GCJ-02** and ``level`` (国家, 省, 市,
  区县, 开发区, 乡镇, 村庄, 热点商圈, 道路, 道路交叉路口, 兴趣点, 门牌号, 单元号, 门址, 住宅区, 未知 …). The
  location is converted to WGS84 with :func:`geomap.coords.to_wgs84`.
- :class:`TiandituGeocoder`: 天地图 geocoding (``GET http://api.tianditu.gov.cn/geocoder?ds={"keyWord":"…"}&tk=KEY``;
  http://lbs.tianditu.gov.cn/server/geocodinginterface.html). The answer is ``status`` ("0" found, "101"
  nothing found, "404" error), ``msg`` and ``location`` with ``lon`` / ``lat`` in CGCS2000 (within
  centimetres of WGS84, used as is) and ``level`` (e.g. 地名地址). It needs a 服务端 (server) key.
- :class:`OsmGeocoder`: offline, the names and house addresses of the workspace's OpenStreetMap extract
  (:mod:`geomap.stations._osm_places`: exact or containment matches only, never fuzzy).

Nothing is placed by a guess without saying so: a web answer only as precise as a road, a district or a
city (:data:`COARSE_LEVELS`), several answers far apart, or an OSM area too large are failures
(``imprecise`` / ``ambiguous``) and the row stays an error; every placed row carries what was matched and
how well. Web requests are sequential, at most one per ``interval_s`` seconds, each waiting at most
``timeout_s``; after a quota or key error (or three timeouts in a row) the remaining rows are not asked
and say why. Answers (found or not found, never errors) are cached in the workspace's
``cache/geocode/<service>/`` keyed by service and query, so a re-import asks nothing again. The key is
sent only to the service and never written to a report, a log or the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from geomap import coords

GEOCODERS: tuple[str, ...] = ("none", "amap", "tianditu", "osm")
"""The values of the ``geocoder`` setting and of ``geomap import --geocode``."""

COARSE_LEVELS: frozenset[str] = frozenset({
    "国家", "省", "市", "区县", "开发区", "乡镇", "村庄", "热点商圈", "道路", "未知",  # 高德 levels
    "行政区划", "行政区", "城市", "区域",
})
"""Levels of a web answer too coarse to place a station at (a road's or a district's middle is a guess)."""

SAME_PLACE_M = 100.0
"""Answers closer together than this (metres) are one place; farther apart, the query is ambiguous."""

MAX_TIMEOUTS_IN_A_ROW = 3
"""After this many timeouts in a row the service is taken as down and the remaining rows are not asked."""

SOURCE_ZH: dict[str, str] = {"amap": "高德地图", "tianditu": "天地图", "osm": "本工作区的 OpenStreetMap 数据"}

_FAILURES_CACHED = frozenset({"no_match", "imprecise", "ambiguous"})
"""Answers the service gave about the place itself: cached like matches. Quota, key, timeout and service
errors are about the moment and are asked again next time."""


@dataclass(frozen=True)
class GeocodeQuery:
    """One row to place: its ``address`` and ``name`` as written (either may be None) and ``hint``, the
    district or city the row names (its 区 column), or None."""

    address: str | None
    name: str | None
    hint: str | None = None


@dataclass(frozen=True)
class GeocodeResult:
    """The answer for one query.

    Found: ``lon`` / ``lat`` (WGS84 degrees), ``matched`` (the text the service matched: 高德's
    ``formatted_address``, an OSM place's name or address), ``quality`` (Chinese: 门牌号 / 兴趣点 / 建筑 …),
    ``how`` (optional words on the match: 名称包含（非完全一致）…). Not found: ``failure`` (``no_match``,
    ``imprecise``, ``ambiguous``, ``quota``, ``key_invalid``, ``timeout``, ``service_error``) and
    ``reason`` (Chinese). Always: ``service`` (amap / tianditu / osm), ``by`` (``address`` or ``name``: what
    was asked), ``query`` (the text asked) and ``cached`` (answered from the workspace's cache)."""

    service: str
    by: str
    query: str
    lon: float | None = None
    lat: float | None = None
    matched: str | None = None
    quality: str | None = None
    how: str | None = None
    failure: str | None = None
    reason: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None and self.lon is not None and self.lat is not None

    @property
    def source(self) -> str:
        """The service as people say it: 高德地图 / 天地图 / 本工作区的 OpenStreetMap 数据."""
        return SOURCE_ZH.get(self.service, self.service)


class Geocoder(Protocol):
    """Places rows by address or name: one :class:`GeocodeResult` per :class:`GeocodeQuery`, in order."""

    service: str

    def geocode(self, queries: Sequence[GeocodeQuery]) -> list[GeocodeResult]: ...


# --- the cache -----------------------------------------------------------------------------------------

class _Cache:
    """One JSON file per answer in ``folder/<service>/<sha1 of the query>.json`` (written under a temporary
    name and renamed, so concurrent imports never read half a file)."""

    def __init__(self, folder: Path | None, service: str):
        self.folder = None if folder is None else Path(folder) / service

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{hashlib.sha1(key.encode()).hexdigest()}.json"

    def get(self, key: str) -> GeocodeResult | None:
        if self.folder is None:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("key") != key:
            return None
        return replace(GeocodeResult(**data["result"]), cached=True)

    def put(self, key: str, result: GeocodeResult) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "result": {**asdict(result), "cached": False}}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, path)


# --- web services --------------------------------------------------------------------------------------

def _query_text(q: GeocodeQuery, *, place: str | None) -> tuple[str, str] | None:
    """What is sent for a row: its address (else its name), with the row's district (else the workspace's
    place) in front when the text does not already say it. None when the row has neither."""
    text, by = (q.address, "address") if q.address else (q.name, "name")
    if not text:
        return None
    text = text.strip()
    hint = (q.hint or place or "").strip()
    if hint and hint not in text:
        text = hint + text
    return text, by


class _WebGeocoder:
    """Sequential, rate-limited, cached requests to a web geocoding service; subclasses build the URL
    and read the answer."""

    service = ""

    def __init__(self, *, key: str, url: str, timeout_s: float = 10.0, interval_s: float = 0.34,
                 cache_dir: str | Path | None = None, city: str | None = None, place: str | None = None):
        if not key:
            raise ValueError(f"{SOURCE_ZH[self.service]}地理编码需要 key")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{SOURCE_ZH[self.service]}地理编码地址必须是 http(s) 网址：{url!r}")
        self._key = key
        self.url = url
        self.timeout_s = float(timeout_s)
        self.interval_s = float(interval_s)
        self.city = city or None
        self.place = place or None
        self._cache = _Cache(None if cache_dir is None else Path(cache_dir), self.service)
        self._last = -float("inf")
        self.requests = 0
        """Requests sent by this object (answers from the cache are not requests)."""

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(url={self.url!r}, city={self.city!r})"

    def _cache_key(self, text: str) -> str:
        return f"{self.service}\n{self.city or ''}\n{text}"

    def geocode(self, queries: Sequence[GeocodeQuery]) -> list[GeocodeResult]:
        out: list[GeocodeResult] = []
        stopped: GeocodeResult | None = None
        timeouts = 0
        for q in queries:
            asked = _query_text(q, place=self.place)
            if asked is None:
                out.append(GeocodeResult(self.service, "name", "", failure="no_match", reason="没有地址也没有名称"))
                continue
            text, by = asked
            cached = self._cache.get(self._cache_key(text))
            if cached is not None:
                out.append(cached)
                continue
            if stopped is not None:
                out.append(GeocodeResult(self.service, by, text, failure=stopped.failure,
                                         reason=f"未查询：{stopped.reason}"))
                continue
            res = self._ask(text, by)
            timeouts = timeouts + 1 if res.failure == "timeout" else 0
            if res.failure in ("quota", "key_invalid") or timeouts >= MAX_TIMEOUTS_IN_A_ROW:
                stopped = res
            if res.failure is None or res.failure in _FAILURES_CACHED:
                self._cache.put(self._cache_key(text), res)
            out.append(res)
        return out

    def _ask(self, text: str, by: str) -> GeocodeResult:
        wait = self._last + self.interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        url = self._url(text)
        self.requests += 1
        name = SOURCE_ZH[self.service]
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
            except OSError:
                body = b""
            return self._http_error(exc.code, body, text=text, by=by)
        except TimeoutError:
            return GeocodeResult(self.service, by, text, failure="timeout",
                                 reason=f"{name}超时：{self.timeout_s:g} 秒内没有回答")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return GeocodeResult(self.service, by, text, failure="timeout",
                                     reason=f"{name}超时：{self.timeout_s:g} 秒内没有回答")
            return GeocodeResult(self.service, by, text, failure="service_error",
                                 reason=f"连不上{name}（{type(exc.reason).__name__}）")
        finally:
            self._last = time.monotonic()
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return GeocodeResult(self.service, by, text, failure="service_error", reason=f"{name}的回答不是 JSON")
        if not isinstance(data, dict):
            return GeocodeResult(self.service, by, text, failure="service_error", reason=f"{name}的回答无法识别")
        return self._read(data, text=text, by=by)

    def _url(self, text: str) -> str:
        raise NotImplementedError

    def _read(self, data: dict[str, Any], *, text: str, by: str) -> GeocodeResult:
        raise NotImplementedError

    def _http_error(self, status: int, body: bytes, *, text: str, by: str) -> GeocodeResult:
        name = SOURCE_ZH[self.service]
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if isinstance(data, dict):
            res = self._read(data, text=text, by=by)
            if res.failure not in (None, "service_error"):
                return res
        if status in (401, 403):
            return GeocodeResult(self.service, by, text, failure="key_invalid",
                                 reason=f"{name}拒绝了请求（HTTP {status}）：请检查 key 是否有效、是否开通地理编码")
        if status == 429:
            return GeocodeResult(self.service, by, text, failure="quota",
                                 reason=f"{name}请求超过配额或过于频繁（HTTP 429）")
        return GeocodeResult(self.service, by, text, failure="service_error", reason=f"{name}出错（HTTP {status}）")


def _spread_m(lon: Sequence[float], lat: Sequence[float]) -> float:
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    return float(np.max(coords.haversine_m(x[:, None], y[:, None], x[None, :], y[None, :])))


_AMAP_QUOTA = {"10003": "今日调用量已用完", "10004": "请求过于频繁", "10010": "本机 IP 调用超限",
               "10014": "请求过于频繁", "10015": "请求过于频繁", "10019": "使用的服务超出限制",
               "10020": "使用的服务超出限制", "10021": "使用的服务超出限制", "10044": "今日调用量已用完"}
_AMAP_KEY = {"10001": "key 不正确或已过期", "10002": "key 没有开通地理编码服务", "10005": "本机 IP 不在 key 的白名单",
             "10006": "key 绑定的域名无效", "10007": "数字签名未通过", "10009": "key 不是“Web 服务”类型",
             "10012": "key 权限不足", "10013": "key 已被删除"}


class AmapGeocoder(_WebGeocoder):
    """高德 web service geocoding (GCJ-02 answers converted to WGS84). ``key``: a “Web 服务” key;
    ``city``: the city to search in (高德's ``city``: 上海, shanghai, 021, 310000), else nationwide."""

    service = "amap"

    def _url(self, text: str) -> str:
        params = {"address": text, "key": self._key, "output": "JSON"}
        if self.city:
            params["city"] = self.city
        return f"{self.url}?{urllib.parse.urlencode(params)}"

    def _read(self, data: dict[str, Any], *, text: str, by: str) -> GeocodeResult:
        def fail(code: str, reason: str) -> GeocodeResult:
            return GeocodeResult(self.service, by, text, failure=code, reason=reason)

        info, infocode = str(data.get("info") or ""), str(data.get("infocode") or "")
        if str(data.get("status")) != "1":
            if infocode in _AMAP_QUOTA:
                return fail("quota", f"高德地图配额用完：{_AMAP_QUOTA[infocode]}（{info} {infocode}）")
            if infocode in _AMAP_KEY:
                return fail("key_invalid", f"高德地图 key 无效：{_AMAP_KEY[infocode]}（{info} {infocode}）")
            return fail("service_error", f"高德地图出错：{info or '未知错误'}（{infocode or '无 infocode'}）")
        found = [g for g in (data.get("geocodes") or []) if isinstance(g, dict) and _text(g.get("location"))]
        if not found:
            return fail("no_match", f"高德地图没有找到“{text}”")
        try:
            pts = [[float(v) for v in str(g["location"]).split(",")] for g in found]
        except ValueError:
            pts = []
        if not pts or any(len(p) != 2 for p in pts):
            return fail("service_error", "高德地图的回答里坐标无法识别")
        g = found[0]
        matched = _text(g.get("formatted_address")) or text
        level = _text(g.get("level")) or "未知"
        if len(pts) > 1 and _spread_m([p[0] for p in pts], [p[1] for p in pts]) > SAME_PLACE_M:
            names = "、".join(f"“{_text(x.get('formatted_address'))}”" for x in found[:3])
            return fail("ambiguous", f"高德地图对“{text}”给出 {len(pts)} 个相距较远的结果（{names}）：无法确定是哪一个")
        if level in COARSE_LEVELS:
            return GeocodeResult(self.service, by, text, matched=matched, quality=level, failure="imprecise",
                                 reason=f"高德地图只定位到{level}“{matched}”，不够精确，未放置")
        lon, lat = coords.to_wgs84(np.array([pts[0][0]]), np.array([pts[0][1]]), src="gcj02")
        return GeocodeResult(self.service, by, text, lon=float(lon[0]), lat=float(lat[0]), matched=matched,
                             quality=level)


class TiandituGeocoder(_WebGeocoder):
    """天地图 geocoding. ``key``: a 服务端 (server) key; the answer's CGCS2000 lon/lat is taken as WGS84
    (they differ by centimetres). 天地图 has no city parameter: the district hint in front of the text
    keeps the search in the place."""

    service = "tianditu"

    def _url(self, text: str) -> str:
        ds = json.dumps({"keyWord": text}, ensure_ascii=False)
        return f"{self.url}?{urllib.parse.urlencode({'ds': ds, 'tk': self._key})}"

    def _read(self, data: dict[str, Any], *, text: str, by: str) -> GeocodeResult:
        def fail(code: str, reason: str) -> GeocodeResult:
            return GeocodeResult(self.service, by, text, failure=code, reason=reason)

        status, msg = _text(data.get("status")), _text(data.get("msg")) or ""
        loc = data.get("location")
        if status == "0" and isinstance(loc, dict):
            try:
                lon, lat = float(loc["lon"]), float(loc["lat"])
            except (KeyError, TypeError, ValueError):
                return fail("service_error", "天地图的回答里坐标无法识别")
            level = _text(loc.get("level")) or "未注明（天地图没有给出）"
            matched = _text(loc.get("keyWord")) or text
            if level in COARSE_LEVELS:
                return GeocodeResult(self.service, by, text, matched=matched, quality=level, failure="imprecise",
                                     reason=f"天地图只定位到{level}“{matched}”，不够精确，未放置")
            return GeocodeResult(self.service, by, text, lon=lon, lat=lat, matched=matched, quality=level)
        if status in ("0", "101"):
            return fail("no_match", f"天地图没有找到“{text}”")
        words = f"{msg} {_text(data.get('resolve')) or ''}".lower()
        if any(w in words for w in ("限额", "超限", "超过", "配额", "limit", "quota")):
            return fail("quota", f"天地图配额用完：{msg}")
        if any(w in words for w in ("key", "密钥", "权限", "非法", "tk")):
            return fail("key_invalid", f"天地图 key 无效：{msg}")
        return fail("service_error", f"天地图出错：{msg or '未知错误'}（status {status or '无'}）")


def _text(v: Any) -> str | None:
    """A text field of an answer: 高德 writes an empty field as ``[]``."""
    if v is None or isinstance(v, list | dict):
        return None
    s = str(v).strip()
    return s or None


# --- offline: the workspace's OSM extract --------------------------------------------------------------

class OsmGeocoder:
    """Offline geocoding by the names and house addresses in an OSM extract (WGS84), read on first use.

    Both the row's name and its address are tried (:meth:`geomap.stations._osm_places.OsmPlaces.match`):
    equal or contained names, equal street + 弄 + 号; never a fuzzy match."""

    service = "osm"

    def __init__(self, osm_path: str | Path):
        self.osm_path = Path(osm_path)
        self._places: Any = None

    @property
    def places(self) -> Any:
        """The extract's places (:class:`geomap.stations._osm_places.OsmPlaces`), read once."""
        if self._places is None:
            from geomap.stations._osm_places import read_places

            self._places = read_places(self.osm_path)
        return self._places

    def geocode(self, queries: Sequence[GeocodeQuery]) -> list[GeocodeResult]:
        out: list[GeocodeResult] = []
        for q in queries:
            m = self.places.match(name=q.name, address=q.address)
            if m.place is None:
                out.append(GeocodeResult(self.service, m.by, m.query, failure=m.failure, reason=m.reason))
                continue
            p = m.place
            matched = (p.label() if m.by == "name" else
                       f"门牌“{p.address}”" + (f"（{p.what}“{p.name}”）" if p.name else ""))
            out.append(GeocodeResult(self.service, m.by, m.query, lon=p.lon, lat=p.lat, matched=matched,
                                     quality=m.quality, how=m.how))
        return out


def make_geocoder(kind: str | None, *, settings: Any, cache_dir: str | Path | None = None,
                  place: str | None = None, osm_path: str | Path | None = None) -> Geocoder | None:
    """The geocoder ``kind`` (``none`` / ``amap`` / ``tianditu`` / ``osm``; None: ``settings.geocoder``)
    configured from ``settings`` (keys, URLs, timeout, interval, city), caching in ``cache_dir/geocode``.
    ``place`` (the workspace's name) goes in front of addresses that name no district. None for ``none``.

    Raises ValueError (Chinese) when the kind is unknown or what it needs is missing (a key, an extract)."""
    kind = (kind or settings.geocoder or "none").lower()
    if kind not in GEOCODERS:
        raise ValueError(f"未知的地理编码方式 {kind!r}（可选：{'、'.join(GEOCODERS)}）")
    if kind == "none":
        return None
    if kind == "osm":
        if osm_path is None:
            raise ValueError("离线地理编码（osm）需要工作区的 OpenStreetMap 文件：在 geomap.toml 里设置 osm_path")
        if not Path(osm_path).exists():
            raise ValueError(f"找不到 OSM 文件：{osm_path}")
        return OsmGeocoder(osm_path)
    folder = None if cache_dir is None else Path(cache_dir) / "geocode"
    common = {"timeout_s": settings.geocode_timeout_s, "interval_s": settings.geocode_interval_s,
              "cache_dir": folder, "city": settings.geocode_city, "place": place}
    if kind == "amap":
        key = settings.amap_key.get_secret_value() if settings.amap_key is not None else ""
        if not key:
            raise ValueError("高德地理编码需要 Web 服务 key：设置环境变量 GEOMAP_AMAP_KEY"
                             "（在 https://console.amap.com 申请“Web 服务”类型的 key）")
        return AmapGeocoder(key=key, url=settings.amap_geocode_url, **common)
    key = settings.tianditu_server_key.get_secret_value() if settings.tianditu_server_key is not None else ""
    if not key:
        raise ValueError("天地图地理编码需要服务端 key：设置环境变量 GEOMAP_TIANDITU_SERVER_KEY"
                         "（在 https://console.tianditu.gov.cn 申请“服务端”类型的 key）")
    return TiandituGeocoder(key=key, url=settings.tianditu_geocode_url, **common)
