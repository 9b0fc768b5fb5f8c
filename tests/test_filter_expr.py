"""Guild's filter expressions: parsing, precedence, values and errors. What
they select from runs is checked against real Guild in
test_command_filters.py; here, the language on plain values."""

import pytest

from guild_tensorboard.runs import filter_expr


class Values:
    def __init__(self, **vals):
        self.vals = vals
        self.looked_up = []

    def lookup(self, name):
        self.looked_up.append(name)
        return self.vals.get(name)


def passes(text, **vals):
    return bool(filter_expr.parse(text)(Values(**vals)))


def test_comparisons_of_numbers_strings_and_missing_values():
    assert passes("loss < 0.5", loss=0.4)
    assert not passes("loss < 0.5", loss=0.5)
    assert passes("loss <= 0.5 and loss >= 0.5 and loss = 0.5", loss=0.5)
    assert passes("loss != 0.5 and loss <> 0.5", loss=0.6)
    assert not passes("loss < 0.5")  # missing: no comparison holds...
    assert passes("loss != 0.5")  # ... but inequality
    assert not passes("name < 1", name="a")  # a string and a number: false, no error
    assert passes("name = adam and name = 'adam' and name = \"adam\"", name="adam")


def test_yaml_values():
    assert passes("n = 1 and x = 1.0e-3 and y = -2", n=1, x=0.001, y=-2)
    assert passes("x = 1e-3 and y = 2.5e3 and z = '1e-3'", x=0.001, y=2500.0, z="1e-3")
    assert passes("b = true and c = FALSE and d is undefined", b=True, c=False)
    assert passes("l = [1, 'two', [3]]", l=[1, "two", [3]])


def test_and_and_or_group_to_the_right_and_not_binds_tighter():
    # a and b or c is a and (b or c), as Guild's grammar has it
    assert not passes("a = 1 and b = 1 or c = 1", a=0, b=0, c=1)
    assert passes("a = 1 or b = 1 and c = 1", a=1, b=0, c=0)
    assert passes("not a = 1 and b = 1", a=0, b=1)
    assert not passes("not (a = 1 or b = 1)", a=0, b=1)
    assert passes("NOT a = 1 AnD b = 1", a=0, b=1)


def test_in_contains_and_is():
    assert passes("opt in [adam, sgd]", opt="sgd")
    assert passes("opt not in [adam]", opt="sgd")
    assert passes("label contains BEST", label="lr=0.1 best")
    assert passes("label not contains worst", label="lr=0.1 best")
    assert not passes("label contains best")  # nothing to contain it
    assert passes("label not contains best")
    assert passes("tags contains v1", tags=["v1"])
    assert not passes("tags contains V1", tags=["v1"])  # a list holds it or not
    assert passes("label is not undefined", label="")


def test_a_bare_term_is_its_own_truth():
    assert passes("true") and passes("optimizer") and passes("[1]")
    assert not passes("false") and not passes("undefined")


def test_names_keep_prefixes_and_punctuation():
    values = Values()
    filter_expr.parse("scalar:eval#loss < 1 and flag:lr.x = 1 and attr:label = a")(values)
    assert values.looked_up == ["scalar:eval#loss"]  # and stops at the first false


def test_or_evaluates_lazily():
    values = Values(a=1)
    filter_expr.parse("a = 1 or b = 1")(values)
    assert values.looked_up == ["a"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("loss <", "unexpected end of expression"),
        ("loss < 0.5 and", "unexpected end of expression"),
        ("@", "position 0: unexpected character '@'"),
        ("run = 5e1ec700", "position 9: unexpected 'ec700'"),
        ("optimizer not adam", "position 14: unexpected 'adam'"),
        ("(loss < 1", "unexpected end of expression"),
        ("loss < 1)", "position 8: unexpected ')'"),
        ("x in 1", "position 5: unexpected '1'"),
        ("a b", "position 2: unexpected 'b'"),
        ("[]", "position 1: unexpected ']'"),  # a list holds something
    ],
)
def test_syntax_errors_say_where(text, message):
    with pytest.raises(filter_expr.FilterSyntaxError) as e:
        filter_expr.parse(text)
    assert message in str(e.value)
