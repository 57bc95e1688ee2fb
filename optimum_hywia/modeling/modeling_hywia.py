# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""Compatibility import path: what ``optimum_hywia.modeling.modeling_hywia`` held before each family got its own file.

Older releases kept every pruned-model class in this one module. Code that imports them from here keeps working;
new code imports from ``optimum_hywia.modeling`` (or the family's ``modeling_hywia_<family>.py``). This module is
never copied beside saved weights. Models saved by older releases carry their own ``modeling_hywia.py`` and an
``auto_map`` naming it: they load with ``trust_remote_code=True`` from that copy, and with optimum-hywia installed
through their ``model_type`` (``hywia_llama``, ...), which `optimum_hywia.modeling` registers.
"""

from __future__ import annotations

from .modeling_hywia_base import (
    FORMAT_VERSION,
    WIDTH_KEYS,
    LlamaFamilyWidthsMixin,
    PrunedLayersMixin,
    PrunedModelHubMixin,
    check_format_version,
    check_layer_widths,
    resize_llama_layer,
    resized_linear,
    set_llama_attention_widths,
)
from .modeling_hywia_bloom import (
    BLOOM_WIDTH_KEYS,
    HyWIABloomAttention,
    check_bloom_layer_widths,
    resize_bloom_layer,
    set_bloom_attention_widths,
)
from .pruned_types import (
    PRUNED_TYPES,
    HyWIABloomConfig,
    HyWIABloomForCausalLM,
    HyWIAGemma3ForCausalLM,
    HyWIAGemma3TextConfig,
    HyWIALlamaConfig,
    HyWIALlamaForCausalLM,
    HyWIAMistralConfig,
    HyWIAMistralForCausalLM,
    HyWIAQwen2Config,
    HyWIAQwen2ForCausalLM,
    HyWIAQwen3Config,
    HyWIAQwen3ForCausalLM,
)

__all__ = [
    "BLOOM_WIDTH_KEYS",
    "FORMAT_VERSION",
    "PRUNED_TYPES",
    "WIDTH_KEYS",
    "HyWIABloomAttention",
    "HyWIABloomConfig",
    "HyWIABloomForCausalLM",
    "HyWIAGemma3ForCausalLM",
    "HyWIAGemma3TextConfig",
    "HyWIALlamaConfig",
    "HyWIALlamaForCausalLM",
    "HyWIAMistralConfig",
    "HyWIAMistralForCausalLM",
    "HyWIAQwen2Config",
    "HyWIAQwen2ForCausalLM",
    "HyWIAQwen3Config",
    "HyWIAQwen3ForCausalLM",
    "LlamaFamilyWidthsMixin",
    "PrunedLayersMixin",
    "PrunedModelHubMixin",
    "check_bloom_layer_widths",
    "check_format_version",
    "check_layer_widths",
    "resize_bloom_layer",
    "resize_llama_layer",
    "resized_linear",
    "set_bloom_attention_widths",
    "set_llama_attention_widths",
]
