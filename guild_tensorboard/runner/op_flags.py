"""Flags: the user's values decoded for an operation, and values encoded as
Guild writes them in labels and arguments."""

import re

import yaml

from guild_tensorboard.runner.op_attrs import encode_yaml
from guild_tensorboard.runner.op_guildfile import SIMPLE_TYPES, OpError

__all__ = [
    "FLOAT_TRUNC_LEN",
    "decoded_user_flags",
    "default_label",
    "encode_flag_val",
    "flag_args",
    "flag_assigns",
    "format_flag",
]

FLOAT_TRUNC_LEN = 5


def decoded_user_flags(op, flags):
    unknown = sorted(set(flags) - set(op.flag_defaults))
    if unknown:
        raise OpError(
            "unsupported flag%s for %s: %s"
            % ("s" if len(unknown) > 1 else "", op.name, ", ".join(unknown))
        )
    return {
        name: _decode_flag_val(val, op.flag_defaults.get(name))
        for name, val in flags.items()
    }


def _decode_flag_val(val, default):
    if isinstance(val, str) and not isinstance(default, str) and default is not None:
        try:
            decoded = yaml.safe_load(val)
        except yaml.YAMLError:
            return val
        if isinstance(decoded, SIMPLE_TYPES):
            return decoded
    if not isinstance(val, SIMPLE_TYPES):
        raise OpError("unsupported flag value %r" % (val,))
    return val


def default_label(flags):
    """Guild's default label: the non-null flags as `name=value`, by name.

    Floats are cut to 5 decimals; strings with spaces are quoted.
    """
    non_null = {name: val for name, val in flags.items() if val is not None}
    return " ".join(flag_assigns(non_null, truncate_floats=True))


def flag_assigns(flags, truncate_floats=False):
    return [
        "%s=%s" % (name, format_flag(flags[name], truncate_floats))
        for name in sorted(flags)
    ]


def format_flag(val, truncate_floats=False):
    encoded = encode_flag_val(val)
    if truncate_floats and isinstance(val, float):
        encoded = re.sub(
            r"\.[0-9]+", lambda m: m.group(0)[: FLOAT_TRUNC_LEN + 1], encoded
        )
    if isinstance(val, str) and encoded[:1] not in ("'", '"') and " " in encoded:
        encoded = repr(encoded)
    return encoded


def encode_flag_val(val):
    """A flag value as Guild writes it in labels and arguments."""
    if val is True:
        return "yes"
    if val is False:
        return "no"
    if val is None:
        return "null"
    return encode_yaml(val, default_flow_style=True)


def flag_args(op, flags):
    """The flags as `--name value` arguments, if the op takes them so."""
    if op.flags_dest != "args":
        return []
    args = []
    for name in sorted(flags):
        val = flags[name]
        if val is None:
            continue
        args.extend(["--%s" % name, encode_flag_val(val)])
    return args

