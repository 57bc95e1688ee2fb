"""The training-free criteria built on calibration activation statistics (`activation_stats.py`): Wanda-sp, FLAP.

`flap` scores are standardised within each (layer, kind) group — they are zero-mean and can be negative. They are
meant for an allocation that ranks the raw scores of all groups together (FLAP's "global adaptive structure"), not
for the `global` allocation, which divides each group's scores by their mean. Inside a group (the `layer`
allocation) standardisation does not change the order.
"""

from __future__ import annotations

import torch

from ..architectures import UnitGroup, member_module
from .base import Scores, ScoringContext
from .registry import register_importance
from .statistics import Need
from .units import scatter_to_units, whole_tensor


def _output_weight(context: ScoringContext, group: UnitGroup) -> torch.Tensor:
    return whole_tensor(member_module(context.layer_of(group), group.mask_member).weight.detach())


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std over a group's units (unbiased std); zeros when the scores do not vary."""
    centred = scores - scores.mean()
    std = scores.std() if scores.numel() > 1 else torch.zeros((), dtype=scores.dtype)
    return centred / std if std > 0 else torch.zeros_like(scores)


@register_importance("wanda_sp", needs={Need.ACTIVATIONS}, gives_removal=False)
def wanda_sp(context: ScoringContext) -> Scores:
    """Wanda-sp (FLAP's baseline): Σ over the unit's output-projection columns j of Σ_i |W_ij|·‖X_j‖₂."""
    statistics = context.statistics.activations()
    scores = {}
    for group in context.groups:
        weight = _output_weight(context, group)
        norms = statistics[group.key].sum_sq.sqrt()
        per_column = weight.abs().sum(dim=0, dtype=torch.float64) * norms
        scores[group.key] = scatter_to_units(per_column, group.mask_member, group.num_units).cpu()
    return scores


@register_importance("flap", needs={Need.ACTIVATIONS}, gives_removal=False)
def flap(context: ScoringContext) -> Scores:
    """FLAP fluctuation: Σ over the unit's columns j of Var(X_j)·‖W_:,j‖₂², standardised within each group.

    Rank across groups with an allocation over raw scores (module docstring), not the mean-dividing `global`.
    """
    statistics = context.statistics.activations()
    scores = {}
    for group in context.groups:
        weight = _output_weight(context, group)
        per_column = statistics[group.key].variance() * weight.square().sum(dim=0, dtype=torch.float64)
        scores[group.key] = standardise(scatter_to_units(per_column, group.mask_member, group.num_units).cpu())
    return scores


def compensation_bias(
    weight: torch.Tensor, mean_input: torch.Tensor, unit_of: torch.Tensor, kept_units: torch.Tensor
) -> torch.Tensor:
    """W[:, removed] @ mean(X[removed]): the output a projection loses on average when the input columns of the
    units not in `kept_units` go (columns of no unit, `unit_of` = -1, always stay). Float64, [out_features]."""
    unit_of = unit_of.to(weight.device)
    removed = (unit_of >= 0) & ~torch.isin(unit_of, kept_units.to(weight.device))
    return weight.detach()[:, removed].double() @ mean_input.to(weight.device).double()[removed]


def flap_bias_compensation(context: ScoringContext, group: UnitGroup, kept_units: torch.Tensor) -> torch.Tensor:
    """FLAP's bias for `group`'s output projection when only `kept_units` stay: add it to that projection's bias
    (creating one if absent) so the pruned layer keeps the calibration mean of its output. Call before surgery;
    returns float64 [out_features] on the weight's device (runs the activation pass if not done yet)."""
    mean_input = context.statistics.activations()[group.key].mean()
    return compensation_bias(_output_weight(context, group), mean_input, group.mask_member.unit_of, kept_units)
