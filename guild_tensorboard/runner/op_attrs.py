"""Run attrs written as Guild writes them: one YAML file per attr in the
run's `.guild/attrs/`."""

import yaml

__all__ = ["encode_yaml", "write_attr"]


def write_attr(run, name, val):
    """Writes an attr as Guild does: YAML, no document end marker."""
    path = run.guild_path("attrs", name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_yaml(val))
        f.write("\n")


class _StrictDumper(yaml.SafeDumper):
    """Quotes `y`/`n`, booleans in YAML 1.1, as Guild's strict encoding does."""


def _represent_str(dumper, data):
    if data in ("y", "Y", "n", "N"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'")
    return dumper.represent_str(data)


_StrictDumper.add_representer(str, _represent_str)


def encode_yaml(val, default_flow_style=False):
    encoded = yaml.dump(
        val,
        Dumper=_StrictDumper,
        default_flow_style=default_flow_style,
        indent=2,
        allow_unicode=True,
    ).strip()
    if encoded.endswith("\n..."):
        encoded = encoded[:-4]
    return encoded
