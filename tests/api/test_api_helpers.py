"""The request-path helpers of the API, against the standard library they stand in for."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl

from hypothesis import example, given
from hypothesis import strategies as st

from geomap.api.deps import query_dict
from geomap.api.read import _local_now, _round1
from geomap.stations.hours import local_weekday_minute

_QUERY_CHARS = st.sampled_from([*"abk=&%+;.-_,0123456789", "%20", "%2C", "%E7%83%AD", "%zz", "热", "=="])


@given(st.lists(_QUERY_CHARS, max_size=40).map("".join))
@example("lon=121.5&lat=31.3&crs=gcj02&k=3")
@example("lon=1&lon=2&&k&=v&a==b")
@example("amenity=%E7%83%AD%E9%A5%AD&kind=driver+home")
def test_query_dict_is_what_parse_qsl_gives(text: str) -> None:
    """Starlette's reading of a query string (parse_qsl, blank values kept, the last value of a name
    wins), whether or not the text takes the direct split (no ``%`` or ``+``)."""
    raw = text.encode()
    assert query_dict(raw) == dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
@example(0.05)
@example(0.25)
@example(1234.5678)
def test_round1_is_round_to_one_decimal(x: float) -> None:
    """Within 0.05 of x, on the 0.1 grid, and equal to round(x, 1) except at a tie."""
    got = _round1(x)
    assert abs(got - x) <= 0.05 + 1e-9 * x
    assert math.isclose(got * 10, round(got * 10), abs_tol=1e-6 * max(1.0, x))
    tie = abs(x * 10 - math.floor(x * 10) - 0.5) < 1e-6 * max(1.0, x)
    assert got == round(x, 1) or tie


def test_local_now_is_the_local_weekday_and_minute() -> None:
    """The per-minute memo answers what local_weekday_minute says for now, in the service's zone."""
    for tz in ("Asia/Shanghai", "Asia/Kathmandu", "UTC"):  # Kathmandu: +05:45, not whole hours
        state = SimpleNamespace(settings=SimpleNamespace(timezone=tz))
        while True:
            before = local_weekday_minute(datetime.now(UTC), tz=tz)
            got = _local_now(state)  # type: ignore[arg-type]
            after = local_weekday_minute(datetime.now(UTC), tz=tz)
            if before == after:  # not across a minute boundary
                break
            time.sleep(0.01)
        assert got == before
