"""Kinds and amenities vocabulary: aliases, free-text parsing on the real Anting service texts, bit masks."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from geomap import vocab
from geomap.stations.readers import load_profile

ROOT = Path(__file__).resolve().parent.parent
VOCAB_DIR = ROOT / "geomap" / "vocab"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def anting(anting_json) -> dict:
    return json.loads(anting_json.read_text(encoding="utf-8"))


# Every distinct 服务内容 of the Anting file, with the amenities (in vocabulary order) and unmapped items read
# by hand from the text.
ANTING_SERVICES: dict[str, tuple[list[str], list[str]]] = {
    "公共厕所": (["toilet"], []),
    "免费饮水、休憩、应急物资、如厕": (["water", "rest", "toilet", "first_aid"], []),
    "饮水、手机充电、简易维修工具、垃圾收集": (["water", "phone_charging", "repair_tools"], ["垃圾收集"]),
    "休息室（按摩椅）、饮水、热饭、洗澡、洗衣、充电、应急药品、血压测量、修车工具箱、图书角": (
        ["water", "rest", "phone_charging", "food_heating", "first_aid", "reading", "repair_tools", "shower",
         "laundry", "health_check"], []),
    "骑手12元优惠套餐": (["meals"], []),
    "免费饮水、休憩、如厕": (["water", "rest", "toilet"], []),
    "（对骑士友好店）免费饮水、休憩、如厕": (["water", "rest", "toilet"], []),
    "饮水供给、避暑取暖、餐食加热、手机充电、应急药箱": (
        ["water", "phone_charging", "food_heating", "first_aid", "cooling_heating"], []),
    "饮水供给（茶饮及冷饮）、避暑取暖、餐食加热、手机充电、应急药箱": (
        ["water", "phone_charging", "food_heating", "first_aid", "cooling_heating"], []),
}


def test_anting_service_texts_are_the_ones_derived_by_hand(anting):
    texts = {r["serviceContent"] for r in anting["serviceStations"]}
    assert texts == set(ANTING_SERVICES)


@pytest.mark.parametrize("text", list(ANTING_SERVICES))
def test_parse_amenities_on_anting_texts(anting, text):
    assert text in {r["serviceContent"] for r in anting["serviceStations"]}
    assert vocab.parse_amenities(text) == ANTING_SERVICES[text]


def test_food_heating_is_not_meals():
    keys, unmapped = vocab.parse_amenities("饮水供给、避暑取暖、餐食加热、手机充电、应急药箱")
    assert set(keys) == {"water", "cooling_heating", "food_heating", "phone_charging", "first_aid"}
    assert "meals" not in keys
    assert unmapped == []


def test_anting_type_names_resolve_like_the_profile(anting):
    """The file's own type names (typeConfig) read as kinds agree with the profile's code -> kinds table."""
    prof = load_profile("anting_miniprogram")
    assert set(prof.kinds) == set(anting["typeConfig"])
    for code, cfg in anting["typeConfig"].items():
        assert vocab.parse_kinds(cfg["name"]) == (prof.kinds[code], []), code


def test_parse_amenities_misc():
    assert vocab.parse_amenities(None) == ([], [])
    assert vocab.parse_amenities(float("nan")) == ([], [])
    assert vocab.parse_amenities("") == ([], [])
    assert vocab.parse_amenities("垃圾收集") == ([], ["垃圾收集"])
    assert vocab.parse_amenities("电瓶车充电，手机充电") == (["phone_charging", "ebike_charging"], [])
    assert vocab.parse_amenities("免费WiFi; 微波炉 / 母婴室") == (["food_heating", "wifi", "mother_room"], [])
    assert vocab.parse_amenities("饮水和如厕及打气筒") == (["water", "toilet", "repair_tools"], [])
    assert vocab.parse_amenities("休憩、代收快递、如厕、看报") == (["rest", "toilet"], ["代收快递", "看报"])


def test_electric_bicycle_charging_is_ebike_charging():
    assert vocab.parse_amenities("电动自行车充电") == (["ebike_charging"], [])


def test_split_items():
    assert vocab.split_items("免费饮水、休憩,如厕，热饭;充电；书报/wifi|洗衣 空调和药箱及淋浴") == [
        "免费饮水", "休憩", "如厕", "热饭", "充电", "书报", "wifi", "洗衣", "空调", "药箱", "淋浴"]


def test_find_in_longest_first():
    found, rest = vocab.amenities().find_in("餐食加热")
    assert found == ["food_heating"]
    assert rest == ""
    found, rest = vocab.amenities().find_in("免费饮水供给")
    assert found == ["water"]
    assert "免费" in rest and "供给" in rest


# --- kinds ------------------------------------------------------------------------------------------------

def test_parse_kinds():
    assert vocab.parse_kinds("工会驿站") == (["outdoor_station"], [])
    assert vocab.parse_kinds("工会驿站、爱心食堂") == (["outdoor_station", "canteen"], [])
    assert vocab.parse_kinds("司机之家,休息点") == (["driver_home", "rest_point"], [])
    assert vocab.parse_kinds("司机之家（货车）") == (["driver_home"], [])
    assert vocab.parse_kinds("工会驿站、火星站") == (["outdoor_station"], ["火星站"])
    assert vocab.parse_kinds("火星站") == ([], ["火星站"])
    assert vocab.parse_kinds("驿站、工会驿站") == (["outdoor_station"], [])  # same kind twice -> once
    assert vocab.parse_kinds("  Driver Home ") == (["driver_home"], [])  # whole cell, case-insensitive
    assert vocab.parse_kinds(None) == ([], [])


def test_kinds_from_name():
    assert vocab.kinds_from_name("安亭加油站（司机之家）") == ["driver_home"]
    assert vocab.kinds_from_name("安亭老街职工服务站") == ["outdoor_station"]
    assert vocab.kinds_from_name("五角场爱心驿站") == ["outdoor_station"]
    assert vocab.kinds_from_name("殷行社区食堂") == ["canteen"]
    assert vocab.kinds_from_name("方泰新公厕") == []
    assert vocab.kinds_from_name("吉泰加油站") == []


def test_require():
    assert vocab.kinds().require("工会驿站") == "outdoor_station"
    assert vocab.amenities().require("WATER") == "water"
    with pytest.raises(ValueError, match="outdoor_station"):
        vocab.kinds().require("火星站")


# --- the vocabulary files themselves --------------------------------------------------------------------

@pytest.mark.parametrize("fname", ["kinds.toml", "amenities.toml"])
def test_every_alias_resolves_to_its_own_key(fname):
    raw = tomllib.loads((VOCAB_DIR / fname).read_text(encoding="utf-8"))
    voc = vocab.kinds() if fname == "kinds.toml" else vocab.amenities()
    parse = vocab.parse_kinds if fname == "kinds.toml" else vocab.parse_amenities
    assert list(voc.terms) == list(raw)
    owner: dict[str, str] = {}
    for key, spec in raw.items():
        for alias in [key, spec["label"], *spec.get("aliases", [])]:
            norm = alias.strip().lower()
            assert owner.setdefault(norm, key) == key, f"{alias!r} is listed under {owner[norm]} and {key}"
            assert voc.lookup(alias) == key, alias
            assert parse(alias) == ([key], []), alias


@pytest.mark.parametrize("voc", [vocab.kinds(), vocab.amenities()], ids=["kinds", "amenities"])
def test_labels_are_chinese_and_styles_set(voc):
    for key, term in voc.terms.items():
        assert CJK.search(term.label), key
        assert CJK.search(term.short_label), key
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", term.color), key
        assert term.icon, key


def test_design_keys_present():
    assert vocab.kinds().keys() == ["outdoor_station", "driver_home", "canteen", "rest_point"]
    assert {"water", "rest", "toilet", "phone_charging", "ebike_charging", "food_heating", "meals", "first_aid",
            "cooling_heating", "wifi", "reading", "repair_tools", "shower", "laundry", "truck_parking", "lodging",
            "legal_aid", "health_check", "mother_room"} <= set(vocab.amenities().keys())
    assert vocab.kinds().terms["driver_home"].label == "司机之家"
    assert vocab.amenities().terms["water"].label == "饮水"


def test_bit_masks():
    am = vocab.amenities()
    assert [t.bit for t in am.terms.values()] == list(range(len(am.terms)))
    assert am.mask(["water"]) == 1
    assert am.mask(["water", "toilet"]) == 0b101  # water bit 0, rest bit 1, toilet bit 2
    assert am.keys_of(am.mask(["toilet", "water", "meals"])) == ["water", "toilet", "meals"]
    assert am.keys_of(0) == []
    masks = am.masks([["water"], [], ["rest", "toilet"]])
    assert masks.dtype == np.int64
    assert masks.tolist() == [1, 0, 0b110]
    last = am.keys()[-1]
    assert am.keys_of(am.mask(am.keys())) == am.keys()
    assert am.mask([last]) == 1 << (len(am.terms) - 1)
