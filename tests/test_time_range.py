"""Time ranges against Guild 0.9's own parser: for each spec, the range
Guild's `guild.timerange` gives at a fixed time (recorded in
`guild_selections.json`, see `guild_selections.py`)."""

import datetime
import json

import pytest

from guild_tensorboard.runs import time_range

import guild_selections

with open(guild_selections.RECORDED) as f:
    GUILDS = json.load(f)["ranges"]

REF = guild_selections.REF


def _range(spec, ref=REF):
    return [str(t) if t else None for t in time_range.parse(spec)(ref)]


def test_every_spec_was_recorded():
    assert sorted(GUILDS) == sorted(guild_selections.RANGES)


@pytest.mark.parametrize("spec", guild_selections.RANGES)
def test_a_range_is_guilds(spec):
    guilds = GUILDS[spec]
    if isinstance(guilds, dict):
        with pytest.raises(time_range.RangeError):
            time_range.parse(spec)
    elif "month" in spec:
        # Guild ends a month at 00:00 of its last day, leaving that day out;
        # here a month ends where the next begins.
        start, end = _range(spec)
        assert start == guilds[0]
        guild_end = datetime.datetime.fromisoformat(guilds[1])
        assert datetime.datetime.fromisoformat(end) == guild_end + datetime.timedelta(days=1)
        assert end.endswith("-01 00:00:00")
    else:
        assert _range(spec) == guilds


def test_months_and_years_cross_year_ends():
    jan = datetime.datetime(2024, 1, 10, 8, 0)
    assert _range("1 month ago", jan) == ["2023-12-01 00:00:00", "2024-01-01 00:00:00"]
    assert _range("this month", datetime.datetime(2023, 12, 31, 23, 59)) == ["2023-12-01 00:00:00", "2024-01-01 00:00:00"]
    assert _range("1 year ago", jan) == ["2023-01-01 00:00:00", "2024-01-01 00:00:00"]
    assert _range("this week", jan) == ["2024-01-08 00:00:00", "2024-01-15 00:00:00"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "a range cannot be empty"),
        ("foo", "unexpected 'foo' at position 0"),
        ("last week", "unexpected 'week' at position 5"),
        ("between 2023-11-01 and", "unexpected end of range"),
        ("2023-02-30", "day is out of range for month"),
        ("between before today and today", "between needs two ranges that start"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec, message):
    with pytest.raises(time_range.RangeError) as e:
        time_range.parse(spec)
    assert message in str(e.value)
