"""Station import: the real Anting list via its profile, CSV / XLSX / GeoJSON / GeoPackage readers, validation
errors with spreadsheet row numbers, warnings, coordinate systems and stable ids."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
import prcoords
import pytest
from shapely.geometry import LineString, Point

from geomap.stations.readers import read_records
from geomap.stations.schema import StationImportError
from geomap.stations.validate import load_stations as _load_stations


def load_stations(path, **kwargs):
    """These lists are WGS84 unless a test or profile says otherwise (the system found from the data is
    tested in test_import_lists.py)."""
    if "crs" not in kwargs and "profile" not in kwargs:
        kwargs["crs"] = "wgs84"
    return _load_stations(path, **kwargs)

CN_HEADER = "名称,类型,地址,经度,纬度,开放时间,服务内容,电话"


@pytest.fixture(scope="module")
def anting_path(anting_json) -> Path:
    return anting_json


@pytest.fixture(scope="module")
def anting_raw(anting_path) -> list[dict]:
    return json.loads(anting_path.read_text(encoding="utf-8"))["serviceStations"]


@pytest.fixture(scope="module")
def anting(anting_path):
    """(stations, report) of the Anting list imported with its profile (crs gcj02 from the profile)."""
    return load_stations(anting_path, profile="anting_miniprogram")


@pytest.fixture(scope="module")
def anting_unmerged(anting_path):
    return load_stations(anting_path, profile="anting_miniprogram", merge_duplicates=False)


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _rows(report, code: str) -> list[int]:
    return sorted(p.row for p in report.problems if p.code == code)


def _by_name(df: pd.DataFrame, name: str) -> pd.Series:
    hit = df[df["name"] == name]
    assert len(hit) == 1, f"{name}: {len(hit)} rows"
    return hit.iloc[0]


def _wgs(lon: float, lat: float, ref) -> tuple[float, float]:
    c = ref(prcoords.Coords(lat, lon))
    return c.lon, c.lat


def _metres(lon1, lat1, lon2, lat2) -> float:
    """Equirectangular distance in metres (plenty at the scale of one town)."""
    k = math.pi / 180 * 6_371_008.8
    return math.hypot((lon2 - lon1) * k * math.cos(math.radians((lat1 + lat2) / 2)), (lat2 - lat1) * k)


# --- the real Anting list (WeChat mini-program JSON, GCJ-02) ---------------------------------------------

# serviceTime of every record, read by hand, as OSM opening_hours
ANTING_HOURS = {
    "toilet_1": "05:00-21:00", "toilet_2": "05:00-20:00", "toilet_3": "05:00-20:00", "toilet_4": "05:00-20:00",
    "toilet_5": "05:00-20:00", "toilet_6": "24/7",
    "warm_1": "09:00-20:30", "warm_2": "09:00-20:30", "warm_3": "09:00-20:30",
    "warm_4": "08:30-11:00,13:00-17:00", "warm_5": "08:30-11:00,13:00-17:00", "warm_6": "08:30-11:00,13:00-17:00",
    "warm_7": "08:30-11:00,13:00-17:00",
    "sinopec_1": "24/7", "sinopec_2": "24/7", "sinopec_3": "24/7", "sinopec_4": "24/7",
    "partner_1": "06:30-20:30", "partner_2": "08:00-17:00", "partner_3": "07:30-18:00", "partner_4": "07:00-23:00",
    "relay_1": "08:30-20:00", "relay_2": "24/7", "relay_3": "07:30-18:00", "relay_4": "24/7",
    "relay_5": "Mo-Fr 08:30-17:00",
}
RELAY_AMENITIES = {"water", "cooling_heating", "food_heating", "phone_charging", "first_aid"}


def test_anting_counts(anting, anting_raw):
    df, report = anting
    assert len(anting_raw) == 26
    assert report.records == 26
    assert report.row_label == "feature"
    assert len(df) == 24
    assert report.merged == 2
    assert report.ok and report.errors == []
    assert report.skipped_rows == []
    assert set(df["source_crs"]) == {"gcj02"}
    assert set(df["source"]) == {"安亭镇户外劳动者服务点小程序"}
    assert df["id"].is_unique
    assert all(i.startswith("anting:") for i in df["id"])
    assert "anting:relay_3" not in set(df["id"]) and "anting:relay_4" not in set(df["id"])


def test_anting_duplicates_merged(anting, anting_raw):
    df, report = anting
    dup = [p for p in report.problems if p.code == "duplicate_place"]
    assert sorted(p.row for p in dup) == [23, 24]
    assert all(p.severity == "warning" for p in dup)
    assert anting_raw[23]["_id"] == "relay_3" and anting_raw[24]["_id"] == "relay_4"
    msg = {p.row: p.message for p in dup}
    assert "第 19 条" in msg[23] and "比星咖啡店" in msg[23]
    assert "第 15 条" in msg[24] and "百安加油站" in msg[24]

    baian = df[df["name"] == "百安加油站"]
    assert len(baian) == 1
    baian = baian.iloc[0]
    assert baian["id"] == "anting:sinopec_3"
    assert baian["source_ref"] == "sinopec_3+relay_4"
    assert baian["kinds"] == ["outdoor_station"]
    # sinopec_3: 饮水、手机充电、简易维修工具  ∪  relay_4: 饮水供给、避暑取暖、餐食加热、手机充电、应急药箱
    assert set(baian["amenities"]) == {"water", "phone_charging", "repair_tools"} | RELAY_AMENITIES

    bixing = _by_name(df, "比星咖啡店")
    assert bixing["id"] == "anting:partner_3"
    assert bixing["source_ref"] == "partner_3+relay_3"
    assert bixing["kinds"] == ["outdoor_station", "rest_point"]  # partner -> rest_point ∪ relay -> outdoor_station
    assert set(bixing["amenities"]) == {"water", "rest", "toilet"} | RELAY_AMENITIES
    assert "数字汽车园邻里中心（比星咖啡店）" not in set(df["name"])


def test_anting_same_place_different_names_not_merged(anting, anting_raw):
    """老盛昌 and 方泰党群服务中心 share address and coordinates but are two places."""
    df, report = anting
    a, b = anting_raw[6], anting_raw[17]
    assert (a["longitude"], a["latitude"], a["address"]) == (b["longitude"], b["latitude"], b["address"])
    assert {"方泰党群服务中心", "老盛昌（宝安店）"} <= set(df["name"])
    assert 6 not in _rows(report, "duplicate_place") and 17 not in _rows(report, "duplicate_place")


def test_anting_far_outlier(anting, anting_raw):
    df, report = anting
    assert _rows(report, "far_outlier") == [12]
    assert anting_raw[12]["name"] == "讴象社区居委会"
    assert "讴象社区居委会" in set(df["name"])  # kept
    # by hand: 讴象 is far from every other point, which all lie within 10 km of one another
    pts = [(r["longitude"], r["latitude"]) for r in anting_raw]
    others = pts[:12] + pts[13:]
    assert min(_metres(*pts[12], *p) for p in others) > 30_000
    assert max(_metres(*p, *q) for p in others for q in others) < 10_000


def test_anting_hours_parsed_for_every_record(anting_unmerged, anting_raw):
    df, report = anting_unmerged
    assert "unparseable_hours" not in report.codes()
    got = dict(zip(df["source_ref"], df["opening_hours"], strict=True))
    assert got == ANTING_HOURS
    raw_by_id = {r["_id"]: r["serviceTime"] for r in anting_raw}
    assert dict(zip(df["source_ref"], df["opening_hours_raw"], strict=True)) == raw_by_id
    assert {"24小时", "9:00-20:30", "8:30-11:00, 13:00-17:00", "周一至周五8:30-17:00"} <= set(raw_by_id.values())


def test_anting_driver_home(anting):
    df, _ = anting
    row = _by_name(df, "安亭加油站（司机之家）")
    assert row["kinds"] == ["outdoor_station", "driver_home"]  # sinopec -> outdoor_station; name -> driver_home
    assert set(row["amenities"]) == {"rest", "water", "food_heating", "shower", "laundry", "phone_charging",
                                     "first_aid", "health_check", "repair_tools", "reading"}
    # no other station is a driver_home
    assert sum("driver_home" in k for k in df["kinds"]) == 1


def test_anting_canteen_meal_price(anting):
    df, _ = anting
    row = _by_name(df, "老盛昌（宝安店）")
    assert row["amenities"] == ["meals"]
    assert row["kinds"] == ["canteen", "rest_point"]
    assert row["meal_price_yuan"] == 12
    assert row["services_raw"] == "骑手12元优惠套餐"


def test_anting_unmapped_service(anting, anting_raw):
    _, report = anting
    unmapped = [p for p in report.problems if p.code == "unmapped_service"]
    expect = [i for i, r in enumerate(anting_raw) if "垃圾收集" in r["serviceContent"]]
    assert expect == [13, 14, 15]
    assert sorted(p.row for p in unmapped) == expect
    assert all("垃圾收集" in p.message and p.field == "services" for p in unmapped)


def test_anting_coordinates_gcj02_to_wgs84(anting, anting_raw):
    df, _ = anting
    raw = {f"anting:{r['_id']}": r for r in anting_raw}
    for sid, lon, lat in zip(df["id"], df["lon"], df["lat"], strict=True):
        r = raw[sid]
        e_lon, e_lat = _wgs(r["longitude"], r["latitude"], prcoords.gcj_wgs_bored)
        assert abs(lon - e_lon) < 1e-7 and abs(lat - e_lat) < 1e-7, sid
        # the GCJ-02 offset in Shanghai is several hundred metres: the conversion really happened
        assert 300 < _metres(lon, lat, r["longitude"], r["latitude"]) < 800, sid


def test_anting_no_merge_keeps_both(anting_unmerged):
    df, report = anting_unmerged
    assert len(df) == 26
    assert report.merged == 0
    assert _rows(report, "duplicate_place") == [23, 24]
    assert len(df[df["name"] == "百安加油站"]) == 2
    assert {"anting:relay_3", "anting:relay_4", "anting:partner_3", "anting:sinopec_3"} <= set(df["id"])
    assert _rows(report, "far_outlier") == [12]


def test_anting_json_without_profile_is_refused(anting_path):
    """Its list is found under "serviceStations", but both "_id" and "id" look like ids: the error says how
    to choose, and names the profile made for this export."""
    with pytest.raises(ValueError, match=r"--column id=ignore.*anting_miniprogram"):
        load_stations(anting_path)


def test_anting_ignored_columns_reported(anting):
    _, report = anting
    ignored = {p.field for p in report.problems if p.code == "ignored_column"}
    assert "photoUrl" in ignored


# --- CSV: encodings, headers, column mapping ---------------------------------------------------------------

CN_ROWS = [
    CN_HEADER,
    '五角场爱心驿站,工会驿站,杨浦区国权路1号,121.5141,31.3012,"8:30-11:00, 13:00-17:00",免费饮水、如厕、微波炉,'
    "021-65432100",
    "殷行社区食堂,爱心食堂,杨浦区开鲁路2号,121.5300,31.3190,周一至周五8:30-17:00,爱心餐;热饭,",
]


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_chinese_headers_encodings(tmp_path, encoding):
    path = _write(tmp_path / "stations.csv", CN_ROWS, encoding)
    df, report = load_stations(path)
    assert report.errors == [] and report.warnings == []
    assert report.row_label == "row"
    assert df["name"].tolist() == ["五角场爱心驿站", "殷行社区食堂"]
    a, b = df.iloc[0], df.iloc[1]
    assert a["kinds"] == ["outdoor_station"]
    assert a["address"] == "杨浦区国权路1号"
    assert (a["lon"], a["lat"]) == (121.5141, 31.3012)
    assert a["opening_hours"] == "08:30-11:00,13:00-17:00"
    assert a["amenities"] == ["water", "toilet", "food_heating"]
    assert a["phone"] == "021-65432100"
    assert a["source_ref"] == "row 2"
    assert a["source_crs"] == "wgs84"
    assert b["kinds"] == ["canteen"]
    assert b["opening_hours"] == "Mo-Fr 08:30-17:00"
    assert b["amenities"] == ["food_heating", "meals"]
    assert b["source_ref"] == "row 3"


def test_csv_english_headers(tmp_path):
    path = _write(tmp_path / "en.csv", [
        "name,type,address,lon,lat,opening_hours,services,phone",
        "Wujiaochang station,outdoor_station,1 Guoquan Rd,121.5141,31.3012,24小时,water、toilet,123",
        "Kailu canteen,canteen,2 Kailu Rd,121.53,31.319,9:00-20:30,meals,",
    ])
    df, report = load_stations(path)
    assert report.ok
    assert df["kinds"].tolist() == [["outdoor_station"], ["canteen"]]
    assert df["opening_hours"].tolist() == ["24/7", "09:00-20:30"]
    assert df["amenities"].tolist() == [["water", "toilet"], ["meals"]]
    assert df["lon"].tolist() == [121.5141, 121.53]


def test_csv_column_mapping(tmp_path):
    lines = ["驿站叫法,类型,经度,纬度", "国权路驿站,工会驿站,121.5,31.3"]
    path = _write(tmp_path / "odd.csv", lines)
    with pytest.raises(StationImportError) as exc:
        load_stations(path)  # header not known: no name
    assert exc.value.report.codes("error") == ["missing_name"]
    assert [p.field for p in exc.value.report.problems if p.code == "ignored_column"] == ["驿站叫法"]
    df, report = load_stations(path, columns={"驿站叫法": "name"})
    assert report.ok and "ignored_column" not in report.codes()
    assert df["name"].tolist() == ["国权路驿站"]


def test_csv_column_mapping_from_brief_and_wins_over_alias(tmp_path):
    path = _write(tmp_path / "m.csv", ["站点名称,名称,类型,经度,纬度", "国权路驿站,杨浦区总工会,工会驿站,121.5,31.3"])
    raw = read_records(path, columns={"站点名称": "name"})
    assert raw.table["name"].tolist() == ["国权路驿站"]
    assert raw.ignored_columns == [] and raw.notes == ["列“名称”也像是名称，按指定用了列“站点名称”，列“名称”未导入"]
    df, _ = load_stations(path, columns={"站点名称": "name", "名称": "operator"})
    assert df["name"].tolist() == ["国权路驿站"]
    assert df["operator"].tolist() == ["杨浦区总工会"]


def test_csv_bad_mapping_target(tmp_path):
    path = _write(tmp_path / "m.csv", ["站点,类型,经度,纬度", "甲驿站,工会驿站,121.5,31.3"])
    with pytest.raises(ValueError, match="名字"):
        load_stations(path, columns={"站点": "名字"})


def test_csv_combined_coordinate_column(tmp_path):
    path = _write(tmp_path / "ll.csv", [
        "名称,类型,坐标",
        '甲驿站,工会驿站,"121.5,31.3"',
        "乙驿站,工会驿站,121.51 31.31",
        "丙驿站,工会驿站,121.52，31.32",
    ])
    df, report = load_stations(path)
    assert report.ok
    assert df["lon"].tolist() == [121.5, 121.51, 121.52]
    assert df["lat"].tolist() == [31.3, 31.31, 31.32]


def test_csv_gcj02_converted(tmp_path):
    path = _write(tmp_path / "g.csv", ["名称,类型,经度,纬度", "甲驿站,工会驿站,121.5141,31.3012"])
    df, _ = load_stations(path, crs="gcj02")
    e_lon, e_lat = _wgs(121.5141, 31.3012, prcoords.gcj_wgs_bored)
    assert abs(df["lon"].iat[0] - e_lon) < 1e-7 and abs(df["lat"].iat[0] - e_lat) < 1e-7
    assert df["source_crs"].iat[0] == "gcj02"


# --- validation errors ---------------------------------------------------------------------------------------

BAD_ROWS = [
    CN_HEADER,
    "甲驿站,工会驿站,地址2,121.50,31.30,24小时,饮水,",        # row 2 ok
    "乙食堂,爱心食堂,地址3,121.51,31.31,9:00-20:30,爱心餐,",    # row 3 ok
    ",工会驿站,地址4,121.52,31.32,,,",                         # row 4 missing name
    "丁站,休息点,地址5,abc,31.30,,,",                           # row 5 non-numeric lon
    "戊站,休息点,地址6,200,95,,,",                              # row 6 out of range (no swap either way)
    "己站,休息点,地址7,0,0,,,",                                 # row 7 zero coordinates
    "庚站,火星站,地址8,121.50,31.35,,,",                        # row 8 unknown kind
    "辛站,,地址9,121.50,31.36,,,",                              # row 9 missing kind
    "癸站,休息点,地址10,121.50,,,,",                            # row 10 missing latitude
    ",火星站,地址11,121.50,31.30,,,",                           # row 11 two errors
    "壬驿站,工会驿站,地址12,121.49,31.29,,,",                    # row 12 ok
]
BAD_EXPECT = {
    (4, "name", "missing_name"), (5, "lon/lat", "bad_coordinate"), (6, "lon/lat", "coordinate_out_of_range"),
    (7, "lon/lat", "zero_coordinates"), (8, "kind", "unknown_kind"), (9, "kind", "missing_kind"),
    (10, "lon/lat", "missing_coordinates"), (11, "name", "missing_name"), (11, "kind", "unknown_kind"),
}


def test_errors_with_row_numbers(tmp_path):
    path = _write(tmp_path / "bad.csv", BAD_ROWS)
    with pytest.raises(StationImportError) as exc:
        load_stations(path)
    report = exc.value.report
    assert {(p.row, p.field, p.code) for p in report.errors} == BAD_EXPECT
    assert len(report.errors) == len(BAD_EXPECT)
    assert "lat_lon_swapped" not in report.codes()  # 200/95 is not a swap: neither order is in China
    assert "第 4 行" in str(exc.value)
    names = {p.row: p.station_name for p in report.errors}
    assert names[5] == "丁站" and names[8] == "庚站"


def test_skip_invalid_keeps_valid_rows(tmp_path):
    path = _write(tmp_path / "bad.csv", BAD_ROWS)
    df, report = load_stations(path, skip_invalid=True)
    assert df["name"].tolist() == ["甲驿站", "乙食堂", "壬驿站"]
    assert df["source_ref"].tolist() == ["row 2", "row 3", "row 12"]
    assert report.skipped_rows == [4, 5, 6, 7, 8, 9, 10, 11]
    assert {(p.row, p.field, p.code) for p in report.errors} == BAD_EXPECT
    assert "未导入 8 行" in report.summary()


def test_no_kind_column_kinds_from_names_or_kind_option(tmp_path):
    """Without a 类型 column, a name that says its kind gives it (with a warning); a name that does not is
    an error on its row that says to use --kind; --kind gives the whole file one kind."""
    path = _write(tmp_path / "nokind.csv", ["名称,经度,纬度", "甲驿站,121.5,31.3", "乙服务点,121.6,31.4"])
    with pytest.raises(StationImportError) as exc:
        load_stations(path)
    assert [(p.row, p.code) for p in exc.value.report.errors] == [(3, "missing_kind")]
    assert "--kind" in exc.value.report.errors[0].message
    df, report = load_stations(path, skip_invalid=True)
    assert df["name"].tolist() == ["甲驿站"] and df["kinds"].tolist() == [["outdoor_station"]]
    assert _rows(report, "kind_from_name") == [2]
    df, report = load_stations(path, kind="司机之家")
    assert df["kinds"].tolist() == [["outdoor_station", "driver_home"], ["driver_home"]]
    assert report.ok and not _rows(report, "kind_from_name")


def test_duplicate_ids(tmp_path):
    path = _write(tmp_path / "ids.csv", [
        "编号,名称,类型,经度,纬度", "A1,甲驿站,工会驿站,121.50,31.30", "A1,乙驿站,工会驿站,121.52,31.32",
        "A2,丙驿站,工会驿站,121.54,31.34"])
    with pytest.raises(StationImportError) as exc:
        load_stations(path)
    assert [(p.row, p.code) for p in exc.value.report.errors] == [(3, "duplicate_id")]
    df, report = load_stations(path, skip_invalid=True)
    assert df["id"].tolist() == ["A1", "A2"]
    assert report.skipped_rows == [3]


def test_blank_rows_keep_spreadsheet_numbering(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("名称,类型,经度,纬度\n甲驿站,工会驿站,121.5,31.3\n\n乙驿站,工会驿站,121.6,31.4\n", encoding="utf-8")
    df, _ = load_stations(path, skip_invalid=True)
    assert df["source_ref"].tolist() == ["row 2", "row 4"]


def test_blank_lines_are_not_records(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("名称,类型,经度,纬度\n甲驿站,工会驿站,121.5,31.3\n\n乙驿站,工会驿站,121.6,31.4\n\n",
                    encoding="utf-8")
    df, _ = load_stations(path)
    assert df["source_ref"].tolist() == ["row 2", "row 4"]


# --- warnings ------------------------------------------------------------------------------------------------

def _east(lon: float, lat: float, metres: float) -> float:
    return lon + metres / (math.pi / 180 * 6_371_008.8 * math.cos(math.radians(lat)))


WARN_LON, WARN_LAT = 121.50, 31.30


def _warn_file(tmp_path: Path) -> Path:
    west = _east(WARN_LON, WARN_LAT, 10.0)
    return _write(tmp_path / "warn.csv", [
        CN_HEADER,
        "壬驿站,工会驿站,地址2,31.31,121.51,24小时,,",                     # row 2 lat/lon swapped
        "看驿站,工会驿站,地址3,121.52,31.32,看情况,,",                     # row 3 unparseable hours
        f"X驿站,工会驿站,地址4,{WARN_LON!r},{WARN_LAT!r},9:00-20:30,饮水,",  # row 4
        f"X驿站（西门）,爱心食堂,地址5,{west!r},{WARN_LAT!r},8:00-20:00,如厕,",  # row 5 same place, 10 m away
        "甲商户,休息点,国权路1号,121.49,31.29,,,",                         # rows 6-7: same address, not the same
        "乙商户,休息点,国权路1号,121.49,31.29,,,",
    ])


def test_warnings(tmp_path):
    df, report = load_stations(_warn_file(tmp_path))
    assert report.errors == []
    assert sorted((p.row, p.code) for p in report.warnings) == [
        (2, "lat_lon_swapped"), (3, "unparseable_hours"), (5, "duplicate_place")]
    assert report.merged == 1
    assert df["name"].tolist() == ["壬驿站", "看驿站", "X驿站", "甲商户", "乙商户"]

    swapped = _by_name(df, "壬驿站")
    assert (swapped["lon"], swapped["lat"]) == (121.51, 31.31)

    unknown = _by_name(df, "看驿站")
    assert pd.isna(unknown["opening_hours"])  # unknown, never "open"
    assert unknown["opening_hours_raw"] == "看情况"

    x = _by_name(df, "X驿站")
    assert x["kinds"] == ["outdoor_station", "canteen"]
    assert x["amenities"] == ["water", "toilet"]
    assert x["source_ref"] == "row 4+row 5"
    assert x["opening_hours"] == "09:00-20:30"  # the first row's hours are kept
    dup = next(p for p in report.warnings if p.code == "duplicate_place")
    assert "第 4 行" in dup.message and "10 m" in dup.message


def test_duplicates_not_merged_on_request(tmp_path):
    df, report = load_stations(_warn_file(tmp_path), merge_duplicates=False)
    assert _rows(report, "duplicate_place") == [5]
    assert report.merged == 0
    assert {"X驿站", "X驿站（西门）"} <= set(df["name"])
    assert len(df) == 6


def test_same_name_far_apart_is_not_duplicate(tmp_path):
    path = _write(tmp_path / "far.csv", [
        "名称,类型,地址,经度,纬度", "X驿站,工会驿站,东门,121.5,31.3",
        f"X驿站,工会驿站,西门,{_east(121.5, 31.3, 120.0)!r},31.3"])
    df, report = load_stations(path)
    assert len(df) == 2 and "duplicate_place" not in report.codes()


def test_chain_shops_without_address_get_distinct_ids(tmp_path):
    path = _write(tmp_path / "chain.csv", [
        "名称,类型,经度,纬度", "麦当劳,休息点,121.50,31.30", "麦当劳,休息点,121.55,31.33"])
    df, _ = load_stations(path)
    assert len(df) == 2 and df["id"].is_unique


def test_report_csv_and_format(tmp_path):
    _, report = load_stations(_warn_file(tmp_path))
    out = tmp_path / "report.csv"
    report.write_csv(out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert back.columns.tolist() == ["severity", "row", "field", "code", "message", "station_name"]
    assert back.to_dict("records") == report.to_frame().to_dict("records")
    assert len(back) == len(report.problems) == 3
    text = report.format()
    assert "第 2 行" in text and "第 3 行" in text and "第 5 行" in text
    assert "lat_lon_swapped" in text
    assert text.splitlines()[-1] == report.summary()


# --- XLSX, GeoJSON, GeoPackage ---------------------------------------------------------------------------------

def test_xlsx(tmp_path):
    path = tmp_path / "s.xlsx"
    frame = pd.DataFrame({"名称": ["甲驿站", "乙司机之家"], "类型": ["工会驿站", "司机之家"], "经度": [121.5, 121.6],
                          "纬度": [31.3, 31.4], "开放时间": ["24小时", "周一至周五8:30-17:00"], "电话": ["", "021-1"]})
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"x": [1]}).to_excel(xw, sheet_name="说明", index=False)
        frame.to_excel(xw, sheet_name="站点", index=False)
    df, report = load_stations(path, sheet="站点")
    assert report.ok and report.row_label == "row"
    assert df["name"].tolist() == ["甲驿站", "乙司机之家"]
    assert df["kinds"].tolist() == [["outdoor_station"], ["driver_home"]]
    assert df["lon"].tolist() == [121.5, 121.6] and df["lat"].tolist() == [31.3, 31.4]
    assert df["opening_hours"].tolist() == ["24/7", "Mo-Fr 08:30-17:00"]
    assert df["source_ref"].tolist() == ["row 2", "row 3"]


def test_xlsx_error_row_numbers(tmp_path):
    path = tmp_path / "s.xlsx"
    pd.DataFrame({"名称": ["甲驿站", ""], "类型": ["工会驿站", "工会驿站"], "经度": [121.5, 121.6],
                  "纬度": [31.3, 31.4]}).to_excel(path, index=False)
    with pytest.raises(StationImportError) as exc:
        load_stations(path)
    assert [(p.row, p.code) for p in exc.value.report.errors] == [(3, "missing_name")]


def _feature(geom: dict | None, **props) -> dict:
    return {"type": "Feature", "geometry": geom, "properties": props}


def test_geojson(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        _feature({"type": "Point", "coordinates": [121.5, 31.3]},
                 名称="甲驿站", 类型="工会驿站", 开放时间="9:00-20:30"),
        _feature({"type": "LineString", "coordinates": [[121.5, 31.3], [121.6, 31.3]]}, 名称="乙驿站", 类型="工会驿站"),
        _feature({"type": "Point", "coordinates": [121.6, 31.4]}, 名称="丙食堂", 类型="canteen"),
    ]}
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(StationImportError) as exc:
        load_stations(path)
    report = exc.value.report
    assert report.row_label == "feature"
    assert [(p.row, p.field, p.code) for p in report.errors] == [(1, "geometry", "not_a_point")]
    assert "第 1 条" in str(exc.value)
    df, report = load_stations(path, skip_invalid=True)
    assert df["name"].tolist() == ["甲驿站", "丙食堂"]
    assert df["lon"].tolist() == [121.5, 121.6] and df["lat"].tolist() == [31.3, 31.4]
    assert df["kinds"].tolist() == [["outdoor_station"], ["canteen"]]
    assert df["source_ref"].tolist() == ["feature 0", "feature 2"]
    assert df["opening_hours"].iat[0] == "09:00-20:30"
    assert report.skipped_rows == [1]


GPKG_LON = [121.5141, 121.5300, 121.4960]
GPKG_LAT = [31.3012, 31.3190, 31.2840]


def _gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"名称": ["甲驿站", "乙食堂", "丙司机之家"], "类型": ["工会驿站", "爱心食堂", "司机之家"],
                             "开放时间": ["24小时", "9:00-20:30", ""]},
                            geometry=[Point(x, y) for x, y in zip(GPKG_LON, GPKG_LAT, strict=True)], crs=4326)


def test_geopackage_wgs84(tmp_path):
    path = tmp_path / "s.gpkg"
    _gdf().to_file(path, driver="GPKG")
    df, report = load_stations(path)
    assert report.ok and report.row_label == "feature"
    assert df["name"].tolist() == ["甲驿站", "乙食堂", "丙司机之家"]
    assert df["kinds"].tolist() == [["outdoor_station"], ["canteen"], ["driver_home"]]
    assert df["lon"].tolist() == GPKG_LON and df["lat"].tolist() == GPKG_LAT
    assert df["opening_hours"].tolist()[:2] == ["24/7", "09:00-20:30"]


def test_geopackage_utm(tmp_path):
    path = tmp_path / "utm.gpkg"
    utm = _gdf().to_crs(32651)
    assert abs(utm.geometry.x.iat[0] - 121.5141) > 1000  # really projected metres
    utm.to_file(path, driver="GPKG")
    df, report = load_stations(path)
    assert report.ok
    for got, want in zip(df["lon"], GPKG_LON, strict=True):
        assert abs(got - want) < 1e-6
    for got, want in zip(df["lat"], GPKG_LAT, strict=True):
        assert abs(got - want) < 1e-6
    assert set(df["source_crs"]) == {"wgs84"}


def test_geopackage_not_a_point(tmp_path):
    path = tmp_path / "mixed.gpkg"
    g = gpd.GeoDataFrame({"名称": ["甲驿站", "乙驿站"], "类型": ["工会驿站", "工会驿站"]},
                         geometry=[Point(121.5, 31.3), LineString([(121.5, 31.3), (121.6, 31.3)])], crs=4326)
    g.to_file(path, driver="GPKG")
    with pytest.raises(StationImportError) as exc:
        load_stations(path)
    assert [(p.row, p.code) for p in exc.value.report.errors] == [(1, "not_a_point")]


# --- BD-09 ----------------------------------------------------------------------------------------------------

def test_bd09_lands_where_gcj02_does(tmp_path):
    gcj = (121.4737, 31.2304)
    bd = prcoords.gcj_bd(prcoords.Coords(gcj[1], gcj[0]))
    assert _metres(bd.lon, bd.lat, *gcj) > 500  # the BD-09 offset is real
    p_gcj = _write(tmp_path / "gcj.csv", ["名称,类型,经度,纬度", f"甲驿站,工会驿站,{gcj[0]!r},{gcj[1]!r}"])
    p_bd = _write(tmp_path / "bd.csv", ["名称,类型,经度,纬度", f"甲驿站,工会驿站,{bd.lon!r},{bd.lat!r}"])
    d_gcj, _ = load_stations(p_gcj, crs="gcj02")
    d_bd, _ = load_stations(p_bd, crs="bd09")
    assert d_bd["source_crs"].iat[0] == "bd09"
    assert abs(d_bd["lon"].iat[0] - d_gcj["lon"].iat[0]) < 1e-7
    assert abs(d_bd["lat"].iat[0] - d_gcj["lat"].iat[0]) < 1e-7
    e_lon, e_lat = _wgs(bd.lon, bd.lat, prcoords.bd_wgs_bored)
    assert abs(d_bd["lon"].iat[0] - e_lon) < 1e-7 and abs(d_bd["lat"].iat[0] - e_lat) < 1e-7


# --- stable ids -------------------------------------------------------------------------------------------------

def test_ids_stable_across_imports(tmp_path):
    path = _write(tmp_path / "a.csv", CN_ROWS)
    ids1 = load_stations(path)[0]["id"].tolist()
    ids2 = load_stations(path)[0]["id"].tolist()
    assert ids1 == ids2
    assert len(set(ids1)) == 2


def test_id_survives_moving_the_pin(tmp_path):
    a = _write(tmp_path / "a.csv", ["名称,类型,地址,经度,纬度", "甲驿站,工会驿站,国权路1号,121.50,31.30"])
    b = _write(tmp_path / "b.csv", ["名称,类型,地址,经度,纬度", "甲驿站,工会驿站,国权路1号,121.52,31.33"])
    c = _write(tmp_path / "c.csv", ["名称,类型,地址,经度,纬度", "乙驿站,工会驿站,国权路1号,121.50,31.30"])
    id_a, id_b, id_c = (load_stations(p)[0]["id"].iat[0] for p in (a, b, c))
    assert id_a == id_b
    assert id_a != id_c


def test_own_ids_used(tmp_path):
    path = _write(tmp_path / "ids.csv", ["编号,名称,类型,经度,纬度", "YP-001,甲驿站,工会驿站,121.5,31.3",
                                         ",乙驿站,工会驿站,121.6,31.4"])
    df, _ = load_stations(path)
    assert df["id"].iat[0] == "YP-001"
    assert df["id"].iat[1] not in ("", "YP-001")
    assert df["source_ref"].tolist() == ["YP-001", "row 3"]
