"""Durations as people write them ("7d", "36h", "1d12h"): the config's and the demo's."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: object) -> timedelta:
    """Read "7d", "36h", "90m", "30s" or combinations like "1d12h"; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        # ValueError, not TypeError: pydantic reports only ValueError as a validation error
        raise ValueError("expected a duration such as '7d', '36h', '90m' or '30s'")  # noqa: TRY004
    text = value.strip().lower()
    if text.isdigit():
        return timedelta(seconds=int(text))
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration such as '7d', '36h', '90m' or '30s'")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts))
