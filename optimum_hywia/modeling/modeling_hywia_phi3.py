# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Phi-3 type, ``hywia_phi3``: fused ``qkv_proj`` = [q heads; k heads; v heads], fused ``gate_up_proj``
= [gate; up].

`Phi3Attention` splits its fused output at ``config.num_attention_heads * head_dim``, a model-wide count, so a layer
that lost heads runs ``HyWIAPhi3Attention``, which splits at its own head counts. The MLP splits ``gate_up_proj``
in halves and needs nothing more. ``head_dim`` (and the rotary size) of Phi-3 follow from ``hidden_size //
num_attention_heads``: the config keeps the original head count and the layers record theirs in ``layer_widths``.

This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned-phi3", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import Phi3Config, Phi3ForCausalLM
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.phi3.modeling_phi3 import Phi3Attention, apply_rotary_pos_emb, eager_attention_forward

from .modeling_hywia_base import (
    PrunedModelHubMixin,
    check_format_version,
    check_layer_widths,
    mlp_only_width_values,
    resize_projections,
)


class HyWIAPhi3Attention(Phi3Attention):
    """Phi-3 attention whose fused `qkv_proj` holds `num_heads` query and `num_key_value_heads` key/value heads.

    Example:
        >>> set_phi3_attention_widths(model.model.layers[2].self_attn, 4, 2)  # doctest: +SKIP
    """

    def forward(self, hidden_states, position_embeddings, attention_mask, cache=None, **kwargs):
        hidden_shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        query_width, kv_width = self.num_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        query, key, value = self.qkv_proj(hidden_states).split([query_width, kv_width, kv_width], dim=-1)
        query, key, value = (states.view(hidden_shape).transpose(1, 2) for states in (query, key, value))
        query, key = apply_rotary_pos_emb(query, key, *position_embeddings)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            sliding_window=getattr(self.config, "sliding_window", None),
            **kwargs,
        )
        return self.o_proj(output.reshape(*hidden_states.shape[:-1], -1).contiguous()), weights


def set_phi3_attention_widths(attention: nn.Module, num_heads: int, num_kv_heads: int) -> None:
    """Make a Phi-3 attention split its fused `qkv_proj` at these head counts."""
    if not isinstance(attention, HyWIAPhi3Attention):
        attention.__class__ = HyWIAPhi3Attention
    attention.num_heads, attention.num_key_value_heads = num_heads, num_kv_heads
    attention.num_key_value_groups = num_heads // num_kv_heads


def resize_phi3_layer(layer: nn.Module, widths: dict) -> None:
    """Give a Phi-3 decoder layer the fused projection shapes of `widths` (weights are loaded later)."""
    attention, mlp = layer.self_attn, layer.mlp
    heads, kv_heads = widths["num_attention_heads"], widths["num_key_value_heads"]
    query_width = heads * attention.head_dim
    fused_width = query_width + 2 * kv_heads * attention.head_dim
    resize_projections(attention, {"qkv_proj": fused_width}, {"o_proj": query_width})
    set_phi3_attention_widths(attention, heads, kv_heads)
    channels = widths["intermediate_size"]
    resize_projections(mlp, {"gate_up_proj": 2 * channels}, {"down_proj": channels})


@strict
class HyWIAPhi3Config(Phi3Config):
    """A Phi-3 config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_phi3"
    layer_widths: list | None = None
    hywia: dict | None = None

    def validate_architecture(self):
        check_format_version(self.hywia)
        check_layer_widths(self.layer_widths, self.num_hidden_layers)

    def original_width_values(self, widths: dict) -> dict:
        """Phi3Config derives head_dim and the rotary size from its head count: only MLP widths can change."""
        return mlp_only_width_values(self, widths, "Phi3Config")


class HyWIAPhi3ForCausalLM(PrunedModelHubMixin, Phi3ForCausalLM):
    """A structurally pruned Phi-3: heads and MLP channels removed per layer inside the fused projections."""

    config_class = HyWIAPhi3Config

    def __init__(self, config: HyWIAPhi3Config):
        super().__init__(config)
        for layer, widths in zip(self.model.layers, config.layer_widths or []):
            resize_phi3_layer(layer, widths)
        self.post_init()
