# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""What every pruned-model family shares: width checks, the save format version, the hub hook, Linear resizing.

A pruned model keeps the architecture of its family but lets every decoder layer have its own number of attention
heads, key/value heads and MLP channels, recorded in ``config.layer_widths``. Each family has a modeling file of its
own, named after its pruned ``model_type`` (``modeling_hywia_llama.py``, ``modeling_hywia_bloom.py``, ...), and
each imports this one, relatively; `save_pretrained` copies the family's file and this one beside the weights, so a
pruned model loads with ``trust_remote_code=True`` where optimum-hywia is not installed. This file is the one shared
piece because seven families (and the Baichuan template) need the same checks, the same `hub_extension` hook and,
for the five with the Llama layer layout (Llama, Mistral, Qwen2, Qwen3, Gemma 3 text), the same layer resizing:
copying them into every family file would be duplicated code to keep in step.

Self-contained on purpose: it imports only torch.

Example:
    >>> linear = resized_linear(layer.self_attn.o_proj, in_features=64)  # doctest: +SKIP
"""

from __future__ import annotations

from torch import nn

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


def check_depth(layer_widths: list, num_hidden_layers: int) -> None:
    """Raise ValueError unless `layer_widths` has one entry per layer."""
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
    check_depth(layer_widths, num_hidden_layers)
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


# ---- the Llama layer layout: separate q/k/v/o projections and a gated MLP (gate/up/down) ---------------------------


def set_llama_attention_widths(attention: nn.Module, num_heads: int, num_kv_heads: int) -> None:
    """Update what a Llama-family attention forward reads besides its Linear shapes."""
    attention.num_key_value_groups = num_heads // num_kv_heads


def resize_llama_layer(layer: nn.Module, widths: dict) -> None:
    """Give a Llama-layout decoder layer the projection shapes of `widths` (weights are loaded later)."""
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


class PrunedLayersMixin:
    """Builds the family's model, then resizes its Llama-layout decoder layers to `config.layer_widths`."""

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        for layer, widths in zip(self.model.layers, config.layer_widths or []):
            resize_llama_layer(layer, widths)
        self.post_init()


class LlamaFamilyWidthsMixin:
    """Validation of `layer_widths` for the Llama-layout pruned configs (replaces the parent's head-count check)."""

    def validate_architecture(self):
        check_format_version(self.hywia)
        check_layer_widths(self.layer_widths, self.num_hidden_layers)
