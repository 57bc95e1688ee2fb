"""The pruned-model types, registered with the transformers Auto classes on import."""

from transformers import AutoConfig, AutoModelForCausalLM

from .modeling_hywia_base import WIDTH_KEYS, check_layer_widths
from .pruned_types import PRUNED_TYPES


def _register_pruned_types() -> None:
    for config_class, model_class in PRUNED_TYPES.values():
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForCausalLM.register(config_class, model_class, exist_ok=True)
        # save_pretrained then writes `auto_map` and copies the family's modeling file (and the
        # modeling_hywia_base.py it imports) beside the weights, nothing of the other families
        config_class.register_for_auto_class()
        model_class.register_for_auto_class("AutoModelForCausalLM")


_register_pruned_types()

from .convert import (  # noqa: E402
    is_pruned_model,
    layer_widths_are_uniform,
    save_pruned_model,
    to_original_architecture,
    to_pruned_model,
)

__all__ = [
    "PRUNED_TYPES",
    "WIDTH_KEYS",
    "check_layer_widths",
    "is_pruned_model",
    "layer_widths_are_uniform",
    "save_pruned_model",
    "to_original_architecture",
    "to_pruned_model",
]
