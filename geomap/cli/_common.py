"""What the command's modules share: the error for a user mistake, and reading an "open at" time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from geomap.settings import get_settings


class CliError(Exception):
    """A user mistake: printed as one line, exit status 2."""


def parse_when(text: str | None) -> datetime | None:
    """``now``, ISO ``2026-11-23T12:30`` or ``2026-11-23 12:30`` (local time Asia/Shanghai if no zone)."""
    if text is None:
        return None
    tz = ZoneInfo(get_settings().timezone)
    if text.strip().lower() in ("now", "现在"):
        return datetime.now(tz)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--open-at {text!r}: use 'now' or a date and time like '2026-11-23 12:30'") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)
