"""Calibration activation statistics and the training-free criteria built on them (Wanda-sp, FLAP).

Forward pre-hooks on each group's output projection (`group.mask_member`: o_proj / down_proj, whose input features
are the units' outputs) accumulate, per input feature j over every calibration token: Σ x_j², Σ x_j and the token
count, in float64, without storing activations.

`flap` scores are standardised within each (layer, kind) group — they are zero-mean and can be negative. They are
meant for an allocation that ranks the raw scores of all groups together (FLAP's "global adaptive structure"), not
for the `global` allocation, which divides each group's scores by their mean. Inside a group (the `layer`
allocation) standardisation does not change the order.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from ..architectures import UnitGroup, member_module
from .base import GroupKey, Scores, ScoringContext, scatter_to_units
from .gradients import input_device
from .registry import register_importance

ACTIVATIONS_KEY = "activations"


def activation_statistics(context: ScoringContext) -> dict[GroupKey, dict[str, torch.Tensor]]:
    """Per group: `sum_sq` and `sum` [in_features] (float64, on the weight's device) and `count` (tokens) of the
    inputs of the group's output projection over the calibration set; cached under `context.cache["activations"]`.
    """
    if ACTIVATIONS_KEY in context.cache:
        return context.cache[ACTIVATIONS_KEY]
    if not context.groups:
        context.cache[ACTIVATIONS_KEY] = {}
        return context.cache[ACTIVATIONS_KEY]
    if not context.calibration:
        raise ValueError("Activation statistics need calibration batches (`context.calibration` is empty).")
    model = context.model
    statistics, handles = {}, []

    def hook_for(entry: dict[str, torch.Tensor]):
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0].detach()
            x = x.reshape(-1, x.shape[-1]).double()
            entry["sum"].add_(x.sum(0))
            entry["sum_sq"].add_(x.square().sum(0))
            entry["count"].add_(x.shape[0])

        return hook

    was_training = model.training
    try:
        model.eval()
        for group in context.groups:
            linear = member_module(context.layer_of(group), group.mask_member)
            device, width = linear.weight.device, linear.in_features
            entry = {
                "sum_sq": torch.zeros(width, dtype=torch.float64, device=device),
                "sum": torch.zeros(width, dtype=torch.float64, device=device),
                "count": torch.zeros((), dtype=torch.int64, device=device),
            }
            statistics[group.key] = entry
            handles.append(linear.register_forward_pre_hook(hook_for(entry)))
        device = input_device(model)
        with torch.no_grad():
            for batch in tqdm(context.calibration, desc="Activations", leave=False):
                model(input_ids=batch.to(device), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    context.cache[ACTIVATIONS_KEY] = statistics
    return statistics


def _output_weight(context: ScoringContext, group: UnitGroup) -> torch.Tensor:
    return member_module(context.layer_of(group), group.mask_member).weight.detach()


def input_variance(entry: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sample variance (n − 1) over calibration tokens of each input feature."""
    n = entry["count"].double()
    if n < 2:
        raise ValueError("The sample variance needs at least two calibration tokens.")
    return ((entry["sum_sq"] - entry["sum"].square() / n) / (n - 1)).clamp_min(0.0)


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std over a group's units (unbiased std); zeros when the scores do not vary."""
    centred = scores - scores.mean()
    std = scores.std() if scores.numel() > 1 else torch.zeros((), dtype=scores.dtype)
    return centred / std if std > 0 else torch.zeros_like(scores)


@register_importance("wanda_sp", needs_calibration=True)
def wanda_sp(context: ScoringContext) -> Scores:
    """Wanda-sp (FLAP's baseline): Σ over the unit's output-projection columns j of Σ_i |W_ij|·‖X_j‖₂."""
    statistics = activation_statistics(context)
    scores = {}
    for group in context.groups:
        weight = _output_weight(context, group)
        norms = statistics[group.key]["sum_sq"].sqrt()
        per_column = weight.abs().sum(dim=0, dtype=torch.float64) * norms
        scores[group.key] = scatter_to_units(per_column, group.mask_member, group.num_units).cpu()
    return scores


@register_importance("flap", needs_calibration=True)
def flap(context: ScoringContext) -> Scores:
    """FLAP fluctuation: Σ over the unit's columns j of Var(X_j)·‖W_:,j‖₂², standardised within each group.

    Rank across groups with an allocation over raw scores (module docstring), not the mean-dividing `global`.
    """
    statistics = activation_statistics(context)
    scores = {}
    for group in context.groups:
        weight = _output_weight(context, group)
        per_column = input_variance(statistics[group.key]) * weight.square().sum(dim=0, dtype=torch.float64)
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
    returns float64 [out_features] on the weight's device (runs the activation pass if not cached yet)."""
    entry = activation_statistics(context)[group.key]
    mean_input = entry["sum"] / entry["count"].double()
    return compensation_bias(_output_weight(context, group), mean_input, group.mask_member.unit_of, kept_units)
