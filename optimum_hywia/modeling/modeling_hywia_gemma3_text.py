# Copyright 2026 The optimum-hywia authors. Apache-2.0.
"""The pruned Gemma 3 text type, ``hywia_gemma3_text``: per-head q/k norms, sliding-window and
global layers, and per-layer widths.

`Gemma3ForCausalLM` built as usual, then each decoder layer resized to ``config.layer_widths`` before the weights
load. This file imports only torch, transformers (and its huggingface_hub) and ``modeling_hywia_base.py``;
`save_pretrained` copies the two beside the weights, so the model loads with ``trust_remote_code=True``
without optimum-hywia.

Example:
    >>> from transformers import AutoModelForCausalLM
    >>> model = AutoModelForCausalLM.from_pretrained("path/to/pruned", trust_remote_code=True)  # doctest: +SKIP
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

from .modeling_hywia_base import LlamaFamilyWidthsMixin, PrunedLayersMixin, PrunedModelHubMixin


@strict
class HyWIAGemma3TextConfig(LlamaFamilyWidthsMixin, Gemma3TextConfig):
    """A Gemma 3 text config whose layers may each keep their own number of heads and MLP channels.

    `head_dim` and `query_pre_attn_scalar` (the attention scaling) are fields of their own, so they stay right when
    a layer loses heads; sliding-window and global layers (`layer_types`) are pruned alike.
    """

    model_type = "hywia_gemma3_text"
    layer_widths: list | None = None
    hywia: dict | None = None


class HyWIAGemma3ForCausalLM(PrunedModelHubMixin, PrunedLayersMixin, Gemma3ForCausalLM):
    """A structurally pruned Gemma 3 text model (query heads, KV groups and MLP channels removed per layer)."""

    config_class = HyWIAGemma3TextConfig
