import pytest
from hypothesis import given
from hypothesis import strategies as st

from guild_tensorboard.runs.opref import OpRef, OpRefError, opref_for_run_dir, parse_opref


def test_guildfile_opref():
    opref = OpRef.parse("guildfile:/home/me/proj/guild.yml 3f2ac1 '' train")
    assert opref.pkg_type == "guildfile"
    assert opref.pkg_name == "/home/me/proj/guild.yml"
    assert opref.pkg_version == "3f2ac1"
    assert opref.model_name == ""
    assert opref.op_name == "train"


def test_guildfile_opref_with_model():
    opref = OpRef.parse("guildfile:/p/guild.yml abc mnist train")
    assert (opref.model_name, opref.op_name) == ("mnist", "train")


def test_script_opref():
    opref = OpRef.parse("script:/path/echo.py '' '' echo.py")
    assert opref.pkg_type == "script"
    assert opref.pkg_name == "/path/echo.py"
    assert opref.pkg_version == ""
    assert opref.model_name == ""
    assert opref.op_name == "echo.py"


def test_package_opref():
    opref = OpRef.parse("package:gpkg.mnist 0.1.0 mnist train")
    assert opref.pkg_type == "package"
    assert opref.pkg_name == "gpkg.mnist"
    assert opref.pkg_version == "0.1.0"
    assert (opref.model_name, opref.op_name) == ("mnist", "train")


def test_double_quoted_empty_model():
    opref = OpRef.parse('guildfile:/p/guild.yml abc "" train\n')
    assert opref.model_name == ""
    assert opref.op_name == "train"


def test_quoted_path_with_spaces():
    opref = OpRef.parse("guildfile:'/my proj/guild.yml' abc '' train")
    assert opref.pkg_name == "/my proj/guild.yml"


def test_five_field_form():
    opref = OpRef.parse("guildfile /p/guild.yml abc '' train")
    assert opref.pkg_type == "guildfile"
    assert opref.pkg_name == "/p/guild.yml"
    assert opref.op_name == "train"


def test_str_round_trips():
    for encoded in [
        "guildfile:/p/guild.yml abc '' train",
        "script:/path/echo.py '' '' echo.py",
        "package:gpkg.mnist 0.1.0 mnist train",
    ]:
        assert str(OpRef.parse(encoded)) == encoded
    opref = OpRef("guildfile", "/my proj/guild.yml", "abc", "", "train")
    assert OpRef.parse(str(opref)) == opref


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "   ",
        "guildfile:/p/guild.yml abc train",
        "guildfile:/p/guild.yml abc '' train extra more",
        "/p/guild.yml abc '' train",
        "guildfile:/p/guild.yml 'abc '' train",
        ":/p/guild.yml abc '' train",
        "guildfile:/p/guild.yml abc '' ''",
    ],
)
def test_garbled_opref(encoded):
    with pytest.raises(OpRefError):
        parse_opref(encoded)


def test_non_string_opref():
    with pytest.raises(OpRefError):
        parse_opref(None)


def test_opref_for_run_dir(tmp_path):
    assert opref_for_run_dir(str(tmp_path)) is None
    (tmp_path / ".guild").mkdir()
    (tmp_path / ".guild" / "opref").write_text("script:/x.py '' '' x.py\n")
    assert opref_for_run_dir(str(tmp_path)).op_name == "x.py"
    (tmp_path / ".guild" / "opref").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(OpRefError):
        opref_for_run_dir(str(tmp_path))


_field = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


@given(
    pkg_type=st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    pkg_name=_field,
    pkg_version=_field,
    model_name=_field,
    op_name=_field.filter(bool),
)
def test_round_trip_property(pkg_type, pkg_name, pkg_version, model_name, op_name):
    opref = OpRef(pkg_type, pkg_name, pkg_version, model_name, op_name)
    assert OpRef.parse(str(opref)) == opref


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab :/'\"\\ \t", max_size=30))
def test_fields_split_like_shlex(line):
    from guild_tensorboard.runs.opref import _split_fields
    import shlex

    try:
        expected = shlex.split(line)
    except ValueError:
        expected = ValueError
    try:
        got = _split_fields(line)
    except ValueError:
        got = ValueError
    assert got == expected
