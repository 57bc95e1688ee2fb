"""A string-keyed registry of importance criteria that third parties can extend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .base import Criterion


@dataclass(frozen=True)
class ImportanceCriterion:
    name: str
    score: Criterion
    needs_calibration: bool
    description: str


_CRITERIA: dict[str, ImportanceCriterion] = {}


def register_importance(
    name: str, *, needs_calibration: bool, description: str = ""
) -> Callable[[Criterion], Criterion]:
    """Decorator adding a criterion `fn(context) -> {(layer, kind): scores}` under `name`.

    Example:
        >>> @register_importance("my_l1", needs_calibration=False)  # doctest: +SKIP
        ... def my_l1(context): ...
    """

    def decorator(fn: Criterion) -> Criterion:
        if name in _CRITERIA:
            raise ValueError(f"Importance `{name}` is already registered ({_CRITERIA[name].score.__qualname__}).")
        if not callable(fn):
            raise TypeError(f"Importance `{name}` must be callable, got {type(fn).__name__}.")
        _CRITERIA[name] = ImportanceCriterion(name, fn, needs_calibration, description or (fn.__doc__ or "").strip())
        return fn

    return decorator


def available_importances() -> list[str]:
    return sorted(_CRITERIA)


def get_importance(name: str) -> ImportanceCriterion:
    if name not in _CRITERIA:
        raise ValueError(f"Unknown importance `{name}`; available: {available_importances()}.")
    return _CRITERIA[name]
