"""Command-line options generated from the HyWIAConfig fields, so the CLI and the config never drift apart."""

from __future__ import annotations

import argparse
import typing

from ..configuration import HyWIAConfig


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per HyWIAConfig option under its flat name (`fusion.steps` → `--fusion-steps`), help from the
    field."""
    group = parser.add_argument_group("pruning (HyWIAConfig fields)")
    for name, field, hint in HyWIAConfig.flat_fields():
        help_text = f"{field.metadata.get('help', '')} (default: {field.default})"
        if hint is bool:
            group.add_argument(_option(name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        group.add_argument(_option(name), type=base, default=None, help=help_text)


def config_from_arguments(args: argparse.Namespace, base: HyWIAConfig | None = None) -> HyWIAConfig:
    """A HyWIAConfig from the options that were given, on top of `base` (or the defaults)."""
    values = base.to_dict() if base is not None else {}
    for name in HyWIAConfig.field_names():
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    return HyWIAConfig(**values)
