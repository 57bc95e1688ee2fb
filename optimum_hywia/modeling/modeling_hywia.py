# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""Pruned-model types written by optimum-hywia: one config + causal-LM class per supported family.

A pruned model keeps the architecture of its family but lets every decoder layer have its own number of attention
heads, key/value heads and MLP channels. The config records them in ``layer_widths``; the model builds the original
architecture and then resizes each layer's projections to those widths before the weights load.

This file is self-contained on purpose (it imports only torch, transformers and huggingface_hub): `save_pretrained`
copies it beside the weights, so a pruned model loads with ``trust_remote_code=True`` where optimum-hywia is not
installed.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

WIDTH_KEYS = ("num_attention_heads", "num_key_value_heads", "intermediate_size")


def resized_linear(linear: nn.Linear, in_features: int | None = None, out_features: int | None = None) -> nn.Linear:
    """An uninitialised Linear shaped like `linear` (bias, dtype, device) with new in/out features."""
    return nn.Linear(
        in_features if in_features is not None else linear.in_features,
        out_features if out_features is not None else linear.out_features,
        bias=linear.bias is not None,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
    )


def set_llama_attention_widths(attention: nn.Module, num_heads: int, num_kv_heads: int) -> None:
    """Update what a Llama-family attention forward reads besides its Linear shapes."""
    attention.num_key_value_groups = num_heads // num_kv_heads


def resize_llama_layer(layer: nn.Module, widths: dict) -> None:
    """Give a Llama/Mistral/Qwen2 decoder layer the projection shapes of `widths` (weights are loaded later)."""
    attention, mlp = layer.self_attn, layer.mlp
    head_dim = attention.head_dim
    q_width = widths["num_attention_heads"] * head_dim
    kv_width = widths["num_key_value_heads"] * head_dim
    attention.q_proj = resized_linear(attention.q_proj, out_features=q_width)
    attention.k_proj = resized_linear(attention.k_proj, out_features=kv_width)
    attention.v_proj = resized_linear(attention.v_proj, out_features=kv_width)
    attention.o_proj = resized_linear(attention.o_proj, in_features=q_width)
    set_llama_attention_widths(attention, widths["num_attention_heads"], widths["num_key_value_heads"])
    channels = widths["intermediate_size"]
    mlp.gate_proj = resized_linear(mlp.gate_proj, out_features=channels)
    mlp.up_proj = resized_linear(mlp.up_proj, out_features=channels)
    mlp.down_proj = resized_linear(mlp.down_proj, in_features=channels)


def check_layer_widths(layer_widths: list | None, num_hidden_layers: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a model of `num_hidden_layers` layers."""
    if layer_widths is None:
        return
    if len(layer_widths) != num_hidden_layers:
        raise ValueError(
            f"`layer_widths` has {len(layer_widths)} entries, expected one per layer ({num_hidden_layers})."
        )
    for index, widths in enumerate(layer_widths):
        missing = [key for key in WIDTH_KEYS if key not in widths]
        if missing:
            raise ValueError(f"`layer_widths[{index}]` lacks {missing}; each entry needs {list(WIDTH_KEYS)}.")
        heads, kv_heads = widths["num_attention_heads"], widths["num_key_value_heads"]
        if min(heads, kv_heads, widths["intermediate_size"]) < 1 or heads % kv_heads:
            raise ValueError(
                f"`layer_widths[{index}]` = {widths} is invalid: widths must be >= 1 and "
                "num_attention_heads a multiple of num_key_value_heads."
            )


class PrunedLayersMixin:
    """Resizes decoder layers to `config.layer_widths` right after the base architecture is built."""

    def _resize_to_layer_widths(self) -> None:
        for layer, widths in zip(self.model.layers, self.config.layer_widths or []):
            resize_llama_layer(layer, widths)
        self.post_init()


@strict
class HyWIALlamaConfig(LlamaConfig):
    """A Llama config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_llama"
    layer_widths: list | None = None
    hywia: dict | None = None

    def validate_architecture(self):
        check_layer_widths(self.layer_widths, self.num_hidden_layers)


@strict
class HyWIAMistralConfig(MistralConfig):
    """A Mistral config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_mistral"
    layer_widths: list | None = None
    hywia: dict | None = None

    def validate_architecture(self):
        check_layer_widths(self.layer_widths, self.num_hidden_layers)


@strict
class HyWIAQwen2Config(Qwen2Config):
    """A Qwen2 config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_qwen2"
    layer_widths: list | None = None
    hywia: dict | None = None

    def validate_architecture(self):
        check_layer_widths(self.layer_widths, self.num_hidden_layers)


class HyWIALlamaForCausalLM(PrunedLayersMixin, LlamaForCausalLM):
    """A structurally pruned Llama (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIALlamaConfig

    def __init__(self, config: HyWIALlamaConfig):
        super().__init__(config)
        self._resize_to_layer_widths()


class HyWIAMistralForCausalLM(PrunedLayersMixin, MistralForCausalLM):
    """A structurally pruned Mistral (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAMistralConfig

    def __init__(self, config: HyWIAMistralConfig):
        super().__init__(config)
        self._resize_to_layer_widths()


class HyWIAQwen2ForCausalLM(PrunedLayersMixin, Qwen2ForCausalLM):
    """A structurally pruned Qwen2 (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAQwen2Config

    def __init__(self, config: HyWIAQwen2Config):
        super().__init__(config)
        self._resize_to_layer_widths()


# base model_type -> (pruned config class, pruned model class)
PRUNED_TYPES = {
    "llama": (HyWIALlamaConfig, HyWIALlamaForCausalLM),
    "mistral": (HyWIAMistralConfig, HyWIAMistralForCausalLM),
    "qwen2": (HyWIAQwen2Config, HyWIAQwen2ForCausalLM),
}
