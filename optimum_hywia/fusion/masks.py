"""Soft masks on unit outputs: a forward pre-hook scales the output projection's input features per unit."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..architectures import UnitGroup
from ..importance.base import GroupKey, ScoringContext


def _feature_scale(group: UnitGroup, mask: torch.Tensor) -> torch.Tensor:
    unit_of = group.mask_member.unit_of.to(mask.device)
    padded = torch.cat([mask, mask.new_ones(1)])  # index -1 (no unit) reads the trailing 1
    return padded[unit_of]


@contextlib.contextmanager
def unit_output_masks(context: ScoringContext, masks: dict[GroupKey, torch.Tensor]) -> Iterator[None]:
    """While active, each unit's output is multiplied by `masks[group.key][unit]` (values may carry gradients).

    `masks` is read at every forward pass, so the caller may replace its entries between steps.
    """
    handles = []
    try:
        for group in context.groups:
            module = context.layer_of(group).get_submodule(group.mask_member.path)

            def scale_inputs(module, args, key=group.key, group=group):
                hidden = args[0]
                scale = _feature_scale(group, masks[key]).to(device=hidden.device, dtype=hidden.dtype)
                return (hidden * scale, *args[1:])

            handles.append(module.register_forward_pre_hook(scale_inputs))
        yield
    finally:
        for handle in handles:
            handle.remove()
