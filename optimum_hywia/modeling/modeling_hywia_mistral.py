# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Mistral type, ``hywia_mistral``: Mistral with per-layer widths.

Built by `modeling_hywia_base.llama_layout_types` (how such a model loads: that module's docstring).
"""

from transformers import MistralConfig, MistralForCausalLM

from .modeling_hywia_base import llama_layout_types

HyWIAMistralConfig, HyWIAMistralForCausalLM = llama_layout_types(
    __name__, ("HyWIAMistralConfig", "HyWIAMistralForCausalLM"), (MistralConfig, MistralForCausalLM), "hywia_mistral"
)
