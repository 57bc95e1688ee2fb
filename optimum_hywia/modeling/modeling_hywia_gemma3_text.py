# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Gemma 3 text type, ``hywia_gemma3_text``: per-head q/k norms, sliding-window and
global layers, and per-layer widths. `head_dim` and `query_pre_attn_scalar` (the attention scaling) are config
fields of their own, so they stay right when a layer loses heads; sliding-window and global layers (`layer_types`)
are pruned alike.

Built by `modeling_hywia_base.llama_layout_types` (how such a model loads: that module's docstring).
"""

from transformers import Gemma3ForCausalLM, Gemma3TextConfig

from .modeling_hywia_base import llama_layout_types

HyWIAGemma3TextConfig, HyWIAGemma3ForCausalLM = llama_layout_types(
    __name__, ("HyWIAGemma3TextConfig", "HyWIAGemma3ForCausalLM"), (Gemma3TextConfig, Gemma3ForCausalLM),
    "hywia_gemma3_text",
)
