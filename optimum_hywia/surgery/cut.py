"""Per-layer surgery: physically remove the rows and columns of pruned units.

Pure functions over modules. Our own slicing (rather than `transformers.pytorch_utils.prune_linear_layer`) keeps
the weights' dtype and `requires_grad`, which that helper resets to float32 / True.
"""

from __future__ import annotations

import torch
from torch import nn

from ..architectures import ArchitectureSpec, UnitGroup, UnitMember


def slice_linear(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear holding only rows (`dim=0`, with their bias entries) or columns (`dim=1`) `keep`."""
    keep = keep.to(linear.weight.device)
    weight = linear.weight.detach().index_select(dim, keep).clone()
    bias = linear.bias
    if bias is not None:
        bias = (bias.detach().index_select(0, keep) if dim == 0 else bias.detach()).clone()
    sliced = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    sliced.weight = nn.Parameter(weight, requires_grad=linear.weight.requires_grad)
    if bias is not None:
        sliced.bias = nn.Parameter(bias, requires_grad=linear.bias.requires_grad)
    return sliced


def kept_positions(unit_of: torch.Tensor, kept_units: torch.Tensor) -> torch.Tensor:
    """Rows/columns to keep: those of kept units and those that belong to no unit."""
    keep_mask = unit_of < 0
    keep_mask |= torch.isin(unit_of, kept_units.to(unit_of.device))
    return keep_mask.nonzero().flatten()


def _replace_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent_path) if parent_path else root, name, module)


def prune_member(layer: nn.Module, member: UnitMember, kept_units: torch.Tensor) -> None:
    linear = layer.get_submodule(member.path)
    _replace_submodule(layer, member.path, slice_linear(linear, kept_positions(member.unit_of, kept_units), member.dim))


def prune_group(layer: nn.Module, group: UnitGroup, kept_units: torch.Tensor) -> None:
    """Remove every unit of `group` that is not in `kept_units` from `layer`."""
    if len(kept_units) == group.num_units:
        return
    if len(kept_units) == 0:
        raise ValueError(f"Layer {group.layer} would lose all its {group.kind} units; at least one must stay.")
    for member in group.members:
        prune_member(layer, member, kept_units)
    if group.on_prune is not None:
        group.on_prune(layer, kept_units)


def apply_plan(
    model: nn.Module, spec: ArchitectureSpec, groups: list[UnitGroup], plan: dict[tuple[int, str], torch.Tensor]
) -> list[dict]:
    """Slice every group to its kept units, update the layers' attributes and return all layers' widths."""
    layers = spec.layers(model)
    for group in groups:
        if group.key in plan:
            prune_group(layers[group.layer], group, plan[group.key])
    layer_widths = []
    for layer in layers:
        widths = spec.read_widths(layer)
        spec.set_widths(layer, widths)
        layer_widths.append(widths)
    return layer_widths
