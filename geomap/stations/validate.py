"""Validation of raw station records (step 2 of an import): every record checked, coordinates converted to
WGS84, opening hours and free-text services parsed, duplicates and outliers handled, all of it reported."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geomap import coords, vocab
from geomap.settings import get_settings
from geomap.stations.hours import parse_hours
from geomap.stations.readers import ImportProfile, RawRecords, read_records
from geomap.stations.schema import STATION_COLUMNS, StationImportError, ValidationReport, _is_missing


def _text(v: Any) -> str | None:
    return None if _is_missing(v) else str(v).strip()


def _number(v: Any) -> float | None:
    """Parse a coordinate or price; None when missing; raises ValueError when not a number."""
    if _is_missing(v):
        return None
    if isinstance(v, int | float):
        return float(v)
    t = str(v).strip().replace("，", ".").replace("°", "").replace("元", "").replace("¥", "").replace("￥", "")
    return float(t)


_PRICE_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*元")
_NAME_NOISE = re.compile(r"[\s·・.,，、()（）\[\]【】\-_]+")


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
                     source: str | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Check raw records and build the station table (WGS84), with a report of every problem.

    ``crs`` is the coordinate system of the file's coordinates (``wgs84``, ``gcj02``, ``bd09``); it
    defaults to the profile's, then to ``wgs84``. Raises :class:`StationImportError` when a record has an
    error and ``skip_invalid`` is false.

    Handling of warnings (documented in ``docs/stations.md``):
    probable lat/lon swap -> swapped back; point far outside the rest -> kept, flagged; same place
    listed twice -> merged into the first record (kinds and amenities united) unless
    ``merge_duplicates=False``; unparseable hours -> raw text kept, hours unknown (never "open");
    unmapped service text -> kept in ``services_raw``.
    """
    settings = get_settings()
    crs_name = coords.normalize_crs(crs or raw.crs or "wgs84")
    prof = raw.profile
    prefix = id_prefix if id_prefix is not None else (prof.id_prefix if prof else "")
    src = source or (prof.source if prof and prof.source else Path(raw.source).name)
    report = ValidationReport(source=raw.source, row_label=raw.row_label, records=len(raw.table))
    t = raw.table
    for col in raw.ignored_columns:
        report.add("warning", 0, col, "ignored_column",
                   f"列 {col!r} 无对应字段，未导入（可用 --column {col}=字段 指定）")
    has_kind_col = "kind" in t.columns
    if not has_kind_col:
        report.add("error", 0, "kind", "missing_kind_column",
                   "文件没有“类型”列：请加上类型列，或用 --column 指定（类型如 工会驿站、司机之家、爱心食堂、休息点）")

    out: list[dict[str, Any]] = []
    bad_rows: set[int] = set()
    records = t.to_dict("records")
    lon_raw = np.full(len(records), np.nan)
    lat_raw = np.full(len(records), np.nan)
    for i, rec in enumerate(records):
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
        if _text(rec.get("geom_problem")):
            err("geometry", "not_a_point", f"几何不是点：{rec.get('geom_problem')}")
            ok = False
        else:
            lon_v, lat_v = rec.get("lon"), rec.get("lat")
            if _is_missing(lon_v) and _is_missing(lat_v) and not _is_missing(rec.get("lonlat")):
                parts = re.split(r"[,，\s]+", str(rec.get("lonlat")).strip())
                lon_v, lat_v = [*parts, None, None][:2]
            try:
                lon, lat = _number(lon_v), _number(lat_v)
            except ValueError:
                err("lon/lat", "bad_coordinate", f"坐标不是数字：经度={lon_v!r} 纬度={lat_v!r}")
                ok = False
            else:
                if lon is None or lat is None:
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
        if has_kind_col:
            kind_text = _text(rec.get("kind"))
            if kind_text is None:
                err("kind", "missing_kind", "类型为空")
                ok = False
            else:
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
            continue
        assert lon is not None and lat is not None and name is not None
        lon_raw[i], lat_raw[i] = lon, lat
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
            "source_crs": crs_name, "source_ref": source_id or f"{raw.row_label} {row}", "_row": row,
            "_generated": source_id is None,
        })

    df = pd.DataFrame(out, columns=[*STATION_COLUMNS, "_row", "_generated"])
    if len(df):
        wlon, wlat = coords.to_wgs84(df["lon"].to_numpy(float), df["lat"].to_numpy(float), src=crs_name)
        df["lon"], df["lat"] = wlon, wlat
        _disambiguate_generated_ids(df, prefix=prefix)
        _check_duplicate_ids(df, report, bad_rows)
        df = df[~df["_row"].isin(bad_rows)].reset_index(drop=True)
        _flag_outliers(df, report, min_km=settings.outlier_min_km, factor=settings.outlier_median_factor)
        df = _handle_duplicates(df, report, radius_m=settings.duplicate_radius_m, merge=merge_duplicates)

    file_level = any(p.row == 0 for p in report.errors)  # e.g. no 类型 column: skipping rows cannot help
    if report.errors and (file_level or not skip_invalid):
        raise StationImportError(report)
    report.skipped_rows = sorted(bad_rows)
    return df.drop(columns=["_row", "_generated"]).reset_index(drop=True), report


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
                       f"编号 {_id!r} 与 {report.row_label} {rows[0]} 重复：编号必须唯一", name)
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
    tree = cKDTree(coords.unit_vectors(df["lon"], df["lat"]))
    pairs = sorted(tree.query_pairs(float(coords.m_to_chord(radius_m))))
    names = df["name"].tolist()
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
                       f"与 {report.row_label} {first_row}“{names[keep]}”为同一地点（相距 {dist:.0f} m）："
                       f"已合并到该条，类型和设施取并集{extra}", names[i])
            drop.append(i)
            report.merged += 1
        else:
            report.add("warning", int(df["_row"].iat[i]), "name", "duplicate_place",
                       f"与 {report.row_label} {first_row}“{names[keep]}”疑似同一地点（相距 {dist:.0f} m）：两条都保留",
                       names[i])
    return df.drop(index=df.index[drop]).reset_index(drop=True)


def load_stations(path: str | Path, *, crs: str | None = None, profile: str | ImportProfile | None = None,
                  columns: dict[str, str] | None = None, skip_invalid: bool = False,
                  merge_duplicates: bool = True, sheet: str | int | None = None,
                  layer: str | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate a station list; returns (stations in WGS84, report). See the module docstring."""
    raw = read_records(path, profile=profile, columns=columns, sheet=sheet, layer=layer)
    return validate_records(raw, crs=crs, skip_invalid=skip_invalid, merge_duplicates=merge_duplicates)
