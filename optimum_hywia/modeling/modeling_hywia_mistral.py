# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Mistral type, ``hywia_mistral``: Mistral with per-layer widths.

`MistralForCausalLM` built as usual, then each decoder layer resized to ``config.layer_widths`` before the weights
load. This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import MistralConfig, MistralForCausalLM

from .modeling_hywia_base import LlamaFamilyWidthsMixin, PrunedLayersMixin, PrunedModelHubMixin


@strict
class HyWIAMistralConfig(LlamaFamilyWidthsMixin, MistralConfig):
    """A Mistral config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_mistral"
    layer_widths: list | None = None
    hywia: dict | None = None


class HyWIAMistralForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, MistralForCausalLM):
    """A structurally pruned Mistral (heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAMistralConfig
