# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Qwen2 type, ``hywia_qwen2``: Qwen2 (biases on q/k/v) with per-layer widths.

`Qwen2ForCausalLM` built as usual, then each decoder layer resized to ``config.layer_widths`` before the weights
load. This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import Qwen2Config, Qwen2ForCausalLM

from .modeling_hywia_base import WIDTH_KEYS, LlamaFamilyWidthsMixin, PrunedLayersMixin, PrunedModelHubMixin


@strict
class HyWIAQwen2Config(LlamaFamilyWidthsMixin, Qwen2Config):
    """A Qwen2 config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_qwen2"
    layer_widths: list | None = None
    hywia: dict | None = None

    def original_width_values(self, widths: dict) -> dict:
        """The widths plus `head_dim`: Qwen2Config has no such field and would derive it from the pruned head count."""
        head_dim = getattr(self, "head_dim", None) or self.hidden_size // self.num_attention_heads
        return {**{key: widths[key] for key in WIDTH_KEYS}, "head_dim": head_dim}


class HyWIAQwen2ForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, Qwen2ForCausalLM):
    """A structurally pruned Qwen2 (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAQwen2Config
