"""The token stream the filter languages share."""

import re

import pytest

from guild_tensorboard.runs.tokens import TokenStream, tokenize

PATTERN = re.compile(r"(?P<NUM>[0-9]+)|(?P<WORD>[a-z]+)")


def _unexpected(*args):
    raise ValueError(args)


def test_tokens_name_their_group_and_position_between_spaces():
    assert tokenize(" ab 12\tc", PATTERN, _unexpected) == [("WORD", "ab", 1), ("NUM", "12", 4), ("WORD", "c", 7)]
    with pytest.raises(ValueError) as e:
        tokenize("ab !", PATTERN, _unexpected)
    assert e.value.args[0] == ("!", 3)


def test_a_stream_takes_the_kinds_asked_for_or_says_what_came():
    stream = TokenStream(tokenize("ab 12", PATTERN, _unexpected), _unexpected)
    assert (stream.peek(), stream.peek(1), stream.peek(2)) == ("WORD", "NUM", None)
    assert stream.take("WORD") == ("WORD", "ab", 0)
    with pytest.raises(ValueError) as e:
        stream.take("WORD")
    assert e.value.args[0] == (("NUM", "12", 3),)
    with pytest.raises(ValueError):
        stream.expect_end()
    stream.take("NUM")
    stream.expect_end()
    with pytest.raises(ValueError) as e:
        stream.take("NUM")
    assert e.value.args[0] == (None,)  # the end
