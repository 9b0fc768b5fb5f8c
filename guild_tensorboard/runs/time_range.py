"""Guild's time ranges (`guild runs -Fs RANGE`): a spec parsed once, and
turned into `(start, end)` local datetimes against a reference time (now,
at each refresh, so `last hour` slides).

The specs, as Guild 0.9 reads them (words case-insensitive):

    today | yesterday | this UNIT | N UNIT ago      UNIT: minute hour day
                                                    week month year
    last [N] minute|hour|day                        (N units before now)
    before RANGE | after RANGE                      (RANGE: the above or
    between RANGE and RANGE                          a DATETIME)
    DATETIME: [[YY]YY-]M-D [H:MM[:SS]] | H:MM[:SS]  (a whole day, minute
                                                     or second alone)

`start` or `end` is None when open. Months end where the next begins
(Guild 0.9 ends `this month` at 00:00 of its last day, a bug not kept).
"""

import datetime
import re

from guild_tensorboard.runs import tokens

_TOKENS = re.compile(
    r"""
    (?P<LONGDATE>([0-9]{4})-([0-9]{1,2})-([0-9]{1,2}))
    | (?P<MEDIUMDATE>([0-9]{2})-([0-9]{1,2})-([0-9]{1,2}))
    | (?P<SHORTDATE>([0-9]{1,2})-([0-9]{1,2}))
    | (?P<LONGTIME>([0-9]{1,2}):([0-9]{2}):([0-9]{2}))
    | (?P<SHORTTIME>([0-9]{1,2}):([0-9]{2}))
    | (?P<DAY>days?) | (?P<WEEK>weeks?) | (?P<MONTH>months?) | (?P<YEAR>years?)
    | (?P<NUMBER>[0-9]+)
    | (?P<HOUR>hours?|hr) | (?P<MINUTE>minutes?|min)
    | (?P<WORD>[a-zA-Z]+)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_WORDS = ("today", "yesterday", "this", "last", "ago", "before", "after", "between", "and")
_UNITS = ("MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR")
_DATES = ("LONGDATE", "MEDIUMDATE", "SHORTDATE")
_TIMES = ("LONGTIME", "SHORTTIME")


class RangeError(ValueError):
    """A spec that does not parse, or names no date."""


def parse(spec):
    """`spec` as a callable: `f(ref)` is `(start, end)` for the reference
    datetime `ref`; raises RangeError for a bad spec (and its dates are
    checked against today)."""
    parser = _Parser(_tokens(spec))
    if parser.peek() is None:
        raise RangeError("a range cannot be empty")
    rng = parser.spec()
    parser.expect_end()
    _call(rng, datetime.datetime.now())
    return lambda ref: _call(rng, ref)


def _call(rng, ref):
    try:
        return rng(ref)
    except (ValueError, OverflowError) as e:
        raise RangeError(str(e)) from None


def _tokens(spec):
    def unexpected(char, pos):
        raise RangeError("unexpected %r at position %i" % (char, pos))

    token_list = []
    for kind, text, pos in tokens.tokenize(spec, _TOKENS, unexpected):
        if kind == "WORD":
            if text.lower() not in _WORDS:
                unexpected(text, pos)
            kind = text.upper()
        token_list.append((kind, _token_value(kind, text), pos))
    return token_list


def _token_value(kind, text):
    if kind in _DATES:
        return tuple(int(part) for part in text.split("-"))
    if kind in _TIMES:
        return tuple(int(part) for part in text.split(":"))
    if kind == "NUMBER":
        return int(text)
    return text


def _unexpected(token):
    if token is None:
        raise RangeError("unexpected end of range")
    raise RangeError("unexpected %r at position %i" % (token[1], token[2]))


class _Parser(tokens.TokenStream):
    def __init__(self, token_list):
        super().__init__(token_list, _unexpected)

    def take(self, *kinds):
        """`(kind, value)` of the next token, one of `kinds`."""
        return super().take(*kinds)[:2]

    def spec(self):
        kind = self.peek()
        if kind == "LAST":
            return self.last_unit()
        if kind == "BETWEEN":
            self.take("BETWEEN")
            first = self.range()
            self.take("AND")
            return _between(first, self.range())
        if kind in _DATES + _TIMES:
            return _explicit(self.datetime())
        return self.range()

    def range(self):
        kind = self.peek()
        if kind in ("BEFORE", "AFTER"):
            self.take(kind)
            if self.peek() in _DATES + _TIMES:
                at = self.datetime()
                return (lambda ref: (None, at(ref))) if kind == "BEFORE" else (lambda ref: (at(ref), None))
            unit = self.unit_range()
            if kind == "BEFORE":
                return lambda ref: (None, unit(ref)[0])
            return lambda ref: (unit(ref)[1], None)
        if kind in _DATES + _TIMES:
            at = self.datetime()
            return lambda ref: (at(ref), at(ref))
        return self.unit_range()

    def unit_range(self):
        kind, _ = self.take("TODAY", "YESTERDAY", "THIS", "NUMBER")
        if kind == "TODAY":
            return lambda ref: _unit_range(ref, "DAY", 0)
        if kind == "YESTERDAY":
            return lambda ref: _unit_range(ref, "DAY", -1)
        if kind == "THIS":
            unit, _ = self.take(*_UNITS)
            return lambda ref: _unit_range(ref, unit, 0)
        count = self.tokens[self.i - 1][1]
        unit, _ = self.take(*_UNITS)
        self.take("AGO")
        return lambda ref: _unit_range(ref, unit, -count)

    def last_unit(self):
        self.take("LAST")
        count = self.take("NUMBER")[1] if self.peek() == "NUMBER" else 1
        unit, _ = self.take("MINUTE", "HOUR", "DAY")
        delta = datetime.timedelta(**{unit.lower() + "s": count})
        return lambda ref: (ref - delta, None)

    def datetime(self):
        """A callable giving `(datetime, its span)`: a day for a date alone,
        a second for a time with seconds, else a minute."""
        date = time = None
        if self.peek() in _DATES:
            date = self.take(*_DATES)
        if self.peek() in _TIMES or date is None:
            time = self.take(*_TIMES)
        return _DateTime(date, time)


class _DateTime:
    def __init__(self, date, time):
        self.date, self.time = date, time

    def span(self):
        if self.time is None:
            return datetime.timedelta(days=1)
        return datetime.timedelta(seconds=1 if self.time[0] == "LONGTIME" else 60)

    def __call__(self, ref):
        if self.date is None:
            day = ref.date()
        else:
            kind, parts = self.date
            if kind == "SHORTDATE":
                day = datetime.date(ref.year, *parts)
            elif kind == "MEDIUMDATE":
                day = datetime.date(ref.year // 100 * 100 + parts[0], *parts[1:])
            else:
                day = datetime.date(*parts)
        hms = (self.time[1] + (0,))[:3] if self.time else (0, 0, 0)
        return datetime.datetime(day.year, day.month, day.day, *hms)


def _explicit(at):
    return lambda ref: (at(ref), at(ref) + at.span())


def _between(first, second):
    def rng(ref):
        (start1, end1), (start2, end2) = first(ref), second(ref)
        if start1 is None or start2 is None:
            raise RangeError("between needs two ranges that start (not `before ...`)")
        if start1 < start2:
            return start1, end2
        return start2, end1

    return rng


def _unit_range(ref, unit, shift):
    """The minute, hour, ... holding `ref`, `shift` units away."""
    if unit == "MONTH":
        month = ref.year * 12 + ref.month - 1 + shift
        start = datetime.datetime(month // 12, month % 12 + 1, 1)
        after = month + 1
        return start, datetime.datetime(after // 12, after % 12 + 1, 1)
    if unit == "YEAR":
        start = datetime.datetime(ref.year + shift, 1, 1)
        return start, start.replace(year=start.year + 1)
    if unit == "WEEK":
        day = datetime.datetime(ref.year, ref.month, ref.day)
        start = day - datetime.timedelta(days=day.weekday() - 7 * shift)
        return start, start + datetime.timedelta(days=7)
    keep = {"MINUTE": 5, "HOUR": 4, "DAY": 3}[unit]  # fields of ref kept
    start = datetime.datetime(*ref.timetuple()[:keep])
    delta = datetime.timedelta(**{unit.lower() + "s": 1})
    return start + shift * delta, start + (shift + 1) * delta
