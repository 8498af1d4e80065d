"""Opening hours as unions write them, parsed into a structured weekly form.

Understood: ``24小时`` / ``全天`` / ``7×24小时``, ``9:00-20:30``, split days ``8:30-11:00, 13:00-17:00``,
day ranges and lists ``周一至周五8:30-17:00``, ``周六、周日 9:00-12:00``, ``工作日`` / ``周末`` / ``每天``,
``上午8:30-11:30 下午1:30-5:00``, ``8点-17点``, and ranges across midnight ``22:00-06:00`` /
``22:00-次日6:00``. Anything else is *unparseable*: the raw text is kept and reported, never guessed.

The structured form is a tuple of rules ``(days_mask, start_min, end_min)``: ``days_mask`` has bit 0 for
Monday … bit 6 for Sunday, minutes are counted from local midnight (Asia/Shanghai), and ``end_min`` may
exceed 1440 for a range that runs past midnight into the next day. :meth:`OpeningHours.to_osm` writes
the OSM ``opening_hours`` form (a subset of its syntax), which is what the registry stores.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

ALL_DAYS = 0b1111111
_DAY_OSM = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY_CN = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}

Rule = tuple[int, int, int]


@dataclass(frozen=True)
class OpeningHours:
    """Structured weekly opening hours (see module docstring for the rule format)."""

    rules: tuple[Rule, ...]

    @property
    def always_open(self) -> bool:
        return any(d == ALL_DAYS and s == 0 and e >= 1440 for d, s, e in self.rules)

    def to_osm(self) -> str:
        """OSM ``opening_hours`` text, e.g. ``24/7``, ``Mo-Fr 08:30-17:00``, ``22:00-06:00``."""
        if self.always_open:
            return "24/7"
        by_days: dict[int, list[tuple[int, int]]] = {}
        for d, s, e in self.rules:
            by_days.setdefault(d, []).append((s, e))
        parts = []
        for d, spans in by_days.items():
            times = ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in sorted(spans))
            parts.append(times if d == ALL_DAYS else f"{_days_to_osm(d)} {times}")
        return "; ".join(parts)

    def is_open(self, at: datetime, *, tz: str = "Asia/Shanghai") -> bool:
        """Whether open at ``at`` (a naive datetime is taken as local time in ``tz``)."""
        return self.is_open_local(*local_weekday_minute(at, tz=tz))

    def is_open_local(self, weekday: int, minute: int) -> bool:
        """Whether open on local ``weekday`` (0 = Monday) at local ``minute`` of the day."""
        return any(_rule_open(rule, weekday, minute) for rule in self.rules)

    def minutes_to_open_local(self, weekday: int, minute: int) -> int | None:
        """Whole minutes from local ``weekday`` (0 = Monday) at ``minute`` of the day until the station next
        opens: 0 when it is open then, None when it never opens (no rules); at most a week (7 × 1440), the
        rules repeating every week. Closed now, the next opening is the first start of a rule after now
        (any open spell begins at some rule's start)."""
        if not self.rules:
            return None
        if self.is_open_local(weekday, minute):
            return 0
        week = 7 * 1440
        now = weekday * 1440 + minute
        return min((day * 1440 + s - now) % week or week
                   for d, s, _e in self.rules for day in range(7) if d >> day & 1)

    def next_opening(self, at: datetime, *, tz: str = "Asia/Shanghai") -> datetime | None:
        """When the station next opens after ``at``, as an aware local time in ``tz`` (a naive ``at`` is
        local time there; its seconds are dropped): None when it is open at ``at`` or never opens.
        E.g. closed on Saturday 20:00 with ``Mo-Fr 08:30-17:00`` → Monday 08:30 of the next week."""
        zone = ZoneInfo(tz)
        local = (at.astimezone(zone) if at.tzinfo is not None else at.replace(tzinfo=zone)).replace(
            second=0, microsecond=0)
        wait = self.minutes_to_open_local(local.weekday(), local.hour * 60 + local.minute)
        if not wait:  # open now (0) or never (None)
            return None
        return local + timedelta(minutes=wait)  # wall-clock arithmetic in the zone (aware + timedelta)


def _hhmm(minutes: int) -> str:
    m = minutes % 1440 if minutes != 1440 else 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def _days_to_osm(mask: int) -> str:
    days = [i for i in range(7) if mask >> i & 1]
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    out = []
    for r in runs:
        if len(r) >= 3:
            out.append(f"{_DAY_OSM[r[0]]}-{_DAY_OSM[r[-1]]}")
        else:
            out.extend(_DAY_OSM[i] for i in r)
    return ",".join(out)


def _rule_open(rule: Rule, weekday: int, minute: int) -> bool:
    d, s, e = rule
    if d >> weekday & 1 and s <= minute < e:
        return True
    prev = (weekday - 1) % 7
    return bool(e > 1440 and d >> prev & 1 and minute < e - 1440)


def local_weekday_minute(at: datetime, *, tz: str = "Asia/Shanghai") -> tuple[int, int]:
    """Weekday (0 = Monday) and minute of day of ``at`` in time zone ``tz`` (naive = already local)."""
    local = at.astimezone(ZoneInfo(tz)) if at.tzinfo is not None else at
    return local.weekday(), local.hour * 60 + local.minute


# --- parsing --------------------------------------------------------------------------------------------

_ALWAYS = re.compile(r"^(?:每天|每日|全天|全年|天天|周一至周日)?(?:全天候?|24小时|7[x×*]24小时?|24h|24/7|0?0:00-24:00)"
                     r"(?:开放|营业|服务)?$",
                     re.IGNORECASE)
_DAY = r"(?:周|星期|礼拜)[一二三四五六日天七]"
_DAY_RANGE = re.compile(rf"({_DAY})(?:至|到|-)({_DAY})")
_DAY_SINGLE = re.compile(_DAY)
_DAY_WORDS = {"工作日": 0b0011111, "周末": 0b1100000, "双休日": 0b1100000, "每天": ALL_DAYS, "每日": ALL_DAYS,
              "全年": ALL_DAYS, "天天": ALL_DAYS, "全周": ALL_DAYS}
_PERIOD = r"(上午|早上|早|中午|下午|晚上|晚|凌晨)?"
_TIME = rf"{_PERIOD}(\d{{1,2}})(?:(?::|点|时)(\d{{2}})?|点半)?(?:分)?"
_TIME_RANGE = re.compile(rf"{_TIME}-(?:次日|第二天|翌日)?{_TIME}")
_FILLER = re.compile(r"[\s,，;；、:。.()（）]+|开放|营业|服务|时间|时段|办公|节假日|法定|除外|照常|及|和|全天")


def _normalize(text: str) -> str:
    t = unicodedata.normalize("NFKC", text)  # full-width digits, colon and tilde to ASCII
    t = re.sub(r"\s*[~〜～—–－至到]+\s*(?=(?:次日|第二天|翌日)?(?:上午|早上|早|中午|下午|晚上|晚|凌晨)?\d)", "-", t)
    t = re.sub(r"\s*-\s*", "-", t)
    return t.strip()


def _minutes(period: str | None, hour: str, minute: str | None, whole: str) -> int:
    h = int(hour)
    m = int(minute) if minute else (30 if whole.endswith("点半") else 0)
    if period in ("晚上", "晚") and h == 12:
        h = 24  # 晚上12点 is midnight, not noon
    elif period == "凌晨" and h == 12:
        h = 0
    elif period in ("下午", "晚上", "晚") and h < 12:
        h += 12
    if period == "中午" and h < 11:
        h += 12
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"not a time of day: {whole}")
    return h * 60 + m


def _day_mask_at(text: str, pos: int, end: int) -> int | None:
    """The day specification found in text[pos:end] (None if there is none)."""
    seg = text[pos:end]
    mask = 0
    consumed = seg
    for m in _DAY_RANGE.finditer(seg):
        a, b = _DAY_CN[m.group(1)[-1]], _DAY_CN[m.group(2)[-1]]
        i = a
        while True:
            mask |= 1 << i
            if i == b:
                break
            i = (i + 1) % 7
        consumed = consumed.replace(m.group(0), " ")
    for m in _DAY_SINGLE.finditer(consumed):
        mask |= 1 << _DAY_CN[m.group(0)[-1]]
    for word, bits in _DAY_WORDS.items():
        if word in seg:
            mask |= bits
    return mask or None


def parse_hours(text: str | None) -> OpeningHours | None:
    """Parse opening-hours text; ``None`` when it cannot be read with certainty (keep the raw text).

    >>> parse_hours("周一至周五8:30-17:00").to_osm()
    'Mo-Fr 08:30-17:00'
    """
    if text is None:
        return None
    return _parse_hours(str(text))


@lru_cache(maxsize=65536)
def _parse_hours(text: str) -> OpeningHours | None:
    raw = text.strip()
    if not raw or raw.lower() == "nan":
        return None
    t = _normalize(raw)
    if _ALWAYS.match(t.replace(" ", "")):
        return OpeningHours(((ALL_DAYS, 0, 1440),))
    rules: list[Rule] = []
    last_end = 0
    days = ALL_DAYS
    leftovers: list[str] = []
    for m in _TIME_RANGE.finditer(t):
        before = t[last_end:m.start()]
        found = _day_mask_at(t, last_end, m.start())
        if found is not None:
            days = found
        leftovers.append(_DAY_RANGE.sub(" ", before))
        try:
            start = _minutes(m.group(1), m.group(2), m.group(3), m.group(0).split("-")[0])
            # "下午1:30-5:00": an end without its own 上午/下午 takes the start's
            end_period = m.group(4) or (m.group(1) if m.group(1) in ("下午", "晚上", "晚") else None)
            end = _minutes(end_period, m.group(5), m.group(6), m.group(0).split("-")[-1])
        except ValueError:
            return None
        if end <= start:
            end += 1440  # runs past midnight into the next day
        rules.append((days, start, end))
        last_end = m.end()
    leftovers.append(t[last_end:])
    if not rules:
        return None
    rest = "".join(leftovers)
    rest = _DAY_SINGLE.sub(" ", rest)
    for word in _DAY_WORDS:
        rest = rest.replace(word, " ")
    if _FILLER.sub("", rest):
        return None  # something we do not understand: refuse rather than guess
    if any(e - s > 1440 for _, s, e in rules):
        return None
    if all(s == 0 and e == 1440 for _, s, e in rules) and all(d == ALL_DAYS for d, _, _ in rules):
        return OpeningHours(((ALL_DAYS, 0, 1440),))
    return OpeningHours(tuple(sorted(rules, key=_rule_order)))


def _rule_order(rule: Rule) -> tuple[int, int, int, int]:
    """Canonical order of rules: by first weekday, then start time (so equal hours compare equal)."""
    d, s, e = rule
    first_day = (d & -d).bit_length() - 1
    return first_day, -d, s, e


def parse_osm(text: str | None) -> OpeningHours | None:
    """Read back what :meth:`OpeningHours.to_osm` writes (the registry's stored form)."""
    if not text:
        return None
    if text == "24/7":
        return OpeningHours(((ALL_DAYS, 0, 1440),))
    rules: list[Rule] = []
    for part in text.split(";"):
        part = part.strip()
        if " " in part:
            day_txt, times = part.split(" ", 1)
            mask = 0
            for tok in day_txt.split(","):
                if "-" in tok:
                    a, b = (_DAY_OSM.index(x) for x in tok.split("-"))
                    for i in range(a, b + 1):
                        mask |= 1 << i
                else:
                    mask |= 1 << _DAY_OSM.index(tok)
        else:
            mask, times = ALL_DAYS, part
        for span in times.split(","):
            s_txt, e_txt = span.split("-")
            s = int(s_txt[:2]) * 60 + int(s_txt[3:])
            e = int(e_txt[:2]) * 60 + int(e_txt[3:])
            if e <= s:
                e += 1440
            rules.append((mask, s, e))
    return OpeningHours(tuple(sorted(rules, key=_rule_order)))


# --- many stations at once ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HoursTable:
    """The rules of many stations as flat arrays, for array-at-a-time "open at" checks.

    ``station`` indexes into the station arrays; stations with unknown hours have no rows and
    ``known[i]`` is False for them.
    """

    station: npt.NDArray[np.int64]
    days_mask: npt.NDArray[np.int64]
    start_min: npt.NDArray[np.int64]
    end_min: npt.NDArray[np.int64]
    known: npt.NDArray[np.bool_]

    @classmethod
    def from_hours(cls, hours: list[OpeningHours | None]) -> HoursTable:
        rows = [(i, d, s, e) for i, h in enumerate(hours) if h is not None for d, s, e in h.rules]
        arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
        known = np.fromiter((h is not None for h in hours), dtype=bool, count=len(hours))
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], known)

    def open_mask(self, at: datetime, *, tz: str = "Asia/Shanghai") -> npt.NDArray[np.bool_]:
        """Boolean array over stations: open at ``at``. Unknown hours count as not open."""
        weekday, minute = local_weekday_minute(at, tz=tz)
        prev = (weekday - 1) % 7
        today = ((self.days_mask >> weekday) & 1).astype(bool) & (self.start_min <= minute) & (minute < self.end_min)
        spill = ((self.days_mask >> prev) & 1).astype(bool) & (self.end_min > 1440) & (minute < self.end_min - 1440)
        out = np.zeros(self.known.shape[0], dtype=bool)
        out[self.station[today | spill]] = True
        return out
