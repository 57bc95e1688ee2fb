# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Qwen3 type, ``hywia_qwen3``: per-head q/k norms (independent of the head count) and
per-layer widths.

`Qwen3ForCausalLM` built as usual, then each decoder layer resized to ``config.layer_widths`` before the weights
load. This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import Qwen3Config, Qwen3ForCausalLM

from .modeling_hywia_base import LlamaFamilyWidthsMixin, PrunedLayersMixin, PrunedModelHubMixin


@strict
class HyWIAQwen3Config(LlamaFamilyWidthsMixin, Qwen3Config):
    """A Qwen3 config whose layers may each keep their own number of heads and MLP channels."""

    model_type = "hywia_qwen3"
    layer_widths: list | None = None
    hywia: dict | None = None


class HyWIAQwen3ForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, Qwen3ForCausalLM):
    """A structurally pruned Qwen3 (heads, KV groups and MLP channels removed per layer; q/k norms kept)."""

    config_class = HyWIAQwen3Config
