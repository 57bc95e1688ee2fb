# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Granite type, ``hywia_granite``: IBM Granite (Llama layout with embedding, residual, attention and
logits multipliers) with per-layer widths.

Built by `modeling_hywia_base.llama_layout_types` (how such a model loads: that module's docstring).
"""

from transformers import GraniteConfig, GraniteForCausalLM

from .modeling_hywia_base import llama_layout_types, mlp_only_width_values


def original_width_values(self, widths: dict) -> dict:
    """`GraniteConfig` has no `head_dim`: its heads are hidden_size / num_attention_heads wide."""
    return mlp_only_width_values(self, widths, "GraniteConfig")


HyWIAGraniteConfig, HyWIAGraniteForCausalLM = llama_layout_types(
    __name__, ("HyWIAGraniteConfig", "HyWIAGraniteForCausalLM"), (GraniteConfig, GraniteForCausalLM), "hywia_granite",
    {"original_width_values": original_width_values},
)
