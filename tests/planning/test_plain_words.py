"""Planner outputs in plain words: places named by their streets, demand weighted in stated resident
equivalents, shares that never claim what was not measured, tables for people rounded as people write them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geomap.network.graph import StreetGraph
from geomap.planning.coverage import pct
from geomap.planning.naming import street_namer
from geomap.planning.weights import DEFAULT_PICKUP_WEIGHT, demand_weights
from tests._workspaces import need_sample

# about 100 m per 0.001° of longitude at 31° N, 111 m per 0.001° of latitude
LON0, LAT0 = 121.50, 31.30


def _cross() -> StreetGraph:
    """国和路 east-west through node 1, 政立路 north-south through node 1, an unnamed lane from node 2 east,
    and 长路 (long, named) far to the north."""
    lon = [LON0, LON0 + 0.002, LON0 + 0.004, LON0 + 0.002, LON0 + 0.002, LON0 + 0.008, LON0, LON0 + 0.004]
    lat = [LAT0, LAT0, LAT0, LAT0 - 0.002, LAT0 + 0.002, LAT0, LAT0 + 0.01, LAT0 + 0.01]
    g = StreetGraph.from_arrays(node_lon=lon, node_lat=lat, edge_u=[0, 1, 3, 1, 2, 6], edge_v=[1, 2, 1, 4, 5, 7])
    g.street_way_id[:] = [10, 10, 20, 20, 30, 40]
    return g


NAMES = {10: "国和路", 20: "政立路", 40: "长路"}  # way 30 (the lane) has no name


def test_a_place_is_named_by_its_nearest_named_junction_else_its_nearest_named_road() -> None:
    namer = street_namer(_cross(), NAMES)
    lon = [LON0 + 0.0021, LON0 + 0.007, LON0 + 0.002, LON0 + 0.03]
    lat = [LAT0 + 0.0003, LAT0 + 0.0004, LAT0 + 0.0085, LAT0 + 0.03]
    got = namer.describe(lon, lat)
    assert got[0] == "政立路与国和路交叉口附近"  # 35 m from the crossing; 政立路 (444 m) before 国和路 (380 m)
    assert got[1] == "国和路附近"  # 500 m east of the crossing, 50 m from the lane's end: the lane has no name
    assert got[2] == "长路附近"  # 170 m south of 长路, which meets no other named road
    assert got[3] is None  # kilometres from every named road
    # the crossing names places up to 200 m from it (straight line): 100 m west of 政立路 and 190 / 210 m
    # from the crossing, the nearer is told by the crossing, the farther by its nearest road
    m_lat = 1.0 / 110_900.0
    m_lon = 1.0 / (111_320.0 * math.cos(math.radians(LAT0)))
    north = [math.sqrt(d * d - 100.0**2) for d in (190.0, 210.0)]
    near, far = namer.describe([LON0 + 0.002 - 100 * m_lon] * 2, [LAT0 + n * m_lat for n in north])
    assert near == "政立路与国和路交叉口附近"
    assert far == "政立路附近"


def test_a_junction_of_three_names_takes_the_two_longest_roads() -> None:
    # 甲路 (long) and 乙路 (medium) and 丙路 (short) meet at node 0
    lon = [LON0, LON0 + 0.01, LON0, LON0 - 0.001]
    lat = [LAT0, LAT0, LAT0 + 0.005, LAT0]
    g = StreetGraph.from_arrays(node_lon=lon, node_lat=lat, edge_u=[0, 0, 0], edge_v=[1, 2, 3])
    g.street_way_id[:] = [1, 2, 3]
    namer = street_namer(g, {1: "甲路", 2: "乙路", 3: "丙路"})
    assert namer.describe([LON0 - 0.0005], [LAT0 + 0.0002]) == ["甲路与乙路交叉口附近"]


def test_shares_never_round_to_all_or_nothing_when_they_are_not() -> None:
    assert pct(0.621) == "62.1%" and pct(1.0) == "100.0%" and pct(0.0) == "0.0%"
    assert pct(0.99996) == ">99.9%" and pct(0.00004) == "<0.1%"
    assert pct(math.nan) == "无数据"


def test_weights_are_stated_in_resident_equivalents() -> None:
    w = demand_weights(["residents", "restaurants", "orders"], weights={"orders": 2.0})
    assert (w.of("residents"), w.of("restaurants"), w.of("orders")) == (1.0, DEFAULT_PICKUP_WEIGHT, 2.0)
    assert not w.stated and "每个餐饮取餐点折合 500 名常住人口（默认值）" in w.explain({"restaurants": "餐饮取餐点"})
    w2 = demand_weights(["residents", "restaurants"], pickup_weight=50)
    assert w2.stated and w2.of("restaurants") == 50 and "（默认值）" not in w2.explain()
    with pytest.raises(ValueError, match="must be a number >= 0"):
        demand_weights(["x"], weights={"x": -1})


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    from geomap.workspace import open_workspace

    ws = open_workspace(need_sample())
    return ws, ws.study()


@pytest.mark.realdata
def test_gap_score_is_residents_plus_weighted_pickups_and_the_default_ranks_people_first(sample) -> None:  # type: ignore[no-untyped-def]
    """Issue 20's case: a cell with 0 residents and 2 restaurants ranked above one of 10,031 residents."""
    ws, study = sample
    res = study.coverage(ws.registry.index, mode="walk", kind="canteen", with_area=False)
    grid = study.gaps(ws.registry.index, mode="walk", kind="canteen", result=res)
    np.testing.assert_allclose(grid["demand"], grid["residents"] + DEFAULT_PICKUP_WEIGHT * grid["restaurants"])
    unc = grid[grid["gap_rank"].notna()]
    crowd = unc[unc["residents"] > 10_000].iloc[0]
    eatery = unc[(unc["residents"] == 0) & (unc["restaurants"] == 2)].iloc[0]
    assert crowd["gap_rank"] < eatery["gap_rank"]
    # the planner can say otherwise: at 6,000 residents per pickup point the two restaurants come first
    heavy = study.gaps(ws.registry.index, mode="walk", kind="canteen", result=res, pickup_weight=6000)
    ranks = heavy.set_index("h3")["gap_rank"]
    assert ranks[eatery["h3"]] < ranks[crowd["h3"]]
    # a cell whose 街道 has no census figure says so
    missing = set(study.layer("residents").missing)
    assert missing and (grid["unmeasured"] == "常住人口").to_numpy().tolist() == grid["subdistrict"].isin(
        missing).to_numpy().tolist()


@pytest.mark.realdata
def test_headline_share_is_over_measured_subdistricts_and_names_the_others(sample) -> None:  # type: ignore[no-untyped-def]
    ws, study = sample
    res = study.coverage(ws.registry.index, mode="ebike", with_area=False)
    lay = study.layer("residents")
    assert set(lay.missing) == {"曲阳路街道", "江湾镇街道"}
    assert res.share("residents") == 1.0  # every measured resident is within reach …
    summary = res.summary()
    # … and the headline says over which 街道 that holds
    assert "常住人口的 100.0%（不含没有常住人口数字的曲阳路街道、江湾镇街道）" in summary
    rows = res.table.set_index("subdistrict")
    for sd in lay.missing:
        assert math.isnan(rows.loc[sd, "residents"]) and math.isnan(rows.loc[sd, "residents_share"])
    assert rows.loc["合计", "residents"] == pytest.approx(lay.total)


@pytest.mark.realdata
def test_people_tables_round_like_people_and_keep_missing_missing(sample) -> None:  # type: ignore[no-untyped-def]
    from geomap.planning.tables import coverage_table_zh, plan_table_zh

    ws, study = sample
    res = study.coverage(ws.registry.index, mode="walk", kind="canteen", with_area=False)
    people = coverage_table_zh(res).set_index("街道")
    for rec in res.table.to_dict("records"):
        got = people.loc[rec["subdistrict"]]
        if math.isnan(rec["residents"]):
            assert got["常住人口（人）"] == "无数据" and "人口普查表中没有该街道的数字" in got["说明"]
        else:
            assert got["常住人口（人）"] == int(np.floor(rec["residents"] + 0.5))
            assert got["常住人口覆盖率"] == f"{100 * rec['residents_share']:.1f}%"
        assert got["餐饮取餐点覆盖率"] == ("—" if rec["restaurants"] == 0 else f"{100 * rec['restaurants_share']:.1f}%")
    plan = study.plan(ws.registry.index, p=2, mode="walk", kind="canteen", result=res)
    table = plan_table_zh(plan, res)
    assert table["新增覆盖常住人口（人）"].tolist() == [int(np.floor(v + 0.5)) for v in plan.table["residents_new"]]
    assert all(("交叉口附近" in a or a.endswith("附近") or a.startswith("待定")) for a in table["地址"])
