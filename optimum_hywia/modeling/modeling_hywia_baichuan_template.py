# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""A structurally pruned Baichuan over this checkpoint's own remote code (load with trust_remote_code=True).

Every decoder layer keeps its own number of attention heads and MLP channels, recorded in `config.layer_widths`;
the model builds the checkpoint's Baichuan, then resizes each layer's projections before the weights load.

This is a static template: optimum-hywia (`modeling/baichuan.py`) writes it, as ``modeling_hywia_baichuan.py``,
beside the checkpoint's own ``modeling_baichuan.py`` and ``configuration_baichuan.py``, changing only the two
imports marked ``# hywia: base`` to the checkpoint's module and class names (Baichuan2: `BaichuanForCausalLM`,
`BaichuanConfig`; Baichuan-7B: `BaiChuanForCausalLM`, `BaiChuanConfig`); ``modeling_hywia_base.py`` goes beside
it. Inside the package it is never imported (its relative imports name the checkpoint's files).

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("pruned-baichuan", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from torch import nn

from .configuration_baichuan import BaichuanConfig as BaichuanConfigBase  # hywia: base
from .modeling_baichuan import BaichuanForCausalLM as BaichuanBase  # hywia: base
from .modeling_hywia_base import check_depth, check_format_version, mlp_only_width_values, resize_projections

BAICHUAN_WIDTH_KEYS = ("num_attention_heads", "intermediate_size")


def set_baichuan_attention_widths(attention: nn.Module, num_heads: int) -> None:
    """What Baichuan's attention forward reads besides its Linear shapes: it splits and merges with `hidden_size`.

    optimum-hywia's pruning sets the same two attributes (`architectures/baichuan.py`).
    """
    attention.num_heads = num_heads
    attention.hidden_size = num_heads * attention.head_dim


def resize_baichuan_layer(layer: nn.Module, widths: dict) -> None:
    """Give a Baichuan decoder layer the projection shapes of `widths` (weights are loaded later)."""
    attention, mlp = layer.self_attn, layer.mlp
    width = widths["num_attention_heads"] * attention.head_dim
    resize_projections(attention, {"W_pack": 3 * width}, {"o_proj": width})
    set_baichuan_attention_widths(attention, widths["num_attention_heads"])
    channels = widths["intermediate_size"]
    resize_projections(mlp, {"gate_proj": channels, "up_proj": channels}, {"down_proj": channels})


def check_baichuan_layer_widths(layer_widths: list | None, num_hidden_layers: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a Baichuan of `num_hidden_layers` layers."""
    if layer_widths is None:
        return
    check_depth(layer_widths, num_hidden_layers)
    for index, widths in enumerate(layer_widths):
        if sorted(widths) != sorted(BAICHUAN_WIDTH_KEYS):
            raise ValueError(
                f"`layer_widths[{index}]` = {widths}: each entry needs exactly num_attention_heads, intermediate_size."
            )
        if min(widths.values()) < 1:
            raise ValueError(f"`layer_widths[{index}]` = {widths} is invalid: widths must be >= 1.")


class PrunedBaichuanConfigMixin:
    """Adds `layer_widths` (per-layer heads and MLP channels) and `hywia` (how it was pruned) to Baichuan's config."""

    def __init__(self, layer_widths: list | None = None, hywia: dict | None = None, **kwargs):
        self.layer_widths = layer_widths
        self.hywia = hywia
        super().__init__(**kwargs)
        check_format_version(hywia)
        check_baichuan_layer_widths(layer_widths, self.num_hidden_layers)

    def original_width_values(self, widths: dict) -> dict:
        """The widths Baichuan's own config can carry: MLP channels, not heads (head_dim = hidden / heads)."""
        return mlp_only_width_values(self, widths, "Baichuan\'s config", head_keys=("num_attention_heads",))


class PrunedBaichuanModelMixin:
    """Builds the checkpoint's Baichuan, then resizes each layer to `config.layer_widths` before weights load."""

    hywia_family = "baichuan"

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        for layer, widths in zip(self.model.layers, config.layer_widths or []):
            resize_baichuan_layer(layer, widths)
        self.post_init()


class HyWIABaichuanConfig(PrunedBaichuanConfigMixin, BaichuanConfigBase):
    """Baichuan's config with per-layer widths (`layer_widths`) and the pruning record (`hywia`)."""

    model_type = "hywia_baichuan"
    # an __init__ of its own: transformers turns config subclasses without one into dataclasses with a generated one
    __init__ = PrunedBaichuanConfigMixin.__init__


class HyWIABaichuanForCausalLM(PrunedBaichuanModelMixin, BaichuanBase):
    """A structurally pruned Baichuan: attention heads and MLP channels removed per layer."""

    config_class = HyWIABaichuanConfig
