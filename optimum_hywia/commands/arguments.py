"""Command-line options generated from the HyWIAConfig fields, so the CLI and the config never drift apart."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from ..configuration import HyWIAConfig


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per HyWIAConfig field (`pruning_ratio` → `--pruning-ratio`), help taken from the field."""
    group = parser.add_argument_group("pruning (HyWIAConfig fields)")
    hints = typing.get_type_hints(HyWIAConfig)
    for field in dataclasses.fields(HyWIAConfig):
        help_text = f"{field.metadata.get('help', '')} (default: {field.default})"
        hint = hints[field.name]
        if hint is bool:
            group.add_argument(_option(field.name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        group.add_argument(_option(field.name), type=base, default=None, help=help_text)


def config_from_arguments(args: argparse.Namespace, base: HyWIAConfig | None = None) -> HyWIAConfig:
    """A HyWIAConfig from the options that were given, on top of `base` (or the defaults)."""
    values = base.to_dict() if base is not None else {}
    for field in dataclasses.fields(HyWIAConfig):
        value = getattr(args, field.name, None)
        if value is not None:
            values[field.name] = value
    return HyWIAConfig(**values)
