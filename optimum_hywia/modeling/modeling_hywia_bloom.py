# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Bloom type, ``hywia_bloom``: fused ``query_key_value`` laid out [head, (q, k, v), head_dim], ALiBi.

Each layer keeps its own heads and MLP channels; a layer that lost heads runs ``HyWIABloomAttention``, which keeps
each kept head's original ALiBi slope (the config records which original heads a layer kept, ``kept_heads``).
This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned-bloom", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import BloomConfig, BloomForCausalLM
from transformers.models.bloom.modeling_bloom import BloomAttention

from .modeling_hywia_base import PrunedModelHubMixin, check_format_version, keyed_entries, resize_projections

BLOOM_WIDTH_KEYS = ("num_attention_heads", "kept_heads", "intermediate_size")


class HyWIABloomAttention(BloomAttention):
    """Bloom attention over a subset of the original heads, each keeping its original ALiBi slope.

    `BloomModel` builds one ALiBi tensor for all `config.n_head` heads, shaped [batch * n_head, 1, kv_length]; this
    attention takes the rows of the heads it kept (`kept_heads`, original head indices) before the parent forward.

    Example:
        >>> set_bloom_attention_widths(model.transformer.h[3].self_attention, [0, 2, 5])  # doctest: +SKIP
    """

    def __init__(self, config: BloomConfig, layer_idx: int | None = None):
        super().__init__(config, layer_idx)
        self.kept_heads, self._kept_index = list(range(self.num_heads)), None

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor, alibi: torch.Tensor, *args, **kwargs):
        index = self._kept_index
        if index is None or index.device != alibi.device:  # built once per device, not on every step
            index = self._kept_index = torch.tensor(self.kept_heads, device=alibi.device)
        alibi = alibi.unflatten(0, (hidden_states.shape[0], -1)).index_select(1, index).flatten(0, 1)
        return super().forward(hidden_states, residual, alibi, *args, **kwargs)


def set_bloom_attention_widths(attention: nn.Module, kept_heads: list[int]) -> None:
    """Make a Bloom attention run over `kept_heads` (original indices, ascending) with their original slopes."""
    if not isinstance(attention, HyWIABloomAttention):
        attention.__class__ = HyWIABloomAttention
    attention.kept_heads, attention._kept_index = [int(head) for head in kept_heads], None
    attention.num_heads = len(attention.kept_heads)


def resize_bloom_layer(layer: nn.Module, widths: dict) -> None:
    """Give a Bloom block the projection shapes of `widths` (weights are loaded later)."""
    attention, mlp = layer.self_attention, layer.mlp
    width = widths["num_attention_heads"] * attention.head_dim
    resize_projections(attention, {"query_key_value": 3 * width}, {"dense": width})
    set_bloom_attention_widths(attention, widths["kept_heads"])
    channels = widths["intermediate_size"]
    resize_projections(mlp, {"dense_h_to_4h": channels}, {"dense_4h_to_h": channels})


def check_bloom_layer_widths(layer_widths: list | None, num_hidden_layers: int, num_heads: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a Bloom of this depth and head count."""
    for index, widths in keyed_entries(layer_widths, num_hidden_layers, BLOOM_WIDTH_KEYS):
        kept = list(widths["kept_heads"])
        valid_heads = kept == sorted(set(kept)) and all(0 <= head < num_heads for head in kept)
        if not kept or len(kept) != widths["num_attention_heads"] or not valid_heads or widths["intermediate_size"] < 1:
            raise ValueError(
                f"`layer_widths[{index}]` = {widths} is invalid: `kept_heads` must be ascending, distinct indices in "
                f"[0, {num_heads}) and number `num_attention_heads` >= 1; `intermediate_size` must be >= 1."
            )


@strict
class HyWIABloomConfig(BloomConfig):
    """A Bloom config whose layers may each keep their own heads (with their ALiBi slopes) and MLP channels."""

    model_type = "hywia_bloom"
    layer_widths: list | None = None
    hywia: dict | None = None

    def validate_architecture(self):
        check_format_version(self.hywia)
        check_bloom_layer_widths(self.layer_widths, self.n_layer, self.n_head)

    def original_width_values(self, widths: dict) -> dict:
        """`BloomConfig` fixes the MLP at 4 x hidden_size and derives the ALiBi slopes from `n_head`."""
        if widths["kept_heads"] != list(range(self.n_head)) or widths["intermediate_size"] != 4 * self.hidden_size:
            raise ValueError(
                "BloomConfig cannot describe removed heads or MLP channels (its MLP is always 4 x hidden_size and "
                "each head's ALiBi slope follows from n_head)"
            )
        return {}


class HyWIABloomForCausalLM(PrunedModelHubMixin, BloomForCausalLM):
    """A structurally pruned Bloom: heads and MLP channels removed per layer, kept heads keep their ALiBi slopes."""

    config_class = HyWIABloomConfig

    def __init__(self, config: HyWIABloomConfig):
        super().__init__(config)
        for layer, widths in zip(self.transformer.h, config.layer_widths or []):
            resize_bloom_layer(layer, widths)
        self.post_init()
