"""Calibration activation statistics: per input feature of each group's output projection (`group.mask_member`:
o_proj / down_proj, whose input features are the units' outputs), Σ x_j², Σ x_j and the token count over every
calibration token, in float64, without storing activations. Read through `context.statistics.activations()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from tqdm.auto import tqdm

from ..architectures import member_module
from ..architectures.base import GroupKey
from .gradient_pass import input_device

if TYPE_CHECKING:
    from .base import ScoringContext


@dataclass(frozen=True)
class ActivationSums:
    """Σ x_j, Σ x_j² [in_features] (float64, on the weight's device) and the token count of one group's output
    projection inputs over the calibration set.

    Example:
        >>> sums = ActivationSums(torch.tensor([2.0, 0.0]), torch.tensor([4.0, 2.0]), torch.tensor(2))
        >>> sums.mean().tolist(), sums.variance().tolist()
        ([1.0, 0.0], [2.0, 2.0])
    """

    sum: torch.Tensor
    sum_sq: torch.Tensor
    count: torch.Tensor

    def mean(self) -> torch.Tensor:
        return self.sum / self.count.double()

    def variance(self) -> torch.Tensor:
        """Sample variance (n − 1) over calibration tokens of each input feature."""
        n = self.count.double()
        if n < 2:
            raise ValueError("The sample variance needs at least two calibration tokens.")
        return ((self.sum_sq - self.sum.square() / n) / (n - 1)).clamp_min(0.0)


def activation_statistics(context: ScoringContext) -> dict[GroupKey, ActivationSums]:
    """Per group: the `ActivationSums` of its output projection's inputs over `context.calibration` (one forward
    pass over the calibration set, no gradient)."""
    if not context.groups:
        return {}
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
    return {key: ActivationSums(entry["sum"], entry["sum_sq"], entry["count"]) for key, entry in statistics.items()}
