"""geomap.network.geojson_text: compiled GeoJSON LineString text against numpy rounding + the json module."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from geomap.network.geojson_text import MAX_ABS, linestring_json, point_texts, write_linestrings

coords_ = arrays(np.float64, st.tuples(st.integers(0, 12), st.just(2)),
                 elements=st.floats(-MAX_ABS, MAX_ABS, exclude_min=True, exclude_max=True, allow_nan=False))


@settings(max_examples=400, deadline=None)
@given(xy=coords_, decimals=st.integers(0, 9))
def test_text_parses_to_the_numpy_rounded_numbers(xy: np.ndarray, decimals: int) -> None:
    """Each number parses back to exactly ``np.round(x, decimals)`` (an independent rounding), as a float."""
    got = json.loads(linestring_json(xy, decimals=decimals))
    assert got["type"] == "LineString"
    want = np.round(xy, decimals)
    assert len(got["coordinates"]) == len(want)
    for (gx, gy), (wx, wy) in zip(got["coordinates"], want.tolist(), strict=True):
        assert isinstance(gx, float) and isinstance(gy, float)
        assert (gx, gy) == (wx, wy)


@settings(max_examples=200, deadline=None)
@given(xy=arrays(np.float64, st.tuples(st.integers(1, 8), st.just(2)),
                 elements=st.floats(73, 136, allow_nan=False)), decimals=st.integers(5, 8))
def test_degrees_are_written_as_orjson_writes_the_rounded_floats(xy: np.ndarray, decimals: int) -> None:
    """For coordinates in degrees the text is byte for byte what orjson writes for the rounded floats
    (the service's answer does not change with the writer)."""
    want = orjson.dumps({"type": "LineString", "coordinates": np.round(xy, decimals)},
                        option=orjson.OPT_SERIALIZE_NUMPY)
    assert linestring_json(xy, decimals=decimals) == want


def test_special_values_and_limits() -> None:
    text = linestring_json(np.array([[121.0, -0.05], [0.0, 1e-7], [np.nan, 5.5], [-179.99999995, np.inf]]),
                           decimals=7)
    assert text == (b'{"type":"LineString","coordinates":[[121.0,-0.05],[0.0,0.0000001],[null,5.5],'
                    b'[-180.0,null]]}')
    assert linestring_json(np.zeros((0, 2)), decimals=7) == b'{"type":"LineString","coordinates":[]}'
    with pytest.raises(ValueError, match="decimals must be between 0 and 9"):
        linestring_json(np.zeros((1, 2)), decimals=10)
    with pytest.raises(ValueError, match="below 1e\\+06"):
        linestring_json(np.array([[2e6, 0.0]]), decimals=3)


@settings(max_examples=100, deadline=None)
@given(xy=coords_, decimals=st.integers(0, 9), data=st.data())
def test_copied_vertex_text_equals_written_text(xy: np.ndarray, decimals: int, data: st.DataObject) -> None:
    """Routes mixing vertices (text copied from :func:`point_texts`) and other points (written) give the
    same text as writing every point, split into pieces at the given ends."""
    rows, lens = point_texts(xy[:, 0], xy[:, 1], decimals=decimals)
    for i in range(len(xy)):
        assert json.loads(rows[i, :lens[i]].tobytes()) == np.round(xy[i], decimals).tolist()
    n = len(xy)
    is_vertex = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    pts = np.column_stack([xy, np.where(is_vertex, np.arange(n), -1).astype(float)])
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    ends = np.array([*cuts, n], dtype=np.int64)
    text, text_ends = write_linestrings(pts, ends, rows, lens, 10.0 ** decimals, decimals)
    text = text.tobytes()
    starts = [0, *text_ends[:-1].tolist()]
    pieces = [text[a:b] for a, b in zip(starts, text_ends.tolist(), strict=True)]
    row_starts = [0, *ends[:-1].tolist()]
    assert pieces == [linestring_json(xy[a:b], decimals=decimals)
                      for a, b in zip(row_starts, ends.tolist(), strict=True)]
