"""Finding the station table in a file as unions keep them: the header row under title rows (also a
two-row header with merged cells), the rows that are not records (blank, section headings, footers such
as 制表人 / 联系人 / 备注), the sheet of a workbook that holds the stations, and the list of records
somewhere inside a JSON document.

Works on cells as text (a :class:`pandas.DataFrame` read with ``header=None``); the header's meaning
comes from :func:`geomap.stations.readers.header_target`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geomap.stations.numbers import _is_missing

HEADER_SCAN_ROWS = 30
"""How many rows from the top are looked at for the header."""

_FOOTER = re.compile(
    r"^\s*(制表|填表|填报|联系人|联系电话|联系方式|备注|附注|注[:：]|注\s*\d|说明[:：]|审核|负责人|数据来源|来源[:：]|合计|"
    r"总计|共计|小计|单位[:：]|填报单位|日期[:：]|更新时间|统计时间|截至|截止)")


@dataclass
class FoundTable:
    """The records of one sheet / CSV: ``cells`` keeps the data rows only, with ``headers`` as column names
    and ``rows`` their 1-based row numbers in the file; ``skipped`` lists rows that are not records as
    (row, code, Chinese reason)."""

    headers: list[str]
    cells: pd.DataFrame
    rows: list[int]
    header_rows: list[int]
    skipped: list[tuple[int, str, str]] = field(default_factory=list)
    score: int = 0


def _texts(row: pd.Series) -> list[str | None]:
    return [None if _is_missing(v) else str(v).strip() for v in row.tolist()]


def _score(headers: list[str | None], target: Callable[[str], str | None]) -> int:
    """How many distinct station fields a header row names (the name and a coordinate count double: a
    header row without them is seldom the one)."""
    found = {t for h in headers if h and (t := target(h)) is not None and t != "ignore"}
    return len(found) + len(found & {"name"}) + (1 if found & {"lon", "lat", "lonlat"} else 0)


def find_header(top: pd.DataFrame, *, target: Callable[[str], str | None]) -> tuple[int, list[str], list[int]]:
    """The header among the first rows of ``top`` (cells read with ``header=None``): its score, the column
    names (unnamed and repeated ones made unique) and the 0-based rows it uses (one, or two for a two-row
    header whose upper cells are merged)."""
    n_scan = min(HEADER_SCAN_ROWS, len(top))
    rows_text = [_texts(top.iloc[r]) for r in range(n_scan)]
    best: tuple[int, int, list[str | None], list[int]] = (-1, 0, [], [])
    for r in range(n_scan):
        single = rows_text[r]
        cands = [(single, [r])]
        if r > 0:  # two-row header: the lower cell, else the one above it (a merged cell keeps its text there)
            upper = rows_text[r - 1]
            cands.append(([lo if lo else up for lo, up in zip(single, upper, strict=True)], [r - 1, r]))
        for hdr, used in cands:
            s = _score(hdr, target)
            if s > best[0]:
                best = (s, r, hdr, used)
    score, last, hdr, used = best
    if score <= 0:  # nothing recognisable: the first non-blank row is the header, as a spreadsheet reads it
        last = next((r for r in range(n_scan) if any(rows_text[r])), 0)
        hdr, used = (rows_text[last] if rows_text else []), [last]
    headers: list[str] = []
    for j, h in enumerate(hdr):
        name = h or f"第{j + 1}列"
        while name in headers:
            name += "'"
        headers.append(name)
    return max(score, 0), headers, used


def split_rows(body: pd.DataFrame, *, first_row: int,
               key_cols: set[str]) -> tuple[pd.DataFrame, list[int], list[tuple[int, str, str]]]:
    """Split the rows under the header (``body``, columns named by the header) into records and rows that
    are not records: blank rows, footers (制表 / 联系人 / 备注 … as the first filled cell, no other name /
    coordinate / address cell filled) and section headings (one filled cell outside those columns).
    ``first_row`` is the file's row number (1-based) of ``body``'s first row. Returns the records (index
    from 0), their row numbers and the rows set aside as (row, code, Chinese reason). Column-wise: a
    50 MB list is not walked cell by cell in Python."""
    n = len(body)
    if n == 0 or body.shape[1] == 0:
        return body.iloc[:0].reset_index(drop=True), [], [(first_row + i, "blank_row", "空行") for i in range(n)]
    texts = np.column_stack([body.iloc[:, j].fillna("").astype(str).str.strip().to_numpy(dtype=object)
                             for j in range(body.shape[1])])
    filled = texts != ""
    blank = ~filled.any(axis=1)
    first_col = filled.argmax(axis=1)
    first = texts[np.arange(n), first_col]
    is_key = np.array([h in key_cols for h in body.columns], dtype=bool)
    other_keys = (filled & is_key).sum(axis=1) - is_key[first_col]
    footer = ~blank & pd.Series(first).str.match(_FOOTER).to_numpy(dtype=bool) & (other_keys == 0)
    section = ~blank & ~footer & (filled.sum(axis=1) == 1) & ~is_key[first_col]
    keep = ~(blank | footer | section)
    skipped: list[tuple[int, str, str]] = []
    for i in np.flatnonzero(~keep):
        row_no, head = first_row + int(i), str(first[i])[:20]
        skipped.append((row_no, "blank_row", "空行") if blank[i] else
                       (row_no, "footer_row", f"表尾的备注或落款行（“{head}”），不是站点") if footer[i] else
                       (row_no, "section_row", f"分组标题行（“{head}”），不是站点"))
    rows = (first_row + np.flatnonzero(keep)).tolist()
    return body.iloc[np.flatnonzero(keep)].reset_index(drop=True), rows, skipped


def key_columns(headers: list[str], mapped: Callable[[list[str]], dict[str, str]] | None) -> set[str]:
    """The header's name, coordinate and address columns (a row with one of them filled is a record)."""
    roles = mapped(headers) if mapped else {}
    return {h for h, t in roles.items() if t in ("name", "lon", "lat", "lonlat", "address")}


def find_table(cells: pd.DataFrame, *, target: Callable[[str], str | None],
               mapped: Callable[[list[str]], dict[str, str]] | None = None) -> FoundTable:
    """Find the header row (or two-row header) of ``cells`` (read with ``header=None``) and split off the
    rows that are not records. ``target`` names the field a header cell means (None: none)."""
    score, headers, used = find_header(cells, target=target)
    last = used[-1]
    skipped: list[tuple[int, str, str]] = []
    for r in range(used[0]):
        skipped.append((r + 1, "title_row", "表头上方的标题行，不是站点") if any(_texts(cells.iloc[r])) else
                       (r + 1, "blank_row", "空行"))
    body = cells.iloc[last + 1:].copy()
    body.columns = headers
    kept, rows, rest = split_rows(body, first_row=last + 2, key_cols=key_columns(headers, mapped))
    return FoundTable(headers=headers, cells=kept, rows=rows, header_rows=[u + 1 for u in used],
                      skipped=skipped + rest, score=score)


def _flatten(rec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects of a JSON record as ``outer.inner`` keys; a two-number list kept as one cell."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v):
            out[key] = f"{v[0]},{v[1]}"
        elif isinstance(v, list):
            out[key] = "、".join(str(x) for x in v)
        else:
            out[key] = v
    return out


def find_json_records(data: Any, *, target: Callable[[str], str | None],
                      max_depth: int = 4) -> tuple[list[dict[str, Any]], str]:
    """The list of station records inside a JSON document, wherever it is: the list of objects whose
    keys name the most station fields (then the longest). Returns the records (nested objects flattened)
    and where they were found (``data.stations``; ``""`` for the document itself)."""
    found: list[tuple[int, int, str, list[dict[str, Any]]]] = []

    def visit(node: Any, path: str, depth: int) -> None:
        if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
            sample = [_flatten(x) for x in node[:50]]
            keys = {k for rec in sample for k in rec}
            s = _score(sorted(keys), lambda h: target(h) or target(h.rsplit(".", 1)[-1]))
            found.append((s, len(node), path, node))
        if depth >= max_depth:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, f"{path}.{k}" if path else str(k), depth + 1)

    visit(data, "", 0)
    if not found:
        raise ValueError("JSON 文件里没有找到站点记录的列表（一组带名称和坐标的对象）")
    _, _, path, records = max(found, key=lambda f: (f[0], f[1]))
    return [_flatten(x) for x in records], path
