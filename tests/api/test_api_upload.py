"""Uploads to `POST /stations/import` (issue 18, bounded reports): an upload over 50 MB is refused with 413
without being read to its end; a hopeless file's answer is capped, says where checking stopped and names no
server folder; a mixed file with ``skip_invalid`` imports exactly its valid rows."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from geomap.api import admin, create_app
from geomap.api.state import ServiceState
from geomap.stations.registry import Registry
from geomap.stations.schema import MAX_LISTED_PER_CODE
from geomap.stations.validate import STOP_MIN_BAD
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
TOKEN = "upload-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEMP_MARK = "geomap-import-"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> ServiceState:
    return ServiceState.load(sample_workspace(tmp_path_factory.mktemp("upload"), admin_token=TOKEN))


@pytest.fixture(scope="module")
def client(state) -> TestClient:
    return TestClient(create_app(state))


def _asgi_post(app: Any, body_blocks: Any, *, declared: int | None, token: str | None = TOKEN
               ) -> tuple[int, bytes, int]:
    """POST /stations/import to ``app`` as ASGI, the body given block by block as the app asks for it.
    Returns the status, the answer and how many body bytes the app took."""
    boundary = "geomapboundary"
    headers = [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/stations/import", "raw_path": b"/stations/import", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    blocks = iter([head, *body_blocks])
    taken, sent = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal taken
        block = next(blocks, None)
        if block is None:
            return {"type": "http.request", "body": f"\r\n--{boundary}--\r\n".encode(), "more_body": False}
        taken += len(block)
        return {"type": "http.request", "body": block, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), taken


def test_upload_without_the_token_refused_before_it_is_read(state):
    """A client that may not import gets 401 before one byte of its file is taken (nothing stored)."""
    app = create_app(state)
    for token in (None, "wrong"):
        status, answer, taken = _asgi_post(app, (b"x" * MB for _ in range(10)), declared=10 * MB, token=token)
        assert status == 401 and b"bad_token" in answer and taken == 0


def test_upload_over_50_mb_refused_before_it_is_read(state):
    app = create_app(state)
    n0 = len(Registry(state.registry.path))
    # a declared length over the limit: refused before one byte of the body is taken
    status, answer, taken = _asgi_post(app, (b"x" * MB for _ in range(200)), declared=200 * MB)
    assert status == 413 and b"too_large" in answer and "50 MB" in answer.decode() and taken == 0
    # no declared length (a chunked upload) of 200 MB: refused once the body passes the limit
    status, answer, taken = _asgi_post(app, (b"x" * MB for _ in range(200)), declared=None)
    assert status == 413 and b"too_large" in answer
    assert admin.MAX_UPLOAD_BYTES < taken <= admin.MAX_IMPORT_BODY_BYTES + MB < 200 * MB
    assert len(Registry(state.registry.path)) == n0


class _Endless(io.RawIOBase):
    """A file that never ends (zeros), counting what was read of it."""

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        b[:] = bytes(len(b))
        self.taken += len(b)
        return len(b)


def test_saving_an_upload_stops_as_soon_as_it_passes_50_mb(tmp_path, client, state):
    src = _Endless()
    assert admin._save_upload(src, tmp_path / "endless.csv") is False
    assert admin.MAX_UPLOAD_BYTES < src.taken <= admin.MAX_UPLOAD_BYTES + admin.UPLOAD_BLOCK_BYTES
    # through the service: a file one byte over 50 MB (its request within the body limit) is a 413
    before = Registry(state.registry.path).frame()
    data = b"x" * (admin.MAX_UPLOAD_BYTES + 1)
    r = client.post("/stations/import", files={"file": ("big.csv", data, "text/csv")}, headers=AUTH)
    assert r.status_code == 413 and r.json()["detail"]["code"] == "too_large"
    pd.testing.assert_frame_equal(Registry(state.registry.path).frame(), before)


def _bad_csv(n: int) -> bytes:
    rows = [f"B{i},坏驿站{i},工会驿站,淞沪路{i}号,东经121度半,31.30,24小时" for i in range(n)]
    return ("编号,名称,类型,地址,经度,纬度,开放时间\n" + "\n".join(rows) + "\n").encode("utf-8")


def test_hopeless_upload_answer_is_capped_says_it_stopped_and_names_no_folder(client, state):
    before = Registry(state.registry.path).frame()
    for skip in ("false", "true"):
        r = client.post("/stations/import", files={"file": ("坏名单.csv", _bad_csv(60_000), "text/csv")},
                        data={"crs": "gcj02", "skip_invalid": skip}, headers=AUTH)
        assert r.status_code == 422
        rep = r.json()
        assert rep["ok"] is False and rep["imported"] == 0 and rep["records"] == STOP_MIN_BAD
        assert rep["errors"] == STOP_MIN_BAD + 1 and rep["omitted"] == {"bad_coordinate": STOP_MIN_BAD - 50}
        codes = pd.Series([p["code"] for p in rep["problems"]]).value_counts().to_dict()
        assert codes == {"bad_coordinate": MAX_LISTED_PER_CODE, "too_many_errors": 1}
        [stop] = [p for p in rep["problems"] if p["code"] == "too_many_errors"]
        assert stop["row"] == -1 and stop["message"].startswith("错误过多：检查了前 1,000 条记录（到第 1001 行）后停止")
        assert "请先改正这些问题" in rep["message"] and "坏名单.csv" in rep["message"]
        assert TEMP_MARK not in r.text and "/tmp" not in r.text and len(r.content) < 50_000
    pd.testing.assert_frame_equal(Registry(state.registry.path).frame(), before)


def test_unreadable_upload_names_no_folder_in_answer_or_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="geomap.api"):
        r = client.post("/stations/import", files={"file": ("名单.gpkg", b"not a geopackage", "application/x-sqlite3")},
                        headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "unreadable_file"
    assert "名单.gpkg" in caplog.text  # the log says which upload …
    assert TEMP_MARK not in r.text and TEMP_MARK not in caplog.text  # … never where the server kept it


def test_mixed_upload_with_skip_invalid_imports_exactly_its_valid_rows(client, state):
    """300 stations around 五角场 (GCJ-02, 100 m apart) with 3 bad rows: refused without skip_invalid, with it
    the 297 others written and the 3 rows named."""
    bad = {7: "经度", 150: "名称", 299: "类型"}
    rows = []
    for i in range(300):
        lon, lat = f"{121.500 + (i % 20) * 0.001:.6f}", f"{31.290 + (i // 20) * 0.001:.6f}"
        name, kind = f"混合测试驿站{i}", "工会驿站"
        if bad.get(i) == "经度":
            lon = "abc"
        if bad.get(i) == "名称":
            name = ""
        if bad.get(i) == "类型":
            kind = "不存在的类型"
        rows.append(f"MIX{i},{name},{kind},{lon},{lat}")
    data = ("编号,名称,类型,经度,纬度\n" + "\n".join(rows) + "\n").encode("utf-8")
    before = Registry(state.registry.path).frame()
    r = client.post("/stations/import", files={"file": ("mixed.csv", data, "text/csv")}, data={"crs": "gcj02"},
                    headers=AUTH)
    assert r.status_code == 422
    assert sorted((p["row"], p["code"]) for p in r.json()["problems"] if p["severity"] == "error") == [
        (9, "bad_coordinate"), (152, "missing_name"), (301, "unknown_kind")]
    pd.testing.assert_frame_equal(Registry(state.registry.path).frame(), before)
    r = client.post("/stations/import", files={"file": ("mixed.csv", data, "text/csv")},
                    data={"crs": "gcj02", "skip_invalid": "true"}, headers=AUTH)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["imported"] == rep["added"] == 297 and rep["skipped_rows"] == [9, 152, 301]
    assert rep["skipped_count"] == 3 and rep["stations"] == len(before) + 297
    stored = Registry(state.registry.path).frame()
    assert set(stored["id"]) - set(before["id"]) == {f"MIX{i}" for i in range(300) if i not in bad}
    for i in range(300):
        assert (client.get(f"/stations/MIX{i}").status_code == 200) == (i not in bad)
