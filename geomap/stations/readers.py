"""Readers of station lists: import profiles, header mapping, and CSV / XLSX / GeoJSON / GeoPackage /
profile JSON files read into raw records (step 1 of an import, see :mod:`geomap.stations.validate`)."""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geomap import vocab
from geomap.stations import numbers
from geomap.stations.schema import FIELDS
from geomap.stations.tables import (
    HEADER_SCAN_ROWS,
    FoundTable,
    _flatten,
    find_json_records,
    find_table,
    key_columns,
    split_rows,
)

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
_COLUMNS_FILE = Path(__file__).resolve().parent.parent / "vocab" / "columns.toml"


# --- profiles and column mapping ------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportProfile:
    """A named recipe for one publisher's file format (see ``geomap/profiles/*.toml``)."""

    name: str
    description: str = ""
    format: str | None = None
    records: str | None = None
    crs: str | None = None
    id_prefix: str = ""
    source: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, list[str]] = field(default_factory=dict)


def list_profiles() -> list[str]:
    """Names of the import profiles shipped with geomap."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> ImportProfile:
    """Load a shipped profile by name, or a profile TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.exists():
        raise ValueError(f"unknown import profile {name_or_path!r}; shipped profiles: {', '.join(list_profiles())}")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    for target in raw.get("columns", {}).values():
        if target not in FIELDS:
            raise ValueError(f"profile {path.name}: column target {target!r} is not one of {', '.join(FIELDS)}")
    for code, keys in raw.get("kinds", {}).items():
        for k in keys:
            vocab.kinds().require(k)
        raw["kinds"][code] = list(keys)
    return ImportProfile(name=path.stem, **raw)


FIELD_ZH: dict[str, str] = {
    "id": "编号", "name": "名称", "kind": "类型", "address": "地址", "district": "区", "subdistrict": "街道",
    "lon": "经度", "lat": "纬度", "lonlat": "经纬度", "opening_hours": "开放时间", "services": "服务内容",
    "phone": "电话", "operator": "运营单位", "meal_price_yuan": "套餐价格", "note": "备注",
}
"""The fields as people call them (for messages)."""

COMBINABLE = ("address", "services", "phone", "operator", "note", "opening_hours")
"""Fields whose text several columns may share (joined with “；”): two 备注 columns are both kept."""

IGNORE = "ignore"
"""A column mapping target that leaves a column out on purpose (``--column 旧经度=ignore``)."""

ROW_NUMBER = "row_number"
"""The role of a list's own row numbers (序号): not a station id, not imported."""

_CRS_WORDS = {"gcj02": "gcj02", "gcj": "gcj02", "火星": "gcj02", "火星坐标": "gcj02", "高德": "gcj02",
              "amap": "gcj02", "腾讯": "gcj02", "wgs84": "wgs84", "wgs": "wgs84", "gps": "wgs84",
              "bd09": "bd09", "bd": "bd09", "百度": "bd09", "baidu": "bd09"}
_CRS_PREFIX = re.compile(r"^(高德|百度|火星|腾讯)")


def _split_crs(text: str) -> tuple[str, str | None]:
    """A header without a coordinate-system word in it, and that system: ``gcj02_lng`` -> (``lng``,
    ``gcj02``), ``经度(WGS84)`` -> (``经度``, ``wgs84``), ``百度经度`` -> (``经度``, ``bd09``)."""
    t = unicodedata.normalize("NFKC", str(text)).strip().lower()
    crs = None
    m = _CRS_PREFIX.match(t)
    if m:
        crs, t = _CRS_WORDS[m.group(1)], t[m.end():]
    tokens = [x for x in re.split(r"[_\-\s()（）\[\]【】.:：]+", t) if x]
    kept = []
    for tok in tokens:
        c = _CRS_WORDS.get(tok.replace("-", ""))
        if c is not None and len(tokens) > 1:
            crs = c
        else:
            kept.append(tok)
    return "".join(kept), crs


def _header_key(text: str) -> str:
    t = re.sub(r"[（(【\[][^）)】\]]*[）)】\]]", "", unicodedata.normalize("NFKC", str(text)))
    return t.strip().lower().replace(" ", "").replace("_", "").replace("-", "")


def _header_aliases() -> dict[str, str]:
    raw = tomllib.loads(_COLUMNS_FILE.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for target, aliases in raw.items():
        for a in [target, *aliases]:
            out.setdefault(_header_key(a), target)
    return out


def header_target(text: str, *, columns: dict[str, str] | None = None) -> str | None:
    """The field a column header means (:data:`FIELDS`, :data:`ROW_NUMBER` or :data:`IGNORE`), or None:
    the user's mapping first, then the known aliases (also with a coordinate-system word around them)."""
    if columns and text in columns:
        return columns[text]
    aliases = _header_aliases()
    for t in dict.fromkeys([str(text), str(text).rsplit(".", 1)[-1]]):  # a nested JSON key: location.lng
        hit = aliases.get(_header_key(t))
        if hit is None:
            hit = aliases.get(_header_key(_split_crs(t)[0]))
        if hit is not None:
            return hit
    return None


def map_columns(headers: list[str], *, columns: dict[str, str] | None = None,
                notes: list[str] | None = None) -> dict[str, str]:
    """Map a file's headers onto geomap fields: the user's mapping first, then the known aliases.

    Returns ``{file header: field}``; headers that map to nothing are left out (reported by the caller as
    ignored columns). Several headers onto one field: the ones the user named win (the others are noted
    in ``notes``); for text fields (:data:`COMBINABLE`) all are kept and their texts joined; otherwise it
    is an error that says how to choose. Never is a column dropped without a word.
    """
    columns = dict(columns or {})
    for target in columns.values():
        if target not in FIELDS and target not in (IGNORE, ROW_NUMBER):
            raise ValueError(f"列映射的目标 {target!r} 不是已知字段：{', '.join(FIELDS)}、{IGNORE}")
    out: dict[str, str] = {h: columns[h] for h in headers if h in columns}
    explicit = {t for t in out.values()}
    by_target: dict[str, list[str]] = {}
    for h in headers:
        if h in out:
            continue
        target = header_target(h)
        if target is None:
            continue
        if target in explicit and target not in COMBINABLE:
            if notes is not None:
                named = next(k for k, v in out.items() if v == target)
                notes.append(f"列“{h}”也像是{FIELD_ZH.get(target, target)}，按指定用了列“{named}”，列“{h}”未导入")
            out[h] = IGNORE
            continue
        by_target.setdefault(target, []).append(h)
    for target, hs in by_target.items():
        if len(hs) > 1 and target not in COMBINABLE and target not in (ROW_NUMBER,):
            zh = FIELD_ZH.get(target, target)
            raise ValueError(f"列“{hs[0]}”和“{hs[1]}”都像是{zh}：请用 --column 说明用哪一列，例如 "
                             f"--column {hs[1]}={IGNORE}（不导入该列）")
        for h in hs:
            out[h] = target
        if len(hs) > 1 and notes is not None and target in COMBINABLE:
            notes.append(f"列{'、'.join('“' + h + '”' for h in hs)}都是{FIELD_ZH[target]}：内容已合并（以“；”分隔）")
    return out


def header_crs(headers: list[str], col_map: dict[str, str]) -> tuple[str | None, str]:
    """The coordinate system the coordinate headers name (``gcj02_lng``, ``经度(WGS84)``), and why."""
    named = {h: _split_crs(h)[1] for h, t in col_map.items() if t in ("lon", "lat", "lonlat")}
    systems = {c for c in named.values() if c}
    if len(systems) == 1:
        crs = systems.pop()
        cols = "、".join(h for h, c in named.items() if c)
        return crs, f"列名（{cols}）表明坐标系"
    return None, ""

# --- readers --------------------------------------------------------------------------------------------

@dataclass
class RawRecords:
    """A station list read from a file: geomap field names, values as text, each record's position.

    ``skipped``: rows that are not records (title, blank, section and footer rows) as (row, code, reason);
    ``notes``: decisions taken for the whole file, in Chinese (sheet, header row, JSON key, columns)."""

    table: pd.DataFrame          # columns: geomap fields (subset of FIELDS) + "row"
    source: str
    row_label: str               # "row" (spreadsheet row, header = 1) or "feature" (index from 0)
    crs: str | None = None       # coordinate system declared by the file or profile, if any
    ignored_columns: list[str] = field(default_factory=list)
    profile: ImportProfile | None = None
    crs_reason: str = ""         # why ``crs`` (the profile, the column names)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    explicit: frozenset[str] = frozenset()   # fields the user mapped a column to
    more: Iterator[RawChunk] | None = None
    """The records after ``table`` of a file read as a stream (a large CSV), read as they are asked for;
    None when ``table`` holds them all."""

    def chunks(self) -> Iterator[RawChunk]:
        """The records piece by piece: ``table`` with ``skipped``, then the rest of a streamed file (each
        piece with the rows set aside in it). Reading stops where the caller stops asking."""
        yield RawChunk(self.table, self.skipped)
        if self.more is not None:
            yield from self.more


@dataclass(frozen=True)
class RawChunk:
    """A piece of a station list: records (the columns of :attr:`RawRecords.table`) and the rows set aside
    among them as (row, code, Chinese reason)."""

    table: pd.DataFrame
    skipped: list[tuple[int, str, str]]


CSV_CHUNK_ROWS = 20_000
"""Rows of a CSV read at a time: a list of up to this many rows (most lists) is read at once; a larger one
is read as a stream, so that checking can stop early (:mod:`geomap.stations.validate`) and memory stays
bounded by the records kept, not by the file."""
_BLOCK_BYTES = 1 << 20


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as such, else GB18030 (GBK); checked a
    block at a time."""
    for enc in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(enc)()
        try:
            with path.open("rb") as f:
                while block := f.read(_BLOCK_BYTES):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path.name}：无法按 UTF-8 或 GB18030（GBK）解码；请另存为 UTF-8 CSV")


def _csv_rows(path: Path) -> Iterator[list[str]]:
    """A CSV's rows as lists of cell texts, read as a stream (``,`` ``;`` or tab sniffed from the start);
    blank lines are kept (as empty rows) so row numbers are the file's line numbers."""
    enc = _csv_encoding(path)
    with path.open(encoding=enc, newline="") as f:
        start = f.read(4096)
        try:
            sep = csv.Sniffer().sniff(start, delimiters=",;\t").delimiter
        except csv.Error:
            sep = ","
        f.seek(0)
        yield from csv.reader(f, delimiter=sep)


def _cells(rows: list[list[str]], width: int) -> pd.DataFrame:
    return pd.DataFrame([r + [""] * (width - len(r)) if len(r) < width else r[:width] for r in rows],
                        columns=range(width), dtype=str)


def _read_csv(path: Path, mapping: dict[str, str]) -> tuple[FoundTable, Iterator[FoundTable]]:
    """A CSV's table: the header found in its first rows and the records of the first
    :data:`CSV_CHUNK_ROWS` rows, then (lazily) the following pieces of as many rows. Cells beyond the
    header's width in the later pieces are left out with an ``extra_cells`` note on their row."""
    rows = _csv_rows(path)
    head = list(itertools.islice(rows, HEADER_SCAN_ROWS + CSV_CHUNK_ROWS))
    width = max((len(r) for r in head), default=0)
    first = _table_of(_cells(head, width), mapping)

    def rest() -> Iterator[FoundTable]:
        row_no = len(head) + 1
        key_cols = key_columns(first.headers, lambda hs: _quiet_map(hs, mapping))
        while part := list(itertools.islice(rows, CSV_CHUNK_ROWS)):
            extra = [(row_no + i, "extra_cells", f"本行比表头多出 {len(r) - width} 个单元格，未导入")
                     for i, r in enumerate(part) if len(r) > width and any(c.strip() for c in r[width:])]
            body = _cells(part, width)
            body.columns = first.headers
            cells, numbers_, skipped = split_rows(body, first_row=row_no, key_cols=key_cols)
            yield FoundTable(headers=first.headers, cells=cells, rows=numbers_, header_rows=first.header_rows,
                             skipped=sorted(skipped + extra), score=first.score)
            row_no += len(part)

    return first, rest()


def _records_from_features(features: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for i, feat in enumerate(features):
        props = dict(feat.get("properties") or {})
        geom = feat.get("geometry")
        if geom:
            gtype, gcoords = geom.get("type"), geom.get("coordinates")
            if gtype == "MultiPoint" and gcoords and len(gcoords) == 1:
                gtype, gcoords = "Point", gcoords[0]
            if gtype == "Point" and gcoords is not None and len(gcoords) >= 2:
                props["__lon"], props["__lat"] = gcoords[0], gcoords[1]
            else:
                props["__geom_problem"] = f"geometry is {gtype}, not a point"
        props["__row"] = i
        rows.append(props)
    return pd.DataFrame(rows)


def _table_of(cells: pd.DataFrame, mapping: dict[str, str]) -> FoundTable:
    return find_table(cells, target=lambda h: header_target(h, columns=mapping),
                      mapped=lambda hs: _quiet_map(hs, mapping))


def _quiet_map(headers: list[str], mapping: dict[str, str]) -> dict[str, str]:
    try:
        return map_columns(headers, columns=mapping)
    except ValueError:
        return {h: t for h in headers if (t := header_target(h, columns=mapping)) is not None}


def _from_table(found: FoundTable) -> pd.DataFrame:
    df = found.cells.copy()
    df["__row"] = np.asarray(found.rows, dtype=np.int64)
    return df


def _read_workbook(path: Path, *, sheet: str | int | None, mapping: dict[str, str],
                   notes: list[str]) -> FoundTable:
    if sheet is not None:
        try:
            cells = pd.read_excel(path, sheet_name=sheet, header=None, dtype=str)
        except (ValueError, IndexError) as exc:
            names = pd.ExcelFile(path).sheet_names
            raise ValueError(f"{path.name}：没有工作表 {sheet!r}（有：{'、'.join(map(str, names))}）") from exc
        return _table_of(cells, mapping)
    sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str)
    found = {name: _table_of(cells, mapping) for name, cells in sheets.items() if len(cells)}
    if not found:
        raise ValueError(f"{path.name}：工作簿是空的")
    name, best = max(found.items(), key=lambda kv: (kv[1].score, len(kv[1].rows)))
    if len(sheets) > 1:
        notes.append(f"工作簿有 {len(sheets)} 个工作表，读取“{name}”（站点的列最全；用 --sheet 可指定）")
    return best


def _row_numbers_as_ids(values: pd.Series) -> bool:
    """True when an id column holds only the list's own numbering 1, 2, 3 … (in order)."""
    try:
        nums = [int(numbers.normalize_text(str(v))) for v in values.tolist()]
    except ValueError:
        return False
    return len(nums) > 1 and nums == list(range(nums[0], nums[0] + len(nums))) and nums[0] in (0, 1)


def _profile_hint(path: Path, prof: ImportProfile | None) -> str:
    """“; this looks like X's export: use --profile NAME” for a JSON file that a shipped profile reads."""
    if prof is not None or path.suffix.lower() != ".json":
        return ""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return ""
    for name in list_profiles():
        p = load_profile(name)
        if p.records and isinstance(data, dict) and p.records in data:
            return f"。这像是“{p.description}”：可用 --profile {name}"
    return ""


def read_records(path: str | Path, *, profile: str | ImportProfile | None = None,
                 columns: dict[str, str] | None = None, sheet: str | int | None = None,
                 layer: str | None = None) -> RawRecords:
    """Read a station list (CSV, XLSX, GeoJSON, GeoPackage, JSON) into raw records.

    Spreadsheets: the header row is found under title rows (:func:`~geomap.stations.tables.find_table`),
    rows that are not records are set aside in ``skipped``, the sheet with the station columns is read
    unless ``sheet`` says which. JSON: the list of records is found under any key (a profile may name it).
    ``columns`` maps file headers to geomap fields (:data:`FIELDS`, or ``ignore``) and wins over the
    built-in aliases. Coordinates are not converted here; see :func:`validate_records`. A CSV longer than
    :data:`CSV_CHUNK_ROWS` rows is read as a stream: ``table`` holds its first piece and ``more`` reads the
    rest as it is asked for (:meth:`RawRecords.chunks`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"找不到站点文件：{path}")
    prof = load_profile(profile) if isinstance(profile, str | Path) else profile
    mapping = dict(prof.columns) if prof else {}
    mapping.update(columns or {})
    suffix = path.suffix.lower()
    fmt = (prof.format if prof and prof.format else None) or {
        ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx",
        ".geojson": "geojson", ".json": "json", ".gpkg": "gpkg",
    }.get(suffix)
    declared_crs: str | None = None
    row_label = "feature"
    notes: list[str] = []
    skipped: list[tuple[int, str, str]] = []
    more: Iterator[FoundTable] | None = None
    if fmt in ("csv", "xlsx"):
        if fmt == "csv":
            found, more = _read_csv(path, mapping)
        else:
            found = _read_workbook(path, sheet=sheet, mapping=mapping, notes=notes)
        if found.header_rows != [1]:
            rows_txt = "、".join(str(r) for r in found.header_rows)
            notes.append(f"表头在第 {rows_txt} 行（上方的标题行已跳过）")
        df, skipped, row_label = _from_table(found), found.skipped, "row"
    elif fmt in ("geojson", "json"):
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            df = _records_from_features(data.get("features", []))
        else:
            key = prof.records if prof else None
            if key:
                records = data.get(key) if isinstance(data, dict) else None
                if not isinstance(records, list):
                    raise ValueError(f"{path.name}：导入模板 {prof.name!r} 要求 {key!r} 下是记录列表")
                records = [_flatten(r) if isinstance(r, dict) else r for r in records]
            else:
                records, where = find_json_records(data, target=lambda h: header_target(h, columns=mapping))
                if where:
                    notes.append(f"读取 JSON 中“{where}”下的 {len(records):,} 条记录")
            if not all(isinstance(r, dict) for r in records):
                raise ValueError(f"{path.name}：记录列表里有不是对象的元素")
            df = pd.DataFrame(records)
            df.columns = [str(c) for c in df.columns]
            df["__row"] = np.arange(len(df))
    elif fmt == "gpkg":
        import pyogrio
        gdf = pyogrio.read_dataframe(path, layer=layer)
        if gdf.crs is not None and not gdf.crs.is_geographic:
            gdf = gdf.to_crs(4326)
            declared_crs = "wgs84"
        geoms = gdf.geometry
        is_point = (geoms.geom_type == "Point").to_numpy()
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        xy = shapely.get_coordinates(geoms.to_numpy()[is_point])
        df["__lon"], df["__lat"] = np.nan, np.nan
        df.loc[is_point, "__lon"], df.loc[is_point, "__lat"] = xy[:, 0], xy[:, 1]
        df.loc[~is_point, "__geom_problem"] = "geometry is not a point"
        df["__row"] = np.arange(len(df))
    else:
        raise ValueError(f"{path.name}：不支持的文件类型 {suffix or '（无扩展名）'}；请用 CSV、XLSX、GeoJSON、"
                         "GeoPackage 或 JSON")
    headers = [str(c) for c in df.columns if not str(c).startswith("__")]
    try:
        col_map = map_columns(headers, columns=mapping, notes=notes)
    except ValueError as exc:
        raise ValueError(f"{path.name}：{exc}{_profile_hint(path, prof)}") from None
    # a list's own numbering is not an id: importing a second list numbered from 1 must not replace the first
    numbering: str | None = None
    for h, t in list(col_map.items()):
        if t == "id" and h not in mapping and _row_numbers_as_ids(df[h]):
            col_map[h], numbering = ROW_NUMBER, h
        if col_map[h] == ROW_NUMBER:
            notes.append(f"列“{h}”是表内的顺序号，不作站点编号（站点编号按名称和地址生成）；"
                         f"若它确是编号，用 --column {h}=id")
    table = _raw_table(df, col_map)
    ignored = [h for h in headers if h not in col_map]
    crs, crs_reason = (prof.crs, f"导入模板“{prof.name}”规定坐标系") if prof and prof.crs else (declared_crs, "")
    if crs is None:
        crs, crs_reason = header_crs(headers, col_map)
    elif declared_crs:
        crs_reason = "GeoPackage 的投影坐标已转换为 WGS84"
    explicit = frozenset(t for h, t in col_map.items() if h in mapping)
    rest = None if more is None else _more_records(more, col_map, path=path, numbering=numbering,
                                                  next_number=len(df) + _first_number(df, numbering))
    return RawRecords(table=table, source=path.name, row_label=row_label, crs=crs, ignored_columns=ignored,
                      profile=prof, crs_reason=crs_reason, skipped=skipped, notes=notes, explicit=explicit,
                      more=rest)


def _first_number(df: pd.DataFrame, numbering: str | None) -> int:
    return int(numbers.normalize_text(str(df[numbering].iat[0]))) if numbering else 0


def _raw_table(df: pd.DataFrame, col_map: dict[str, str]) -> pd.DataFrame:
    """The records of ``df`` (a file's columns, ``__row`` and the geometry's ``__lon`` …) under geomap's
    field names: several columns onto one text field joined with “；”, numbering and ignored columns left
    out."""
    table = pd.DataFrame({"row": df["__row"].to_numpy()})
    for target in dict.fromkeys(col_map.values()):
        if target in (ROW_NUMBER, IGNORE):
            continue
        hs = [h for h, t in col_map.items() if t == target]
        if len(hs) == 1:
            table[target] = df[hs[0]].to_numpy()
        else:
            table[target] = ["；".join(str(v).strip() for v in vals if not numbers._is_missing(v)) or None
                             for vals in zip(*(df[h].tolist() for h in hs), strict=True)]
    for extra in ("__lon", "__lat", "__geom_problem"):
        if extra in df.columns:
            target = extra.strip("_")
            if target in ("lon", "lat") and target in table.columns:
                # explicit coordinate columns win over the geometry only where the geometry is missing
                table[target] = np.where(pd.isna(df[extra]), table[target], df[extra])
            else:
                table[target] = df[extra].to_numpy()
    return table


def _more_records(more: Iterator[FoundTable], col_map: dict[str, str], *, path: Path, numbering: str | None,
                  next_number: int) -> Iterator[RawChunk]:
    """The later pieces of a streamed file as records. A column taken for the list's numbering from its
    first piece must go on counting 1, 2, 3 … in every later one; else the import stops and asks."""
    for found in more:
        df = _from_table(found)
        if numbering is not None and len(df):
            expected = list(range(next_number, next_number + len(df)))
            try:
                ok = [int(numbers.normalize_text(str(v))) for v in df[numbering].tolist()] == expected
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{path.name}：列“{numbering}”在前面的行里是 1、2、3 … 的顺序号，到第 "
                                 f"{found.rows[0]:,}–{found.rows[-1]:,} 行却不是：若它是站点编号，用 "
                                 f"--column {numbering}=id；若是顺序号，用 --column {numbering}={IGNORE}")
            next_number += len(df)
        yield RawChunk(_raw_table(df, col_map), found.skipped)

