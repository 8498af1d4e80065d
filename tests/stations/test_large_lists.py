"""Large station lists (issue 18, bounded reports): a CSV is read as a stream, checking stops early on a
hopeless file (the report capped, saying where it stopped and how much it checked), and large good or mixed
lists import exactly as when the file is read whole — every record's outcome asserted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geomap.stations import readers
from geomap.stations.registry import Registry
from geomap.stations.schema import MAX_LISTED_PER_CODE, StationImportError
from geomap.stations.tables import HEADER_SCAN_ROWS
from geomap.stations.validate import STOP_BAD_PER_GOOD, STOP_MIN_BAD, load_stations

HEADER = "编号,名称,类型,地址,经度,纬度,开放时间"


def _good(i: int) -> str:
    """A valid row; rows lie on a grid about 1 km apart, so no two are the same place."""
    return f"G{i},驿站{i},工会驿站,路{i}号,{_lon(i):.6f},{_lat(i):.6f},24小时"


def _lon(i: int) -> float:
    return 110 + (i % 1000) * 0.012


def _lat(i: int) -> float:
    return 25 + (i // 1000) * 0.01


def _bad(i: int) -> str:
    return f"B{i},坏驿站{i},工会驿站,路{i}号,abc,31.3,24小时"


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(report, code: str) -> list[int]:
    return sorted(p.row for p in report.problems if p.code == code)


def _whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read every CSV at once from here on (as before streaming)."""
    monkeypatch.setattr(readers, "CSV_CHUNK_ROWS", 10**9)


def test_hopeless_list_stops_early_with_a_capped_report(tmp_path, monkeypatch):
    n = 50_000  # three pieces of CSV_CHUNK_ROWS
    path = _write(tmp_path / "坏名单.csv", [HEADER] + [_bad(i) for i in range(n)])
    read: list[int] = []
    real_rows = readers._csv_rows

    def counted(p: Path):
        for row in real_rows(p):
            read.append(1)
            yield row

    monkeypatch.setattr(readers, "_csv_rows", counted)
    for skip in (False, True):  # a hopeless file is refused even with --skip-invalid
        read.clear()
        with pytest.raises(StationImportError) as exc:
            load_stations(path, crs="wgs84", skip_invalid=skip)
        report = exc.value.report
        assert report.records == STOP_MIN_BAD
        assert report.counts == {("error", "bad_coordinate"): STOP_MIN_BAD, ("error", "too_many_errors"): 1}
        assert report.omitted == {"bad_coordinate": STOP_MIN_BAD - MAX_LISTED_PER_CODE}
        assert _rows(report, "bad_coordinate") == list(range(2, 2 + MAX_LISTED_PER_CODE))
        [stop] = [p for p in report.problems if p.code == "too_many_errors"]
        assert stop.row == -1 and stop.message.startswith(
            "错误过多：检查了前 1,000 条记录（到第 1001 行）后停止，其中 1,000 条有错误、0 条无误，其余部分未检查；"
            "请先改正这些问题")
        assert stop.message in str(exc.value) and "未导入任何站点" in str(exc.value)
        assert "共 1,000 条记录" in report.summary()
        assert str(tmp_path) not in str(exc.value) and str(tmp_path) not in report.format()
        assert len(read) <= HEADER_SCAN_ROWS + readers.CSV_CHUNK_ROWS < n  # the rest of the file was never read


def test_the_stop_rule_at_its_edges(tmp_path):
    # STOP_MIN_BAD - 1 bad rows, then good ones: checked to the end, the good rows imported with --skip-invalid
    lines = [HEADER] + [_bad(i) for i in range(STOP_MIN_BAD - 1)] + [_good(i) for i in range(300)]
    df, report = load_stations(_write(tmp_path / "a.csv", lines), crs="wgs84", skip_invalid=True)
    assert df["id"].tolist() == [f"G{i}" for i in range(300)] and report.records == STOP_MIN_BAD - 1 + 300
    assert report.skipped_rows == list(range(2, STOP_MIN_BAD + 1)) and "too_many_errors" not in report.codes()
    # 10 valid records, then 1,000 bad ones (not more than 100 per valid one), then valid ones: checked to the end
    good = STOP_MIN_BAD // STOP_BAD_PER_GOOD
    lines = ([HEADER] + [_good(i) for i in range(good)] + [_bad(i) for i in range(STOP_MIN_BAD)]
             + [_good(i) for i in range(good, 40)])
    df, report = load_stations(_write(tmp_path / "b.csv", lines), crs="wgs84", skip_invalid=True)
    assert df["id"].tolist() == [f"G{i}" for i in range(40)] and report.records == 40 + STOP_MIN_BAD
    assert report.error_count == STOP_MIN_BAD and "too_many_errors" not in report.codes()
    # one valid record fewer: the 1,000th bad record stops it
    lines = [HEADER] + [_good(i) for i in range(good - 1)] + [_bad(i) for i in range(STOP_MIN_BAD + 5)]
    with pytest.raises(StationImportError) as exc:
        load_stations(_write(tmp_path / "c.csv", lines), crs="wgs84", skip_invalid=True)
    assert exc.value.report.records == good - 1 + STOP_MIN_BAD
    assert f"检查了前 {good - 1 + STOP_MIN_BAD:,} 条记录（到第 {good + STOP_MIN_BAD} 行）" in str(exc.value)


def test_large_good_list_streamed_imports_completely_as_read_whole(tmp_path, monkeypatch):
    """45,000 rows (three pieces) under a title row, with a blank row, a section heading and footers in
    later pieces: the same stations and the same report as the whole file read at once, and all of them
    written to the registry."""
    n = 45_000
    lines = ["杨浦区户外劳动者服务站点名单（2026年）", HEADER]
    line_of: dict[int, int] = {}
    for i in range(n):
        if i == 25_000:
            lines.append("")  # blank
        if i == 31_000:
            lines.append("二、控江路街道,,,,,,")  # section heading
        lines.append(_good(i))
        line_of[i] = len(lines)
    lines += ["制表人：张三,,,,,,", "联系人：李四，电话 021-65550000"]
    path = _write(tmp_path / "big.csv", lines)
    df, report = load_stations(path, crs="wgs84")
    assert df["id"].tolist() == [f"G{i}" for i in range(n)]
    assert df["name"].tolist() == [f"驿站{i}" for i in range(n)]
    assert df["lon"].tolist() == pytest.approx([_lon(i) for i in range(n)], abs=1e-9)
    assert df["lat"].tolist() == pytest.approx([_lat(i) for i in range(n)], abs=1e-9)
    assert (df["opening_hours"] == "24/7").all() and all(k == ["outdoor_station"] for k in df["kinds"])
    assert report.station_rows == [line_of[i] for i in range(n)] and report.records == n
    assert _rows(report, "title_row") == [1]
    assert _rows(report, "blank_row") == [line_of[25_000] - 1]
    assert _rows(report, "section_row") == [line_of[31_000] - 1]
    assert _rows(report, "footer_row") == [len(lines) - 1, len(lines)]
    assert report.error_count == 0 and report.warning_count == 0

    _whole(monkeypatch)
    df_whole, report_whole = load_stations(path, crs="wgs84")
    pd.testing.assert_frame_equal(df, df_whole)
    assert report.problems == report_whole.problems and report.station_rows == report_whole.station_rows
    monkeypatch.undo()

    reg = Registry(tmp_path / "r.gpkg")
    written, rep = reg.import_file(path, crs="wgs84")
    assert len(written) == rep.added == len(reg) == n
    stored = reg.frame().set_index("id")
    assert stored.loc[[f"G{i}" for i in range(n)], "name"].tolist() == [f"驿站{i}" for i in range(n)]


def test_mixed_list_with_skip_invalid_streamed(tmp_path, monkeypatch):
    """30,000 rows with a bad row every 997 (30 of them, in every piece): refused without --skip-invalid
    (every bad row listed), with it every good row imported and every bad row named as skipped."""
    n = 30_000
    bad = set(range(500, n, 997))
    lines = [HEADER] + [_bad(i) if i in bad else _good(i) for i in range(n)]
    path = _write(tmp_path / "mixed.csv", lines)
    bad_lines = sorted(i + 2 for i in bad)
    good_ids = [f"G{i}" for i in range(n) if i not in bad]
    with pytest.raises(StationImportError) as exc:
        load_stations(path, crs="wgs84")
    report = exc.value.report
    assert _rows(report, "bad_coordinate") == bad_lines and report.error_count == len(bad) == 30
    assert report.records == n and "too_many_errors" not in report.codes()

    df, report = load_stations(path, crs="wgs84", skip_invalid=True)
    assert df["id"].tolist() == good_ids and report.skipped_rows == bad_lines
    _whole(monkeypatch)
    df_whole, report_whole = load_stations(path, crs="wgs84", skip_invalid=True)
    pd.testing.assert_frame_equal(df, df_whole)
    assert report.problems == report_whole.problems and report.skipped_rows == report_whole.skipped_rows
    monkeypatch.undo()

    reg = Registry(tmp_path / "r.gpkg")
    written, rep = reg.import_file(path, crs="wgs84", skip_invalid=True)
    assert written["id"].tolist() == good_ids and rep.added == len(good_ids) and rep.skipped_rows == bad_lines
    assert sorted(reg.frame()["id"]) == sorted(good_ids)


def test_list_numbering_is_checked_in_every_piece(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CSV_CHUNK_ROWS", 100)
    numbered = [HEADER] + [f"{i + 1},驿站{i},工会驿站,路{i}号,{_lon(i):.6f},{_lat(i):.6f},24小时" for i in range(450)]
    df, report = load_stations(_write(tmp_path / "n.csv", numbered), crs="wgs84")
    assert len(df) == 450 and df["id"].str.startswith("st-").all() and df["id"].is_unique
    assert any("顺序号" in note for note in report.notes)
    _whole(monkeypatch)
    df_whole, _ = load_stations(tmp_path / "n.csv", crs="wgs84")
    pd.testing.assert_frame_equal(df, df_whole)
    # numbered 1, 2, 3 … through the first piece, then not: the streamed read cannot tell, so it asks
    monkeypatch.setattr(readers, "CSV_CHUNK_ROWS", 100)
    numbered[300] = numbered[300].replace("300,", "X300,", 1)
    with pytest.raises(ValueError, match=r"列“编号”.*顺序号.*--column 编号=id"):
        load_stations(_write(tmp_path / "m.csv", numbered), crs="wgs84")


def test_cells_beyond_the_header_in_later_pieces_are_noted(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CSV_CHUNK_ROWS", 100)
    lines = [HEADER] + [_good(i) for i in range(300)]
    lines[250] += ",多出来的格子"   # row 251: noted, the station still imported
    lines[260] += ",,"             # empty cells beyond the header: nothing to say
    df, report = load_stations(_write(tmp_path / "x.csv", lines), crs="wgs84")
    assert len(df) == 300 and _rows(report, "extra_cells") == [251]
