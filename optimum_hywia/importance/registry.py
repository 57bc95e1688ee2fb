"""Importance criteria registered by name (in `optimum_hywia.registry.IMPORTANCES`), each declaring its needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..configuration import HyWIAConfig
from ..registry import IMPORTANCES
from .base import Criterion, ImportanceResult, ScoringContext
from .statistics import FROM_TRAINING_GRADIENTS, Need
from .units import Scores

Needs = Iterable[Need] | Callable[[HyWIAConfig], Iterable[Need]]
GivesRemoval = bool | Callable[[HyWIAConfig], bool] | None


@dataclass(frozen=True)
class ImportanceCriterion:
    """A registered criterion: `run(context)` gives an `ImportanceResult`, `needs(config)` what it reads."""

    name: str
    fn: Criterion
    declared_needs: Needs
    description: str
    declared_removal: GivesRemoval = None

    def gives_removal(self, config: HyWIAConfig) -> bool | None:
        """Whether `run` hands removal fractions to the `learned` allocation; None when the criterion did not say."""
        declared = self.declared_removal
        return declared(config) if callable(declared) else declared

    def needs(self, config: HyWIAConfig) -> frozenset[Need]:
        needs = self.declared_needs(config) if callable(self.declared_needs) else self.declared_needs
        return frozenset(needs)

    @property
    def needs_calibration(self) -> bool:
        """Whether it reads calibration data with the default settings (`needs(config)` for a given config)."""
        return bool(self.needs(HyWIAConfig(importance=self.name)))

    def can_use_training_gradients(self, config: HyWIAConfig) -> bool:
        """True when every statistic it reads can come from summed training gradients."""
        statistics = self.needs(config) - {Need.WINDOWS, Need.SELECTION}
        return bool(statistics) and statistics <= FROM_TRAINING_GRADIENTS

    def run(self, context: ScoringContext) -> ImportanceResult:
        result = self.fn(context)
        return result if isinstance(result, ImportanceResult) else ImportanceResult(result)

    def score(self, context: ScoringContext) -> Scores:
        """Only the unit scores of `run(context)`."""
        return self.run(context).scores


def register_importance(
    name: str, *, needs: Needs = (), description: str = "", gives_removal: GivesRemoval = None
) -> Callable[[Criterion], Criterion]:
    """Decorator adding a criterion `fn(context) -> ImportanceResult | {(layer, kind): scores}` under `name`.

    `needs`: the statistics it reads (`Need.TAYLOR`, `Need.TAYLOR2`, `Need.ACTIVATIONS`, `Need.WINDOWS`,
    `Need.SELECTION`), or a
    function of the config giving them; empty for data-free criteria. `gives_removal`: whether its result carries
    removal fractions for the `learned` allocation (or a function of the config); a declared False lets the config
    refuse `allocation="learned"` before any work is done.

    Example:
        >>> @register_importance("my_taylor", needs={Need.TAYLOR})  # doctest: +SKIP
        ... def my_taylor(context):
        ...     return {key: stats.fine1 for key, stats in context.statistics.taylor().items()}
    """

    def decorator(fn: Criterion) -> Criterion:
        if not callable(fn):
            raise TypeError(f"Importance `{name}` must be callable, got {type(fn).__name__}.")
        description_text = description or (getattr(fn, "__doc__", None) or "").strip()
        IMPORTANCES.add(name, ImportanceCriterion(name, fn, needs, description_text, gives_removal))
        return fn

    return decorator


def available_importances() -> list[str]:
    return IMPORTANCES.names()


def get_importance(name: str) -> ImportanceCriterion:
    return IMPORTANCES.get(name)
