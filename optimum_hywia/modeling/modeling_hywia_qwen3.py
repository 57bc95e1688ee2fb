# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Qwen3 type, ``hywia_qwen3``: per-head q/k norms (independent of the head count) and
per-layer widths.

Built by `modeling_hywia_base.llama_layout_types` (how such a model loads: that module's docstring).
"""

from transformers import Qwen3Config, Qwen3ForCausalLM

from .modeling_hywia_base import llama_layout_types

HyWIAQwen3Config, HyWIAQwen3ForCausalLM = llama_layout_types(
    __name__, ("HyWIAQwen3Config", "HyWIAQwen3ForCausalLM"), (Qwen3Config, Qwen3ForCausalLM), "hywia_qwen3"
)
