# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Llama type, ``hywia_llama``: Llama (SmolLM2, Vicuna, ...) with per-layer widths.

Built by `modeling_hywia_base.llama_layout_types` (how such a model loads: that module's docstring).
"""

from transformers import LlamaConfig, LlamaForCausalLM

from .modeling_hywia_base import llama_layout_types

HyWIALlamaConfig, HyWIALlamaForCausalLM = llama_layout_types(
    __name__, ("HyWIALlamaConfig", "HyWIALlamaForCausalLM"), (LlamaConfig, LlamaForCausalLM), "hywia_llama"
)
