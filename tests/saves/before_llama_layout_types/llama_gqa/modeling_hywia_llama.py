# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Llama type, ``hywia_llama``: Llama (SmolLM2, Vicuna, ...) with per-layer widths.

`LlamaForCausalLM` built as usual, then each decoder layer resized to ``config.layer_widths`` before the weights
load. This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import LlamaConfig, LlamaForCausalLM

from .modeling_hywia_base import LlamaFamilyWidthsMixin, PrunedLayersMixin, PrunedModelHubMixin


@strict
class HyWIALlamaConfig(LlamaFamilyWidthsMixin, LlamaConfig):
    """A Llama config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_llama"
    layer_widths: list | None = None
    hywia: dict | None = None


class HyWIALlamaForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, LlamaForCausalLM):
    """A structurally pruned Llama (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIALlamaConfig
