"""`UnitMasks`: each unit's output scaled by a per-unit factor, through forward pre-hooks on the output projections.

One implementation for the fusion's soft masks (values in (0, 1) carrying gradients, replaced every step) and the
callback's hard masks (0 for removed units, 1 for kept ones, held while training goes on, with `RemovedWeights`
keeping the removed rows and columns at zero).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..architectures import UnitGroup, member_module
from ..allocation.budget import GroupKey
from .cut import kept_positions


def keep_mask(group: UnitGroup, kept: torch.Tensor) -> torch.Tensor:
    """A hard mask of `group`: 1.0 for the units in `kept`, 0.0 for the others."""
    return torch.zeros(group.num_units).index_fill_(0, kept, 1.0)


def _feature_scale(group: UnitGroup, mask: torch.Tensor) -> torch.Tensor:
    unit_of = group.mask_member.unit_of.to(mask.device)
    padded = torch.cat([mask, mask.new_ones(1)])  # index -1 (no unit) reads the trailing 1
    return padded[unit_of]


class UnitMasks:
    """While attached, the output of unit u of each group is multiplied by `values[group.key][u]`.

    `values` is read at every forward pass, so it may be replaced between steps (`update`); values may carry
    gradients. Use as a context manager, or `attach()` / `detach()` for masks that outlive a block.

    Example:
        >>> masks = UnitMasks(context.layers, context.groups, {g.key: torch.ones(g.num_units) for g in context.groups})  # doctest: +SKIP
        >>> with masks:  # doctest: +SKIP
        ...     loss = model(input_ids=batch, labels=batch).loss
    """

    def __init__(self, layers: nn.ModuleList, groups: Iterable[UnitGroup], values: dict[GroupKey, torch.Tensor]):
        self.layers, self.groups, self.values = layers, list(groups), dict(values)
        self._handles: list = []

    @classmethod
    def keeping(cls, layers: nn.ModuleList, groups: Iterable[UnitGroup], kept: dict[GroupKey, torch.Tensor]):
        """Hard masks zeroing every unit outside `kept`; groups that keep all their units get no hook."""
        pruned = [g for g in groups if len(kept[g.key]) < g.num_units]
        return cls(layers, pruned, {g.key: keep_mask(g, kept[g.key]) for g in pruned})

    def update(self, values: dict[GroupKey, torch.Tensor]) -> None:
        self.values.update(values)

    def attach(self) -> "UnitMasks":
        self.detach()
        for group in self.groups:
            module = self.layers[group.layer].get_submodule(group.mask_member.path)
            self._handles.append(module.register_forward_pre_hook(self._hook(group)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, group: UnitGroup):
        def scale_inputs(module: nn.Module, args: tuple) -> tuple:
            hidden = args[0]
            scale = _feature_scale(group, self.values[group.key]).to(device=hidden.device, dtype=hidden.dtype)
            return (hidden * scale, *args[1:])

        return scale_inputs

    def __enter__(self) -> "UnitMasks":
        return self.attach()

    def __exit__(self, *exc_info) -> None:
        self.detach()


class RemovedWeights:
    """The rows/columns (and bias entries) of removed units, held at zero while the model keeps its shapes.

    Example:
        >>> removed = RemovedWeights(layers, groups, kept)  # doctest: +SKIP
        >>> removed.zero_(); removed.zero_optimizer_state(optimizer)  # doctest: +SKIP
    """

    def __init__(self, layers: nn.ModuleList, groups: Iterable[UnitGroup], kept: dict[GroupKey, torch.Tensor]):
        self.targets: list[tuple[nn.Parameter, int, torch.Tensor]] = []
        for group in groups:
            if len(kept[group.key]) == group.num_units:
                continue
            for member in group.members:
                linear = member_module(layers[group.layer], member)
                removed = torch.ones(len(member.unit_of), dtype=torch.bool)
                removed[kept_positions(member.unit_of, kept[group.key])] = False
                positions = removed.nonzero().flatten()
                self.targets.append((linear.weight, member.dim, positions))
                if member.dim == 0 and linear.bias is not None:
                    self.targets.append((linear.bias, 0, positions))

    @torch.no_grad()
    def zero_(self) -> None:
        for parameter, dim, positions in self.targets:
            parameter.index_fill_(dim, positions.to(parameter.device), 0)

    @torch.no_grad()
    def zero_optimizer_state(self, optimizer) -> None:
        """Zero the moments of removed weights, so the optimizer cannot move them away from zero."""
        inner = getattr(optimizer, "optimizer", optimizer)
        for parameter, dim, positions in self.targets if inner is not None else []:
            for value in inner.state.get(parameter, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == parameter.shape:
                    value.index_fill_(dim, positions.to(value.device), 0)
