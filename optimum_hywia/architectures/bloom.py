"""Unit spec of Bloom: fused `query_key_value` laid out per head, ALiBi slopes per head, non-gated MLP with biases.

`BloomAttention._reshape` views the fused output as [batch, seq, n_head, 3, head_dim]: the rows of head h are
rows `h*3*head_dim` to `(h+1)*3*head_dim`, holding its query, key and value rows in that order. A head unit is those
rows (with their bias entries) plus the head's `head_dim` input columns of `dense`.

ALiBi: `BloomModel` builds one bias for all `config.n_head` heads, and head h's slope depends on h. A layer that
loses heads must keep the original slopes of the heads it keeps: each group records the kept heads' original indices
(`kept_heads` in `layer_widths`), and the pruned attention selects those rows of the shared ALiBi tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from ..modeling.modeling_hywia_bloom import set_bloom_attention_widths
from .base import ATTENTION, MLP, ArchitectureSpec, UnitGroup, UnitMember, params_per_unit, rows_per_unit


def qkv_unit_of(num_heads: int, head_dim: int) -> torch.Tensor:
    """unit_of for the rows of Bloom's fused query_key_value: [head, (q, k, v), head_dim], head after head."""
    return rows_per_unit(num_heads, 3 * head_dim)


def _current_kept_heads(attention: nn.Module) -> list[int]:
    """Original indices of the heads `attention` still has (all of them before any pruning)."""
    kept = getattr(attention, "kept_heads", None)
    return list(kept) if kept is not None else list(range(attention.num_heads))


def read_bloom_widths(layer: nn.Module) -> dict:
    attention = layer.self_attention
    heads = attention.query_key_value.out_features // (3 * attention.head_dim)
    kept = _current_kept_heads(attention)
    if len(kept) != heads:
        raise RuntimeError(
            f"A Bloom layer has {heads} heads but records {len(kept)} kept heads ({kept}): its heads were sliced "
            "without `UnitGroup.on_prune` running, so their ALiBi slopes are unknown."
        )
    return {"num_attention_heads": heads, "kept_heads": kept, "intermediate_size": layer.mlp.dense_h_to_4h.out_features}


def set_bloom_widths(layer: nn.Module, widths: dict) -> None:
    set_bloom_attention_widths(layer.self_attention, widths["kept_heads"])


def keep_alibi_slopes(layer: nn.Module, kept_units: torch.Tensor) -> None:
    """After surgery: the layer's heads are now `kept_units` of its previous heads; record their original indices."""
    before = _current_kept_heads(layer.self_attention)
    set_bloom_attention_widths(layer.self_attention, [before[unit] for unit in kept_units.tolist()])


def _attention_group(layer: nn.Module, index: int) -> UnitGroup:
    attention = layer.self_attention
    heads, head_dim = read_bloom_widths(layer)["num_attention_heads"], attention.head_dim
    members = [
        UnitMember("self_attention.query_key_value", 0, qkv_unit_of(heads, head_dim)),
        UnitMember("self_attention.dense", 1, rows_per_unit(heads, head_dim)),
    ]
    return UnitGroup(
        index, ATTENTION, heads, members, params_per_unit(layer, members, heads), on_prune=keep_alibi_slopes
    )


def _mlp_group(layer: nn.Module, index: int) -> UnitGroup:
    channels = layer.mlp.dense_h_to_4h.out_features
    unit_of = torch.arange(channels)
    members = [UnitMember("mlp.dense_h_to_4h", 0, unit_of), UnitMember("mlp.dense_4h_to_h", 1, unit_of)]
    return UnitGroup(index, MLP, channels, members, params_per_unit(layer, members, channels))


def bloom_unit_groups(layer: nn.Module, index: int, config: object, gqa_mode: str) -> list[UnitGroup]:
    """Head units and MLP channel units of one Bloom block (multi-head attention: `gqa_mode` does not apply)."""
    if layer.self_attention.slow_but_exact and layer.self_attention.pretraining_tp > 1:
        raise ValueError(
            f"Bloom with `slow_but_exact=True` and `pretraining_tp={layer.self_attention.pretraining_tp}` is not "
            "supported: that tensor-parallel emulation assumes an attention as wide as hidden_size. Load the model "
            "with `slow_but_exact=False` (the default) before pruning."
        )
    return [_attention_group(layer, index), _mlp_group(layer, index)]


BLOOM_SPEC = ArchitectureSpec(
    family="bloom",
    architectures=("BloomForCausalLM", "HyWIABloomForCausalLM"),
    layers_path="transformer.h",
    unit_groups=bloom_unit_groups,
    read_widths=read_bloom_widths,
    set_widths=set_bloom_widths,
    notes="Bloom: heads inside the fused per-head query_key_value (kept heads keep their ALiBi slopes), "
    "non-gated MLP channels with biases",
)
