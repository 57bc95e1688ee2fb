"""Unit spec of the Llama family (Llama-1/2/3, Vicuna, Mistral, Qwen2, Qwen3, Gemma 3): q/k/v/o attention, gated MLP.

Qwen3 and Gemma 3 add per-head q/k RMSNorms over `head_dim` (shared by all heads, so untouched by pruning); Gemma 3
adds pre/post feed-forward norms over the hidden size, scaled embeddings and sliding-window layers, none of which
depend on a layer's head or channel count.
"""

from __future__ import annotations

import torch
from torch import nn

from ..modeling.modeling_hywia_base import set_llama_attention_widths
from .base import (
    ATTENTION,
    ArchitectureSpec,
    UnitGroup,
    UnitMember,
    gated_mlp_group,
    params_per_unit,
    prunes_query_heads,
    rows_per_unit,
)


def read_llama_widths(layer: nn.Module) -> dict:
    attention = layer.self_attn
    return {
        "num_attention_heads": attention.q_proj.out_features // attention.head_dim,
        "num_key_value_heads": attention.k_proj.out_features // attention.head_dim,
        "intermediate_size": layer.mlp.gate_proj.out_features,
    }


def set_llama_widths(layer: nn.Module, widths: dict) -> None:
    set_llama_attention_widths(layer.self_attn, widths["num_attention_heads"], widths["num_key_value_heads"])


def _attention_group(layer: nn.Module, index: int, config: object, gqa_mode: str) -> UnitGroup:
    widths = read_llama_widths(layer)
    heads, kv_heads = widths["num_attention_heads"], widths["num_key_value_heads"]
    head_dim = layer.self_attn.head_dim
    per_group = heads // kv_heads
    if not prunes_query_heads(config, heads, kv_heads, gqa_mode):
        # one unit = one KV head with the query heads that share it
        q_unit_of = rows_per_unit(kv_heads, per_group * head_dim)
        kv_unit_of = rows_per_unit(kv_heads, head_dim)
        members = [
            UnitMember("self_attn.q_proj", 0, q_unit_of),
            UnitMember("self_attn.k_proj", 0, kv_unit_of),
            UnitMember("self_attn.v_proj", 0, kv_unit_of),
            UnitMember("self_attn.o_proj", 1, q_unit_of),
        ]
        return UnitGroup(index, ATTENTION, kv_heads, members, params_per_unit(layer, members, kv_heads))
    # one unit = one query head; K/V heads stay, and every KV group loses the same number of query heads
    q_unit_of = rows_per_unit(heads, head_dim)
    members = [UnitMember("self_attn.q_proj", 0, q_unit_of), UnitMember("self_attn.o_proj", 1, q_unit_of)]
    blocks = torch.arange(heads) // per_group
    return UnitGroup(index, ATTENTION, heads, members, params_per_unit(layer, members, heads), blocks=blocks)


def llama_unit_groups(layer: nn.Module, index: int, config: object, gqa_mode: str) -> list[UnitGroup]:
    return [_attention_group(layer, index, config, gqa_mode), gated_mlp_group(layer, index)]


LLAMA_SPEC = ArchitectureSpec(
    family="llama",
    architectures=(
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen3ForCausalLM",
        "Gemma3ForCausalLM",
        "GraniteForCausalLM",
        "HyWIALlamaForCausalLM",
        "HyWIAMistralForCausalLM",
        "HyWIAQwen2ForCausalLM",
        "HyWIAQwen3ForCausalLM",
        "HyWIAGemma3ForCausalLM",
        "HyWIAGraniteForCausalLM",
    ),
    layers_path="model.layers",
    unit_groups=llama_unit_groups,
    read_widths=read_llama_widths,
    set_widths=set_llama_widths,
    notes="Llama-1/2/3, Vicuna, Mistral, Qwen2 (q/k/v biases), Qwen3 and Gemma 3 (q/k norms), Granite (multipliers): MHA heads, GQA KV "
    "groups or query heads (always query heads with one KV head), gated MLP",
)
