"""Station lists as unions keep them (issue 18): messy workbooks and JSON read without hand-cleaning, every
record's outcome asserted; ids that cannot collide by accident; the coordinate system found from the data,
checked with an independent converter (prcoords); stations far from every street; bounded reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import prcoords
import pyproj
import pytest
from fastapi.testclient import TestClient

from geomap import coords
from geomap.network.routing import snap_points
from geomap.stations.registry import Registry
from geomap.stations.schema import StationImportError
from geomap.stations.validate import load_stations
from tests._workspaces import sample_workspace


def _rows(report, code: str) -> list[int]:
    return sorted(p.row for p in report.problems if p.code == code)


def _close(lon: float, lat: float, lon2: float, lat2: float, tol_m: float = 0.5) -> bool:
    return float(coords.haversine_m(lon, lat, lon2, lat2)) <= tol_m


# --- a messy workbook ------------------------------------------------------------------------------------

def _messy_workbook(path: Path) -> Path:
    """Two sheets: 说明 (instructions) and 站点 with a merged title row, a blank row, a two-row header
    (坐标 merged over 经度 / 纬度), 序号 numbering, full-width digits, DMS, one-column 经纬度 in a third
    coordinate style, a section heading, blank rows inside, a footer (制表人、联系人、备注) and no 类型
    column."""
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = "说明"
    info.append(["本表为杨浦区户外劳动者服务站点名单"])
    info.append(["填表说明：坐标请用高德地图拾取"])
    ws = wb.create_sheet("站点")
    ws.append(["杨浦区户外劳动者服务站点一览表（2026年11月）"])            # row 1: title
    ws.merge_cells("A1:F1")
    ws.append([])                                                          # row 2: blank
    ws.append(["序号", "站点名称", "地址", "坐标", None, "开放时间"])      # row 3: header, upper
    ws.merge_cells("D3:E3")
    ws.append([None, None, None, "经度", "纬度", None])                    # row 4: header, lower
    ws.merge_cells("A3:A4")
    ws.merge_cells("B3:B4")
    ws.append(["一、五角场街道"])                                           # row 5: section heading
    ws.merge_cells("A5:F5")
    ws.append(["1", "五角场爱心驿站", "淞沪路1号", "１２１．５１１５４５", "３１．３０５７７５", "9:00-17:00"])  # 6
    ws.append(["2", "国定路司机之家", "国定路2号", "121°30′25.93″E", "31°18′20.94″N", "24小时"])           # 7
    ws.append([])                                                          # row 8: blank
    ws.append(["3", "政立路服务点", "政立路3号", "121.515", "31.301", "工作日 9:00-17:00"])               # 9
    ws.append(["4", "大学路暖心驿站", "大学路4号", None, None, "8:00-20:00"])                              # 10
    ws.append(["制表人：李明", None, None, None, None, None])               # row 11: footer
    ws.append(["联系人：王老师  电话：021-65550000"])                        # row 12: footer
    ws.append(["备注：以上站点均免费开放"])                                  # row 13: footer
    wb.save(path)
    return path


def test_messy_workbook_every_record_accounted_for(tmp_path):
    path = _messy_workbook(tmp_path / "杨浦站点.xlsx")
    with pytest.raises(StationImportError) as exc:  # 政立路服务点: no kind in its name; 大学路: no coordinates
        load_stations(path, crs="gcj02")
    report = exc.value.report
    assert {(p.row, p.code) for p in report.errors} == {(9, "missing_kind"), (10, "missing_coordinates")}
    df, report = load_stations(path, crs="gcj02", skip_invalid=True)
    # the records: the sheet with stations was chosen, the header found under the title, the two-row header
    # read (坐标 over 经度 / 纬度), full-width digits and DMS read, kinds from names with a warning
    assert any("读取“站点”" in n for n in report.notes) and any("第 3、4 行" in n for n in report.notes)
    assert any("序号" in n and "不作站点编号" in n for n in report.notes)
    assert df["name"].tolist() == ["五角场爱心驿站", "国定路司机之家"]
    want = {"五角场爱心驿站": (121.511545, 31.305775),
            "国定路司机之家": (121 + 30 / 60 + 25.93 / 3600, 31 + 18 / 60 + 20.94 / 3600)}
    for rec in df.to_dict("records"):
        glon, glat = want[rec["name"]]
        w = prcoords.gcj_wgs_bored(prcoords.Coords(glat, glon))
        assert _close(rec["lon"], rec["lat"], w.lon, w.lat), rec["name"]
    assert df["kinds"].tolist() == [["outdoor_station"], ["driver_home"]]
    assert _rows(report, "kind_from_name") == [6, 7, 10]  # 10 also has no coordinates: both said
    assert report.skipped_rows == [9, 10]
    # the rows that are not records: listed as such, never as errors
    info = {(p.row, p.code) for p in report.problems if p.severity == "info"}
    assert info == {(1, "title_row"), (2, "blank_row"), (5, "section_row"), (8, "blank_row"),
                    (11, "footer_row"), (12, "footer_row"), (13, "footer_row")}
    # ids come from name and address, not from 序号: no "1", "2"
    assert not set(df["id"]) & {"1", "2", "3", "4"}
    # --kind gives the unnamed one a kind; the named ones keep theirs
    df, report = load_stations(path, crs="gcj02", skip_invalid=True, kind="休息点")
    assert df["name"].tolist() == ["五角场爱心驿站", "国定路司机之家", "政立路服务点"]
    assert df["kinds"].tolist()[2] == ["rest_point"] and report.skipped_rows == [10]


def test_sheet_option_and_unknown_sheet(tmp_path):
    path = _messy_workbook(tmp_path / "w.xlsx")
    with pytest.raises(ValueError, match=r"没有工作表 '不存在'.*说明、站点"):
        load_stations(path, crs="gcj02", sheet="不存在")
    df, _ = load_stations(path, crs="gcj02", sheet="站点", kind="休息点", skip_invalid=True)
    assert len(df) == 3


def test_csv_pinyin_headers_lonlat_column_and_header_crs(tmp_path):
    """Duchang-style headers naming the system (gcj02_lng / gcj02_lat), pinyin headers, a one-column 经纬度
    written latitude first in a second file, and no kind column but --kind."""
    a = tmp_path / "duchang.csv"
    a.write_text("mingcheng,dizhi,gcj02_lng,gcj02_lat,dianhua\n甲驿站,都昌路1号,116.2051,29.2731,0792-5220001\n"
                 "乙驿站,都昌路2号,116.2151,29.2831,\n", encoding="utf-8")
    df, report = load_stations(a, kind="工会驿站")
    assert report.crs == "gcj02" and "gcj02_lng" in report.crs_reason
    w = prcoords.gcj_wgs_bored(prcoords.Coords(29.2731, 116.2051))
    assert _close(df["lon"].iat[0], df["lat"].iat[0], w.lon, w.lat)
    assert df["phone"].tolist()[0] == "0792-5220001" and df["address"].tolist() == ["都昌路1号", "都昌路2号"]
    b = tmp_path / "one_column.csv"
    b.write_text("站名,类型,经纬度\n丙驿站,工会驿站,\"２９．２７３１，１１６．２０５１\"\n"
                 "丁驿站,工会驿站,116.2151 29.2831\n", encoding="utf-8")
    df, report = load_stations(b, crs="wgs84")
    assert np.allclose(df["lon"], [116.2051, 116.2151]) and np.allclose(df["lat"], [29.2731, 29.2831])
    assert _rows(report, "lat_lon_swapped") == [2]


def test_json_list_under_any_key_without_type_field(tmp_path):
    """A Zhaoqing-style JSON: the list under data.stations, nested location, no type field: --kind."""
    path = tmp_path / "zhaoqing.json"
    path.write_text(json.dumps({"code": 0, "msg": "ok", "data": {"total": 2, "stations": [
        {"stationName": "端州区爱心驿站", "address": "端州路1号", "location": {"lng": 112.47, "lat": 23.05}},
        {"stationName": "鼎湖区工会驿站", "address": "鼎湖路2号", "location": {"lng": 112.58, "lat": 23.16}},
    ]}}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(StationImportError):  # a list of two points: too little to tell the system
        load_stations(path)
    df, report = load_stations(path, crs="wgs84", kind="工会驿站")
    assert df["name"].tolist() == ["端州区爱心驿站", "鼎湖区工会驿站"]
    assert np.allclose(df["lon"], [112.47, 112.58]) and any("data.stations" in n for n in report.notes)


def test_two_columns_onto_one_field_combined_or_refused(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("名称,类型,经度,纬度,备注,说明\n甲驿站,工会驿站,121.5,31.3,节假日照常,可停电动车\n",
                    encoding="utf-8")
    df, report = load_stations(path, crs="wgs84")
    assert df["note"].tolist() == ["节假日照常；可停电动车"] and any("已合并" in n for n in report.notes)
    path2 = tmp_path / "two_lon.csv"
    path2.write_text("名称,类型,wgs84_lng,wgs84_lat,gcj02_lng,gcj02_lat\n甲驿站,工会驿站,121.5,31.3,121.5044,31.2981\n",
                     encoding="utf-8")
    with pytest.raises(ValueError, match=r"“wgs84_lng”和“gcj02_lng”都像是经度.*--column gcj02_lng=ignore"):
        load_stations(path2)
    df, report = load_stations(path2, columns={"wgs84_lng": "lon", "wgs84_lat": "lat"})
    assert df["lon"].tolist() == [121.5] and report.crs == "wgs84"
    assert sum("未导入" in n for n in report.notes) == 2  # the other two said so, not silently dropped


def test_bare_charging_is_a_warning_that_says_how(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("名称,类型,经度,纬度,服务内容\n甲驿站,工会驿站,121.5,31.3,饮水、充电\n乙驿站,工会驿站,121.6,31.4,"
                    "饮水、电动车充电、手机充电\n", encoding="utf-8")
    df, report = load_stations(path, crs="wgs84")
    assert _rows(report, "ambiguous_service") == [2]
    assert "电动车充电" in report.problems[[p.code for p in report.problems].index("ambiguous_service")].message
    assert df["amenities"].tolist()[1] == ["phone_charging", "ebike_charging", "water"] or \
        set(df["amenities"].tolist()[1]) == {"phone_charging", "ebike_charging", "water"}


def test_report_lists_at_most_fifty_per_code(tmp_path):
    path = tmp_path / "bad.csv"
    lines = ["名称,类型,经度,纬度"] + [f"站{i},工会驿站,abc,31.3" for i in range(600)] + ["好驿站,工会驿站,121.5,31.3"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(StationImportError) as exc:
        load_stations(path, crs="wgs84")
    report = exc.value.report
    assert report.error_count == 600 and len(report.errors) == 50 and report.omitted == {"bad_coordinate": 550}
    assert "另有 550 条 bad_coordinate 未列出" in report.format()
    assert str(tmp_path) not in str(exc.value) and str(tmp_path) not in report.format()


# --- identity ---------------------------------------------------------------------------------------------

def _district_list(path: Path, names: list[str], lon0: float) -> Path:
    rows = [f"{i + 1},{n},工会驿站,{n[:2]}路{i + 1}号,{lon0 + 0.003 * i:.6f},31.30" for i, n in enumerate(names)]
    path.write_text("序号,名称,类型,地址,经度,纬度\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_two_lists_numbered_from_one_keep_all_their_stations(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    a = _district_list(tmp_path / "a.csv", ["五角场驿站", "控江驿站"], 121.50)
    b = _district_list(tmp_path / "b.csv", ["虹口驿站", "嘉兴驿站"], 121.48)
    _, ra = reg.import_file(a, crs="wgs84")
    _, rb = reg.import_file(b, crs="wgs84")
    assert (ra.added, rb.added) == (2, 2)
    assert sorted(reg.frame()["name"]) == sorted(["五角场驿站", "控江驿站", "虹口驿站", "嘉兴驿站"])


def test_reimport_changes_nothing_and_update_updates(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    path = tmp_path / "ids.csv"
    path.write_text("编号,名称,类型,地址,经度,纬度,开放时间\nYP1,甲驿站,工会驿站,甲路1号,121.50,31.30,9:00-17:00\n"
                    "YP2,乙驿站,工会驿站,乙路2号,121.51,31.31,24小时\n", encoding="utf-8")
    reg.import_file(path, crs="wgs84")
    before = reg.frame()
    written, r2 = reg.import_file(path, crs="wgs84")
    assert len(written) == 0 and (r2.added, r2.updated, r2.unchanged) == (0, 0, 2)
    pd.testing.assert_frame_equal(reg.frame(), before)
    # the union changed one station's hours: without --update a conflict on its row, nothing written
    path.write_text("编号,名称,类型,地址,经度,纬度,开放时间\nYP1,甲驿站,工会驿站,甲路1号,121.50,31.30,8:00-20:00\n"
                    "YP2,乙驿站,工会驿站,乙路2号,121.51,31.31,24小时\n", encoding="utf-8")
    with pytest.raises(StationImportError) as exc:
        reg.import_file(path, crs="wgs84")
    assert [(p.row, p.code) for p in exc.value.report.errors] == [(2, "exists_changed")]
    assert "开放时间" in exc.value.report.errors[0].message and "--update" in exc.value.report.errors[0].message
    pd.testing.assert_frame_equal(reg.frame(), before)
    written, r3 = reg.import_file(path, crs="wgs84", update=True)
    assert written["id"].tolist() == ["YP1"] and (r3.updated, r3.unchanged) == (1, 1)
    assert reg.get("YP1").opening_hours_raw == "8:00-20:00"


def test_an_id_of_another_station_is_a_conflict(tmp_path):
    reg = Registry(tmp_path / "r.gpkg")
    a = tmp_path / "a.csv"
    a.write_text("编号,名称,类型,经度,纬度\n1,甲驿站,工会驿站,121.50,31.30\n7,乙驿站,工会驿站,121.51,31.31\n",
                 encoding="utf-8")
    reg.import_file(a, crs="wgs84", columns={"编号": "id"})  # the user says these are ids
    b = tmp_path / "b.csv"
    b.write_text("编号,名称,类型,经度,纬度\n7,丙驿站,工会驿站,121.60,31.40\n", encoding="utf-8")
    with pytest.raises(StationImportError) as exc:
        reg.import_file(b, crs="wgs84")
    assert [(p.row, p.code) for p in exc.value.report.errors] == [(2, "id_conflict")]
    assert "乙驿站" in exc.value.report.errors[0].message
    assert reg.get("7").name == "乙驿站"


# --- the coordinate system, from the data -----------------------------------------------------------------

@pytest.fixture(scope="module")
def yangpu(tmp_path_factory):
    return sample_workspace(tmp_path_factory.mktemp("ws") / "yangpu", registry=False)


def _as(sample_csv: Path, folder: Path, crs: str) -> Path:
    """The sample list (GCJ-02) written in ``crs``, converted with prcoords (not geomap's own converter)."""
    df = pd.read_csv(sample_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    conv = {"gcj02": lambda c: c, "wgs84": prcoords.gcj_wgs_bored, "bd09": prcoords.gcj_bd}[crs]
    out = [conv(prcoords.Coords(float(la), float(lo))) for lo, la in zip(df["经度"], df["纬度"], strict=True)]
    df["经度"], df["纬度"] = [f"{c.lon:.6f}" for c in out], [f"{c.lat:.6f}" for c in out]
    path = folder / f"yangpu_{crs}.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("crs", ["gcj02", "wgs84", "bd09"])
def test_crs_found_from_the_streets(yangpu, sample_csv, tmp_path, crs):
    ws = yangpu.with_settings(lists_crs=None)
    path = _as(sample_csv, tmp_path, crs)
    stations, report = load_stations(path, distance_m=ws.street_distance())
    assert report.crs == crs, report.crs_reason
    assert report.crs_reason.startswith(f"坐标系：按 {dict(wgs84='WGS84', gcj02='GCJ-02', bd09='BD-09')[crs]} 解读")
    for label in ("WGS84", "GCJ-02", "BD-09"):  # each system's median distance to the streets, and chance's
        assert re.search(rf"{label} (解读：站点离道路)?中位 \d+ m", report.crs_reason), label
    assert "随意平移几百米后中位" in report.crs_reason
    # the same places whichever system the list came in
    ref, _ = load_stations(sample_csv, crs="gcj02")
    d = coords.haversine_m(stations["lon"].to_numpy(), stations["lat"].to_numpy(), ref["lon"].to_numpy(),
                           ref["lat"].to_numpy())
    assert float(np.max(d)) < 1.0


def test_two_points_ask_for_crs_and_the_usual_one_is_used_saying_so(yangpu, sample_csv, tmp_path):
    df = pd.read_csv(sample_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig").head(2)
    path = tmp_path / "two.csv"
    df.to_csv(path, index=False)
    ws = yangpu.with_settings(lists_crs=None)
    with pytest.raises(StationImportError) as exc:
        load_stations(path, distance_m=ws.street_distance())
    assert exc.value.report.codes("error") == ["unknown_crs"]
    assert "只有 2 个站点" in exc.value.report.errors[0].message and "--crs" in exc.value.report.errors[0].message
    _, report = load_stations(path, distance_m=ws.street_distance(), usual_crs="gcj02")
    assert report.crs == "gcj02" and "通常用的坐标系" in report.crs_reason


def test_declared_crs_contradicted_by_the_data_is_a_warning(yangpu, sample_csv):
    _, report = load_stations(sample_csv, crs="wgs84", distance_m=yangpu.street_distance())
    assert report.codes("warning").count("crs_doubt") == 1


def test_station_far_from_every_street_is_a_warning(yangpu, sample_csv, tmp_path):
    """A station ~331 m from every street: kept, with its distance to the streets; the nearest answers from
    the street nearest to it leave it out (no street reaches it) but name it, with both distances."""
    df = pd.read_csv(sample_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    dist = yangpu.street_distance()
    # a point in the extract's bounding box with no street within 300 m, found by searching a grid
    g = yangpu.graph("walk")
    gx, gy = np.meshgrid(np.linspace(g.node_lon.min(), g.node_lon.max(), 60),
                         np.linspace(g.node_lat.min(), g.node_lat.max(), 60))
    far = dist(gx.ravel(), gy.ravel())
    pick = int(np.argmin(np.where(far > 300, np.abs(far - 331.0), np.inf)))  # the 331 m, or near it
    assert 300 < far[pick] < 450, "the sample has no spot 300-450 m from every street"
    flon, flat = coords.from_wgs84(gx.ravel()[pick], gy.ravel()[pick], dst="gcj02")
    df.loc[len(df)] = {**{c: "" for c in df.columns}, "名称": "江边驿站", "类型": "工会驿站",
                       "经度": f"{float(flon):.6f}", "纬度": f"{float(flat):.6f}"}
    path = tmp_path / "far.csv"
    df.to_csv(path, index=False)
    stations, report = load_stations(path, crs="gcj02", distance_m=dist)
    assert _rows(report, "far_from_streets") == [len(df) + 1]
    msg = report.problems[[p.code for p in report.problems].index("far_from_streets")].message
    assert f"离最近的道路 {far[pick]:,.0f} m" in msg
    assert "江边驿站" in stations["name"].tolist()
    # ... and the answers never drop it silently: imported into a place, asked for from the nearest street
    ws = sample_workspace(tmp_path / "w", registry=False)
    ws.import_file(path, crs="gcj02")
    sid = ws.registry.frame().set_index("name").loc["江边驿站", "id"]
    qlon, qlat = float(gx.ravel()[pick]), float(gy.ravel()[pick])
    sn = snap_points(ws.graph("ebike"), qlon, qlat, max_snap_m=5000, errors="ignore", prefer_core=False)
    res = ws.nearest(float(sn.lon[0]), float(sn.lat[0]), k=3, mode="ebike")
    assert sid not in set(res.station_id.ravel())  # no street reaches it ...
    assert res.unrouted_id[0, 0] == sid  # ... so it is named beside the answer, with its distances
    want = pyproj.Geod(ellps="WGS84").inv(float(sn.lon[0]), float(sn.lat[0]), qlon, qlat)[2]
    assert abs(res.unrouted_m[0, 0] - want) < 0.01 * want + 1.0
    assert abs(res.unrouted_street_m[0, 0] - far[pick]) < 1.0
    from geomap.api import create_app
    from geomap.api.state import ServiceState

    client = TestClient(create_app(ServiceState.load(ws, modes=["ebike"])))
    body = client.get("/nearest", params={"lon": float(sn.lon[0]), "lat": float(sn.lat[0]), "k": 3,
                                          "crs": "wgs84", "mode": "ebike"}).json()
    assert [u["id"] for u in body["unrouted"]] == [sid] and sid not in [f["id"] for f in body["features"]]
    assert "江边驿站" in body["unrouted"][0]["note"] and "无法按路网计算" in body["unrouted"][0]["note"]


def test_a_very_dense_list_compares_equal_names_only(tmp_path, monkeypatch):
    """Past MAX_NEAR_PAIRS pairs within the duplicate radius, only equal names are the same place (the pairs
    of a dense 50 MB list would take gigabytes): said in the report; equal names still merged."""
    import geomap.stations.validate as validate

    rows = ["名称,类型,经度,纬度"] + [f"驿站{i},工会驿站,{121.5 + (i % 20) * 1e-5:.6f},{31.3 + (i // 20) * 1e-5:.6f}"
                                   for i in range(400)] + ["驿站7,工会驿站,121.50007,31.30000"]
    path = tmp_path / "dense.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _, full = load_stations(path, crs="wgs84")
    monkeypatch.setattr(validate, "MAX_NEAR_PAIRS", 1000)
    df, dense = load_stations(path, crs="wgs84")
    assert any("站点非常密集" in n for n in dense.notes) and not any("站点非常密集" in n for n in full.notes)
    assert _rows(dense, "duplicate_place") == [len(rows)]  # the second 驿站7, merged into the first
    assert len(_rows(full, "duplicate_place")) > 1  # 驿站1 is contained in 驿站10 … when all pairs are compared
    assert len(df) == 400
