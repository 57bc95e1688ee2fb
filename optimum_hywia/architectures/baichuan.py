"""Unit spec of Baichuan (Baichuan-7B, Baichuan2-7B; remote code): fused `W_pack`, `o_proj`, gated MLP.

Recognised by architecture name (`BaiChuanForCausalLM` for Baichuan-7B, `BaichuanForCausalLM` for Baichuan2 and
the 13B models) and module names. `W_pack` stacks the query, key and value projections: its rows are
[q of head 0..n-1; k of head 0..n-1; v of head 0..n-1], `hidden_size` rows each, so a head unit is three row blocks
of `head_dim` rows (one in each third) plus the head's `head_dim` input columns of `o_proj`.

Baichuan-13B / Baichuan2-13B use ALiBi, built once for all heads inside their remote code: their heads are not
offered as units (only MLP channels are), with a warning.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import torch
from torch import nn

from .base import ATTENTION, ArchitectureSpec, UnitGroup, UnitMember, gated_mlp_group, params_per_unit, rows_per_unit

logger = logging.getLogger(__name__)


def w_pack_unit_of(num_heads: int, head_dim: int) -> torch.Tensor:
    """unit_of for the rows of Baichuan's fused W_pack: [q; k; v], each laid out head after head."""
    per_projection = rows_per_unit(num_heads, head_dim)
    return torch.cat([per_projection, per_projection, per_projection])


def read_baichuan_widths(layer: nn.Module) -> dict:
    attention = layer.self_attn
    return {
        "num_attention_heads": attention.W_pack.out_features // (3 * attention.head_dim),
        "intermediate_size": layer.mlp.gate_proj.out_features,
    }


def set_baichuan_widths(layer: nn.Module, widths: dict) -> None:
    """What Baichuan's attention forward reads besides its Linear shapes: it splits and merges with `hidden_size`.

    The pruned model's template (`modeling/modeling_hywia_baichuan_template.py`, which the package cannot import: it
    imports the checkpoint's code) sets the same two attributes when it loads.
    """
    attention = layer.self_attn
    attention.num_heads = widths["num_attention_heads"]
    attention.hidden_size = attention.num_heads * attention.head_dim


@lru_cache(maxsize=None)
def _warn_alibi_once() -> None:
    logger.warning(
        "This Baichuan has no rotary embedding (Baichuan-13B / Baichuan2-13B, ALiBi): its remote code builds one "
        "ALiBi mask for all heads, so only its MLP channels are pruned."
    )


def _attention_group(layer: nn.Module, index: int) -> UnitGroup:
    heads, head_dim = read_baichuan_widths(layer)["num_attention_heads"], layer.self_attn.head_dim
    members = [
        UnitMember("self_attn.W_pack", 0, w_pack_unit_of(heads, head_dim)),
        UnitMember("self_attn.o_proj", 1, rows_per_unit(heads, head_dim)),
    ]
    return UnitGroup(index, ATTENTION, heads, members, params_per_unit(layer, members, heads))


def baichuan_unit_groups(layer: nn.Module, index: int, config: object, gqa_mode: str) -> list[UnitGroup]:
    """Head units (RoPE models only) and MLP channel units of one Baichuan layer (multi-head: no `gqa_mode`)."""
    if not hasattr(layer.self_attn, "rotary_emb"):
        _warn_alibi_once()
        return [gated_mlp_group(layer, index)]
    return [_attention_group(layer, index), gated_mlp_group(layer, index)]


BAICHUAN_SPEC = ArchitectureSpec(
    family="baichuan",
    architectures=("BaiChuanForCausalLM", "BaichuanForCausalLM", "HyWIABaichuanForCausalLM"),
    layers_path="model.layers",
    unit_groups=baichuan_unit_groups,
    read_widths=read_baichuan_widths,
    set_widths=set_baichuan_widths,
    notes="Baichuan-7B / Baichuan2-7B (remote code): heads inside the fused W_pack = [q; k; v], gated MLP channels",
)
