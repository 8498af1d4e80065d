"""Opening hours: parsing what unions write, OSM output and read-back, open-at checks (one and many)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from geomap.stations.hours import ALL_DAYS, HoursTable, OpeningHours, local_weekday_minute, parse_hours, parse_osm

# 2026-11-23 is a Monday (checked in test_reference_monday); day offsets below count from it.
MONDAY = datetime(2026, 11, 23)
MO, TU, WE, TH, FR, SA, SU = range(7)


def at(day: int, hhmm: str) -> datetime:
    """Naive local (Asia/Shanghai) datetime on weekday ``day`` (0 = Monday) of the reference week."""
    h, m = (int(x) for x in hhmm.split(":"))
    return MONDAY + timedelta(days=day, hours=h, minutes=m)


def test_reference_monday():
    assert MONDAY.weekday() == 0
    assert at(SA, "10:00").weekday() == 5


# --- parsing: text -> rules (days mask bit 0 = Monday, minutes from midnight) -----------------------------

WEEKDAYS = 0b0011111  # Mo-Fr
SAT, SUN = 1 << 5, 1 << 6


@pytest.mark.parametrize("text", ["24小时", "全天", "7×24小时", "24小时开放", "24/7", "0:00-24:00"])
def test_always_open(text):
    h = parse_hours(text)
    assert h is not None
    assert h.rules == ((ALL_DAYS, 0, 1440),)
    assert h.always_open
    assert h.to_osm() == "24/7"
    assert h.is_open(at(SU, "03:17")) and h.is_open(at(WE, "23:59")) and h.is_open(at(MO, "00:00"))


@pytest.mark.parametrize(("text", "rules", "osm"), [
    ("9:00-20:30", ((ALL_DAYS, 540, 1230),), "09:00-20:30"),
    ("8:30-11:00, 13:00-17:00", ((ALL_DAYS, 510, 660), (ALL_DAYS, 780, 1020)), "08:30-11:00,13:00-17:00"),
    ("周一至周五8:30-17:00", ((WEEKDAYS, 510, 1020),), "Mo-Fr 08:30-17:00"),
    ("22:00-06:00", ((ALL_DAYS, 1320, 1800),), "22:00-06:00"),
    ("22:00-次日6:00", ((ALL_DAYS, 1320, 1800),), "22:00-06:00"),
    ("上午8:30-11:30 下午1:30-5:00", ((ALL_DAYS, 510, 690), (ALL_DAYS, 810, 1020)), "08:30-11:30,13:30-17:00"),
    ("８：３０－１７：００", ((ALL_DAYS, 510, 1020),), "08:30-17:00"),
    ("周六、周日 9:00-12:00", ((SAT | SUN, 540, 720),), "Sa,Su 09:00-12:00"),
    ("周一至周五8:30-17:00，周六9:00-12:00", ((WEEKDAYS, 510, 1020), (SAT, 540, 720)),
     "Mo-Fr 08:30-17:00; Sa 09:00-12:00"),
    ("周一至周五 22:00-06:00", ((WEEKDAYS, 1320, 1800),), "Mo-Fr 22:00-06:00"),
    ("工作日9:00-18:00", ((WEEKDAYS, 540, 1080),), "Mo-Fr 09:00-18:00"),
    ("周末10:00-16:00", ((SAT | SUN, 600, 960),), "Sa,Su 10:00-16:00"),
    ("8点-17点", ((ALL_DAYS, 480, 1020),), "08:00-17:00"),
    ("下午2点半-5点", ((ALL_DAYS, 870, 1020),), "14:30-17:00"),
    ("早8:00-晚8:00", ((ALL_DAYS, 480, 1200),), "08:00-20:00"),
    ("8:30~17:00", ((ALL_DAYS, 510, 1020),), "08:30-17:00"),
    ("9：00—17：00", ((ALL_DAYS, 540, 1020),), "09:00-17:00"),
    ("周五至周一 9:00-10:00", ((0b1110001, 540, 600),), "Mo,Fr-Su 09:00-10:00"),
    ("周一至周五8:30-17:00（节假日除外）", ((WEEKDAYS, 510, 1020),), "Mo-Fr 08:30-17:00"),
    ("周一至周五 8:30-11:00, 13:00-17:00", ((WEEKDAYS, 510, 660), (WEEKDAYS, 780, 1020)),
     "Mo-Fr 08:30-11:00,13:00-17:00"),
])
def test_parse_rules_and_osm(text, rules, osm):
    h = parse_hours(text)
    assert h is not None, text
    assert h.rules == rules
    assert not h.always_open
    assert h.to_osm() == osm
    assert parse_osm(osm) == h


@pytest.mark.parametrize("text", ["看情况", "预约开放", "", "   ", None, "nan", "9:00-12:00 看情况", "25:00-26:00",
                                  "周一至周五8:30-17:00，周六休息"])
def test_unparseable_is_none(text):
    assert parse_hours(text) is None


def test_parse_osm_of_nothing():
    assert parse_osm(None) is None
    assert parse_osm("") is None
    assert parse_osm("24/7") == OpeningHours(((ALL_DAYS, 0, 1440),))


# --- is_open on the cases unions actually write --------------------------------------------------------

def test_plain_range_edges():
    h = parse_hours("9:00-20:30")
    assert not h.is_open(at(TU, "08:59"))
    assert h.is_open(at(TU, "09:00"))
    assert h.is_open(at(TU, "20:29"))
    assert not h.is_open(at(TU, "20:30"))  # the end minute is closed


def test_split_day_lunch_break():
    h = parse_hours("8:30-11:00, 13:00-17:00")
    assert h.is_open(at(WE, "10:59"))
    assert not h.is_open(at(WE, "11:00"))
    assert not h.is_open(at(WE, "12:30"))
    assert h.is_open(at(WE, "13:00"))
    assert not h.is_open(at(WE, "17:00"))


def test_weekdays_only():
    h = parse_hours("周一至周五8:30-17:00")
    assert h.is_open(at(FR, "10:00"))
    assert h.is_open(at(MO, "08:30"))
    assert not h.is_open(at(SA, "10:00"))
    assert not h.is_open(at(SU, "10:00"))
    assert not h.is_open(at(FR, "17:00"))


@pytest.mark.parametrize("text", ["22:00-06:00", "22:00-次日6:00"])
def test_midnight_crossing(text):
    h = parse_hours(text)
    assert h.is_open(at(TU, "23:00"))
    assert h.is_open(at(WE, "05:59"))
    assert not h.is_open(at(WE, "06:00"))
    assert not h.is_open(at(TU, "21:59"))
    assert h.is_open(at(TU, "22:00"))


def test_midnight_crossing_weekdays_spills_into_saturday_only():
    h = parse_hours("周一至周五 22:00-06:00")
    assert h.is_open(at(SA, "02:00"))       # Friday night continues into Saturday morning
    assert not h.is_open(at(SU, "02:00"))   # no Saturday night
    assert not h.is_open(at(MO, "02:00"))   # no Sunday night
    assert h.is_open(at(TU, "02:00"))       # Monday night
    assert not h.is_open(at(SA, "22:30"))


def test_sunday_night_spills_into_monday():
    h = parse_osm("Su 22:00-06:00")
    assert h.is_open(at(MO, "05:00"))
    assert not h.is_open(at(TU, "05:00"))


def test_am_pm():
    h = parse_hours("上午8:30-11:30 下午1:30-5:00")
    assert h.is_open(at(TH, "13:30"))
    assert h.is_open(at(TH, "16:59"))
    assert not h.is_open(at(TH, "01:30"))   # "1:30" is in the afternoon, not the night
    assert not h.is_open(at(TH, "12:00"))


def test_weekdays_and_saturday_morning():
    h = parse_hours("周一至周五8:30-17:00，周六9:00-12:00")
    assert h.is_open(at(WE, "16:00"))
    assert h.is_open(at(SA, "11:00"))
    assert not h.is_open(at(SA, "13:00"))
    assert not h.is_open(at(SU, "10:00"))


def test_weekend_only():
    h = parse_hours("周六、周日 9:00-12:00")
    assert h.is_open(at(SA, "09:00")) and h.is_open(at(SU, "11:59"))
    assert not h.is_open(at(FR, "10:00"))


# --- OSM round trip ------------------------------------------------------------------------------------

ROUND_TRIP_TEXTS = [
    "24小时", "9:00-20:30", "8:30-11:00, 13:00-17:00", "周一至周五8:30-17:00", "22:00-06:00",
    "上午8:30-11:30 下午1:30-5:00", "周六、周日 9:00-12:00", "周一至周五8:30-17:00，周六9:00-12:00",
    "周一至周五 22:00-06:00", "周五至周一 9:00-10:00", "18:00-24:00", "周六、周日 0:00-24:00",
]


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_osm_round_trip(text):
    h = parse_hours(text)
    assert parse_osm(h.to_osm()) == h
    assert parse_osm(h.to_osm()).to_osm() == h.to_osm()


def test_osm_round_trip_spans_out_of_order():
    h = parse_hours("13:00-17:00, 8:30-11:00")
    assert parse_osm(h.to_osm()) == h


# --- midnight / noon words ------------------------------------------------------------------------------

def test_evening_twelve_is_midnight():
    h = parse_hours("下午5点-晚上12点")
    assert h is not None
    assert h.rules == ((ALL_DAYS, 1020, 1440),)
    assert not h.is_open(at(WE, "08:00"))


@pytest.mark.parametrize("text", ["全天24小时开放", "每天24小时"])
def test_always_open_combined_phrases(text):
    h = parse_hours(text)
    assert h is not None and h.always_open


# --- many stations at once: HoursTable vs is_open vs a brute-force minute-of-week table -----------------

# (text, hand-written rules: (weekdays, "HH:MM", "HH:MM")) -- written from the text, not from the parser.
HAND = [
    ("24小时", [(range(7), "00:00", "24:00")]),
    ("9:00-20:30", [(range(7), "09:00", "20:30")]),
    ("8:30-11:00, 13:00-17:00", [(range(7), "08:30", "11:00"), (range(7), "13:00", "17:00")]),
    ("周一至周五8:30-17:00", [(range(5), "08:30", "17:00")]),
    ("22:00-06:00", [(range(7), "22:00", "06:00")]),
    ("周一至周五 22:00-06:00", [(range(5), "22:00", "06:00")]),
    ("上午8:30-11:30 下午1:30-5:00", [(range(7), "08:30", "11:30"), (range(7), "13:30", "17:00")]),
    ("周六、周日 9:00-12:00", [((5, 6), "09:00", "12:00")]),
    ("周一至周五8:30-17:00，周六9:00-12:00", [(range(5), "08:30", "17:00"), ((5,), "09:00", "12:00")]),
    ("看情况", None),
    ("周日 20:00-02:00", [((6,), "20:00", "02:00")]),
    ("周五至周一 9:00-10:00", [((4, 5, 6, 0), "09:00", "10:00")]),
]
WEEK_MIN = 7 * 1440


def _brute_force_week(rules) -> np.ndarray | None:
    """Boolean array over the 10080 minutes of a week (Monday 00:00 = 0): open or not."""
    if rules is None:
        return None
    week = np.zeros(WEEK_MIN, dtype=bool)
    for days, s_txt, e_txt in rules:
        s = int(s_txt[:2]) * 60 + int(s_txt[3:])
        e = int(e_txt[:2]) * 60 + int(e_txt[3:])
        if e <= s:
            e += 1440
        for d in days:
            for minute in range(d * 1440 + s, d * 1440 + e):
                week[minute % WEEK_MIN] = True
    return week


def _random_times(n: int, seed: int) -> list[datetime]:
    rng = np.random.default_rng(seed)
    minutes = rng.integers(0, WEEK_MIN, n)
    # every rule edge minute too (both sides), so that off-by-one errors cannot hide
    edges = [d * 1440 + m for d in range(7) for m in (0, 359, 360, 510, 539, 540, 600, 660, 719, 720, 1019, 1020,
                                                      1200, 1230, 1319, 1320, 1439)]
    return [MONDAY + timedelta(minutes=int(m)) for m in [*minutes, *edges]]


def test_table_matches_is_open_and_brute_force():
    hours = [parse_hours(t) for t, _ in HAND]
    brute = [_brute_force_week(r) for _, r in HAND]
    assert [h is None for h in hours] == [b is None for b in brute]
    table = HoursTable.from_hours(hours)
    assert table.known.tolist() == [h is not None for h in hours]
    for t in _random_times(600, seed=7):
        minute_of_week = t.weekday() * 1440 + t.hour * 60 + t.minute
        mask = table.open_mask(t)
        single = [h.is_open(t) if h is not None else False for h in hours]
        expect = [bool(b[minute_of_week]) if b is not None else False for b in brute]
        assert mask.tolist() == single == expect, t


def test_table_aware_datetimes_match_local():
    hours = [parse_hours(t) for t, _ in HAND]
    table = HoursTable.from_hours(hours)
    for t in _random_times(100, seed=11):
        utc = (t - timedelta(hours=8)).replace(tzinfo=UTC)  # the same instant, written in UTC
        assert table.open_mask(utc).tolist() == table.open_mask(t).tolist()
        assert [h.is_open(utc) for h in hours if h] == [h.is_open(t) for h in hours if h]


def test_table_unknown_and_empty():
    table = HoursTable.from_hours([None, None])
    assert table.known.tolist() == [False, False]
    assert table.open_mask(at(MO, "10:00")).tolist() == [False, False]
    assert HoursTable.from_hours([]).open_mask(at(MO, "10:00")).shape == (0,)


# --- time zone --------------------------------------------------------------------------------------------

def test_utc_instant_is_shanghai_local_time():
    t = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)   # Monday 09:30 in Asia/Shanghai (UTC+8)
    assert local_weekday_minute(t) == (0, 9 * 60 + 30)
    assert parse_hours("周一 9:00-10:00").is_open(t)
    assert not parse_hours("周二 9:00-10:00").is_open(t)
    assert not parse_hours("9:40-10:00").is_open(t)
    table = HoursTable.from_hours([parse_hours("周一 9:00-10:00"), parse_hours("周日 9:00-10:00")])
    assert table.open_mask(t).tolist() == [True, False]


def test_utc_sunday_evening_is_monday_in_shanghai():
    t = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Sunday 16:30 UTC = Monday 00:30 local
    assert local_weekday_minute(t) == (0, 30)
    assert local_weekday_minute(t, tz="UTC") == (6, 16 * 60 + 30)
    h = parse_hours("周一 0:00-1:00")
    assert h.is_open(t)
    assert not h.is_open(t, tz="UTC")


def test_naive_is_local():
    assert local_weekday_minute(datetime(2026, 11, 23, 9, 30)) == (0, 570)


# --- when a closed station opens next (hand-computed; 2026-11-23 is a Monday) -----------------------------

@pytest.mark.parametrize(("osm", "when", "expected"), [
    ("Mo-Fr 08:30-17:00", "2026-11-28T20:00", "2026-11-30T08:30:00+08:00"),   # Saturday evening -> Monday
    ("Mo-Fr 08:30-17:00", "2026-11-27T17:00", "2026-11-30T08:30:00+08:00"),   # Friday at closing time
    ("Mo-Fr 08:30-17:00", "2026-11-25T07:59", "2026-11-25T08:30:00+08:00"),   # Wednesday before opening
    ("Mo-Fr 08:30-17:00", "2026-11-25T10:00", None),                          # open
    ("08:30-11:00,13:00-17:00", "2026-11-24T11:00", "2026-11-24T13:00:00+08:00"),  # lunch break
    ("08:30-11:00,13:00-17:00", "2026-11-24T17:30", "2026-11-25T08:30:00+08:00"),  # evening -> tomorrow
    ("22:00-06:00", "2026-11-23T06:00", "2026-11-23T22:00:00+08:00"),        # night station, morning
    ("22:00-06:00", "2026-11-23T05:59", None),                                # Sunday night's spell
    ("Mo-Fr 22:00-06:00", "2026-11-28T05:00", None),                          # Friday night into Saturday
    ("Mo-Fr 22:00-06:00", "2026-11-28T07:00", "2026-11-30T22:00:00+08:00"),   # Saturday -> Monday night
    ("Mo 09:00-10:00", "2026-11-23T10:00", "2026-11-30T09:00:00+08:00"),      # a whole week round
    ("09:00-17:00", "2026-11-29T23:59:45", "2026-11-30T09:00:00+08:00"),     # seconds dropped
    ("Mo-Fr 08:30-17:00", "2026-12-31T18:00", "2027-01-01T08:30:00+08:00"),   # across the year (no holidays)
    ("24/7", "2026-11-28T03:00", None),
])
def test_next_opening_hand_computed(osm, when, expected):
    got = parse_osm(osm).next_opening(datetime.fromisoformat(when))
    assert (None if got is None else got.isoformat()) == expected


def test_next_opening_of_an_instant_is_in_shanghai_time():
    t = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Sunday 16:30 UTC = Monday 00:30 in Shanghai
    assert parse_osm("09:00-17:00").next_opening(t).isoformat() == "2026-11-23T09:00:00+08:00"
    assert parse_osm("09:00-17:00").next_opening(t, tz="UTC") is None  # Sunday 16:30 there: open
    assert OpeningHours(()).next_opening(t) is None  # never opens


def test_next_opening_is_the_first_open_minute_found_by_stepping():
    """Against a minute-by-minute walk with is_open (random rule sets, random moments)."""
    rng = np.random.default_rng(19)
    for _ in range(60):
        rules = []
        for _ in range(rng.integers(1, 4)):
            s = int(rng.integers(0, 1440))
            rules.append((int(rng.integers(1, 128)), s, s + int(rng.integers(1, 1000))))
        h = OpeningHours(tuple(rules))
        t0 = MONDAY + timedelta(minutes=int(rng.integers(0, 7 * 1440)))
        got = h.next_opening(t0)
        if h.is_open(t0):
            assert got is None
            continue
        step = 1
        while not h.is_open(t0 + timedelta(minutes=step)):
            step += 1
        assert got is not None and got.replace(tzinfo=None) == t0 + timedelta(minutes=step)
