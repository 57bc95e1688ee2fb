"""What every configuration field is made of: its default and help (`option`), and the checks of its value.

Each check raises `ConfigError` naming the field as the CLI and `hywia_config.json` spell it, the bad value and what
is allowed.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from .errors import ConfigError
from .text_sources import check_text_source


def option(default: Any, help_text: str, flat: str | None = None) -> Any:
    """A configuration field: its default, the help the CLI and docs show (`metadata["help"]`) and, for a field of
    a section (`FusionConfig.steps`), its flat name in the CLI and the recipe (`metadata["flat"]`: `fusion_steps`)."""
    metadata = {"help": help_text, **({"flat": flat} if flat else {})}
    return field(default=default, metadata=metadata)


def check_choice(name: str, value: Any, allowed: tuple | list) -> None:
    if value not in allowed:
        raise ConfigError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")


def check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def check_optional_int(name: str, value: Any, minimum: int) -> None:
    if value is not None:
        check_int(name, value, minimum)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_fraction(name: str, value: Any) -> None:
    if not is_number(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"`{name}` must be a number in [0, 1], got {value!r}.")


def check_positive(name: str, value: Any, allow_zero: bool = False) -> None:
    if not is_number(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"`{name}` must be a number {bound}, got {value!r}.")


def check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"`{name}` must be a non-empty string, got {value!r}.")
    check_text_source(value)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"`{name}` must be True or False, got {value!r}.")
