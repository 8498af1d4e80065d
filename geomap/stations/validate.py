"""Validation of raw station records (step 2 of an import): every record checked, coordinates converted to
WGS84, opening hours and free-text services parsed, duplicates and outliers handled, all of it reported."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geomap import coords, vocab
from geomap.settings import get_settings
from geomap.stations.crs_guess import CRS_ZH, DistanceFn, check_declared, choose_crs
from geomap.stations.geocode import GeocodeQuery, Geocoder
from geomap.stations.hours import parse_hours
from geomap.stations.numbers import parse_number, split_lonlat
from geomap.stations.readers import ImportProfile, RawRecords, read_records
from geomap.stations.schema import STATION_COLUMNS, StationImportError, ValidationReport, _is_missing


def _text(v: Any) -> str | None:
    return None if _is_missing(v) else str(v).strip()


def _number(v: Any) -> float | None:
    """Parse a coordinate or price (full-width digits, DMS, units); None when missing; raises ValueError
    when not a number."""
    return parse_number(v)


_PRICE_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*元")
_NAME_NOISE = re.compile(r"[\s·・.,，、()（）\[\]【】\-_]+")


_BARE_CHARGING = re.compile(r"(?:^|[、，,;；/\s])充电(?:$|[、，,;；/\s])")
"""“充电” alone in a list of services: phone or e-bike? (电动车充电 and 手机充电 are not matched)."""
FILE_ROW = -1
MAX_NEAR_PAIRS = 2_000_000
"""More pairs of stations than this within the duplicate radius (a dense list of hundreds of thousands of
points) and only equal names are compared: the pairs would take gigabytes."""
"""The row of a problem of the whole file (a column, the coordinate system), not of one record."""
STOP_MIN_BAD = 1_000
"""A file is hopeless, and checking stops (nothing imported), once this many records have errors and there are
more than :data:`STOP_BAD_PER_GOOD` of them for each valid record (see ``docs/stations.md``): a 50 MB
list of bad rows is refused in a second instead of being checked to its end."""
STOP_BAD_PER_GOOD = 100
"""Records with errors per valid one beyond which a file with :data:`STOP_MIN_BAD` of them is hopeless."""


def _kind_labels(keys: list[str]) -> str:
    return "、".join(f"“{vocab.kinds().terms[k].label}”" for k in keys)


def _in_china(lon: float, lat: float) -> bool:
    """Scalar twin of :func:`geomap.coords.in_china` for the per-row checks (numpy scalars are slow)."""
    w, s, e, n = coords.CHINA_BOX
    return w <= lon <= e and s <= lat <= n


def _name_key(name: str) -> str:
    return _NAME_NOISE.sub("", name).lower()


def _names_match(a: str, b: str) -> bool:
    ka, kb = _name_key(a), _name_key(b)
    return bool(ka) and bool(kb) and (ka == kb or ka in kb or kb in ka)


def stable_id(*, source_id: str | None, name: str, address: str | None, prefix: str = "") -> str:
    """The station's stable id: the list's own id (with the profile's prefix), else a content hash.

    The hash covers the name and address, not the coordinates, so moving a pin keeps the id.
    """
    if source_id:
        return f"{prefix}{source_id}"
    digest = hashlib.sha1(f"{name}|{address or ''}".encode()).hexdigest()[:12]
    return f"{prefix}st-{digest}"


def validate_records(raw: RawRecords, *, crs: str | None = None, skip_invalid: bool = False,
                     merge_duplicates: bool = True, id_prefix: str | None = None,
                     source: str | None = None, kind: str | None = None, usual_crs: str | None = None,
                     distance_m: DistanceFn | None = None,
                     geocoder: Geocoder | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Check raw records and build the station table (WGS84), with a report of every problem.

    ``crs`` is the coordinate system of the file's coordinates (``wgs84``, ``gcj02``, ``bd09``). Without
    it: the profile's or the one the column names give (``gcj02_lng``); else it is found from the data
    with ``distance_m`` (distance to the place's streets, :mod:`geomap.stations.crs_guess`); else the
    workspace's ``usual_crs``; else the import stops and asks for ``--crs``. The report says which and why.
    ``kind`` gives every record without a kind of its own that kind (``--kind``); without it a record's
    name may tell its kind (驿站、接力站、司机之家、食堂 …, with a warning). ``distance_m`` also flags
    stations farther from every street than routing reaches (``settings.max_snap_m``).

    ``geocoder`` (:mod:`geomap.stations.geocode`) places the rows that give an address or a name but no
    coordinates, all in one batch after the rows are read: a placed row is a ``geocoded`` warning naming
    what was matched, how well and by which service, and its ``source_crs`` says ``geocode:<service>``;
    a row it cannot place is an error saying why. Its points are WGS84 already: they are not converted
    and take no part in finding the file's coordinate system. Without a geocoder such rows are
    ``missing_coordinates`` errors.

    Raises :class:`StationImportError` when a record has an error and ``skip_invalid`` is false, or when
    the file as a whole cannot be read (no coordinate system), or at once when the file is hopeless
    (:data:`STOP_MIN_BAD` records with errors, more than :data:`STOP_BAD_PER_GOOD` per valid one: checking
    stops there and a streamed file is not read further; ``too_many_errors``).

    Handling of warnings (documented in ``docs/stations.md``):
    probable lat/lon swap -> swapped back; point far outside the rest -> kept, flagged; same place
    listed twice -> merged into the first record (kinds and amenities united) unless
    ``merge_duplicates=False``; unparseable hours -> raw text kept, hours unknown (never "open");
    unmapped service text -> kept in ``services_raw``.
    """
    settings = get_settings()
    prof = raw.profile
    prefix = id_prefix if id_prefix is not None else (prof.id_prefix if prof else "")
    src = source or (prof.source if prof and prof.source else Path(raw.source).name)
    report = ValidationReport(source=raw.source, row_label=raw.row_label, records=len(raw.table))
    report.notes.extend(raw.notes)
    for row, code, msg in raw.skipped:
        report.add("info", row, "", code, msg)
    t = raw.table
    for col in raw.ignored_columns:
        report.add("warning", FILE_ROW, col, "ignored_column",
                   f"列 {col!r} 无对应字段，未导入（可用 --column {col}=字段 指定，或 {col}=ignore 不再提示）")
    file_kinds: list[str] = []
    if kind:
        file_kinds, unknown_file_kinds = vocab.parse_kinds(kind)
        if unknown_file_kinds or not file_kinds:
            known = "、".join(t.label for t in vocab.kinds().terms.values())
            raise ValueError(f"--kind {kind!r} 不是已知类型（已知：{known}）")
    has_kind_col = "kind" in t.columns
    if not has_kind_col:
        report.notes.append(
            "文件没有“类型”列：" + (f"全部按 --kind 指定的“{kind}”" if file_kinds else
                                 "按站点名称判断类型（如“…司机之家”）；判断不出的行请用 --kind 指定"))

    out: list[dict[str, Any]] = []
    bad_rows: set[int] = set()
    records = _records(raw, report)
    checked = 0
    for checked, rec in enumerate(records, start=1):
        row = int(rec["row"])
        name = _text(rec.get("name"))
        ok = True

        def err(field_name: str, code: str, msg: str, row: int = row, name: str | None = name) -> None:
            report.add("error", row, field_name, code, msg, name or "")

        def warn(field_name: str, code: str, msg: str, row: int = row, name: str | None = name) -> None:
            report.add("warning", row, field_name, code, msg, name or "")

        if name is None:
            err("name", "missing_name", "名称为空")
            ok = False
        # coordinates
        lon = lat = None
        to_geocode = False  # no coordinates but an address or name: placed after this loop
        if _text(rec.get("geom_problem")):
            err("geometry", "not_a_point", f"几何不是点：{rec.get('geom_problem')}")
            ok = False
        else:
            lon_v, lat_v = rec.get("lon"), rec.get("lat")
            try:
                if _is_missing(lon_v) and _is_missing(lat_v) and not _is_missing(rec.get("lonlat")):
                    lon_v, lat_v = split_lonlat(rec.get("lonlat"))
                lon, lat = _number(lon_v), _number(lat_v)
            except ValueError:
                err("lon/lat", "bad_coordinate", f"坐标不是数字：经度={lon_v!r} 纬度={lat_v!r}")
                ok = False
            else:
                if lon is None and lat is None and geocoder is not None and (name or _text(rec.get("address"))):
                    to_geocode = True
                elif lon is None or lat is None:
                    err("lon/lat", "missing_coordinates", "缺少经度或纬度")
                    ok = False
                elif not (np.isfinite(lon) and np.isfinite(lat)):
                    err("lon/lat", "bad_coordinate", f"坐标不是有限数：{lon}, {lat}")
                    ok = False
                elif lon == 0 and lat == 0:
                    err("lon/lat", "zero_coordinates", "坐标为 (0, 0)，多半是缺失值")
                    ok = False
                else:
                    if not _in_china(lon, lat) and _in_china(lat, lon):
                        warn("lon/lat", "lat_lon_swapped",
                             f"经纬度疑似填反（经度={lon}, 纬度={lat}），已对调为 经度={lat}, 纬度={lon}")
                        lon, lat = lat, lon
                    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                        err("lon/lat", "coordinate_out_of_range",
                            f"坐标超出范围：经度 {lon} 应在 -180..180，纬度 {lat} 应在 -90..90")
                        ok = False
                    elif not _in_china(lon, lat):
                        warn("lon/lat", "outside_china", f"点 ({lon}, {lat}) 不在中国境内，未做坐标偏移转换")
        # kinds
        kinds: list[str] = []
        kind_text = _text(rec.get("kind")) if has_kind_col else None
        if kind_text is None:
            from_name = vocab.kinds_from_name(name) if name else []
            if file_kinds:
                kinds = list(file_kinds)
            elif from_name:
                if has_kind_col:
                    warn("kind", "kind_from_name", f"类型为空，按名称判为{_kind_labels(from_name)}")
                else:
                    warn("kind", "kind_from_name", f"按名称判为{_kind_labels(from_name)}（文件没有类型列）")
            else:
                err("kind", "missing_kind", ("类型为空" if has_kind_col else "文件没有类型列")
                    + "，名称里也看不出类型：请填写类型，或用 --kind 指定整份文件的类型（如 --kind 工会驿站）")
                ok = False
        if kind_text is not None:
            if prof and kind_text in prof.kinds:
                kinds, unknown = list(prof.kinds[kind_text]), []
            else:
                kinds, unknown = vocab.parse_kinds(kind_text)
            if unknown:
                known = "、".join(t.label for t in vocab.kinds().terms.values())
                err("kind", "unknown_kind", f"未知类型 {'、'.join(unknown)}（已知：{known}；或用导入配置映射）")
                ok = False
        if name:
            kinds += [k for k in vocab.kinds_from_name(name) if k not in kinds]
        # services -> amenities
        services_raw = _text(rec.get("services"))
        amen, unmapped = vocab.parse_amenities(services_raw)
        if unmapped:
            warn("services", "unmapped_service",
                 f"服务内容“{'、'.join(unmapped)}”不在设施词表中，原文保留在 services_raw")
        if services_raw and _BARE_CHARGING.search(services_raw):
            warn("services", "ambiguous_service",
                 "“充电”没说是手机充电还是电动车充电：已按手机充电登记；写“手机充电”或“电动车充电”可免歧义")
        if "meals" in amen and "canteen" not in kinds and kinds:
            kinds.append("canteen")
        # hours
        hours_raw = _text(rec.get("opening_hours"))
        hours = parse_hours(hours_raw)
        if hours_raw and hours is None:
            warn("opening_hours", "unparseable_hours",
                 f"开放时间“{hours_raw}”无法解析：原文保留，按“时间未知”处理（不计入“正在开放”）")
        # meal price
        price = None
        price_text = rec.get("meal_price_yuan")
        try:
            price = _number(price_text)
        except ValueError:
            warn("meal_price_yuan", "bad_meal_price", f"套餐价格“{price_text}”不是数字，未导入该价格")
        if price is None and services_raw:
            m = _PRICE_IN_TEXT.search(services_raw)
            if m:
                price = float(m.group(1))
        if not ok:
            bad_rows.add(row)
            if len(bad_rows) >= STOP_MIN_BAD and len(out) * STOP_BAD_PER_GOOD < len(bad_rows):
                records.close()
                raise _too_many_errors(report, checked=checked, row=row, bad=len(bad_rows), good=len(out))
            continue
        assert name is not None and (to_geocode or (lon is not None and lat is not None))
        source_id = _text(rec.get("id"))
        kinds_ordered = [k for k in vocab.kinds().terms if k in kinds]
        out.append({
            "id": stable_id(source_id=source_id, name=name, address=_text(rec.get("address")), prefix=prefix),
            "name": name, "kinds": kinds_ordered, "lon": lon, "lat": lat,
            "address": _text(rec.get("address")), "district": _text(rec.get("district")),
            "subdistrict": _text(rec.get("subdistrict")), "operator": _text(rec.get("operator")),
            "phone": _text(rec.get("phone")), "opening_hours": hours.to_osm() if hours else None,
            "opening_hours_raw": hours_raw, "amenities": amen, "services_raw": services_raw,
            "meal_price_yuan": price, "note": _text(rec.get("note")), "source": src,
            "source_crs": None, "source_ref": source_id or f"{raw.row_label} {row}", "_row": row,
            "_generated": source_id is None, "_geocode": to_geocode,
        })

    report.records = checked
    df = pd.DataFrame(out, columns=[*STATION_COLUMNS, "_row", "_generated", "_geocode"])
    if geocoder is not None and df["_geocode"].any():
        df = _place_by_geocoder(df, report, bad_rows, geocoder=geocoder)
    listed = ~df["_geocode"].to_numpy(bool)  # the file's own coordinates; geocoded points are WGS84 already
    crs_name = _decide_crs(df[listed], report, given=crs, raw=raw, usual=usual_crs, distance_m=distance_m)
    if len(df) and (crs_name is not None or not listed.any()):
        if listed.any():
            wlon, wlat = coords.to_wgs84(df.loc[listed, "lon"].to_numpy(float),
                                         df.loc[listed, "lat"].to_numpy(float), src=crs_name)
            df.loc[listed, "lon"], df.loc[listed, "lat"] = wlon, wlat
            df.loc[listed, "source_crs"] = crs_name
        if distance_m is not None:
            _flag_far_from_streets(df, report, distance_m=distance_m, limit_m=settings.max_snap_m)
        _disambiguate_generated_ids(df, prefix=prefix)
        _check_duplicate_ids(df, report, bad_rows)
        df = df[~df["_row"].isin(bad_rows)].reset_index(drop=True)
        _flag_outliers(df, report, min_km=settings.outlier_min_km, factor=settings.outlier_median_factor)
        df = _handle_duplicates(df, report, radius_m=settings.duplicate_radius_m, merge=merge_duplicates)

    file_level = any(p.row == FILE_ROW for p in report.errors)  # e.g. no coordinate system: rows cannot help
    if report.errors and (file_level or not skip_invalid):
        raise StationImportError(report)
    report.skipped_rows = sorted(bad_rows)
    report.station_rows = [int(r) for r in df["_row"]]
    return df.drop(columns=["_row", "_generated", "_geocode"]).reset_index(drop=True), report


_GEOCODE_ERRORS = {"no_match": "geocode_no_match", "imprecise": "geocode_imprecise",
                   "ambiguous": "geocode_ambiguous"}
"""Failure of a geocoder -> the error code on the row; every other failure (quota, key, timeout, service
error) is ``geocode_unavailable``."""


def _place_by_geocoder(df: pd.DataFrame, report: ValidationReport, bad_rows: set[int], *,
                       geocoder: Geocoder) -> pd.DataFrame:
    """Place the rows marked ``_geocode`` by ``geocoder`` (one batch): WGS84 lon/lat, ``source_crs``
    ``geocode:<service>`` and a ``geocoded`` warning saying what was matched, how well, by which service;
    a row it cannot place becomes an error with the reason, is added to ``bad_rows`` and left out."""
    rows = np.flatnonzero(df["_geocode"].to_numpy(bool))
    queries = [GeocodeQuery(address=_text(df.at[i, "address"]), name=_text(df.at[i, "name"]),
                            hint=_text(df.at[i, "district"])) for i in rows]
    results = geocoder.geocode(queries)
    failed: list[int] = []
    for i, res in zip(rows, results, strict=True):
        row, name = int(df.at[i, "_row"]), df.at[i, "name"]
        by = "地址" if res.by == "address" else "名称"
        if res.ok:
            df.at[i, "lon"], df.at[i, "lat"] = res.lon, res.lat
            df.at[i, "source_crs"] = f"geocode:{res.service}"
            matched = res.matched or res.query
            matched = matched if "“" in matched else f"“{matched}”"
            extra = "".join(f"，{x}" for x in (res.how, "取自本工作区的地理编码缓存" if res.cached else None) if x)
            report.add("warning", row, "lon/lat", "geocoded",
                       f"无坐标：按{by}“{res.query}”经{res.source}定位到{matched}（精度：{res.quality}{extra}）",
                       name)
        else:
            code = _GEOCODE_ERRORS.get(res.failure or "", "geocode_unavailable")
            report.add("error", row, "lon/lat", code,
                       f"无坐标，未能定位（按{by}“{res.query}”，{res.source}）：{res.reason}；请补上经纬度", name)
            bad_rows.add(row)
            failed.append(int(i))
    service = results[0].source if results else ""
    report.notes.append(f"无坐标的 {len(rows):,} 行经{service}定位：{len(rows) - len(failed):,} 行已放置"
                        f"（见 geocoded 警告），{len(failed):,} 行未能定位")
    return df.drop(index=df.index[failed]).reset_index(drop=True)


def _records(raw: RawRecords, report: ValidationReport) -> Iterator[dict[str, Any]]:
    """Every raw record as a dict, piece by piece: a file read as a stream is read only as far as checking
    goes. The rows set aside in the later pieces are reported as they come (the first piece's already are)."""
    for n, chunk in enumerate(raw.chunks()):
        if n:
            for row, code, msg in chunk.skipped:
                report.add("info", row, "", code, msg)
        yield from chunk.table.to_dict("records")


def _too_many_errors(report: ValidationReport, *, checked: int, row: int, bad: int,
                     good: int) -> StationImportError:
    """The file-level error of a hopeless file (see :data:`STOP_MIN_BAD`), counting what was checked."""
    report.records = checked
    msg = (f"错误过多：检查了前 {checked:,} 条记录（到{report.where(row)}）后停止，其中 {bad:,} 条有错误、"
           f"{good:,} 条无误，其余部分未检查；请先改正这些问题再导入")
    report.add("error", FILE_ROW, "", "too_many_errors", msg)
    return StationImportError(report, f"{report.source}：{msg}（未导入任何站点）")


def _decide_crs(df: pd.DataFrame, report: ValidationReport, *, given: str | None, raw: RawRecords,
                usual: str | None, distance_m: DistanceFn | None) -> str | None:
    """The coordinate system of the file's numbers, recorded in ``report`` with its reason (a file-level
    error when it cannot be decided). See :func:`validate_records`."""
    lon, lat = df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    declared, reason = None, ""
    if given:
        declared, reason = coords.normalize_crs(given), "按 --crs 指定"
    elif raw.crs:
        declared, reason = coords.normalize_crs(raw.crs), raw.crs_reason or "按文件声明"
    if declared is not None:
        report.crs, report.crs_reason = declared, f"坐标系：{CRS_ZH[declared]}（{reason}）"
        doubt = check_declared(declared, lon, lat, distance_m=distance_m)
        if doubt:
            report.add("warning", FILE_ROW, "lon/lat", "crs_doubt", doubt)
        return declared
    if not len(df):
        return None
    found = choose_crs(lon, lat, distance_m=distance_m)
    if found.crs is not None:
        report.crs, report.crs_reason = found.crs, f"坐标系：{found.reason}"
        return found.crs
    if usual:
        usual = coords.normalize_crs(usual)
        report.crs = usual
        report.crs_reason = f"坐标系：{CRS_ZH[usual]}（本工作区名单通常用的坐标系；{found.reason}）"
        return usual
    report.add("error", FILE_ROW, "lon/lat", "unknown_crs",
               f"无法确定坐标系：{found.reason}。请用 --crs 指定（wgs84：GPS、天地图、OpenStreetMap；"
               "gcj02：高德、腾讯、微信；bd09：百度）")
    return None


def _flag_far_from_streets(df: pd.DataFrame, report: ValidationReport, *, distance_m: DistanceFn,
                           limit_m: float) -> None:
    """Warn about stations farther from every street than routing reaches (kept; answers by travel time
    cannot lead to them, answers by straight line still do)."""
    d = np.asarray(distance_m(df["lon"].to_numpy(float), df["lat"].to_numpy(float)), dtype=float)
    for i in np.flatnonzero(d > limit_m):
        far = "附近没有道路数据" if not np.isfinite(d[i]) else f"离最近的道路 {d[i]:,.0f} m"
        report.add("warning", int(df["_row"].iat[i]), "lon/lat", "far_from_streets",
                   f"{far}，超过路网可接入的 {limit_m:,.0f} m：按路网找最近站点时不会给出它（已保留；请核对坐标，"
                   "或补上通往它的道路）", df["name"].iat[i])


def _disambiguate_generated_ids(df: pd.DataFrame, *, prefix: str) -> None:
    """Rows without an id whose name and address hash alike (a chain shop with no address) get the
    rounded position (about 10 m) into their hash, so two branches are two stations. Two rows at the
    same spot stay alike and are then found as the same place listed twice."""
    gen = df["_generated"].to_numpy(bool)
    clash = gen & df["id"].duplicated(keep=False).to_numpy()
    for i in np.flatnonzero(clash):
        key = f"{df.at[i, 'name']}|{df.at[i, 'address'] or ''}|{df.at[i, 'lon']:.4f}|{df.at[i, 'lat']:.4f}"
        df.at[i, "id"] = f"{prefix}st-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _check_duplicate_ids(df: pd.DataFrame, report: ValidationReport, bad_rows: set[int]) -> None:
    dup = df[df["id"].duplicated(keep=False) & ~df["_generated"].astype(bool)]
    for _id, grp in dup.groupby("id", sort=False):
        rows = grp["_row"].tolist()
        for r, name in zip(rows[1:], grp["name"].tolist()[1:], strict=True):
            report.add("error", r, "id", "duplicate_id",
                       f"编号 {_id!r} 与{report.where(rows[0])}重复：编号必须唯一", name)
            bad_rows.add(r)


def _flag_outliers(df: pd.DataFrame, report: ValidationReport, *, min_km: float, factor: float) -> None:
    """Warn about points far outside the rest of the file (kept: a list may span two towns)."""
    if len(df) < 5:
        return
    lon, lat = df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    d = coords.haversine_m(lon, lat, np.median(lon), np.median(lat))
    limit = max(min_km * 1000.0, factor * float(np.median(d)))
    for i in np.flatnonzero(d > limit):
        report.add("warning", int(df["_row"].iat[i]), "lon/lat", "far_outlier",
                   f"该点距本文件其他站点的中心 {d[i] / 1000:.1f} km（阈值 {limit / 1000:.1f} km）："
                   "请核对坐标；已保留", df["name"].iat[i])


def _handle_duplicates(df: pd.DataFrame, report: ValidationReport, *, radius_m: float,
                       merge: bool) -> pd.DataFrame:
    """Find the same place listed twice (close together, same or contained name) and merge or flag it."""
    if len(df) < 2:
        return df
    xyz = coords.unit_vectors(df["lon"], df["lat"])
    r = float(coords.m_to_chord(radius_m))
    tree = cKDTree(xyz)
    names = df["name"].tolist()
    near = int(tree.query_ball_point(xyz, r, return_length=True).sum()) - len(df)
    if near // 2 <= MAX_NEAR_PAIRS:
        pairs = sorted(tree.query_pairs(r))
    else:  # thousands of points within metres of each other: only the same name counts as the same place
        keys = pd.Series([_name_key(n) for n in names])
        pairs = []
        for idx in keys.groupby(keys).indices.values():
            if len(idx) > 1:
                sub = cKDTree(xyz[idx]).query_pairs(r, output_type="ndarray")
                pairs += [(int(idx[a]), int(idx[b])) for a, b in sub]
        pairs.sort()
        report.notes.append(f"站点非常密集（{near // 2:,} 对相距不到 {radius_m:.0f} m）：只把同名的当作同一地点"
                            "（名称互相包含的不再比较）")
    parent = list(range(len(df)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        if _names_match(names[a], names[b]):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    drop: list[int] = []
    for i in range(len(df)):
        keep = find(i)
        if keep == i:
            continue
        dist = float(coords.haversine_m(df["lon"].iat[i], df["lat"].iat[i], df["lon"].iat[keep], df["lat"].iat[keep]))
        first_row = int(df["_row"].iat[keep])
        if merge:
            k_all = set(df.at[keep, "kinds"]) | set(df.at[i, "kinds"])
            a_all = set(df.at[keep, "amenities"]) | set(df.at[i, "amenities"])
            df.at[keep, "kinds"] = [k for k in vocab.kinds().terms if k in k_all]
            df.at[keep, "amenities"] = [k for k in vocab.amenities().terms if k in a_all]
            if _is_missing(df.at[keep, "meal_price_yuan"]) and not _is_missing(df.at[i, "meal_price_yuan"]):
                df.at[keep, "meal_price_yuan"] = df.at[i, "meal_price_yuan"]
            df.at[keep, "source_ref"] = f"{df.at[keep, 'source_ref']}+{df.at[i, 'source_ref']}"
            extra = ""
            if df.at[keep, "opening_hours_raw"] != df.at[i, "opening_hours_raw"]:
                extra = f"；开放时间不同，保留第一条的“{df.at[keep, 'opening_hours_raw']}”"
            report.add("warning", int(df["_row"].iat[i]), "name", "duplicate_place",
                       f"与{report.where(first_row)}“{names[keep]}”为同一地点（相距 {dist:.0f} m）："
                       f"已合并到该条，类型和设施取并集{extra}", names[i])
            drop.append(i)
            report.merged += 1
        else:
            report.add("warning", int(df["_row"].iat[i]), "name", "duplicate_place",
                       f"与{report.where(first_row)}“{names[keep]}”疑似同一地点（相距 {dist:.0f} m）：两条都保留",
                       names[i])
    return df.drop(index=df.index[drop]).reset_index(drop=True)


def load_stations(path: str | Path, *, crs: str | None = None, profile: str | ImportProfile | None = None,
                  columns: dict[str, str] | None = None, skip_invalid: bool = False,
                  merge_duplicates: bool = True, sheet: str | int | None = None,
                  layer: str | None = None, kind: str | None = None, usual_crs: str | None = None,
                  distance_m: DistanceFn | None = None,
                  geocoder: Geocoder | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate a station list; returns (stations in WGS84, report). See :func:`validate_records`."""
    raw = read_records(path, profile=profile, columns=columns, sheet=sheet, layer=layer)
    return validate_records(raw, crs=crs, skip_invalid=skip_invalid, merge_duplicates=merge_duplicates,
                            kind=kind, usual_crs=usual_crs, distance_m=distance_m, geocoder=geocoder)
