"""Turning an in-memory model into the pruned-model type (or back into its plain architecture) and saving it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from torch import nn
from transformers import PreTrainedModel

from ..folders import atomic_directory
from .baichuan import REMOTE_CODE_TYPES
from .modeling_hywia_base import WIDTH_KEYS
from .pruned_types import PRUNED_TYPES

_CONFIG_KEYS_NOT_CARRIED = ("model_type", "architectures", "auto_map", "transformers_version", "layer_widths", "hywia")
PRUNED_PREFIX = "hywia_"


def base_model_type(config: Any) -> str:
    """The family a (possibly pruned) config belongs to: `hywia_llama` -> `llama`."""
    return config.model_type.removeprefix(PRUNED_PREFIX)


def is_pruned_model(model: nn.Module) -> bool:
    pruned_classes = tuple(model_class for _, model_class in PRUNED_TYPES.values())
    return isinstance(model, pruned_classes) or getattr(type(model), "hywia_family", None) is not None


def layer_widths_are_uniform(layer_widths: list[dict]) -> bool:
    return all(widths == layer_widths[0] for widths in layer_widths)


def _carried_config_dict(config: Any) -> dict:
    values = config.to_dict()
    for key in _CONFIG_KEYS_NOT_CARRIED:
        values.pop(key, None)
    return values


def _swap_config(model: PreTrainedModel, new_config: Any) -> None:
    """Point the model and every submodule that shares its config at `new_config`."""
    old_config = model.config
    new_config._attn_implementation = old_config._attn_implementation
    for module in model.modules():
        if getattr(module, "config", None) is old_config:
            module.config = new_config


def _model_family_classes(model: PreTrainedModel) -> tuple[type, type]:
    family = base_model_type(model.config)
    if family in REMOTE_CODE_TYPES:  # modeling code from the checkpoint: pruned classes generated over it
        return REMOTE_CODE_TYPES[family](model)
    if family not in PRUNED_TYPES:
        raise ValueError(
            f"No pruned-model type for model_type `{model.config.model_type}`; supported: {sorted(PRUNED_TYPES)}."
        )
    return PRUNED_TYPES[family]


def to_pruned_model(model: PreTrainedModel, layer_widths: list[dict], metadata: dict | None = None) -> PreTrainedModel:
    """Make `model` (already sliced to `layer_widths`) an instance of its family's pruned-model type, in place.

    The object keeps its modules, weights, buffers and device placement; only its class and config change, so
    nothing is copied. The pruned class adds no state of its own: it only knows how to rebuild these shapes when
    loading.

    Example:
        >>> pruned = to_pruned_model(model, layer_widths, {"pruning_ratio": 0.2})  # doctest: +SKIP
    """
    config_class, model_class = _model_family_classes(model)
    if type(model) not in (model_class, *model_class.__bases__):
        raise TypeError(
            f"Cannot convert a `{type(model).__name__}` to `{model_class.__name__}`; pass the plain causal LM "
            "(unwrap peft/accelerate wrappers first)."
        )
    new_config = config_class(
        **_carried_config_dict(model.config), layer_widths=[dict(w) for w in layer_widths], hywia=metadata
    )
    new_config.architectures = [model_class.__name__]
    _swap_config(model, new_config)
    model.__class__ = model_class
    return model


def _original_classes(model: PreTrainedModel) -> tuple[type, type]:
    _, model_class = _model_family_classes(model)
    base_class = next(cls for cls in model_class.__bases__ if issubclass(cls, PreTrainedModel))
    return base_class.config_class, base_class


def to_original_architecture(model: PreTrainedModel) -> PreTrainedModel:
    """Turn a pruned model whose layers all keep the same widths back into the plain original class, in place.

    Raises ValueError when the widths differ between layers (only the pruned-model type can describe that) or
    when the original config class rejects the widths.
    """
    widths = model.config.layer_widths
    if not is_pruned_model(model) or not widths:
        return model
    if not layer_widths_are_uniform(widths):
        differing = sorted({i for i, w in enumerate(widths) if w != widths[0]})
        raise ValueError(
            "Only a model whose layers all keep the same widths can be saved as the original architecture; "
            f"layers {differing} differ from layer 0 ({widths[0]}). Save the pruned-model type instead."
        )
    config_class, base_class = _original_classes(model)
    values = _carried_config_dict(model.config)
    # a family whose config cannot express every width (Bloom, Baichuan) maps or refuses them itself
    width_values = getattr(model.config, "original_width_values", None)
    try:
        values.update(width_values(widths[0]) if width_values else {key: widths[0][key] for key in WIDTH_KEYS})
        new_config = config_class(**values)
    except Exception as error:
        raise ValueError(
            f"`{config_class.__name__}` rejects the pruned widths {widths[0]}: {error}. Save the pruned-model "
            "type instead."
        ) from error
    new_config.architectures = [base_class.__name__]
    _swap_config(model, new_config)
    model.__class__ = base_class
    return model


@contextlib.contextmanager
def _as_original_architecture(model: PreTrainedModel) -> Iterator[PreTrainedModel]:
    pruned_class, pruned_config = type(model), model.config
    to_original_architecture(model)
    try:
        yield model
    finally:
        _swap_config(model, pruned_config)
        model.__class__ = pruned_class


def save_pruned_model(
    model: PreTrainedModel,
    save_directory: str | os.PathLike,
    tokenizer: Any = None,
    as_original_architecture: bool = False,
    extra_files: dict[str, str] | None = None,
    overwrite: bool = False,
    **save_kwargs: Any,
) -> Path:
    """Save a pruned model (safetensors), its tokenizer and `extra_files` (name -> text) atomically.

    With `as_original_architecture=True` a model whose layers all keep the same widths is written as its plain
    family (e.g. `LlamaForCausalLM`), loadable without optimum-hywia or remote code.

    Example:
        >>> save_pruned_model(model, "smollm2-pruned", tokenizer=tokenizer)  # doctest: +SKIP
    """
    source = getattr(model.config, "_name_or_path", None)
    with atomic_directory(save_directory, overwrite, protected=[source] if source else []) as staging:
        for name, text in (extra_files or {}).items():  # first: the model card written on saving reads them
            (staging / name).write_text(text)
        context = _as_original_architecture(model) if as_original_architecture else contextlib.nullcontext(model)
        with context:
            model.save_pretrained(staging, safe_serialization=True, **save_kwargs)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
    return Path(save_directory)
