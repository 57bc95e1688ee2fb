"""Unit spec of Phi-3 (Phi-3/3.5 mini and medium): fused `qkv_proj`, `o_proj`, fused `gate_up_proj`, `down_proj`.

`qkv_proj` stacks [q of heads 0..H-1; k of KV heads 0..G-1; v of KV heads 0..G-1], `head_dim` rows per head; a KV
group unit is its query heads' rows, its K and V rows, and its query heads' `o_proj` columns. With query-head units
(`gqa_mode="query_heads"`, or a model with one KV head) the K/V rows belong to no unit and stay. `gate_up_proj`
stacks [gate; up]: MLP channel j is row j of each half and column j of `down_proj`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..modeling.modeling_hywia_phi3 import set_phi3_attention_widths
from .base import (
    ATTENTION,
    MLP,
    ArchitectureSpec,
    UnitGroup,
    UnitMember,
    params_per_unit,
    prunes_query_heads,
    rows_per_unit,
)


def read_phi3_widths(layer: nn.Module) -> dict:
    attention, head_dim = layer.self_attn, layer.self_attn.head_dim
    heads = attention.o_proj.in_features // head_dim
    return {
        "num_attention_heads": heads,
        "num_key_value_heads": (attention.qkv_proj.out_features - heads * head_dim) // (2 * head_dim),
        "intermediate_size": layer.mlp.down_proj.in_features,
    }


def set_phi3_widths(layer: nn.Module, widths: dict) -> None:
    set_phi3_attention_widths(layer.self_attn, widths["num_attention_heads"], widths["num_key_value_heads"])


def qkv_unit_of(heads: int, kv_heads: int, head_dim: int, query_head_units: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """unit_of for the rows of the fused [q; k; v] and for the columns of `o_proj` (the query rows' order)."""
    if query_head_units:
        query = rows_per_unit(heads, head_dim)
        return torch.cat([query, torch.full((2 * kv_heads * head_dim,), -1)]), query
    query = rows_per_unit(kv_heads, heads // kv_heads * head_dim)
    key_value = rows_per_unit(kv_heads, head_dim)
    return torch.cat([query, key_value, key_value]), query


def gate_up_unit_of(channels: int) -> torch.Tensor:
    """unit_of for the rows of the fused [gate; up]: channel j is row j of each half."""
    return torch.arange(channels).repeat(2)


def _attention_group(layer: nn.Module, index: int, config: object, gqa_mode: str) -> UnitGroup:
    widths = read_phi3_widths(layer)
    heads, kv_heads = widths["num_attention_heads"], widths["num_key_value_heads"]
    by_query_head = prunes_query_heads(config, heads, kv_heads, gqa_mode)
    qkv, query = qkv_unit_of(heads, kv_heads, layer.self_attn.head_dim, by_query_head)
    members = [UnitMember("self_attn.qkv_proj", 0, qkv), UnitMember("self_attn.o_proj", 1, query)]
    units = heads if by_query_head else kv_heads
    blocks = torch.arange(heads) // (heads // kv_heads) if by_query_head else None
    return UnitGroup(index, ATTENTION, units, members, params_per_unit(layer, members, units), blocks=blocks)


def _mlp_group(layer: nn.Module, index: int) -> UnitGroup:
    channels = layer.mlp.down_proj.in_features
    members = [
        UnitMember("mlp.gate_up_proj", 0, gate_up_unit_of(channels)),
        UnitMember("mlp.down_proj", 1, torch.arange(channels)),
    ]
    return UnitGroup(index, MLP, channels, members, params_per_unit(layer, members, channels))


def phi3_unit_groups(layer: nn.Module, index: int, config: object, gqa_mode: str) -> list[UnitGroup]:
    """Attention units (MHA heads, GQA KV groups or query heads) and MLP channels inside Phi-3's fused layouts."""
    return [_attention_group(layer, index, config, gqa_mode), _mlp_group(layer, index)]


PHI3_SPEC = ArchitectureSpec(
    family="phi3",
    architectures=("Phi3ForCausalLM", "HyWIAPhi3ForCausalLM"),
    layers_path="model.layers",
    unit_groups=phi3_unit_groups,
    read_widths=read_phi3_widths,
    set_widths=set_phi3_widths,
    notes="Phi-3: heads inside the fused qkv_proj = [q; k; v] (KV groups or query heads), channels inside the fused "
    "gate_up_proj = [gate; up]",
)
