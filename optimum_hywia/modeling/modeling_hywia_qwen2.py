# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Qwen2 type, ``hywia_qwen2``: Qwen2 (biases on q/k/v) with per-layer widths.

Built by `modeling_hywia_base.llama_layout_types` (how such a model loads: that module's docstring).
"""

from transformers import Qwen2Config, Qwen2ForCausalLM

from .modeling_hywia_base import WIDTH_KEYS, llama_layout_types


def original_width_values(self, widths: dict) -> dict:
    """The widths plus `head_dim`: Qwen2Config has no such field and would derive it from the pruned head count."""
    head_dim = getattr(self, "head_dim", None) or self.hidden_size // self.num_attention_heads
    return {**{key: widths[key] for key in WIDTH_KEYS}, "head_dim": head_dim}


HyWIAQwen2Config, HyWIAQwen2ForCausalLM = llama_layout_types(
    __name__, ("HyWIAQwen2Config", "HyWIAQwen2ForCausalLM"), (Qwen2Config, Qwen2ForCausalLM), "hywia_qwen2",
    config_methods={"original_width_values": original_width_values},
)
