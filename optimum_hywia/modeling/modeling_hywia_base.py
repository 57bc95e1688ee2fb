# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""What every pruned-model family shares: width checks, the save format version, the hub hook, Linear resizing.

A pruned model keeps the architecture of its family but lets every decoder layer have its own number of attention
heads, key/value heads and MLP channels, recorded in ``config.layer_widths``. Each family has a modeling file of its
own, named after its pruned ``model_type`` (``modeling_hywia_llama.py``, ``modeling_hywia_bloom.py``, ...), and
each imports this one, relatively; `save_pretrained` copies the family's file and this one beside the weights, so a
pruned model loads with ``trust_remote_code=True`` where optimum-hywia is not installed. This file is the one shared
piece because seven families (and the Baichuan template) need the same checks, the same `hub_extension` hook and,
for the five with the Llama layer layout (Llama, Mistral, Qwen2, Qwen3, Gemma 3 text), the same layer resizing and
the same classes: `llama_layout_types` builds a family's config and model classes from its transformers classes,
so each of those family files is one call, and a new Llama-layout family is one more.

Self-contained on purpose: it imports only torch and huggingface_hub (a dependency of transformers).

Example:
    >>> linear = resized_linear(layer.self_attn.o_proj, in_features=64)  # doctest: +SKIP
    >>> from transformers import AutoModelForCausalLM  # a saved pruned model, without optimum-hywia:
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
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


def resize_projections(module: nn.Module, out_features: dict[str, int] | None = None,
                       in_features: dict[str, int] | None = None) -> None:
    """Replace the named Linear children of `module` by uninitialised ones with the given output / input features
    (weights are loaded later)."""
    for name, size in (out_features or {}).items():
        setattr(module, name, resized_linear(getattr(module, name), out_features=size))
    for name, size in (in_features or {}).items():
        setattr(module, name, resized_linear(getattr(module, name), in_features=size))


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


def keyed_entries(layer_widths: list | None, num_hidden_layers: int, keys: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(index, entry) of every layer of `layer_widths` (none when it is None), once the depth is right and every
    entry has `keys`; ValueError otherwise."""
    if layer_widths is None:
        return []
    check_depth(layer_widths, num_hidden_layers)
    for index, widths in enumerate(layer_widths):
        missing = [key for key in keys if key not in widths]
        if missing:
            raise ValueError(f"`layer_widths[{index}]` lacks {missing}; each entry needs {list(keys)}.")
    return list(enumerate(layer_widths))


def check_layer_widths(layer_widths: list | None, num_hidden_layers: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a model of `num_hidden_layers` layers."""
    for index, widths in keyed_entries(layer_widths, num_hidden_layers, WIDTH_KEYS):
        heads, kv_heads = widths["num_attention_heads"], widths["num_key_value_heads"]
        if min(heads, kv_heads, widths["intermediate_size"]) < 1 or heads % kv_heads:
            raise ValueError(
                f"`layer_widths[{index}]` = {widths} is invalid: widths must be >= 1 and "
                "num_attention_heads a multiple of num_key_value_heads."
            )


def mlp_only_width_values(config, widths: dict, config_name: str,
                          head_keys: tuple[str, ...] = WIDTH_KEYS[:2]) -> dict:
    """The widths a config that derives head_dim from hidden_size / num_attention_heads can carry: the MLP's alone.

    Raises ValueError naming `config_name` when `widths` removed heads (any of `head_keys` differs from `config`).
    """
    if any(widths[key] != getattr(config, key) for key in head_keys):
        raise ValueError(
            f"{config_name} cannot describe removed attention heads (its head_dim is hidden_size / "
            "num_attention_heads); prune only MLP channels (`prune_attention=False`) to save this family's own type"
        )
    return {"intermediate_size": widths["intermediate_size"]}


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
    resize_projections(attention, {"q_proj": q_width, "k_proj": kv_width, "v_proj": kv_width}, {"o_proj": q_width})
    set_llama_attention_widths(attention, widths["num_attention_heads"], widths["num_key_value_heads"])
    channels = widths["intermediate_size"]
    resize_projections(mlp, {"gate_proj": channels, "up_proj": channels}, {"down_proj": channels})


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


def llama_layout_types(
    module: str,
    names: tuple[str, str],
    base_classes: tuple[type, type],
    model_type: str,
    config_methods: dict | None = None,
) -> tuple[type, type]:
    """The pruned (config, model) classes of a Llama-layout family, defined in `module` (the family's own file,
    the one `save_pretrained` copies beside the weights): `names` and `base_classes` are the (config, model) class
    names and the family's transformers classes; `config_methods` override the config's (e.g. Qwen2's widths).

    Example:
        >>> HyWIAMistralConfig, HyWIAMistralForCausalLM = llama_layout_types(  # doctest: +SKIP
        ...     __name__, ("HyWIAMistralConfig", "HyWIAMistralForCausalLM"), (MistralConfig, MistralForCausalLM),
        ...     "hywia_mistral")
    """
    config_name, model_name = names
    base_config, base_model = base_classes
    family = base_model.__name__.removesuffix("ForCausalLM")
    config = strict(type(config_name, (LlamaFamilyWidthsMixin, base_config), {
        "__module__": module,
        "__qualname__": config_name,
        "__doc__": f"A {family} config whose layers may each keep their own number of heads and MLP channels.",
        "__annotations__": {"layer_widths": "list | None", "hywia": "dict | None"},
        "model_type": model_type,
        "layer_widths": None,
        "hywia": None,
        **(config_methods or {}),
    }))
    model = type(model_name, (PrunedModelHubMixin, PrunedLayersMixin, base_model), {
        "__module__": module,
        "__qualname__": model_name,
        "__doc__": f"A structurally pruned {family} (heads, KV groups and MLP channels removed per layer).",
        "config_class": config,
    })
    return config, model
