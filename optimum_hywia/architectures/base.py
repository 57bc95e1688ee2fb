"""Unit specs: which rows and columns of which projections form one prunable unit, per model family."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import torch
from torch import nn

logger = logging.getLogger(__name__)

ATTENTION = "attention"
MLP = "mlp"
UNIT_KINDS = (ATTENTION, MLP)
GroupKey = tuple[int, str]  # (layer index, unit kind): one group of units


@dataclass(frozen=True)
class UnitMember:
    """One projection that a group of units runs through.

    `unit_of[i]` is the unit that row i (`dim=0`, with bias entry i) or column i (`dim=1`) of the weight belongs
    to; -1 marks rows/columns that belong to no unit and are always kept (e.g. shared K/V rows when only query
    heads are pruned).
    """

    path: str
    dim: int
    unit_of: torch.Tensor


@dataclass
class UnitGroup:
    """The prunable units of one kind (attention or MLP) in one decoder layer.

    `blocks[u]` is the block of unit u where every block must lose the same number of units (query heads inside
    the KV groups they share); None when units are free. `on_prune(layer, kept_units)`, when set, runs after the
    surgery has sliced the members, for per-unit state that is not a Linear (Bloom: the kept heads' ALiBi slopes).
    """

    layer: int
    kind: str
    num_units: int
    members: list[UnitMember]
    params_per_unit: int
    blocks: torch.Tensor | None = None
    on_prune: Callable[[nn.Module, torch.Tensor], None] | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[int, str]:
        return (self.layer, self.kind)

    @property
    def mask_member(self) -> UnitMember:
        """The input columns of the output projection: where a unit's output can be scaled (soft masks)."""
        return next(member for member in self.members if member.dim == 1)


@dataclass(frozen=True)
class ArchitectureSpec:
    """What optimum-hywia knows about one model family: one entry of the table in `registry.py`."""

    family: str
    architectures: tuple[str, ...]
    layers_path: str
    unit_groups: Callable[[nn.Module, int, object, str], list[UnitGroup]]
    read_widths: Callable[[nn.Module], dict]
    set_widths: Callable[[nn.Module, dict], None]
    gqa_modes: tuple[str, ...] = ("kv_group", "query_heads")
    notes: str = field(default="", compare=False)

    def layers(self, model: nn.Module) -> nn.ModuleList:
        module = model
        for name in self.layers_path.split("."):
            module = getattr(module, name)
        return module


@lru_cache(maxsize=None)
def _note_single_kv_head(architecture: str) -> None:
    logger.info("%s has one key/value head: its attention is pruned by query heads (gqa_mode ignored).", architecture)


def prunes_query_heads(config: object, num_heads: int, num_kv_heads: int, gqa_mode: str) -> bool:
    """Whether attention units are single query heads (K/V heads kept) rather than whole KV groups.

    A model built with one KV head (Gemma 3 270M/1B) would have a single KV-group unit per layer, which can never be
    removed, so its attention is always pruned by query heads.
    """
    if num_kv_heads == num_heads:
        return False
    if getattr(config, "num_key_value_heads", None) == 1:
        _note_single_kv_head(type(config).__name__)
        return True
    return gqa_mode == "query_heads"


def rows_per_unit(num_units: int, rows_each: int) -> torch.Tensor:
    """unit_of for a projection whose rows are laid out unit after unit, `rows_each` rows per unit."""
    return torch.arange(num_units).repeat_interleave(rows_each)


def groups_by_layer(groups: list[UnitGroup]) -> dict[int, list[UnitGroup]]:
    """`groups` by the index of their decoder layer, in their order within each layer."""
    by_layer: dict[int, list[UnitGroup]] = {}
    for group in groups:
        by_layer.setdefault(group.layer, []).append(group)
    return by_layer


def member_module(layer: nn.Module, member: UnitMember) -> nn.Linear:
    return layer.get_submodule(member.path)


def params_per_unit(layer: nn.Module, members: list[UnitMember], num_units: int) -> int:
    """Weights (and bias entries) removed with one unit, counted from the members' real shapes."""
    total = 0
    for member in members:
        linear = member_module(layer, member)
        in_units = int((member.unit_of >= 0).sum())
        total += in_units * linear.weight.shape[1 - member.dim]
        if member.dim == 0 and linear.bias is not None:
            total += in_units
    return total // num_units


def gated_mlp_group(layer: nn.Module, index: int) -> UnitGroup:
    """Channel j of a gated MLP (`mlp.gate_proj`/`up_proj`/`down_proj`): gate and up row j, down column j."""
    channels = layer.mlp.gate_proj.out_features
    unit_of = torch.arange(channels)
    members = [
        UnitMember("mlp.gate_proj", 0, unit_of),
        UnitMember("mlp.up_proj", 0, unit_of),
        UnitMember("mlp.down_proj", 1, unit_of),
    ]
    return UnitGroup(index, MLP, channels, members, params_per_unit(layer, members, channels))
