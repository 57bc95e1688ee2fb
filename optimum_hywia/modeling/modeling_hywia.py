# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""Pruned-model types written by optimum-hywia: one config + causal-LM class per supported family.

A pruned model keeps the architecture of its family but lets every decoder layer have its own number of attention
heads, key/value heads and MLP channels. The config records them in ``layer_widths``; the model builds the original
architecture and then resizes each layer's projections to those widths before the weights load (Qwen3 and Gemma 3
have the Llama layout plus per-head q/k norms, which do not depend on the head count; Phi-3's fused projections
live in ``modeling_hywia_phi3.py``). A pruned Bloom
also records which original heads each layer kept (``kept_heads``), so they keep their ALiBi slopes. (Baichuan, whose
modeling code ships with its checkpoints, gets a module generated over that code instead: optimum_hywia's
``modeling/baichuan.py``.)

This file is self-contained on purpose (it imports only torch, transformers and huggingface_hub): `save_pretrained`
copies it beside the weights, so a pruned model loads with ``trust_remote_code=True`` where optimum-hywia is not
installed.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import (
    BloomConfig,
    BloomForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from transformers.models.bloom.modeling_bloom import BloomAttention

WIDTH_KEYS = ("num_attention_heads", "num_key_value_heads", "intermediate_size")
# version of the `hywia` config block; raised only when an older reader would misread a newer save
FORMAT_VERSION = 1


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


def _check_depth(layer_widths: list, num_hidden_layers: int) -> None:
    if len(layer_widths) != num_hidden_layers:
        raise ValueError(
            f"`layer_widths` has {len(layer_widths)} entries, expected one per layer ({num_hidden_layers})."
        )


def check_format_version(hywia: dict | None) -> None:
    """Raise ValueError for a `hywia` block written in a newer format than this code reads (absent: format 1)."""
    version = (hywia or {}).get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"This model was saved in optimum-hywia format_version {version!r}; this version of optimum-hywia reads "
            f"format_version <= {FORMAT_VERSION}. Upgrade it: pip install -U optimum-hywia."
        )


def check_layer_widths(layer_widths: list | None, num_hidden_layers: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a model of `num_hidden_layers` layers."""
    if layer_widths is None:
        return
    _check_depth(layer_widths, num_hidden_layers)
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


class PrunedModelHubMixin:
    """`save_pretrained` / `push_to_hub` of the pruned models, with one extension point, `hub_extension`.

    optimum-hywia sets `PrunedModelHubMixin.hub_extension` on import: saving then also writes the pruning model card
    (README.md, widths plot) and the recipe (hywia_config.json) beside the weights, and `push_to_hub` uploads them
    with the weights in one commit. Where this file runs as remote code (optimum-hywia absent) it stays None and both
    methods are transformers' own.
    """

    hub_extension = None

    def save_pretrained(self, save_directory, *args, **kwargs):
        extension = PrunedModelHubMixin.hub_extension
        if extension is None:
            return super().save_pretrained(save_directory, *args, **kwargs)
        return extension.save_pretrained(self, super().save_pretrained, save_directory, *args, **kwargs)

    def push_to_hub(self, repo_id, *args, **kwargs):
        extension = PrunedModelHubMixin.hub_extension
        if extension is None:
            return super().push_to_hub(repo_id, *args, **kwargs)
        return extension.push_to_hub(self, super().save_pretrained, repo_id, *args, **kwargs)


class PrunedLayersMixin:
    """Resizes decoder layers to `config.layer_widths` right after the base architecture is built."""

    def _resize_to_layer_widths(self) -> None:
        for layer, widths in zip(self.model.layers, self.config.layer_widths or []):
            resize_llama_layer(layer, widths)
        self.post_init()


class LlamaFamilyWidthsMixin:
    """Validation of `layer_widths` for the Llama-family pruned configs (replaces the parent's head-count check)."""

    def validate_architecture(self):
        check_format_version(self.hywia)
        check_layer_widths(self.layer_widths, self.num_hidden_layers)


@strict
class HyWIALlamaConfig(LlamaFamilyWidthsMixin, LlamaConfig):
    """A Llama config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_llama"
    layer_widths: list | None = None
    hywia: dict | None = None


@strict
class HyWIAMistralConfig(LlamaFamilyWidthsMixin, MistralConfig):
    """A Mistral config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_mistral"
    layer_widths: list | None = None
    hywia: dict | None = None


@strict
class HyWIAQwen2Config(LlamaFamilyWidthsMixin, Qwen2Config):
    """A Qwen2 config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_qwen2"
    layer_widths: list | None = None
    hywia: dict | None = None

    def original_width_values(self, widths: dict) -> dict:
        """The widths plus `head_dim`: Qwen2Config has no such field and would derive it from the pruned head count."""
        head_dim = getattr(self, "head_dim", None) or self.hidden_size // self.num_attention_heads
        return {**{key: widths[key] for key in WIDTH_KEYS}, "head_dim": head_dim}


class HyWIALlamaForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, LlamaForCausalLM):
    """A structurally pruned Llama (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIALlamaConfig

    def __init__(self, config: HyWIALlamaConfig):
        super().__init__(config)
        self._resize_to_layer_widths()


class HyWIAMistralForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, MistralForCausalLM):
    """A structurally pruned Mistral (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAMistralConfig

    def __init__(self, config: HyWIAMistralConfig):
        super().__init__(config)
        self._resize_to_layer_widths()


class HyWIAQwen2ForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, Qwen2ForCausalLM):
    """A structurally pruned Qwen2 (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAQwen2Config

    def __init__(self, config: HyWIAQwen2Config):
        super().__init__(config)
        self._resize_to_layer_widths()



@strict
class HyWIAQwen3Config(LlamaFamilyWidthsMixin, Qwen3Config):
    """A Qwen3 config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_qwen3"
    layer_widths: list | None = None
    hywia: dict | None = None


class HyWIAQwen3ForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, Qwen3ForCausalLM):
    """A structurally pruned Qwen3 (heads, KV groups and MLP channels removed per layer; q/k norms kept)."""

    config_class = HyWIAQwen3Config

    def __init__(self, config: HyWIAQwen3Config):
        super().__init__(config)
        self._resize_to_layer_widths()


@strict
class HyWIAGemma3TextConfig(LlamaFamilyWidthsMixin, Gemma3TextConfig):
    """A Gemma 3 text config whose layers may each keep their own number of heads and MLP channels.

    `head_dim` and `query_pre_attn_scalar` (the attention scaling) are fields of their own, so they stay right when
    a layer loses heads; sliding-window and global layers (`layer_types`) are pruned alike.
    """

    model_type = "hywia_gemma3_text"
    layer_widths: list | None = None
    hywia: dict | None = None


class HyWIAGemma3ForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, Gemma3ForCausalLM):
    """A structurally pruned Gemma 3 text model (query heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAGemma3TextConfig

    def __init__(self, config: HyWIAGemma3TextConfig):
        super().__init__(config)
        self._resize_to_layer_widths()

# ---- Bloom: fused query_key_value laid out [head, (q, k, v), head_dim], ALiBi slopes per original head ----------

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
    attention.query_key_value = resized_linear(attention.query_key_value, out_features=3 * width)
    attention.dense = resized_linear(attention.dense, in_features=width)
    set_bloom_attention_widths(attention, widths["kept_heads"])
    channels = widths["intermediate_size"]
    mlp.dense_h_to_4h = resized_linear(mlp.dense_h_to_4h, out_features=channels)
    mlp.dense_4h_to_h = resized_linear(mlp.dense_4h_to_h, in_features=channels)


def check_bloom_layer_widths(layer_widths: list | None, num_hidden_layers: int, num_heads: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a Bloom of this depth and head count."""
    if layer_widths is None:
        return
    _check_depth(layer_widths, num_hidden_layers)
    for index, widths in enumerate(layer_widths):
        missing = [key for key in BLOOM_WIDTH_KEYS if key not in widths]
        if missing:
            raise ValueError(f"`layer_widths[{index}]` lacks {missing}; each entry needs {list(BLOOM_WIDTH_KEYS)}.")
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


# base model_type -> (pruned config class, pruned model class)
PRUNED_TYPES = {
    "llama": (HyWIALlamaConfig, HyWIALlamaForCausalLM),
    "mistral": (HyWIAMistralConfig, HyWIAMistralForCausalLM),
    "qwen2": (HyWIAQwen2Config, HyWIAQwen2ForCausalLM),
    "qwen3": (HyWIAQwen3Config, HyWIAQwen3ForCausalLM),
    "gemma3_text": (HyWIAGemma3TextConfig, HyWIAGemma3ForCausalLM),
    "bloom": (HyWIABloomConfig, HyWIABloomForCausalLM),
}
